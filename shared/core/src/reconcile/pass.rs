//! One account's reconciliation pass (see the module documentation of [`super`]).
//!
//! # Phases
//! 1. **list** (platforms with a list API): the creation-time window from the account's
//!    watermark less [`OVERLAP`] (a first pass: the last [`MAX_WINDOW`]) to the pass's start,
//!    page by page;
//! 2. **re-read**: the account's locally open complaints received before the window (all of
//!    them for a platform without a list), nearest deadline first, then those with nothing due
//!    (waiting on the platform, then the merchant's), at most [`REREAD_PER_PASS`] per pass; the
//!    next pass continues where this one stopped and a round that reached the end starts again
//!    from the nearest;
//! 3. **callback URLs**: compared with the expected ones; a mismatch is told once per
//!    registered URL.
//!
//! The watermark moves to the pass's start less [`super::GRACE`] once the list is done (a
//! complaint left for its grace is listed again by the next pass).
//!
//! # Time, throttling, crashes
//! A pass works for at most its budget (the worker's [`WORKER_BUDGET`], the admin route's
//! [`ADMIN_BUDGET`]): a platform call starts only with [`MIN_CALL_TIME`] left and is cut off
//! when the time is up (it finishes unheard in a task of its own); then the pass puts its
//! continuation (this job with its progress) on the events queue and answers `complete:
//! false`. A call cut off after [`SLOW_CALL`] or more counts as a platform error. A throttling answer
//! (the platform's 429 or our limiter's "no budget") queues the continuation after a growing,
//! jittered delay; a platform error after a delay, at most [`MAX_FAILURES`] times per pass.
//! The account's pass state names the pass under way and its part: a continuation that is
//! not the current part (a duplicate delivery, a pass replaced by a newer one) does nothing; a
//! crash re-runs the part from its start (everything it does is idempotent). A scheduled pass
//! does not start while another started less than [`LEASE`] ago (unless it is that pass's own first
//! part, retried); staff's pass starts, replacing one under way, at most once a minute
//! ([`STAFF_COOLDOWN`]).

use super::health::{self, CallbackUrl, Counted, Found};
use super::reconciler::{GRACE, ListPage, Reconciler, Seen, UrlCheck, Window};
use super::record::recon_pk;
pub use super::record::{Current, LastPass, Outcome, RereadPos, State, Tally, is_current};
use crate::complaints::list::{ComplaintFilter, ListSort};
use crate::complaints::{ComplaintRepo, derived_id};
use crate::console_links::{self, InboxFilter};
use crate::notices::{self, Notice, store_error};
use crate::platform::{Platform, Platforms};
use crate::repo::{AccountRepo, RepoError};
use crate::state::Services;
use crate::worker::{JobError, JobHandler};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::account::Account;
use domain::complaint::{Complaint, ComplaintStatus};
use domain::job::reconcile::{PASS, Pass};
use domain::job::{JobEnvelope, Origin, queues};
use domain::notification::{Audience, NotificationSubject, NotificationSummary, SummaryLine};
use domain::ports::{Accepted, Item, RecordStore, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How long a pass run by the worker works before it queues its continuation (well inside
/// the worker's visibility timeout and the worker function's 30 s, with a platform call in
/// flight when it runs out).
pub const WORKER_BUDGET: Duration = Duration::from_secs(15);
/// How long `POST /accounts/{id}/reconcile` works before it answers (well inside API
/// Gateway's 30 s).
pub const ADMIN_BUDGET: Duration = Duration::from_secs(15);
/// The window listed before the watermark (platform indexing delays, clock differences).
pub const OVERLAP: chrono::Duration = chrono::Duration::hours(1);
/// The longest window listed (WeChat Pay allows 30 days of creation dates; a first pass lists
/// this far back).
pub const MAX_WINDOW: chrono::Duration = chrono::Duration::days(29);
/// Open complaints re-read per pass at most.
pub const REREAD_PER_PASS: usize = 50;
/// Platform errors (not throttling) a pass survives before it gives up until the next one.
pub const MAX_FAILURES: u32 = 3;
/// A scheduled pass does not start while another started less than this long ago.
pub const LEASE: chrono::Duration = chrono::Duration::minutes(30);
/// Staff's passes of one account start at most once a minute (a pass they asked for less than
/// this long ago answers instead of starting another: `POST .../reconcile` answers 409).
pub const STAFF_COOLDOWN: chrono::Duration = chrono::Duration::minutes(1);
/// A platform call starts only with at least this much of the part's time left (our rate
/// limiter may wait up to 5 s inside a call), and is cut off when the time is up (it then
/// finishes unheard: see `Step::bounded`).
pub const MIN_CALL_TIME: Duration = Duration::from_secs(6);
/// A call cut off after having had this long is a platform error (a platform slower than a
/// pass can wait); one cut off sooner started late, and runs first in the next part.
pub const SLOW_CALL: Duration = Duration::from_secs(10);
/// Complaints read per page of the local lists.
const PAGE: usize = 20;
/// The upper bound of the "anything due" range of the re-read's deadline list (fixed, so the
/// list's cursor stays valid across passes).
const DUE_HORIZON: &str = "2200-01-01T00:00:00Z";
/// How long a difference seen without a platform time is remembered.
const FIRST_SEEN_TTL: chrono::Duration = chrono::Duration::days(3);
/// Found complaints listed in one report at most.
const REPORT_FOUND: usize = 100;

/// The handler of [`PASS`].
pub struct PassJob {
    state: Services,
    platforms: Platforms,
}

impl PassJob {
    pub fn new(state: Services, platforms: Platforms) -> Self {
        Self { state, platforms }
    }
}

#[async_trait]
impl JobHandler for PassJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let p = PASS.payload(job)?;
        run(&self.state, &self.platforms, &p, WORKER_BUDGET)
            .await
            .map(|_| ())
    }
}

