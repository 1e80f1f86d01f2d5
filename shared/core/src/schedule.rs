//! Clock-driven jobs: on each tick of a schedule (an EventBridge schedule invoking the
//! `scheduler` function on AWS, a tokio interval in the all-in-one binary) one job per account
//! is put on a queue, and the workers do the work. The same code runs in both.
//!
//! A kind of scheduled job is a [`PerAccountJob`] (today [`DEADLINE_SWEEP`] and
//! [`RECONCILE_PASS`]); a new one is one
//! constant here and one line where a composition root names the jobs of a schedule.
//!
//! Every account whose kind receives complaints gets the job, disabled ones included: the job's
//! handler decides what a disabled account gets (a provider still hears about its
//! sub-merchants). A job's id is derived from (job type, account, schedule slot), so a tick
//! delivered twice enqueues the same ids; the handlers are idempotent anyway.

use crate::error::chain;
use crate::repo::{AccountRepo, RepoError};
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountKind};
use domain::clock::Clock;
use domain::job::deadlines::{SWEEP, Sweep};
use domain::job::reconcile::{PASS, Pass};
use domain::job::{JobEnvelope, PayloadError, queues};
use domain::ports::{Queue, RecordStore};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Accounts read per page of the account list (an index query on both stores).
const PAGE: u32 = 100;

