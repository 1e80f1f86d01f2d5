//! The daily pass of an account's deadline sweep: once per Beijing calendar day, at or after
//! the account's digest time (`settings.deadlines.digest.local_time`, 09:00 by default), the
//! account's platform does its daily work ([`crate::platform::DailyWork`]: a mini program's
//! trade-score snapshot) and the account's staff get their digest ([`super::digest`]).
//!
//! Once a day, without losing a day to a crash: each digest notice is queued through the inbox
//! with the day in its dedupe key (a second queueing of the same day's digest for the same
//! audience is a duplicate, not a second message), and only after every audience's notice was
//! queued is the day's record `DAILY#{account}` / `DIGEST#{day}` created; later sweeps of the
//! day find it and read nothing more. A crash between the two repeats the reading on the next
//! sweep, never the sending. The platform's daily work keeps its own record per day and is
//! tried by each sweep of the day until it has one; its failure is logged and stops nothing.
//!
//! A disabled account is left alone (no digest to its staff, no platform call).

use super::digest;
use crate::notices::store_error;
use crate::platform::Platforms;
use crate::repo::{NotificationRepo, RepoError, SubMerchantRepo};
use crate::state::Services;
use crate::worker::JobError;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use domain::account::Account;
use domain::deadline::DigestSettings;
use domain::notification::Audience;
use domain::ports::{Item, StoreError};
use serde_json::json;

/// How long a day's record is kept (seconds): long past the day it guards.
const DAY_RECORD_TTL: i64 = 40 * 86_400;

/// The most sub-merchants whose own staff get a digest of their own (pages of 100).
const MAX_SUB_MERCHANTS: usize = 1000;

/// The account's digest settings (`settings.deadlines.digest`; the defaults when the account
/// has none: on, 09:00 Beijing time).
pub fn digest_settings(account: &Account) -> DigestSettings {
    account.settings.deadlines().digest
}

/// When the day's pass is due: `local_time` (`HH:MM`, Beijing time) on `day`; an unreadable
/// time is the default 09:00.
pub fn due_at(day: NaiveDate, local_time: &str) -> DateTime<Utc> {
    let time = NaiveTime::parse_from_str(local_time, "%H:%M").unwrap_or_else(|_| {
        tracing::warn!(local_time, "digest local_time is not HH:MM: 09:00 applies");
        NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN)
    });
    domain::clock::china_instant(day, time)
}

/// What a daily pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DailyOutcome {
    /// The account is disabled: nothing was done.
    Disabled,
    /// Before the day's time (`due`): nothing was done.
    NotYet { due: DateTime<Utc> },
    /// The platform's daily work ran; the digest is switched off.
    DigestOff,
    /// The platform's daily work ran; the day's digest was sent by an earlier pass.
    AlreadySent,
    /// The platform's daily work ran; the day's digest was queued for these audiences (an
    /// audience whose notice an earlier, interrupted pass queued is not counted again).
    Sent { queued: usize },
}

/// The day's record that says its digest went out.
fn day_record(account_id: &str, day: NaiveDate) -> (String, String) {
    (format!("DAILY#{account_id}"), format!("DIGEST#{day}"))
}