/// What a pass (or its part) did: counts of the whole pass so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ReconciliationReport)]
pub struct Report {
    pub account_id: String,
    pub outcome: Outcome,
    /// Everything is done (false: the rest was queued, see `continues_at`).
    pub complete: bool,
    pub started_at: DateTime<Utc>,
    /// The creation-time window listed (None: the platform has no list API).
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub tally: Tally,
    /// The complaints this part found (at most 100).
    pub found_complaints: Vec<Found>,
    /// The notification URLs read from the platform (when this part got that far).
    pub callback_urls: Vec<CallbackUrl>,
    /// When the queued rest runs (None: nothing was queued).
    pub continues_at: Option<DateTime<Utc>>,
    /// Why the pass stopped early, or why it was skipped.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    List,
    Reread,
    Urls,
}

/// A pass's progress, carried by its continuation.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progress {
    started_at: DateTime<Utc>,
    part: u32,
    window_start: Option<DateTime<Utc>>,
    window_end: Option<DateTime<Utc>>,
    phase: Phase,
    #[serde(default)]
    list_cursor: Option<serde_json::Value>,
    /// Items of the page at `list_cursor` already considered (a part that stopped in the
    /// middle of a page reads the page again and goes on from there).
    #[serde(default)]
    list_skip: usize,
    #[serde(default)]
    reread: RereadPos,
    /// The round of re-reads reached the end of the open complaints.
    #[serde(default)]
    reread_wrapped: bool,
    #[serde(default)]
    tally: Tally,
    /// Throttling answers in a row (the delay grows with them).
    #[serde(default)]
    throttles: u32,
    /// Platform errors in this pass.
    #[serde(default)]
    failures: u32,
}

impl Progress {
    fn window(&self) -> Option<Window> {
        Some(Window {
            start: self.window_start?,
            end: self.window_end?,
        })
    }
}

/// Run (or continue) one account's pass, as the scheduler's job, for at most `budget`.
pub async fn run(
    state: &Services,
    platforms: &Platforms,
    p: &Pass,
    budget: Duration,
) -> Result<Report, JobError> {
    Engine::load(state, platforms, &p.account_id)
        .await?
        .drive(p.scheduled_at, p.resume.clone(), false, budget)
        .await
}

/// Run a new pass of the account now (staff asked), for at most `budget`; a pass under way is
/// replaced. None: no such account.
pub async fn run_now(
    state: &Services,
    platforms: &Platforms,
    account_id: &str,
    budget: Duration,
) -> Result<Option<Report>, JobError> {
    let engine = Engine::load(state, platforms, account_id).await?;
    if engine.account.is_none() {
        return Ok(None);
    }
    let now = state.ports.clock.now();
    engine.drive(now, None, true, budget).await.map(Some)
}

/// Whether the platform of an account reconciles (an account kind without complaints, or a
/// platform without a reconciler, does not).
pub fn reconciles(platforms: &Platforms, account: &Account) -> bool {
    reconciler_of(platforms, account).is_some()
}

fn reconciler_of<'a>(platforms: &'a Platforms, account: &Account) -> Option<&'a dyn Reconciler> {
    platforms
        .account_kind(account.kind())
        .filter(|k| k.facts.has_complaints)
        .and_then(|k| platforms.get(k.facts.platform))
        .and_then(|p| p.reconciler())
}

/// The platform of an account whose kind receives complaints, when it reconciles.
fn platform_of(platforms: &Platforms, account: &Account) -> Option<Arc<dyn Platform>> {
    platforms
        .account_kind(account.kind())
        .filter(|k| k.facts.has_complaints)
        .and_then(|k| platforms.get(k.facts.platform))
        .filter(|p| p.reconciler().is_some())
        .cloned()
}

struct Engine<'a> {
    services: &'a Services,
    platforms: &'a Platforms,
    account_id: String,
    account: Option<Account>,
}

/// How a step ended when it did not simply go on.
enum Stop {
    /// Out of time: continue now.
    Time,
    /// Throttled: continue after this long.
    Throttled(Duration),
    /// A platform error: continue after this long (or give up, see `failures`).
    Failed(Duration, String),
    /// A platform error that trying again in this pass cannot help.
    Fatal(String),
    /// A newer pass replaced this one: stop, queue nothing, record nothing.
    Superseded,
}

