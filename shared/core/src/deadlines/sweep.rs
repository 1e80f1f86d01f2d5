//! One account's deadline sweep: walk its complaints with a deadline not met, remind and
//! escalate ([`super::remind`]), then (once a day) the daily pass.
//!
//! Who hears: the staff the complaint's notices go to — the account's own when it is enabled,
//! and a known sub-merchant's own when that is enabled (a provider hears of its sub-merchants
//! whatever their state; a disabled account's own staff hear nothing). An escalation goes to
//! the same staff (for a sub-merchant's complaint that includes the provider's own: the
//! escalation audience) and, for the account's own complaints, to the account's
//! `escalation_recipients` on the channels the account configured. A sub-merchant's own
//! `deadlines` settings, when set, decide what its own staff hear; the account's staff always
//! follow the account's settings (a sub-merchant cannot silence its provider).

use super::remind::{self, Step};
use crate::complaints::ComplaintRepo;
use crate::complaints::list::{ComplaintFilter, ListSort};
use crate::notices::{self, Notice, store_error};
use crate::platform::Platforms;
use crate::repo::{AccountRepo, SubMerchantRepo};
use crate::state::Services;
use crate::worker::{JobError, JobHandler};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::account::{Account, SubMerchant};
use domain::complaint::{Complaint, Counted, Deadline};
use domain::deadline::DeadlineSettings;
use domain::job::JobEnvelope;
use domain::job::deadlines::{SWEEP, Sweep};
use domain::notification::{Audience, NotificationSubject};
use std::collections::HashMap;

/// How far ahead the sweep lists complaints by their next deadline: a threshold can be passed
/// long before its deadline (50 % of a three-day window is 36 h before it).
pub const HORIZON: Duration = Duration::days(31);

/// Complaints read per page.
const PAGE: usize = 100;

/// The handler of [`SWEEP`].
pub struct SweepJob {
    state: Services,
    platforms: Platforms,
}

impl SweepJob {
    pub fn new(state: Services, platforms: Platforms) -> Self {
        Self { state, platforms }
    }
}

#[async_trait]
impl JobHandler for SweepJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let p = SWEEP.payload(job)?;
        sweep(&self.state, &self.platforms, &p).await.map(|_| ())
    }
}

/// What a sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Complaints looked at.
    pub complaints: usize,
    /// Notification jobs queued (one per audience).
    pub reminders: usize,
    pub escalations: usize,
    /// What the daily pass did (None: it failed).
    pub daily: Option<super::daily::DailyOutcome>,
}