/// Run the account's daily pass as of `now` (see the module's comment): its platform's daily
/// work, then its digest, each at most once per Beijing calendar day.
#[tracing::instrument(skip_all, fields(account_id = %account.id))]
pub async fn daily_pass(
    services: &Services,
    platforms: &Platforms,
    account: &Account,
    now: DateTime<Utc>,
) -> Result<DailyOutcome, JobError> {
    if !account.enabled {
        return Ok(DailyOutcome::Disabled);
    }
    let settings = digest_settings(account);
    let day = domain::clock::china_date(now);
    let due = due_at(day, &settings.local_time);
    if now < due {
        return Ok(DailyOutcome::NotYet { due });
    }
    let platform = platforms
        .account_kind(account.kind())
        .and_then(|k| platforms.get(k.facts.platform));
    if let Some(p) = platform
        && let Err(e) = p.daily().run(services, account, day).await
    {
        tracing::warn!(platform = %p.name().as_str(), error = %crate::error::chain(&e), "the platform's daily work failed; the next sweep of the day tries again");
    }
    if !settings.enabled {
        return Ok(DailyOutcome::DigestOff);
    }
    let records = &*services.ports.records;
    let (pk, sk) = day_record(&account.id, day);
    if records
        .get(&pk, &sk)
        .await
        .map_err(|e| store_error(e.into()))?
        .is_some()
    {
        return Ok(DailyOutcome::AlreadySent);
    }
    let platform_name = platform.map(|p| p.name().as_str()).unwrap_or_default();
    let mut queued = 0;
    for (audience, merchant) in audiences(services, account).await.map_err(store_error)? {
        let d = digest::Digest::read(records, &audience, day, now)
            .await
            .map_err(store_error)?;
        queued += d
            .send(services, platform_name, &merchant, &audience, now)
            .await?;
    }
    let item = Item::new(pk, sk, json!({"day": day.to_string(), "at": now}))
        .expiring_at(now.timestamp() + DAY_RECORD_TTL);
    match records.create(item).await {
        Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
        Err(e) => return Err(store_error(e.into())),
    }
    tracing::info!(day = %day, queued, "daily digest queued");
    Ok(DailyOutcome::Sent { queued })
}

/// Who gets a digest, with the name it is addressed by: the account's own staff (every
/// complaint of the account), and each enabled sub-merchant with staff of its own whose own
/// settings do not turn the digest off (its complaints only). A disabled sub-merchant's staff are told nothing; its complaints are in
/// the account's digest.
async fn audiences(
    services: &Services,
    account: &Account,
) -> Result<Vec<(Audience, String)>, RepoError> {
    let mut out = vec![(
        Audience {
            account_id: account.id.clone(),
            sub_mchid: None,
        },
        account.name.clone(),
    )];
    let has_subs = account.kind().facts().is_some_and(|f| f.has_sub_merchants);
    if !has_subs {
        return Ok(out);
    }
    let records = &*services.ports.records;
    let subs = SubMerchantRepo::new(records);
    let notifications = NotificationRepo::new(records);
    let mut cursor = None;
    let mut seen = 0;
    loop {
        let page = subs.list(&account.id, 100, cursor).await?;
        for sub in page.items {
            seen += 1;
            // Its own `digest.enabled: false` turns its staff's digest off (its digest comes
            // with its provider's, at the provider's time).
            let wants_digest = sub.deadlines.as_ref().is_none_or(|d| d.digest.enabled);
            if sub.enabled
                && wants_digest
                && notifications
                    .get(&account.id, Some(&sub.sub_mchid))
                    .await?
                    .is_some()
            {
                out.push((
                    Audience {
                        account_id: account.id.clone(),
                        sub_mchid: Some(sub.sub_mchid.clone()),
                    },
                    sub.name.clone(),
                ));
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() || seen >= MAX_SUB_MERCHANTS {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_due_time_is_beijing_time_on_the_beijing_day() {
        // 2026-11-26 23:30 UTC is 2026-11-27 07:30 in Beijing.
        let now = Utc
            .with_ymd_and_hms(2026, 11, 26, 23, 30, 0)
            .single()
            .expect("time");
        let day = domain::clock::china_date(now);
        assert_eq!(day.to_string(), "2026-11-27");
        assert_eq!(
            due_at(day, "09:00"),
            Utc.with_ymd_and_hms(2026, 11, 27, 1, 0, 0)
                .single()
                .expect("time")
        );
        assert_eq!(
            domain::clock::china_day_start(day),
            Utc.with_ymd_and_hms(2026, 11, 26, 16, 0, 0)
                .single()
                .expect("time")
        );
        assert_eq!(
            due_at(day, "nine"),
            due_at(day, "09:00"),
            "unreadable: 09:00"
        );
    }
}