impl<'a> Engine<'a> {
    async fn load(
        services: &'a Services,
        platforms: &'a Platforms,
        account_id: &str,
    ) -> Result<Engine<'a>, JobError> {
        let account = AccountRepo::new(&*services.ports.records)
            .get(account_id)
            .await
            .map_err(store_error)?
            .map(|(a, _)| a);
        Ok(Self {
            services,
            platforms,
            account_id: account_id.to_string(),
            account,
        })
    }

    fn records(&self) -> &dyn RecordStore {
        &*self.services.ports.records
    }

    fn skipped(&self, started_at: DateTime<Utc>, why: &str) -> Report {
        tracing::info!(account_id = %self.account_id, why, "reconciliation skipped");
        Report {
            account_id: self.account_id.clone(),
            outcome: Outcome::Skipped,
            complete: true,
            started_at,
            window_start: None,
            window_end: None,
            tally: Tally::default(),
            found_complaints: vec![],
            callback_urls: vec![],
            continues_at: None,
            error: Some(why.to_string()),
        }
    }

    #[tracing::instrument(skip_all, fields(account_id = %self.account_id))]
    async fn drive(
        &self,
        scheduled_at: DateTime<Utc>,
        resume: Option<serde_json::Value>,
        force: bool,
        budget: Duration,
    ) -> Result<Report, JobError> {
        let Some(account) = &self.account else {
            return Ok(self.skipped(scheduled_at, "the account no longer exists"));
        };
        let Some(platform) = platform_of(self.platforms, account) else {
            return Ok(self.skipped(scheduled_at, "the account's platform is not reconciled"));
        };
        let Some(reconciler) = reconciler_of(self.platforms, account) else {
            return Ok(self.skipped(scheduled_at, "the account's platform is not reconciled"));
        };
        let until = tokio::time::Instant::now() + budget;
        let now = self.services.ports.clock.now();
        let records = self.records();
        let mut progress = match resume {
            Some(v) => {
                let progress: Progress = serde_json::from_value(v)
                    .map_err(|e| JobError::Permanent(format!("reconcile progress: {e}")))?;
                let (s, _) = State::read(records, &account.id)
                    .await
                    .map_err(store_error)?;
                let expected = Current::part_of(progress.started_at, progress.part);
                if !is_current(s.current.as_ref(), &expected) {
                    return Ok(self.skipped(
                        progress.started_at,
                        "superseded (a newer pass or part runs, or this part ran already)",
                    ));
                }
                progress
            }
            None => {
                let mut fresh = None;
                let mut refusal = "another pass is under way";
                let (s, started) = State::modify(records, &account.id, |s| {
                    if let Some(c) = &s.current {
                        // The worker retrying this very scheduled pass's first part.
                        let own_retry =
                            !force && c.part == 0 && c.scheduled_at == Some(scheduled_at);
                        if force && c.by_staff && c.started_at + STAFF_COOLDOWN > now {
                            refusal = "a pass staff asked for less than a minute ago is under way";
                            return false;
                        }
                        if !force && !own_retry && c.started_at + LEASE > now {
                            return false;
                        }
                    }
                    if force && s.staff_pass_at.is_some_and(|t| t + STAFF_COOLDOWN > now) {
                        refusal = "staff asked for a pass of this account less than a minute ago";
                        return false;
                    }
                    s.current = Some(Current {
                        started_at: now,
                        part: 0,
                        scheduled_at: (!force).then_some(scheduled_at),
                        by_staff: force,
                    });
                    if force {
                        s.staff_pass_at = Some(now);
                    }
                    fresh = Some(s.clone());
                    true
                })
                .await
                .map_err(store_error)?;
                if !started {
                    return Ok(self.skipped(now, refusal));
                }
                let s = fresh.unwrap_or(s);
                let window = reconciler.lists().then(|| {
                    let earliest = now - MAX_WINDOW;
                    let start = s
                        .watermark
                        .map(|w| w - OVERLAP)
                        .unwrap_or(earliest)
                        .max(earliest);
                    (start, now)
                });
                Progress {
                    started_at: now,
                    part: 0,
                    window_start: window.map(|w| w.0),
                    window_end: window.map(|w| w.1),
                    phase: Phase::List,
                    list_cursor: None,
                    list_skip: 0,
                    reread: s.reread_from.clone().unwrap_or_default(),
                    reread_wrapped: false,
                    tally: Tally::default(),
                    throttles: 0,
                    failures: 0,
                }
            }
        };
        let mut report = Report {
            account_id: account.id.clone(),
            outcome: Outcome::Complete,
            complete: true,
            started_at: progress.started_at,
            window_start: progress.window_start,
            window_end: progress.window_end,
            tally: progress.tally,
            found_complaints: vec![],
            callback_urls: vec![],
            continues_at: None,
            error: None,
        };
        let step = Step {
            engine: self,
            account,
            platform,
            reconciler,
            until,
        };
        let stopped = match step.work(&mut progress, &mut report).await {
            Ok(s) => s,
            Err(JobError::Permanent(why)) => {
                // No retry comes (the worker sets the job aside): the pass is over, failed,
                // and gives its lease back.
                tracing::error!(error = %why, "reconciliation pass failed");
                report.tally = progress.tally;
                self.finish(&progress, Outcome::Failed, Some(why), &mut report)
                    .await?;
                return Ok(report);
            }
            Err(e) => {
                // A first part gives its lease back, so that the next pass (staff's, or the
                // next slot) need not wait it out; a later part keeps it: the worker's retry
                // of this job resumes the part.
                if progress.part == 0 {
                    let this = Current::part_of(progress.started_at, 0);
                    let _ = State::modify(records, &account.id, |s| {
                        if !is_current(s.current.as_ref(), &this) {
                            return false;
                        }
                        s.current = None;
                        true
                    })
                    .await;
                }
                return Err(e);
            }
        };
        report.tally = progress.tally;
        match stopped {
            Some(Stop::Superseded) => {
                report.outcome = Outcome::Skipped;
                report.error = Some("superseded by a newer pass".into());
                tracing::info!("reconciliation part superseded by a newer pass; stopped");
            }
            None => {
                self.finish(&progress, Outcome::Complete, None, &mut report)
                    .await?;
            }
            Some(Stop::Fatal(why)) => {
                self.finish(&progress, Outcome::Failed, Some(why), &mut report)
                    .await?;
            }
            Some(Stop::Failed(_, why)) if progress.failures >= MAX_FAILURES => {
                self.finish(&progress, Outcome::Failed, Some(why), &mut report)
                    .await?;
            }
            Some(stop) => {
                let (outcome, delay, why) = match stop {
                    Stop::Time => (Outcome::Continues, Duration::ZERO, None),
                    Stop::Throttled(d) => (Outcome::Throttled, d, None),
                    Stop::Failed(d, why) => (Outcome::Failed, d, Some(why)),
                    Stop::Fatal(_) | Stop::Superseded => unreachable!("handled above"),
                };
                self.continue_later(&mut progress, scheduled_at, delay)
                    .await?;
                report.outcome = outcome;
                report.complete = false;
                report.error = why;
                report.continues_at = Some(
                    now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero()),
                );
                tracing::info!(outcome = ?outcome, delay_ms = delay.as_millis() as u64, tally = ?progress.tally, "reconciliation continues later");
            }
        }
        Ok(report)
    }

    /// Queue the next part of the pass (after `delay`), once the state names it as current.
    async fn continue_later(
        &self,
        progress: &mut Progress,
        scheduled_at: DateTime<Utc>,
        delay: Duration,
    ) -> Result<(), JobError> {
        let records = self.records();
        let this = Current::part_of(progress.started_at, progress.part);
        let next = Current::part_of(progress.started_at, progress.part + 1);
        let (_, moved) = State::modify(records, &self.account_id, |s| {
            let Some(c) = s.current.as_mut().filter(|c| c.is(&this)) else {
                return false;
            };
            c.part = next.part;
            true
        })
        .await
        .map_err(store_error)?;
        if !moved {
            // A newer pass replaced this one meanwhile: it does the work.
            return Ok(());
        }
        progress.part = next.part;
        let now = self.services.ports.clock.now();
        let pass = Pass {
            account_id: self.account_id.clone(),
            scheduled_at,
            resume: Some(
                serde_json::to_value(&*progress).map_err(|e| JobError::Permanent(e.to_string()))?,
            ),
        };
        let mut envelope = PASS.envelope(&pass, now)?;
        envelope.id = format!(
            "{}:{}:{}:{}",
            PASS.name(),
            self.account_id,
            progress.started_at.timestamp(),
            progress.part
        );
        let envelope = envelope.for_account(self.account_id.clone(), None);
        let body =
            serde_json::to_string(&envelope).map_err(|e| JobError::Permanent(e.to_string()))?;
        if let Err(e) = self
            .services
            .ports
            .queue
            .send(queues::EVENTS, &body, delay)
            .await
        {
            // Give this part back its place, so that its retry (the worker retries the job)
            // is not taken for a stale one.
            let _ = State::modify(records, &self.account_id, |s| {
                let Some(c) = s.current.as_mut().filter(|c| c.is(&next)) else {
                    return false;
                };
                c.part = this.part;
                true
            })
            .await;
            progress.part = this.part;
            return Err(JobError::retryable(e));
        }
        Ok(())
    }

    /// The pass is over: move the watermark (when it listed everything), remember where the
    /// re-reads stopped and what the pass did.
    async fn finish(
        &self,
        progress: &Progress,
        outcome: Outcome,
        error: Option<String>,
        report: &mut Report,
    ) -> Result<(), JobError> {
        let now = self.services.ports.clock.now();
        let this = Current::part_of(progress.started_at, progress.part);
        let listed_all = progress.phase != Phase::List && progress.window_start.is_some();
        let last = LastPass {
            started_at: progress.started_at,
            finished_at: now,
            outcome,
            tally: progress.tally,
            error: error.clone(),
        };
        State::modify(self.records(), &self.account_id, |s| {
            if listed_all {
                let mark = progress.started_at - GRACE;
                s.watermark = Some(s.watermark.map_or(mark, |w| w.max(mark)));
            }
            // A pass replaced meanwhile leaves the newer one's re-read position and record.
            if !is_current(s.current.as_ref(), &this) {
                return true;
            }
            s.current = None;
            s.reread_from = (!progress.reread_wrapped).then(|| progress.reread.clone());
            s.last = Some(last.clone());
            true
        })
        .await
        .map_err(store_error)?;
        report.outcome = outcome;
        report.complete = true;
        report.error = error;
        let t = progress.tally;
        if outcome == Outcome::Complete {
            tracing::info!(
                listed = t.listed,
                reread = t.reread,
                found = t.found,
                waiting = t.waiting,
                errors = t.errors,
                throttled = t.throttled,
                "reconciliation pass complete"
            );
        } else {
            tracing::warn!(
                listed = t.listed,
                reread = t.reread,
                found = t.found,
                error = report.error.as_deref().unwrap_or(""),
                "reconciliation pass gave up until the next one"
            );
        }
        Ok(())
    }
}

