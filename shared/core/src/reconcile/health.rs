//! An account's health (`GET /admin/v1/accounts/{id}/health`): the last push received, the
//! last reconciliation pass and its outcome, the complaints found only by reconciliation (7
//! days), platform errors and throttling answers (24 h), and the callback URLs as the last pass
//! read them from the platform.
//!
//! Its records (all under the account, none read on a callback's path):
//! - `HEALTH#{account}` / `PUSH`: when the last push's job was received, written by the worker
//!   ([`HealthObserver`]) at most once a minute per account (the callback itself only records
//!   and queues; the job's `created_at` is when the callback accepted the push);
//! - `HEALTH#{account}` / `COUNT#{hour}`: per Beijing-independent UTC hour, the platform jobs
//!   (pushes' and reconciliation's) that failed and those the platform throttled, and the
//!   errors and throttling answers of the passes (expire after two days);
//! - `RECON#{account}` / `STATE`: the pass state (watermark, where the re-reads continue, the
//!   pass under way, the last pass, the callback URLs) — see [`super::pass`];
//! - `RECON#{account}` / `FOUND#{at}#{complaint}`: a complaint found by reconciliation
//!   (expires after eight days).

use crate::repo::{RepoError, ts};
use crate::worker::{JobError, JobObserver};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Timelike, Utc};
use domain::job::{JobEnvelope, Origin};
use domain::ports::{Index, Item, Query, RecordStore, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::reconciler::UrlCheck;
pub use super::record::recon_pk;
use super::record::{LastPass, State};

/// The partition of an account's health records.
pub fn health_pk(account_id: &str) -> String {
    format!("HEALTH#{account_id}")
}

/// How often the last push's time is written at most (per account).
const PUSH_WRITE_EVERY: Duration = Duration::minutes(1);
/// How long the hourly counters are kept.
const COUNT_TTL: Duration = Duration::hours(48);
/// How long a found complaint is kept.
pub(crate) const FOUND_TTL: Duration = Duration::days(8);
/// The period the health counts found complaints over.
pub const FOUND_PERIOD: Duration = Duration::days(7);
/// The period the health counts platform errors and throttling over.
pub const ERROR_PERIOD: Duration = Duration::hours(24);

#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
struct Count {
    #[serde(default)]
    errors: u64,
    #[serde(default)]
    throttled: u64,
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A platform call (or a platform job) failed.
    Error,
    /// The platform (or our limiter on its behalf) said "too many".
    Throttled,
}

/// Count one platform error or throttling answer of the account at `at`. Best effort: a
/// failure is logged, never returned (the health must not fail the work it observes).
pub async fn count(records: &dyn RecordStore, account_id: &str, what: Counted, at: DateTime<Utc>) {
    let hour = at
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(at);
    let (pk, sk) = (health_pk(account_id), format!("COUNT#{}", ts(hour)));
    for _ in 0..8 {
        let stored = match records.get(&pk, &sk).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(account_id, error = %crate::error::chain(&e), "health counter unreadable");
                return;
            }
        };
        let mut c: Count = stored
            .as_ref()
            .and_then(|i| serde_json::from_value(i.data.clone()).ok())
            .unwrap_or_default();
        match what {
            Counted::Error => c.errors += 1,
            Counted::Throttled => c.throttled += 1,
        }
        let Ok(data) = serde_json::to_value(c) else {
            return;
        };
        let item =
            Item::new(pk.clone(), sk.clone(), data).expiring_at((hour + COUNT_TTL).timestamp());
        let written = match stored {
            Some(s) => records.update(item, s.version).await.map(|_| ()),
            None => records.create(item).await.map(|_| ()),
        };
        match written {
            Ok(()) => return,
            Err(StoreError::VersionConflict { .. } | StoreError::AlreadyExists { .. }) => continue,
            Err(e) => {
                tracing::warn!(account_id, error = %crate::error::chain(&e), "health counter not written");
                return;
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LastPush {
    at: DateTime<Utc>,
    job_type: String,
}

/// Counts the platform jobs' outcomes and remembers the last push, for every job the worker
/// runs (registered with the job handlers, see [`super::register`]).
pub struct HealthObserver {
    records: Arc<dyn RecordStore>,
    clock: Arc<dyn domain::ports::Clock>,
}

impl HealthObserver {
    pub fn new(records: Arc<dyn RecordStore>, clock: Arc<dyn domain::ports::Clock>) -> Self {
        Self { records, clock }
    }

    async fn pushed(&self, account_id: &str, job: &JobEnvelope) {
        let (pk, sk) = (health_pk(account_id), "PUSH".to_string());
        let stored = match self.records.get(&pk, &sk).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(account_id, error = %crate::error::chain(&e), "last push unreadable");
                return;
            }
        };
        let last: Option<LastPush> = stored
            .as_ref()
            .and_then(|i| serde_json::from_value(i.data.clone()).ok());
        if last
            .as_ref()
            .is_some_and(|l| l.at + PUSH_WRITE_EVERY > job.created_at)
        {
            return;
        }
        let Ok(data) = serde_json::to_value(LastPush {
            at: job.created_at,
            job_type: job.job_type.clone(),
        }) else {
            return;
        };
        // Unconditional: two workers writing at once both write a recent time.
        if let Err(e) = self.records.put(Item::new(pk, sk, data)).await {
            tracing::warn!(account_id, error = %crate::error::chain(&e), "last push not written");
        }
    }
}

#[async_trait]
impl JobObserver for HealthObserver {
    async fn finished(&self, job: &JobEnvelope, result: &Result<(), JobError>) {
        let (Some(origin), Some(account_id)) = (job.origin, job.account_id.as_deref()) else {
            return;
        };
        if origin == Origin::Push {
            self.pushed(account_id, job).await;
        }
        let what = match result {
            Ok(()) | Err(JobError::Deferred { .. }) => return,
            Err(JobError::Throttled { .. }) => Counted::Throttled,
            Err(JobError::Retryable { .. } | JobError::Permanent(_)) => Counted::Error,
        };
        count(&*self.records, account_id, what, self.clock.now()).await;
    }
}

/// One complaint found by reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = FoundByReconciliation)]
pub struct Found {
    /// Our complaint id.
    pub complaint_id: String,
    /// The platform's complaint id.
    pub platform_complaint_id: String,
    /// `unknown` (we had no record) or `state_moved` (the platform's state moved without a
    /// push).
    pub why: String,
    /// The platform's state when it was found.
    pub raw_status: String,
    pub found_at: DateTime<Utc>,
}

/// Keep a found complaint for the health resource.
pub async fn remember_found(
    records: &dyn RecordStore,
    account_id: &str,
    f: &Found,
) -> Result<(), RepoError> {
    let data = serde_json::to_value(f).map_err(RepoError::Serialise)?;
    let item = Item::new(
        recon_pk(account_id),
        format!("FOUND#{}#{}", ts(f.found_at), f.complaint_id),
        data,
    )
    .expiring_at((f.found_at + FOUND_TTL).timestamp());
    records.put(item).await?;
    Ok(())
}

/// An account's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = AccountHealth)]
pub struct Health {
    pub account_id: String,
    /// When the last platform push for the account was received (as its job ran; None: none
    /// since this was recorded).
    pub last_push_at: Option<DateTime<Utc>>,
    /// The last finished reconciliation pass (None: none yet).
    pub last_reconciliation: Option<LastPass>,
    /// A pass under way (its start), if one is.
    pub reconciliation_running_since: Option<DateTime<Utc>>,
    /// Complaints found by reconciliation, not by a push, in the last 7 days.
    pub found_by_reconciliation_7d: usize,
    /// The most recent of them (at most 20, newest first).
    pub found_recently: Vec<Found>,
    /// Failed platform jobs and pass calls in the last 24 hours.
    pub platform_errors_24h: u64,
    /// Throttling answers (429 and the like) in the last 24 hours.
    pub throttled_24h: u64,
    /// The notification URLs as the last pass read them from the platform (empty: the platform
    /// does not let us read them, or no pass has yet).
    pub callback_urls: Vec<CallbackUrl>,
}

/// A notification URL: registered on the platform, expected, and whether they match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CallbackUrlCheck)]
pub struct CallbackUrl {
    pub what: String,
    pub registered: Option<String>,
    pub expected: Option<String>,
    /// None: nothing to compare (`PUBLIC_BASE_URL` is not set).
    pub matches: Option<bool>,
    pub checked_at: Option<DateTime<Utc>>,
}

impl CallbackUrl {
    pub fn of(u: &UrlCheck, checked_at: Option<DateTime<Utc>>) -> Self {
        Self {
            what: u.what.clone(),
            registered: u.registered.clone(),
            expected: u.expected.clone(),
            matches: u.matches(),
            checked_at,
        }
    }
}

/// Read the account's health as of `now`.
pub async fn health(
    records: &dyn RecordStore,
    account_id: &str,
    now: DateTime<Utc>,
) -> Result<Health, RepoError> {
    let last_push_at = records
        .get(&health_pk(account_id), "PUSH")
        .await?
        .and_then(|i| serde_json::from_value::<LastPush>(i.data).ok())
        .map(|l| l.at);
    let state = State::read(records, account_id).await?.0;
    // Hourly counters of the last 24 hours (the current one included).
    let from = now - ERROR_PERIOD;
    let counts = records
        .query(
            &Query::partition(Index::Primary, health_pk(account_id))
                .between(
                    format!("COUNT#{}", ts(from - Duration::hours(1))),
                    format!("COUNT#{}~", ts(now)),
                )
                .limit(100),
        )
        .await?;
    let (mut errors, mut throttled) = (0, 0);
    for i in counts.items {
        let hour =
            i.sk.strip_prefix("COUNT#")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
        // The hour that started before the period counts when it ended inside it.
        if hour.is_none_or(|h| h + Duration::hours(1) <= from) {
            continue;
        }
        if let Ok(c) = serde_json::from_value::<Count>(i.data) {
            errors += c.errors;
            throttled += c.throttled;
        }
    }
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let page = records
            .query(
                &Query::partition(Index::Primary, recon_pk(account_id))
                    .between(
                        format!("FOUND#{}", ts(now - FOUND_PERIOD)),
                        format!("FOUND#{}~", ts(now)),
                    )
                    .limit(500)
                    .after(cursor),
            )
            .await?;
        for i in page.items {
            if let Ok(f) = serde_json::from_value::<Found>(i.data) {
                found.push(f);
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let count_found = found.len();
    found.sort_by_key(|f| std::cmp::Reverse(f.found_at));
    found.truncate(20);
    Ok(Health {
        account_id: account_id.to_string(),
        last_push_at,
        last_reconciliation: state.last.clone(),
        reconciliation_running_since: state.current.as_ref().map(|c| c.started_at),
        found_by_reconciliation_7d: count_found,
        found_recently: found,
        platform_errors_24h: errors,
        throttled_24h: throttled,
        callback_urls: state
            .urls
            .iter()
            .map(|u| CallbackUrl::of(u, state.urls_checked_at))
            .collect(),
    })
}