/// Builds a [`PerAccountJob`]'s job for `account` at schedule slot `slot`, created `now`.
pub type BuildEnvelope = fn(
    account: &Account,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<JobEnvelope, PayloadError>;

/// One kind of job a schedule enqueues for every account with complaints.
#[derive(Debug, Clone, Copy)]
pub struct PerAccountJob {
    /// The job type (`deadlines.sweep`), for logs.
    pub job_type: &'static str,
    /// The queue it goes to.
    pub queue: &'static str,
    /// The job for an account at a schedule slot, created now.
    pub envelope: BuildEnvelope,
}

/// One deadline sweep per account on the events queue ([`domain::job::deadlines`]).
pub const DEADLINE_SWEEP: PerAccountJob = PerAccountJob {
    job_type: SWEEP.name(),
    queue: queues::EVENTS,
    envelope: |account, slot, now| {
        let sweep = Sweep {
            account_id: account.id.clone(),
            scheduled_at: slot,
        };
        let mut envelope = SWEEP.envelope(&sweep, now)?;
        envelope.id = job_id(SWEEP.name(), &account.id, slot);
        Ok(envelope.for_account(account.id.clone(), None))
    },
};

/// One reconciliation pass per account on the events queue ([`domain::job::reconcile`]).
pub const RECONCILE_PASS: PerAccountJob = PerAccountJob {
    job_type: PASS.name(),
    queue: queues::EVENTS,
    envelope: |account, slot, now| {
        let pass = Pass {
            account_id: account.id.clone(),
            scheduled_at: slot,
            resume: None,
        };
        let mut envelope = PASS.envelope(&pass, now)?;
        envelope.id = job_id(PASS.name(), &account.id, slot);
        Ok(envelope.for_account(account.id.clone(), None))
    },
};

/// Every kind of scheduled job, for a process that chooses some by name.
pub const ALL: &[PerAccountJob] = &[DEADLINE_SWEEP, RECONCILE_PASS];

/// The id of a scheduled job: the same for the same (job type, account, slot).
pub fn job_id(job_type: &str, account_id: &str, slot: DateTime<Utc>) -> String {
    format!("{job_type}:{account_id}:{}", slot.timestamp())
}

/// The start of the slot of a schedule with period `every` that `at` falls in (whole periods
/// since the Unix epoch), so ticks of one period a little late or early share their slot.
pub fn slot(at: DateTime<Utc>, every: Duration) -> DateTime<Utc> {
    let secs = i64::try_from(every.as_secs()).unwrap_or(i64::MAX).max(1);
    let start = at.timestamp().div_euclid(secs) * secs;
    DateTime::from_timestamp(start, 0).unwrap_or(at)
}

/// Which accounts get the jobs: those whose kind receives complaints, as the platforms
/// registered in this process declared it ([`AccountKind::facts`]); a kind no platform of
/// this process declared is included unless it is named in `without_complaints` (a process
/// that links no platform, such as the `scheduler` function, names them there).
pub fn has_complaints(kind: AccountKind, without_complaints: &[AccountKind]) -> bool {
    !without_complaints.contains(&kind) && kind.facts().is_none_or(|f| f.has_complaints)
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// Accounts listed.
    pub accounts: usize,
    /// Accounts left out: their kind receives no complaints.
    pub skipped: usize,
    /// Jobs enqueued.
    pub enqueued: usize,
    /// Jobs that could not be enqueued.
    pub failed: usize,
}

/// A tick that did not do all its work.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The accounts could not be listed (jobs enqueued before the failure stay queued).
    #[error("cannot list the accounts: {0}")]
    List(#[source] RepoError),
    /// Some jobs could not be enqueued (each was logged with its account).
    #[error("{failed} of {attempted} scheduled jobs could not be enqueued")]
    Enqueue { failed: usize, attempted: usize },
}

impl Tally {
    /// An error if any job could not be enqueued (so that the schedule's invoker retries).
    pub fn into_result(self) -> Result<Tally, ScheduleError> {
        if self.failed == 0 {
            Ok(self)
        } else {
            Err(ScheduleError::Enqueue {
                failed: self.failed,
                attempted: self.enqueued + self.failed,
            })
        }
    }
}

/// One tick: list every account (paged) and enqueue each of `jobs` for every account whose
/// kind receives complaints ([`has_complaints`]). One account's failure does not stop the
/// others; the summary is logged (counts only).
pub async fn enqueue_per_account(
    records: &dyn RecordStore,
    queue: &dyn Queue,
    jobs: &[PerAccountJob],
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
    without_complaints: &[AccountKind],
) -> Result<Tally, ScheduleError> {
    use futures_util::StreamExt;
    use futures_util::stream::FuturesUnordered;
    // Sends in flight at once: a run for thousands of accounts fits a scheduler invocation
    // even when each send takes a while.
    const CONCURRENT_SENDS: usize = 16;
    let repo = AccountRepo::new(records);
    let mut tally = Tally::default();
    let mut sending = FuturesUnordered::new();
    let settle =
        |tally: &mut Tally, (account_id, job_type, result): (String, &str, Result<(), String>)| {
            match result {
                Ok(()) => tally.enqueued += 1,
                Err(error) => {
                    tally.failed += 1;
                    tracing::warn!(%account_id, job_type, %error, "could not enqueue a scheduled job");
                }
            }
        };
    let mut cursor = None;
    loop {
        let page = match repo.list(None, PAGE, cursor).await {
            Ok(page) => page,
            Err(e) => {
                // What is already being sent is sent: a send is never cut off half-way.
                while let Some(done) = sending.next().await {
                    settle(&mut tally, done);
                }
                tracing::error!(error = %chain(&e), accounts = tally.accounts, enqueued = tally.enqueued, "scheduled jobs: cannot list the accounts");
                return Err(ScheduleError::List(e));
            }
        };
        for account in &page.items {
            tally.accounts += 1;
            if !has_complaints(account.kind(), without_complaints) {
                tally.skipped += 1;
                continue;
            }
            for job in jobs {
                while sending.len() >= CONCURRENT_SENDS {
                    if let Some(done) = sending.next().await {
                        settle(&mut tally, done);
                    }
                }
                let account_id = account.id.to_string();
                let job_type = job.job_type;
                let body = envelope_body(job, account, slot, now);
                sending.push(async move {
                    let result = match body {
                        Ok(body) => queue
                            .send(job.queue, &body, Duration::ZERO)
                            .await
                            .map(|_| ())
                            .map_err(|e| chain(&e)),
                        Err(e) => Err(e),
                    };
                    (account_id, job_type, result)
                });
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    while let Some(done) = sending.next().await {
        settle(&mut tally, done);
    }
    let job_types: Vec<&str> = jobs.iter().map(|j| j.job_type).collect();
    let slot = slot.to_rfc3339();
    let Tally {
        accounts,
        skipped,
        enqueued,
        failed,
    } = tally;
    if failed == 0 {
        tracing::info!(?job_types, %slot, accounts, skipped, enqueued, failed, "scheduled jobs enqueued");
    } else {
        tracing::warn!(?job_types, %slot, accounts, skipped, enqueued, failed, "scheduled jobs enqueued, some not");
    }
    Ok(tally)
}

/// The body of `job` for `account` at `slot`.
fn envelope_body(
    job: &PerAccountJob,
    account: &Account,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let envelope = (job.envelope)(account, slot, now).map_err(|e| chain(&e))?;
    serde_json::to_string(&envelope).map_err(|e| chain(&e))
}

/// The all-in-one binary's schedule: `jobs` for every account with complaints every `period`,
/// the first tick shortly after start (at most `period`), until `shutdown`. A tick that runs
/// long delays the next one instead of piling ticks up.
pub async fn every(
    period: Duration,
    records: std::sync::Arc<dyn RecordStore>,
    queue: std::sync::Arc<dyn Queue>,
    clock: std::sync::Arc<dyn Clock>,
    jobs: &'static [PerAccountJob],
    shutdown: CancellationToken,
) {
    let period = period.max(Duration::from_secs(1));
    let first = tokio::time::Instant::now() + period.min(FIRST_TICK_AFTER);
    let mut tick = tokio::time::interval_at(first, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let job_types: Vec<&str> = jobs.iter().map(|j| j.job_type).collect();
    tracing::info!(
        ?job_types,
        period_secs = period.as_secs(),
        "schedule started"
    );
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                let now = clock.now();
                // Failures are logged inside; the next tick tries again.
                let _ = enqueue_per_account(&*records, &*queue, jobs, slot(now, period), now, &[]).await;
            }
        }
    }
    tracing::info!(?job_types, "schedule stopped");
}

/// How soon after start the all-in-one binary's schedule first ticks (when its period is
/// longer).
pub const FIRST_TICK_AFTER: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::embedded_services;
    use domain::clock::ManualClock;

    fn account(id: &str, kind: &str, settings: serde_json::Value, enabled: bool) -> Account {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": id, "enabled": enabled, "kind": kind, "settings": settings,
            "credentials": {"complete": false, "fields": {}},
            "created_at": "2026-11-26T00:00:00Z", "updated_at": "2026-11-26T00:00:00Z",
        }))
        .unwrap_or_else(|e| panic!("account {id}: {e}"))
    }

    #[test]
    fn a_slot_is_the_start_of_its_period() {
        let at = DateTime::parse_from_rfc3339("2026-11-26T20:07:31Z")
            .expect("time")
            .to_utc();
        let five = Duration::from_secs(300);
        assert_eq!(slot(at, five).to_rfc3339(), "2026-11-26T20:05:00+00:00");
        assert_eq!(slot(slot(at, five), five), slot(at, five));
        assert_eq!(
            job_id("deadlines.sweep", "acc_1", slot(at, five)),
            job_id(
                "deadlines.sweep",
                "acc_1",
                slot(at + chrono::Duration::seconds(60), five)
            ),
            "a tick a minute late keeps its slot's id"
        );
    }

    #[tokio::test]
    async fn one_sweep_per_account_with_complaints_disabled_ones_included() {
        crate::platforms::builtin();
        let dir = tempfile::tempdir().expect("dir");
        let services = embedded_services(&dir);
        let repo = AccountRepo::new(&*services.ports.records);
        let accounts = [
            account(
                "acc_a",
                "alipay_app",
                serde_json::json!({"app_id": "2021000000000001"}),
                true,
            ),
            account(
                "acc_b",
                "wechatpay_merchant",
                serde_json::json!({"mchid": "1900000001", "appid": "wx2222222222222222",
                    "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"}),
                false,
            ),
            account(
                "acc_c",
                "wxopen_component",
                serde_json::json!({"component_appid": "wx1111111111111111"}),
                true,
            ),
        ];
        for a in &accounts {
            repo.create(a).await.expect("create");
        }
        let clock = ManualClock::new(
            DateTime::parse_from_rfc3339("2026-11-26T20:07:31Z")
                .expect("time")
                .to_utc(),
        );
        let now = clock.now();
        let tally = enqueue_per_account(
            &*services.ports.records,
            &*services.ports.queue,
            &[DEADLINE_SWEEP],
            slot(now, Duration::from_secs(300)),
            now,
            &[],
        )
        .await
        .expect("tick");
        assert_eq!(
            tally,
            Tally {
                accounts: 3,
                skipped: 1,
                enqueued: 2,
                failed: 0
            }
        );
        let got = services
            .ports
            .queue
            .receive(queues::EVENTS, 10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        let mut sweeps: Vec<(String, Sweep)> = got
            .iter()
            .map(|m| {
                let e: JobEnvelope = serde_json::from_str(&m.body).expect("envelope");
                let sweep = SWEEP.payload(&e).expect("a sweep");
                assert_eq!(e.account_id.as_deref(), Some(sweep.account_id.as_str()));
                (e.id.clone(), sweep)
            })
            .collect();
        sweeps.sort_by(|a, b| a.1.account_id.cmp(&b.1.account_id));
        let slot_at = DateTime::parse_from_rfc3339("2026-11-26T20:05:00Z")
            .expect("time")
            .to_utc();
        assert_eq!(
            sweeps,
            vec![
                (
                    job_id(SWEEP.name(), "acc_a", slot_at),
                    Sweep {
                        account_id: "acc_a".into(),
                        scheduled_at: slot_at
                    }
                ),
                (
                    job_id(SWEEP.name(), "acc_b", slot_at),
                    Sweep {
                        account_id: "acc_b".into(),
                        scheduled_at: slot_at
                    }
                ),
            ]
        );
    }

    #[test]
    fn kinds_named_without_complaints_are_left_out_even_when_undeclared() {
        let undeclared = AccountKind::new("schedule_test_kind");
        assert!(
            has_complaints(undeclared, &[]),
            "unknown: the worker decides"
        );
        assert!(!has_complaints(undeclared, &[undeclared]));
    }
}