/// Sweep one account as of its clock's now. A missing account has nothing to sweep. A
/// complaint whose notice could not be queued does not stop the others; the first such error
/// is returned at the end (the job is retried; what was sent is not sent again).
#[tracing::instrument(skip_all, fields(account_id = %p.account_id, scheduled_at = %p.scheduled_at))]
pub async fn sweep(
    state: &Services,
    platforms: &Platforms,
    p: &Sweep,
) -> Result<Outcome, JobError> {
    let now = state.ports.clock.now();
    let Some((account, _)) = AccountRepo::new(&*state.ports.records)
        .get(&p.account_id)
        .await
        .map_err(store_error)?
    else {
        tracing::info!("deadline sweep: the account no longer exists; nothing to do");
        return Ok(Outcome::default());
    };
    let mut out = Outcome::default();
    let mut first_error = None;
    let mut subs = SubMerchants::default();
    let repo = ComplaintRepo::of(&state.ports);
    let filter = ComplaintFilter {
        account_id: Some(account.id.clone()),
        due_before: Some(now + HORIZON),
        sort: ListSort::Deadline,
        ..ComplaintFilter::default()
    };
    let mut cursor = None;
    loop {
        let (page, next) = repo
            .list(&filter, |c| c.account_id == account.id, PAGE, cursor)
            .await
            .map_err(store_error)?;
        for c in &page {
            // The list may hold complaints with nothing due (before it is an index on the
            // next deadline): each complaint's own deadlines decide.
            if c.deadlines.iter().all(|d| d.is_met()) {
                continue;
            }
            out.complaints += 1;
            let marked = mark_missed(&repo, c, now).await;
            let c = marked.as_ref().unwrap_or(c);
            let sub = subs.get(state, &account, c).await?;
            if let Err(e) = complaint(state, &account, sub.as_ref(), c, now, &mut out).await {
                tracing::warn!(complaint_id = %c.id, error = %e, "deadline notice not queued; the sweep will be retried");
                first_error.get_or_insert(e);
            }
        }
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    // Once a day, at the digest time: the platform's daily work and the digest.
    match super::daily::daily_pass(state, platforms, &account, now).await {
        Ok(daily) => out.daily = Some(daily),
        Err(e) => {
            tracing::warn!(error = %e, "the daily pass did not finish; the sweep will be retried");
            first_error.get_or_insert(e);
        }
    }
    tracing::info!(
        daily = ?out.daily,
        complaints = out.complaints,
        reminders = out.reminders,
        escalations = out.escalations,
        "deadline sweep done"
    );
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Whether the sweep marks deadline `d` counted missed at `now`: passed unmet within the last
/// [`crate::metrics::MISSED_WITHIN`] (older ones were missed before the sweep could see them: a
/// first start, a long stop), not counted yet (met or missed), and one the metrics count.
fn to_mark(d: &Deadline, now: DateTime<Utc>) -> bool {
    crate::metrics::newly_missed(d, now)
}

/// Mark the deadlines of `c` that passed unmet counted missed, in one versioned write of the
/// record (re-read: a deadline met or marked meanwhile is not marked, and when nothing is left
/// to mark nothing is written): the write that marks a deadline counts it missed, once however
/// often the sweep finds it, and a late answer racing it cannot count it again
/// ([`crate::metrics::count_deadlines`]). The record as written; None when there was nothing to
/// mark or the write failed (logged: the next sweep marks it).
pub(crate) async fn mark_missed(
    repo: &ComplaintRepo<'_>,
    c: &Complaint,
    now: DateTime<Utc>,
) -> Option<Complaint> {
    if !c.deadlines.iter().any(|d| to_mark(d, now)) {
        return None;
    }
    let mark = |x: &mut Complaint| {
        let mut marked = false;
        for d in x.deadlines.iter_mut().filter(|d| to_mark(d, now)) {
            d.counted = Some(Counted::Missed);
            marked = true;
        }
        marked
    };
    match repo.modify_if(&c.id, mark).await {
        Ok(written) => written,
        Err(e) => {
            tracing::warn!(complaint_id = %c.id, error = %e, "missed deadline not marked; the next sweep tries again");
            None
        }
    }
}

/// The sub-merchant records of an account's complaints, read once per sweep.
#[derive(Default)]
struct SubMerchants(HashMap<String, Option<SubMerchant>>);

impl SubMerchants {
    async fn get(
        &mut self,
        state: &Services,
        account: &Account,
        c: &Complaint,
    ) -> Result<Option<SubMerchant>, JobError> {
        let Some(sub_mchid) = c.sub_mchid.as_deref() else {
            return Ok(None);
        };
        if let Some(known) = self.0.get(sub_mchid) {
            return Ok(known.clone());
        }
        let found = SubMerchantRepo::new(&*state.ports.records)
            .get(&account.id, sub_mchid)
            .await
            .map_err(store_error)?
            .map(|(s, _)| s);
        self.0.insert(sub_mchid.to_string(), found.clone());
        Ok(found)
    }
}

/// Whose staff hear of a complaint's deadlines: the account's own if it is enabled, and a
/// known, enabled sub-merchant's own.
pub fn audiences(account: &Account, sub: Option<&SubMerchant>) -> Vec<Audience> {
    let mut v = Vec::new();
    if account.enabled {
        v.push(Audience {
            account_id: account.id.clone(),
            sub_mchid: None,
        });
    }
    if let Some(s) = sub.filter(|s| s.enabled) {
        v.push(Audience {
            account_id: account.id.clone(),
            sub_mchid: Some(s.sub_mchid.clone()),
        });
    }
    v
}

/// The settings that decide for an audience: the account's own staff follow the account's
/// settings (a sub-merchant's cannot silence its provider), a sub-merchant's staff follow the
/// sub-merchant's own, else the account's.
pub fn settings_for(
    account: &Account,
    sub: Option<&SubMerchant>,
    audience: &Audience,
) -> DeadlineSettings {
    match audience.sub_mchid {
        None => account.settings.deadlines(),
        Some(_) => sub
            .and_then(|s| s.deadlines.clone())
            .unwrap_or_else(|| account.settings.deadlines()),
    }
}

/// The name staff know the complaint's merchant by.
fn merchant(account: &Account, sub: Option<&SubMerchant>, c: &Complaint) -> String {
    match (sub, c.sub_mchid.as_deref()) {
        (Some(s), _) => s.name.clone(),
        (None, Some(id)) => format!("{} / sub-merchant {id}", account.name),
        _ => account.name.clone(),
    }
}

/// Send what each of the complaint's deadlines calls for now.
async fn complaint(
    state: &Services,
    account: &Account,
    sub: Option<&SubMerchant>,
    c: &Complaint,
    now: DateTime<Utc>,
    out: &mut Outcome,
) -> Result<(), JobError> {
    for audience in audiences(account, sub) {
        let settings = settings_for(account, sub, &audience);
        for d in &c.deadlines {
            let Some(step) = remind::due_step(d, &settings, now) else {
                continue;
            };
            // A sub-merchant's escalations reach the provider's own staff (an audience
            // already); the account's own complaints also reach its extra recipients.
            let extra = match (&step, c.sub_mchid.is_some(), &audience.sub_mchid) {
                (Step::Escalate, false, None) => {
                    Some(settings.escalation_recipients.clone()).filter(|r| !r.is_empty())
                }
                _ => None,
            };
            let summary = remind::summary(
                c,
                d,
                &step,
                merchant(account, sub, c),
                crate::console_links::complaint(state, &c.id),
                now,
            );
            let sent = notices::send(
                &state.ports,
                Notice {
                    owner_pk: ComplaintRepo::complaint_owner(&c.id),
                    event_key: remind::event_key(c, d, &step),
                    subject: NotificationSubject::Complaint {
                        complaint_id: c.id.clone(),
                    },
                    summary,
                    audiences: std::slice::from_ref(&audience),
                    now,
                    record_only_when_queued: true,
                    extra_recipients: extra,
                    only_channels: None,
                },
            )
            .await?;
            match step {
                Step::Remind(_) => out.reminders += sent.len(),
                Step::Escalate => out.escalations += sent.len(),
            }
        }
    }
    Ok(())
}