/// The work of one part of a pass.
struct Step<'a, 'b> {
    engine: &'b Engine<'a>,
    account: &'b Account,
    /// The account's platform (its calls run as tasks of their own: see `bounded`).
    platform: Arc<dyn Platform>,
    reconciler: &'b dyn Reconciler,
    until: tokio::time::Instant,
}

/// A platform call cut off at the part's time (see `Step::bounded`).
enum Cut {
    /// It started with less than [`SLOW_CALL`] left.
    Late,
    /// It had this long, at least [`SLOW_CALL`].
    Slow(Duration),
}

/// The error of a call slower than a pass can wait.
fn slow(left: Duration) -> JobError {
    JobError::Retryable {
        source: format!(
            "the platform did not answer within the {:.1} s left of the pass's time",
            left.as_secs_f64()
        )
        .into(),
        retry_after: None,
    }
}

/// The reconciler of a platform the pass chose for it (it has one).
fn reconciler(p: &Arc<dyn Platform>) -> Result<&dyn Reconciler, JobError> {
    p.reconciler()
        .ok_or_else(|| JobError::Permanent(format!("{} does not reconcile", p.name().as_str())))
}

impl Step<'_, '_> {
    fn services(&self) -> &Services {
        self.engine.services
    }

    /// Too little of the part's time is left to start a platform call.
    fn out_of_time(&self) -> bool {
        self.until
            .saturating_duration_since(tokio::time::Instant::now())
            < MIN_CALL_TIME
    }

    /// A platform call, cut off when the part's time is up (a slow platform cannot hold a
    /// pass past its time box: the admin route answers, the worker's batch is not timed out).
    /// The call runs as a task of its own with its own copies of what it needs: cut off, it
    /// is not cancelled half way (a mini program's rotated refresh token is still stored, a
    /// rate-limit slot still counted) but finishes unheard. A call that panics is an error.
    async fn bounded<T, F, Fut>(&self, call: F) -> Result<Result<T, JobError>, Cut>
    where
        F: FnOnce(Arc<dyn Platform>, Services, Account) -> Fut,
        Fut: std::future::Future<Output = Result<T, JobError>> + Send + 'static,
        T: Send + 'static,
    {
        let left = self
            .until
            .saturating_duration_since(tokio::time::Instant::now());
        let task = tokio::spawn(call(
            self.platform.clone(),
            self.services().clone(),
            self.account.clone(),
        ));
        match tokio::time::timeout(left, task).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Ok(Err(JobError::Permanent(format!(
                "the platform call did not finish: {e}"
            )))),
            Err(_) if left >= SLOW_CALL => Err(Cut::Slow(left)),
            Err(_) => Err(Cut::Late),
        }
    }

    /// What a cut-off call means: a call that had [`SLOW_CALL`] or more is a platform error
    /// (it is slower than a pass can wait); one started later is out of time (it runs first
    /// in the next part).
    async fn cut(&self, progress: &mut Progress, cut: Cut) -> Stop {
        match cut {
            Cut::Late => Stop::Time,
            Cut::Slow(left) => self.platform_error(progress, slow(left)).await,
        }
    }

    /// A newer pass replaced this one (staff asked for one): this one stops at its next step.
    async fn superseded(&self, progress: &Progress) -> Result<bool, JobError> {
        let (s, _) = State::read(self.engine.records(), &self.account.id)
            .await
            .map_err(store_error)?;
        let this = Current::part_of(progress.started_at, progress.part);
        Ok(!is_current(s.current.as_ref(), &this))
    }

    /// A platform error met: counted in the pass and on the account's health.
    async fn count_error(&self, progress: &mut Progress) {
        progress.tally.errors += 1;
        let at = self.services().ports.clock.now();
        health::count(self.engine.records(), &self.account.id, Counted::Error, at).await;
    }

    /// What a platform error means for the pass (counted on the account's health).
    async fn platform_error(&self, progress: &mut Progress, e: JobError) -> Stop {
        let at = self.services().ports.clock.now();
        let records = self.engine.records();
        match e {
            JobError::Deferred { retry_after, .. } => {
                progress.tally.throttled += 1;
                progress.throttles += 1;
                Stop::Throttled(retry_after.max(Duration::from_secs(1)))
            }
            JobError::Throttled { source } => {
                progress.tally.throttled += 1;
                progress.throttles += 1;
                health::count(records, &self.account.id, Counted::Throttled, at).await;
                tracing::warn!(error = %crate::error::chain(&*source), "the platform throttled the pass");
                Stop::Throttled(throttle_delay(progress.throttles))
            }
            JobError::Retryable {
                source,
                retry_after,
            } => {
                progress.failures += 1;
                self.count_error(progress).await;
                let why = crate::error::chain(&*source);
                tracing::warn!(error = %why, "a platform call of the pass failed");
                Stop::Failed(
                    retry_after.unwrap_or_else(|| throttle_delay(progress.failures)),
                    why,
                )
            }
            JobError::Permanent(why) => {
                self.count_error(progress).await;
                tracing::warn!(error = %why, "a platform call of the pass was refused");
                Stop::Fatal(why)
            }
        }
    }

    async fn work(
        &self,
        progress: &mut Progress,
        report: &mut Report,
    ) -> Result<Option<Stop>, JobError> {
        if progress.phase == Phase::List {
            if let Some(stop) = self.list(progress, report).await? {
                return Ok(Some(stop));
            }
            progress.phase = Phase::Reread;
        }
        if progress.phase == Phase::Reread {
            if let Some(stop) = self.reread(progress, report).await? {
                return Ok(Some(stop));
            }
            progress.phase = Phase::Urls;
        }
        if self.out_of_time() {
            return Ok(Some(Stop::Time));
        }
        if self.superseded(progress).await? {
            return Ok(Some(Stop::Superseded));
        }
        self.urls(progress, report).await
    }

    async fn list(
        &self,
        progress: &mut Progress,
        report: &mut Report,
    ) -> Result<Option<Stop>, JobError> {
        let window = progress.window();
        loop {
            if self.out_of_time() {
                return Ok(Some(Stop::Time));
            }
            if self.superseded(progress).await? {
                return Ok(Some(Stop::Superseded));
            }
            // Without a list API the platform is asked once, for ids learnt elsewhere.
            let window = window.unwrap_or(Window {
                start: progress.started_at,
                end: progress.started_at,
            });
            let cursor = progress.list_cursor.clone();
            let page: ListPage = match self
                .bounded(|p, s, a| async move {
                    reconciler(&p)?.list_page(&s, &a, window, cursor).await
                })
                .await
            {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => return Ok(Some(self.platform_error(progress, e).await)),
                Err(cut) => return Ok(Some(self.cut(progress, cut).await)),
            };
            progress.throttles = 0;
            for seen in page.items.iter().skip(progress.list_skip) {
                if let Some(stop) = self.consider(progress, report, seen, "list").await? {
                    // This item again, first thing in the next part.
                    return Ok(Some(stop));
                }
                progress.tally.listed += 1;
                progress.list_skip += 1;
            }
            progress.list_cursor = page.next;
            progress.list_skip = 0;
            if progress.list_cursor.is_none() {
                return Ok(None);
            }
        }
    }

    /// The local list of open complaints a re-read position walks.
    fn open_list(&self, part: u8) -> Option<ComplaintFilter> {
        let account_id = Some(self.account.id.clone());
        match part {
            0 => Some(ComplaintFilter {
                account_id,
                due_before: DateTime::parse_from_rfc3339(DUE_HORIZON)
                    .ok()
                    .map(|t| t.with_timezone(&Utc)),
                sort: ListSort::Deadline,
                ..ComplaintFilter::default()
            }),
            // Then those with nothing due (the deadline list has the others), by status.
            1..=3 => Some(ComplaintFilter {
                account_id,
                status: Some(match part {
                    1 => ComplaintStatus::AwaitingPlatform,
                    2 => ComplaintStatus::Processing,
                    _ => ComplaintStatus::Pending,
                }),
                ..ComplaintFilter::default()
            }),
            _ => None,
        }
    }

    fn wants_reread(&self, progress: &Progress, c: &Complaint) -> bool {
        if matches!(
            c.status,
            ComplaintStatus::Resolved | ComplaintStatus::Closed
        ) {
            return false;
        }
        // The lists by status (those with nothing due) leave out what the first (anything
        // due) re-read already.
        if progress.reread.part > 0 && c.next_due_at.is_some() {
            return false;
        }
        // The list showed the window's complaints already.
        match progress.window_start {
            Some(start) => c.complained_at.unwrap_or(c.received_at) < start,
            None => true,
        }
    }

    async fn reread(
        &self,
        progress: &mut Progress,
        report: &mut Report,
    ) -> Result<Option<Stop>, JobError> {
        let repo = ComplaintRepo::new(self.engine.records());
        let mut done_this_pass = progress.tally.reread;
        loop {
            let Some(filter) = self.open_list(progress.reread.part) else {
                // The round reached the end: the next pass starts again from the nearest.
                progress.reread_wrapped = true;
                return Ok(None);
            };
            let account_id = self.account.id.clone();
            let listed = repo
                .list(
                    &filter,
                    |c| c.account_id == account_id,
                    PAGE,
                    progress.reread.cursor.clone(),
                )
                .await;
            let (page, next) = match listed {
                Ok(x) => x,
                Err(RepoError::Store(StoreError::InvalidCursor)) => {
                    // A cursor of an older version of the lists: start this list again.
                    progress.reread.cursor = None;
                    progress.reread.skip = 0;
                    continue;
                }
                Err(e) => return Err(store_error(e)),
            };
            for c in page.iter().skip(progress.reread.skip) {
                if !self.wants_reread(progress, c) {
                    progress.reread.skip += 1;
                    continue;
                }
                if done_this_pass >= REREAD_PER_PASS {
                    return Ok(None);
                }
                if self.out_of_time() {
                    return Ok(Some(Stop::Time));
                }
                if self.superseded(progress).await? {
                    return Ok(Some(Stop::Superseded));
                }
                let complaint = c.clone();
                let read = match self
                    .bounded(
                        |p, s, a| async move { reconciler(&p)?.reread(&s, &a, &complaint).await },
                    )
                    .await
                {
                    Ok(r) => r,
                    // Read first in the next part.
                    Err(Cut::Late) => return Ok(Some(Stop::Time)),
                    Err(Cut::Slow(left)) => Err(slow(left)),
                };
                match read {
                    Ok(Some(seen)) => {
                        progress.throttles = 0;
                        // A re-read's item is complete: `consider` reads nothing more.
                        let _ = self.consider(progress, report, &seen, "reread").await?;
                    }
                    Ok(None) => {
                        progress.tally.unknown_on_platform += 1;
                        tracing::warn!(complaint_id = %c.id, platform_complaint_id = %c.platform_complaint_id, "an open complaint the platform does not know");
                    }
                    Err(JobError::Permanent(why)) => {
                        // This complaint only: the others are still worth reading.
                        self.count_error(progress).await;
                        tracing::warn!(complaint_id = %c.id, error = %why, "re-read refused; skipped");
                    }
                    Err(JobError::Retryable { source, .. }) => {
                        // This complaint is skipped for this round (one that always fails
                        // must not hold the others back); the pass gives up after a few.
                        progress.failures += 1;
                        self.count_error(progress).await;
                        let why = crate::error::chain(&*source);
                        tracing::warn!(complaint_id = %c.id, error = %why, "re-read failed; skipped this round");
                        if progress.failures >= MAX_FAILURES {
                            progress.reread.skip += 1;
                            return Ok(Some(Stop::Failed(throttle_delay(progress.failures), why)));
                        }
                    }
                    Err(e) => return Ok(Some(self.platform_error(progress, e).await)),
                }
                progress.tally.reread += 1;
                done_this_pass += 1;
                progress.reread.skip += 1;
            }
            match next {
                Some(cursor) => {
                    progress.reread.cursor = Some(cursor);
                    progress.reread.skip = 0;
                }
                None => {
                    progress.reread = RereadPos {
                        part: progress.reread.part + 1,
                        cursor: None,
                        skip: 0,
                    };
                }
            }
        }
    }

    /// One complaint as the platform has it: act on a difference a push would have told,
    /// once its grace has passed.
    async fn consider(
        &self,
        progress: &mut Progress,
        report: &mut Report,
        seen: &Seen,
        how: &str,
    ) -> Result<Option<Stop>, JobError> {
        let records = self.engine.records();
        let local = ComplaintRepo::new(records)
            .get(&seen.record_id)
            .await
            .map_err(store_error)?
            .map(|(c, _)| c);
        if !self.reconciler.pushed_change(local.as_ref(), seen) {
            progress.tally.unchanged += 1;
            return Ok(None);
        }
        // A list item shows only a state: a complaint we know whose state moved is read in
        // full, as the re-read would (when and by whom it changed: the merchant's own reply in
        // the platform's console is no missed push). Out of time or throttled, the list stops
        // at this item and the next part starts with it.
        let detailed;
        let seen = match (&local, how) {
            (Some(c), "list") => {
                let complaint = c.clone();
                if self.out_of_time() {
                    // This item first in the next part.
                    return Ok(Some(Stop::Time));
                }
                let read = self
                    .bounded(
                        |p, s, a| async move { reconciler(&p)?.reread(&s, &a, &complaint).await },
                    )
                    .await;
                match read {
                    Ok(Ok(Some(s))) => {
                        if !self.reconciler.pushed_change(local.as_ref(), &s) {
                            progress.tally.unchanged += 1;
                            return Ok(None);
                        }
                        detailed = s;
                        &detailed
                    }
                    // The platform lists it but has no detail of it: the list's view stands.
                    Ok(Ok(None)) => seen,
                    Ok(Err(e @ (JobError::Throttled { .. } | JobError::Deferred { .. }))) => {
                        return Ok(Some(self.platform_error(progress, e).await));
                    }
                    Ok(Err(e)) => {
                        self.count_error(progress).await;
                        tracing::warn!(complaint_id = %c.id, error = %e, "a listed change could not be read in full");
                        if matches!(
                            c.status,
                            ComplaintStatus::Resolved | ComplaintStatus::Closed
                        ) {
                            // Closed here, open again there: no re-read would look at it
                            // again, so the list's view stands.
                            seen
                        } else {
                            // Not acted on from the list's view alone (it may be the
                            // merchant's own change): the re-read of a later pass reads it.
                            progress.tally.waiting += 1;
                            return Ok(None);
                        }
                    }
                    Err(Cut::Late) => return Ok(Some(Stop::Time)),
                    Err(Cut::Slow(left)) => {
                        return Ok(Some(self.platform_error(progress, slow(left)).await));
                    }
                }
            }
            _ => seen,
        };
        let now = self.services().ports.clock.now();
        let happened = match (&local, seen.created_at, seen.changed_at) {
            (None, Some(created), _) => Some(created),
            (_, _, Some(changed)) => Some(changed),
            _ => None,
        };
        let happened = match happened {
            Some(t) => t,
            None => first_seen(records, &self.account.id, seen, now).await?,
        };
        if now < happened + GRACE {
            progress.tally.waiting += 1;
            tracing::debug!(complaint_id = %seen.record_id, raw_status = %seen.raw_status, "a difference inside its grace; a push may be on its way");
            return Ok(None);
        }
        let why = if local.is_none() {
            "unknown"
        } else {
            "state_moved"
        };
        // No push could have told us of what happened before the account was added here, and
        // none is sent for the merchant's own actions in the platform's console: such
        // differences are queued (our record catches up) but are not missed pushes.
        let before_account = happened < self.account.created_at;
        let missed = !before_account && !seen.merchant_acted;
        let mut job = match self.reconciler.job(self.account, seen, now) {
            Ok(job) => job,
            Err(e) => {
                // This complaint only: the others are still worth queueing.
                progress.tally.errors += 1;
                tracing::warn!(complaint_id = %seen.record_id, error = %e, "the push's job could not be built; skipped");
                return Ok(None);
            }
        };
        job.origin = Some(Origin::Reconcile);
        if job.account_id.is_none() {
            job = job.for_account(self.account.id.clone(), seen.sub_mchid.clone());
        }
        let text = serde_json::to_string(&job).map_err(|e| JobError::Permanent(e.to_string()))?;
        let key = match &seen.change {
            Some(change) => format!("reconcile:{}:{}:{change}", seen.record_id, seen.raw_status),
            None => format!("reconcile:{}:{}", seen.record_id, seen.raw_status),
        };
        let accepted = self
            .services()
            .ports
            .inbox
            .accept(
                &key,
                json!({"complaint_id": seen.record_id, "platform_complaint_id": seen.platform_complaint_id, "raw_status": seen.raw_status, "why": why, "how": how, "job_id": job.id}),
                queues::EVENTS,
                &text,
            )
            .await
            .map_err(JobError::retryable)?;
        if accepted == Accepted::Duplicate {
            progress.tally.already_queued += 1;
            return Ok(None);
        }
        if !missed {
            if before_account {
                progress.tally.before_account += 1;
            } else {
                progress.tally.merchant_acted += 1;
            }
            tracing::info!(complaint_id = %seen.record_id, why, how, before_account = happened < self.account.created_at, "queued to bring our record up to date (no push was missed)");
            return Ok(None);
        }
        progress.tally.found += 1;
        crate::metrics::reconcile_found(self.platform.name(), &self.account.id);
        let found = Found {
            complaint_id: seen.record_id.clone(),
            platform_complaint_id: seen.platform_complaint_id.clone(),
            why: why.to_string(),
            raw_status: seen.raw_status.clone(),
            found_at: now,
        };
        tracing::warn!(complaint_id = %found.complaint_id, platform_complaint_id = %found.platform_complaint_id, why, how, "found by reconciliation: no push told us");
        health::remember_found(records, &self.account.id, &found)
            .await
            .map_err(store_error)?;
        self.silence_alert(&found, now).await?;
        if report.found_complaints.len() < REPORT_FOUND {
            report.found_complaints.push(found);
        }
        Ok(None)
    }

    /// Where an account alert points: the account's inbox in the console.
    fn inbox_link(&self) -> Option<String> {
        console_links::inbox(
            self.services(),
            &InboxFilter::account(&self.account.id, None),
        )
    }

    fn platform_name(&self) -> String {
        self.account
            .kind()
            .facts()
            .map(|f| f.platform.as_str().to_string())
            .unwrap_or_default()
    }

    /// Tell the account's staff, once per Beijing day, that pushes are not arriving.
    async fn silence_alert(&self, found: &Found, now: DateTime<Utc>) -> Result<(), JobError> {
        if !self.account.enabled {
            return Ok(());
        }
        let day = domain::clock::china_day(now);
        let summary = NotificationSummary {
            platform: self.platform_name(),
            event: "推送未到达 / pushes not arriving".into(),
            merchant: self.account.name.clone(),
            reference: found.platform_complaint_id.clone(),
            at: now,
            amount_fen: None,
            user_text: Some(format!(
                "对账发现平台未推送的投诉（{}），已按推送同样处理。A complaint reached us only through reconciliation. {}",
                found.platform_complaint_id,
                self.reconciler
                    .silence_causes()
                    .replace("{id}", &self.account.id)
            )),
            deadline: None,
            link: self.inbox_link(),
            extra_lines: vec![SummaryLine {
                label: "原因 / why".into(),
                value: if found.why == "unknown" {
                    "投诉未收到推送 / complaint never pushed".into()
                } else {
                    "状态变化未收到推送 / state change never pushed".into()
                },
            }],
        };
        self.account_alert(
            "push_silence",
            format!("reconcile-silence:{}:{day}", self.account.id),
            summary,
            now,
        )
        .await
    }

    /// Tell the account's own staff about the account (the alerts of a pass): once per event
    /// key, kept under the account's reconciliation records.
    async fn account_alert(
        &self,
        topic: &str,
        event_key: String,
        summary: NotificationSummary,
        now: DateTime<Utc>,
    ) -> Result<(), JobError> {
        let audience = [Audience {
            account_id: self.account.id.clone(),
            sub_mchid: None,
        }];
        notices::send(
            &self.services().ports,
            Notice {
                owner_pk: recon_pk(&self.account.id),
                event_key,
                subject: NotificationSubject::Account {
                    account_id: self.account.id.clone(),
                    topic: topic.into(),
                },
                summary,
                audiences: &audience,
                now,
                record_only_when_queued: true,
                extra_recipients: None,
                only_channels: None,
            },
        )
        .await?;
        Ok(())
    }

    /// Read the registered notification URLs; tell staff once about each one that is not ours.
    async fn urls(
        &self,
        progress: &mut Progress,
        report: &mut Report,
    ) -> Result<Option<Stop>, JobError> {
        let checks = match self
            .bounded(|p, s, a| async move { reconciler(&p)?.callback_urls(&s, &a).await })
            .await
        {
            Ok(Ok(c)) => c,
            // Read first in the next part.
            Err(Cut::Late) => return Ok(Some(Stop::Time)),
            Err(Cut::Slow(left)) => {
                let _ = self.platform_error(progress, slow(left)).await;
                return Ok(None);
            }
            Ok(Err(e)) => {
                // Not worth holding the pass back: the next pass reads them again.
                let _ = self.platform_error(progress, e).await;
                return Ok(None);
            }
        };
        let now = self.services().ports.clock.now();
        for u in checks.iter().filter(|u| u.matches() == Some(false)) {
            self.drift_alert(u, now).await?;
        }
        let kept = checks.clone();
        State::modify(self.engine.records(), &self.account.id, |s| {
            s.urls = kept.clone();
            s.urls_checked_at = Some(now);
            true
        })
        .await
        .map_err(store_error)?;
        report.callback_urls = checks
            .iter()
            .map(|u| CallbackUrl::of(u, Some(now)))
            .collect();
        Ok(None)
    }

    async fn drift_alert(&self, u: &UrlCheck, now: DateTime<Utc>) -> Result<(), JobError> {
        tracing::warn!(what = %u.what, registered = u.registered.as_deref().unwrap_or("(none)"), expected = u.expected.as_deref().unwrap_or(""), "the platform's notification URL is not ours");
        if !self.account.enabled {
            return Ok(());
        }
        let registered = u.registered.clone().unwrap_or_default();
        let summary = NotificationSummary {
            platform: self.platform_name(),
            event: "回调地址不符 / callback URL changed".into(),
            merchant: self.account.name.clone(),
            reference: u.what.clone(),
            at: now,
            amount_fen: None,
            user_text: Some(format!(
                "平台登记的{}通知地址为 {}，应为 {}：推送不会到达本系统。请在管理 API 重新登记（POST /admin/v1/accounts/{}/callback-registration）。The platform sends these notifications elsewhere; register ours again.",
                u.what,
                if registered.is_empty() {
                    "（无）"
                } else {
                    &registered
                },
                u.expected.as_deref().unwrap_or(""),
                self.account.id
            )),
            deadline: None,
            link: self.inbox_link(),
            extra_lines: vec![],
        };
        self.account_alert(
            "callback_url",
            format!(
                "reconcile-drift:{}:{}:{}",
                self.account.id,
                u.what,
                derived_id("", &registered)
            ),
            summary,
            now,
        )
        .await
    }
}

/// When a pass first saw this difference (now, if this is the first time).
async fn first_seen(
    records: &dyn RecordStore,
    account_id: &str,
    seen: &Seen,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, JobError> {
    let (pk, sk) = (
        recon_pk(account_id),
        format!(
            "SEEN#{}#{}#{}",
            seen.record_id,
            seen.raw_status,
            seen.change.as_deref().unwrap_or("")
        ),
    );
    let item = Item::new(pk.clone(), sk.clone(), json!({"at": now}))
        .expiring_at((now + FIRST_SEEN_TTL).timestamp());
    match records.create(item).await {
        Ok(_) => Ok(now),
        Err(StoreError::AlreadyExists { .. }) => {
            let at = records
                .get(&pk, &sk)
                .await
                .map_err(|e| store_error(e.into()))?
                .and_then(|i| i.data.get("at").cloned())
                .and_then(|v| serde_json::from_value(v).ok());
            Ok(at.unwrap_or(now))
        }
        Err(e) => Err(store_error(e.into())),
    }
}

/// The delay after the `n`th throttling answer (or error) in a row: 30 s doubling up to 10
/// minutes, a random point in the step's upper half.
fn throttle_delay(n: u32) -> Duration {
    let step = 30u64
        .saturating_mul(1u64 << n.saturating_sub(1).min(5))
        .min(600);
    let half = step as f64 / 2.0;
    Duration::from_secs_f64(half + half * rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_delays_grow_and_stay_within_their_step() {
        for n in 1..10 {
            let step = (30u64 << (n - 1).min(5)).min(600) as f64;
            let d = throttle_delay(n).as_secs_f64();
            assert!(
                d >= step / 2.0 && d <= step,
                "n={n}: {d} not in [{}, {step}]",
                step / 2.0
            );
        }
    }
}
