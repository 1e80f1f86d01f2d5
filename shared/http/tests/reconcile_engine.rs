//! The reconciliation engine, end to end, through a platform written here: a toy whose remote
//! keeps its complaints in memory (id, status, creation time, an optional change time), lists
//! them two to a page behind a cursor, answers a detail re-read, can be told that its next
//! calls answer "too many", fail or refuse, and has a registered callback URL. Its push job
//! records the complaint with its raw status and tells staff under a key derived from that
//! status, as the real platforms do. Everything runs on a manual clock, and the queued jobs
//! are run here, one by one, through the worker's own registry; delayed messages (a throttled
//! pass's continuation) are held until the test lets them through.

mod common;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use common::*;
use desk_core::Error;
use desk_core::accounts::{AccountKindSpec, CredentialsChange};
use desk_core::complaints::{ComplaintRepo, complaint_id};
use desk_core::notices::{self, Notice, store_error};
use desk_core::platform::{Platform, Platforms};
use desk_core::reconcile::pass::{ADMIN_BUDGET, MIN_CALL_TIME, SLOW_CALL, WORKER_BUDGET};
use desk_core::reconcile::{ListPage, Outcome, Reconciler, Report, Seen, UrlCheck, Window};
use desk_core::state::Services;
use desk_core::worker::{Disposition, JobError, JobHandler, JobRegistry, RetryPolicy};
use domain::account::{
    Account, AccountKind, AccountKindFacts, AccountSettings, Credentials, CredentialsStatus,
};
use domain::clock::ManualClock;
use domain::complaint::{Complaint, ComplaintStatus, Deadline, DeadlineSource, DeadlineSourceKind};
use domain::job::reconcile::PASS;
use domain::job::{JobEnvelope, JobKind, Origin, queues};
use domain::notification::{Audience, NotificationJob, NotificationSubject, NotificationSummary};
use domain::ports::{DeadLetterPage, Queue, QueueError, QueueMessage};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const TOY: domain::complaint::Platform = domain::complaint::Platform::new("toy");
const TOY_SHOP: AccountKind = AccountKind::new("toy_shop");
/// A kind of the toy platform that receives no complaints (nothing to reconcile).
const TOY_HUB: AccountKind = AccountKind::new("toy_hub");
/// A platform with complaints and no reconciler.
const QUIET: domain::complaint::Platform = domain::complaint::Platform::new("quiet");
const QUIET_SHOP: AccountKind = AccountKind::new("quiet_shop");
/// The toy's push job: a complaint was pushed (or found by reconciliation).
const PUSHED: JobKind<Pushed> = JobKind::new("toy.complaint");
/// Where the deployment lives (`PUBLIC_BASE_URL`).
const BASE: &str = "https://desk.example.com/";
/// The toy's list page size.
const PAGE: usize = 2;

#[derive(Debug, Serialize, Deserialize)]
struct Pushed {
    shop: String,
    complaint_id: String,
}

/// A complaint as the toy platform has it.
#[derive(Debug, Clone)]
struct RemoteComplaint {
    /// `OPEN` (the merchant's turn), `WAITING` (the platform's), `DONE`.
    status: String,
    created_at: DateTime<Utc>,
    /// When its status last changed, when the platform says.
    changed_at: Option<DateTime<Utc>>,
    /// What tells this change from an earlier one in the same status, when the platform
    /// shows it (`Seen::change`).
    change: Option<String>,
    /// The platform shows the last change as the merchant's own, made in its console.
    merchant_acted: bool,
}

/// What the toy's list does when it is called, before it answers.
type ListHook =
    Box<dyn FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send>;

/// What the next call answers instead of its result.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Throttled,
    Retryable,
    Permanent,
}

impl Fault {
    fn error(self) -> JobError {
        let e = std::io::Error::other("the toy platform said no");
        match self {
            Fault::Throttled => JobError::throttled(e),
            Fault::Retryable => JobError::retryable(e),
            Fault::Permanent => JobError::Permanent("the toy platform refused the call".into()),
        }
    }
}

#[derive(Default)]
struct RemoteState {
    complaints: BTreeMap<String, RemoteComplaint>,
    /// What the next calls answer: a fault, or (None) their result.
    list_faults: VecDeque<Option<Fault>>,
    detail_faults: VecDeque<Option<Fault>>,
    /// The registered callback URL (outer None: the platform does not let us read it).
    registered_url: Option<Option<String>>,
    /// Every list call: its window and cursor.
    list_calls: Vec<(Window, Option<Value>)>,
    /// Every detail re-read: the complaint id.
    detail_calls: Vec<String>,
    /// Runs (once) when the list is next called, before it answers.
    list_hook: Option<ListHook>,
    /// How many of the next list calls never answer.
    hanging_lists: usize,
    /// The next list call panics (the worker's process dies in the middle of a pass).
    panicking_list: bool,
}

/// The toy platform's side.
#[derive(Default)]
struct Remote(Mutex<RemoteState>);

impl Remote {
    fn state(&self) -> MutexGuard<'_, RemoteState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, id: &str, status: &str, created_at: DateTime<Utc>) {
        self.state().complaints.insert(
            id.into(),
            RemoteComplaint {
                status: status.into(),
                created_at,
                changed_at: None,
                change: None,
                merchant_acted: false,
            },
        );
    }

    /// The platform moves a complaint to `status` at `at`, naming the change `change`;
    /// `merchant_acted`: the merchant did it in the platform's console.
    fn changed(
        &self,
        id: &str,
        status: &str,
        at: DateTime<Utc>,
        change: Option<&str>,
        merchant_acted: bool,
    ) {
        if let Some(c) = self.state().complaints.get_mut(id) {
            c.status = status.into();
            c.changed_at = Some(at);
            c.change = change.map(str::to_string);
            c.merchant_acted = merchant_acted;
        }
    }

    /// The next list call runs `hook` before it answers.
    fn on_next_list(&self, hook: ListHook) {
        self.state().list_hook = Some(hook);
    }

    /// The next `n` list calls never answer.
    fn hang_lists(&self, n: usize) {
        self.state().hanging_lists = n;
    }

    /// The next list call panics.
    fn panic_next_list(&self) {
        self.state().panicking_list = true;
    }

    /// The platform moves a complaint to `status` (at `at`, when it says when).
    fn moved(&self, id: &str, status: &str, at: Option<DateTime<Utc>>) {
        if let Some(c) = self.state().complaints.get_mut(id) {
            c.status = status.into();
            c.changed_at = at;
        }
    }

    /// The next list calls answer these (None: their page).
    fn fail_lists(&self, faults: &[Option<Fault>]) {
        self.state().list_faults.extend(faults);
    }

    /// The next re-reads answer these (None: the detail).
    fn fail_details(&self, faults: &[Option<Fault>]) {
        self.state().detail_faults.extend(faults);
    }

    fn register_url(&self, url: Option<&str>) {
        self.state().registered_url = Some(url.map(str::to_string));
    }

    fn list_calls(&self) -> Vec<(Window, Option<Value>)> {
        self.state().list_calls.clone()
    }

    fn detail_calls(&self) -> Vec<String> {
        self.state().detail_calls.clone()
    }
}

fn seen(account: &Account, id: &str, c: &RemoteComplaint) -> Seen {
    Seen {
        change: c.change.clone(),
        merchant_acted: c.merchant_acted,
        record_id: complaint_id(TOY, &account.id, id),
        platform_complaint_id: id.to_string(),
        raw_status: c.status.clone(),
        created_at: Some(c.created_at),
        changed_at: c.changed_at,
        sub_mchid: None,
        data: json!({}),
    }
}

fn shop_of(account: &Account) -> Result<String, JobError> {
    let AccountSettings::Open(s) = &account.settings else {
        return Err(JobError::Permanent("not a toy shop".into()));
    };
    s.settings
        .get("shop")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| JobError::Permanent("a toy shop without its shop".into()))
}

/// The toy's reconciler: its list (two to a page, by creation time), its detail, its URL.
struct ToyReconciler {
    remote: Arc<Remote>,
}

#[async_trait]
impl Reconciler for ToyReconciler {
    async fn list_page(
        &self,
        _services: &Services,
        account: &Account,
        window: Window,
        cursor: Option<Value>,
    ) -> Result<ListPage, JobError> {
        let (hook, hang, panic) = {
            let mut s = self.remote.state();
            s.list_calls.push((window, cursor.clone()));
            let hang = s.hanging_lists > 0;
            s.hanging_lists = s.hanging_lists.saturating_sub(1);
            (
                s.list_hook.take(),
                hang,
                std::mem::take(&mut s.panicking_list),
            )
        };
        if let Some(hook) = hook {
            hook().await;
        }
        if panic {
            panic!("the toy's list call dies with the process");
        }
        if hang {
            std::future::pending::<()>().await;
        }
        let mut s = self.remote.state();
        if let Some(Some(f)) = s.list_faults.pop_front() {
            return Err(f.error());
        }
        let from = match &cursor {
            None => 0,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| JobError::Permanent(format!("not a toy cursor: {v}")))?
                as usize,
        };
        let mut all: Vec<_> = s
            .complaints
            .iter()
            .filter(|(_, c)| c.created_at >= window.start && c.created_at <= window.end)
            .collect();
        all.sort_by_key(|(id, c)| (c.created_at, (*id).clone()));
        let items = all
            .iter()
            .skip(from)
            .take(PAGE)
            .map(|(id, c)| seen(account, id, c))
            .collect();
        let next = (from + PAGE < all.len()).then(|| json!(from + PAGE));
        Ok(ListPage { items, next })
    }

    async fn reread(
        &self,
        _services: &Services,
        account: &Account,
        complaint: &Complaint,
    ) -> Result<Option<Seen>, JobError> {
        let mut s = self.remote.state();
        s.detail_calls.push(complaint.platform_complaint_id.clone());
        if let Some(Some(f)) = s.detail_faults.pop_front() {
            return Err(f.error());
        }
        Ok(s.complaints
            .get(&complaint.platform_complaint_id)
            .map(|c| seen(account, &complaint.platform_complaint_id, c)))
    }

    fn job(
        &self,
        account: &Account,
        seen: &Seen,
        now: DateTime<Utc>,
    ) -> Result<JobEnvelope, JobError> {
        push_job(account, &seen.platform_complaint_id, now)
    }

    async fn callback_urls(
        &self,
        services: &Services,
        account: &Account,
    ) -> Result<Vec<UrlCheck>, JobError> {
        let Some(registered) = self.remote.state().registered_url.clone() else {
            return Ok(Vec::new());
        };
        Ok(vec![UrlCheck {
            what: "complaint".into(),
            registered,
            expected: services.public_url(&format!("callbacks/toy/{}", shop_of(account)?)),
        }])
    }
}

/// The job the toy's callback queues for a push of `complaint` (and reconciliation too).
fn push_job(
    account: &Account,
    complaint: &str,
    now: DateTime<Utc>,
) -> Result<JobEnvelope, JobError> {
    let payload = Pushed {
        shop: shop_of(account)?,
        complaint_id: complaint.to_string(),
    };
    Ok(PUSHED
        .envelope(&payload, now)?
        .for_account(&account.id, None))
}

struct Toy {
    remote: Arc<Remote>,
    reconciler: ToyReconciler,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ToySettings {
    shop: String,
}

fn kind_spec(
    kind: AccountKind,
    platform: domain::complaint::Platform,
    has_complaints: bool,
) -> AccountKindSpec {
    fn settings_of(kind: AccountKind, value: Value) -> Result<AccountSettings, Error> {
        let s = serde_json::from_value::<ToySettings>(value.clone())
            .map_err(|e| Error::field("settings", e.to_string()))?;
        if s.shop.is_empty() {
            return Err(Error::field("settings.shop", "must not be empty"));
        }
        AccountSettings::from_parts(kind, value).map_err(|m| Error::field("settings", m))
    }
    fn no_credentials(_: CredentialsChange<'_>) -> Result<(Credentials, CredentialsStatus), Error> {
        Err(Error::field("credentials", "the toy platform takes none"))
    }
    AccountKindSpec {
        facts: AccountKindFacts {
            kind,
            platform,
            has_complaints,
            callback_family: platform.as_str(),
            platform_id_field: "shop",
            has_sub_merchants: false,
            budget_by_account_id: false,
        },
        settings_schema: desk_core::schema::SchemaOf::of::<ToySettings>(),
        settings_rules: None,
        settings: match kind.as_str() {
            "toy_shop" => |v| settings_of(TOY_SHOP, v),
            "toy_hub" => |v| settings_of(TOY_HUB, v),
            _ => |v| settings_of(QUIET_SHOP, v),
        },
        check_settings: |_| Ok(()),
        credentials: no_credentials,
        credentials_schema: None,
        empty_credentials: |_| CredentialsStatus {
            complete: true,
            ..CredentialsStatus::default()
        },
        guarded: &[],
        check_references: None,
        refresh_violations: None,
    }
}

impl Platform for Toy {
    fn name(&self) -> domain::complaint::Platform {
        TOY
    }

    fn register_jobs(&self, jobs: &mut JobRegistry, services: &Services) {
        jobs.register(
            PUSHED.name(),
            Arc::new(ToyJob {
                services: services.clone(),
                remote: self.remote.clone(),
            }),
        );
    }

    fn account_kinds(&self) -> Vec<AccountKindSpec> {
        vec![
            kind_spec(TOY_SHOP, TOY, true),
            kind_spec(TOY_HUB, TOY, false),
        ]
    }

    fn reconciler(&self) -> Option<&dyn Reconciler> {
        Some(&self.reconciler)
    }

    /// The merchant's turn has a deadline, and so has an appeal (so the re-read's first list
    /// has them).
    fn deadlines(&self, c: &Complaint) -> Vec<Deadline> {
        let start = c.complained_at.unwrap_or(c.received_at);
        matches!(c.raw_status.as_str(), "OPEN" | "APPEALED")
            .then(|| Deadline {
                what: "answer".into(),
                label: "answer".into(),
                starts_at: start,
                due_at: start + Span::days(60),
                source: DeadlineSource {
                    kind: DeadlineSourceKind::Estimate,
                    detail: "the toy's rule".into(),
                },
                consequence: "none".into(),
                met_at: None,
                counted: None,
            })
            .into_iter()
            .collect()
    }
}

/// A platform with complaints and no way to reconcile them.
struct Quiet;

impl Platform for Quiet {
    fn name(&self) -> domain::complaint::Platform {
        QUIET
    }

    fn register_jobs(&self, _: &mut JobRegistry, _: &Services) {}

    fn account_kinds(&self) -> Vec<AccountKindSpec> {
        vec![kind_spec(QUIET_SHOP, QUIET, true)]
    }
}

/// The toy's push job: the complaint as the platform has it now, recorded with its raw
/// status; staff told once per status (the key is derived from it, as the real platforms'
/// are), whatever delivered the job.
struct ToyJob {
    services: Services,
    remote: Arc<Remote>,
}

#[async_trait]
impl JobHandler for ToyJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let pushed = PUSHED.payload(job)?;
        let account = desk_core::automatic::job_account(&self.services, job).await?;
        let remote = self
            .remote
            .state()
            .complaints
            .get(&pushed.complaint_id)
            .cloned()
            .ok_or_else(|| JobError::Permanent("no such toy complaint".into()))?;
        let id = complaint_id(TOY, &account.id, &pushed.complaint_id);
        let now = self.services.ports.clock.now();
        let status = remote.status.clone();
        ComplaintRepo::new(&*self.services.ports.records)
            .upsert(
                Complaint::new(
                    id.clone(),
                    TOY,
                    None,
                    account.id.clone(),
                    pushed.complaint_id.clone(),
                    now,
                ),
                |c| {
                    c.raw_status = status.clone();
                    c.status = match status.as_str() {
                        "OPEN" => ComplaintStatus::Pending,
                        "WAITING" => ComplaintStatus::AwaitingPlatform,
                        "REPLIED" => ComplaintStatus::Processing,
                        "APPEALED" => ComplaintStatus::AwaitingPlatform,
                        _ => ComplaintStatus::Resolved,
                    };
                    c.complained_at = Some(remote.created_at);
                    c.updated_at = now;
                },
            )
            .await
            .map_err(store_error)?;
        notices::send(
            &self.services.ports,
            Notice {
                owner_pk: ComplaintRepo::complaint_owner(&id),
                event_key: format!("toy:{id}:{status}"),
                subject: NotificationSubject::Complaint {
                    complaint_id: id.clone(),
                },
                summary: NotificationSummary {
                    platform: TOY.as_str().into(),
                    event: format!("complaint {status}"),
                    merchant: account.name.clone(),
                    reference: pushed.complaint_id.clone(),
                    at: now,
                    amount_fen: None,
                    user_text: None,
                    deadline: None,
                    link: None,
                    extra_lines: vec![],
                },
                audiences: &[Audience {
                    account_id: account.id.clone(),
                    sub_mchid: None,
                }],
                now,
                record_only_when_queued: false,
                extra_recipients: None,
                only_channels: None,
            },
        )
        .await?;
        Ok(())
    }
}

/// The embedded queue, except that a message sent with a delay is held here until the test
/// lets it through ([`World::release`]): the queue's delays run on the wall clock, the test's
/// time does not.
struct HoldingQueue {
    inner: Arc<dyn Queue>,
    held: Arc<Mutex<Vec<(String, String, Duration)>>>,
}

#[async_trait]
impl Queue for HoldingQueue {
    async fn send(&self, queue: &str, body: &str, delay: Duration) -> Result<String, QueueError> {
        if delay.is_zero() {
            return self.inner.send(queue, body, delay).await;
        }
        self.held.lock().unwrap_or_else(|e| e.into_inner()).push((
            queue.to_string(),
            body.to_string(),
            delay,
        ));
        Ok(format!("held-{}", uuid::Uuid::now_v7()))
    }

    async fn receive(
        &self,
        queue: &str,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        self.inner.receive(queue, max, visibility, wait).await
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        self.inner.delete(queue, receipt).await
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.inner.change_visibility(queue, receipt, timeout).await
    }

    async fn dead_letter(
        &self,
        queue: &str,
        receipt: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        self.inner.dead_letter(queue, receipt, reason).await
    }

    async fn list_dead_letters(
        &self,
        queue: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<DeadLetterPage, QueueError> {
        self.inner.list_dead_letters(queue, limit, cursor).await
    }

    async fn replay(&self, queue: &str, dead_letter_id: &str) -> Result<(), QueueError> {
        self.inner.replay(queue, dead_letter_id).await
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.inner.ping().await
    }
}

/// 10:00 Beijing time, years ahead (the embedded store expires records by the wall clock: the
/// test's records must outlive it).
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, 3, 2, 0, 0)
        .single()
        .expect("a time")
}

fn minutes(n: i64) -> Span {
    Span::minutes(n)
}

struct World {
    h: Harness,
    clock: Arc<ManualClock>,
    remote: Arc<Remote>,
    held: Arc<Mutex<Vec<(String, String, Duration)>>>,
}

impl World {
    async fn new() -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (c, hq) = (clock.clone(), held.clone());
        let mut h = harness_over(Some(BASE), move |mut p| {
            p.clock = c;
            p.queue = Arc::new(HoldingQueue {
                inner: p.queue,
                held: hq,
            });
            p
        });
        let remote = Arc::new(Remote::default());
        let mut platforms: Platforms = desk_core::platforms::builtin();
        platforms.register(Arc::new(Toy {
            remote: remote.clone(),
            reconciler: ToyReconciler {
                remote: remote.clone(),
            },
        }));
        platforms.register(Arc::new(Quiet));
        h.state.callbacks.platforms = Arc::new(platforms);
        h.router = desk_http::router::router(h.state.clone());
        // As the binary does at its start: the lists' keys are complete (so the re-read's
        // deadline list is read in deadline order).
        desk_core::reindex::run(&*h.state.ports.records, 100)
            .await
            .expect("the lists' keys");
        Self {
            h,
            clock,
            remote,
            held,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        domain::ports::Clock::now(&*self.clock)
    }

    fn advance(&self, by: Span) {
        self.clock.advance(by);
    }

    fn services(&self) -> &Services {
        self.h.state.services()
    }

    fn platforms(&self) -> &Platforms {
        self.h.state.platforms()
    }

    /// A toy shop through the admin API, added 60 days before now (what happened before an
    /// account was added is no missed push: `an_account_added_now_brings_in_older_complaints_without_alerts` is the other case); its id.
    async fn shop(&self, shop: &str) -> String {
        let now = self.now();
        self.clock.set(now - Span::days(60));
        let id = self
            .h
            .create(json!({"kind": "toy_shop", "name": format!("Shop {shop}"), "settings": {"shop": shop}}))
            .await;
        self.clock.set(now);
        id
    }

    /// A toy shop added now; its id.
    async fn shop_now(&self, shop: &str) -> String {
        self.h
            .create(json!({"kind": "toy_shop", "name": format!("Shop {shop}"), "settings": {"shop": shop}}))
            .await
    }

    /// The scheduler's pass of the account for the slot `at`, run as the worker runs it, for
    /// at most `budget`.
    async fn scheduled(&self, account_id: &str, at: DateTime<Utc>, budget: Duration) -> Report {
        desk_core::reconcile::run(
            self.services(),
            self.platforms(),
            &domain::job::reconcile::Pass {
                account_id: account_id.to_string(),
                scheduled_at: at,
                resume: None,
            },
            budget,
        )
        .await
        .expect("the scheduled pass runs")
    }

    async fn account(&self, id: &str) -> Account {
        desk_core::repo::AccountRepo::new(&*self.services().ports.records)
            .get(id)
            .await
            .expect("store")
            .expect("the account")
            .0
    }

    /// A pass now, as staff's route runs it (replacing one under way).
    async fn pass(&self, account_id: &str) -> Report {
        self.pass_for(account_id, ADMIN_BUDGET).await
    }

    async fn pass_for(&self, account_id: &str, budget: Duration) -> Report {
        desk_core::reconcile::run_now(self.services(), self.platforms(), account_id, budget)
            .await
            .expect("the pass runs")
            .expect("the account exists")
    }

    /// The push of `complaint` as the toy's callback accepts it (once per `event`).
    async fn push(&self, account_id: &str, complaint: &str, event: &str) {
        let account = self.account(account_id).await;
        let job = push_job(&account, complaint, self.now()).expect("a job");
        desk_core::callback::accept(
            self.services(),
            &format!("toy:{event}"),
            json!({"event": event}),
            &job,
        )
        .await
        .expect("accepted");
    }

    /// Run the events queue's jobs until it is empty (a retried job again at once): each job
    /// and what became of it.
    async fn work(&self) -> Vec<(JobEnvelope, Disposition)> {
        let registry = desk_core::policy::registry(self.services(), self.platforms());
        let queue = self.services().ports.queue.clone();
        let mut out = Vec::new();
        loop {
            let msgs = queue
                .receive(
                    queues::EVENTS,
                    10,
                    Duration::from_secs(60),
                    Duration::from_millis(20),
                )
                .await
                .expect("receive");
            if msgs.is_empty() {
                return out;
            }
            for m in msgs {
                let job: JobEnvelope = serde_json::from_str(&m.body).expect("a job");
                let d = desk_core::worker::decide(
                    &registry,
                    &RetryPolicy::default(),
                    &m.body,
                    m.receive_count,
                )
                .await;
                match d {
                    Disposition::Retry(_) | Disposition::Defer(_) => queue
                        .change_visibility(queues::EVENTS, &m.receipt, Duration::ZERO)
                        .await
                        .expect("visible again"),
                    _ => queue
                        .delete(queues::EVENTS, &m.receipt)
                        .await
                        .expect("delete"),
                }
                out.push((job, d));
                assert!(out.len() < 100, "the events queue never empties: {out:?}");
            }
        }
    }

    /// The one job waiting on the events queue, a pass's continuation: taken off the queue and
    /// run as the worker runs it; its report.
    async fn continuation(&self) -> Report {
        self.continuation_for(WORKER_BUDGET).await
    }

    /// [`World::continuation`], for at most `budget`.
    async fn continuation_for(&self, budget: Duration) -> Report {
        let queue = self.services().ports.queue.clone();
        let msgs = queue
            .receive(
                queues::EVENTS,
                10,
                Duration::from_secs(60),
                Duration::from_millis(20),
            )
            .await
            .expect("receive");
        assert_eq!(msgs.len(), 1, "one continuation: {msgs:?}");
        let job: JobEnvelope = serde_json::from_str(&msgs[0].body).expect("a job");
        assert_eq!(job.job_type, PASS.name(), "{job:?}");
        queue
            .delete(queues::EVENTS, &msgs[0].receipt)
            .await
            .expect("delete");
        let pass = PASS.payload(&job).expect("a pass");
        assert!(pass.resume.is_some(), "a continuation carries its progress");
        desk_core::reconcile::run(self.services(), self.platforms(), &pass, budget)
            .await
            .expect("the continuation runs")
    }

    /// The delayed messages held so far, sent on now (each queue and delay).
    async fn release(&self) -> Vec<(String, Duration)> {
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(|e| e.into_inner()));
        let mut out = Vec::new();
        for (queue, body, delay) in held {
            self.services()
                .ports
                .queue
                .send(&queue, &body, Duration::ZERO)
                .await
                .expect("send");
            out.push((queue, delay));
        }
        out
    }

    /// The staff notices queued since the last look (taken off the notify queue).
    async fn notices(&self) -> Vec<NotificationJob> {
        let queue = self.services().ports.queue.clone();
        let mut out = Vec::new();
        loop {
            let msgs = queue
                .receive(
                    queues::NOTIFY,
                    10,
                    Duration::from_secs(60),
                    Duration::from_millis(20),
                )
                .await
                .expect("receive");
            if msgs.is_empty() {
                return out;
            }
            for m in msgs {
                let job: JobEnvelope = serde_json::from_str(&m.body).expect("a job");
                assert_eq!(job.job_type, domain::job::notify::STAFF.name());
                out.push(serde_json::from_value(job.payload).expect("a notice"));
                queue
                    .delete(queues::NOTIFY, &m.receipt)
                    .await
                    .expect("delete");
            }
        }
    }

    async fn record(&self, account_id: &str, complaint: &str) -> Option<Complaint> {
        ComplaintRepo::new(&*self.services().ports.records)
            .get(&complaint_id(TOY, account_id, complaint))
            .await
            .expect("store")
            .map(|(c, _)| c)
    }

    async fn health(&self, account_id: &str) -> Value {
        let (s, h) = self
            .h
            .admin(
                Method::GET,
                &format!("/admin/v1/accounts/{account_id}/health"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{h}");
        h
    }
}

/// The notices of one topic of the account's own (`push_silence`, `callback_url`).
fn about(notices: &[NotificationJob], topic: &str) -> usize {
    notices
        .iter()
        .filter(
            |n| matches!(&n.subject, NotificationSubject::Account { topic: t, .. } if t == topic),
        )
        .count()
}

/// The complaint notices, as (platform complaint id, event).
fn complaint_notices(notices: &[NotificationJob]) -> Vec<(String, String)> {
    let mut out: Vec<_> = notices
        .iter()
        .filter(|n| matches!(n.subject, NotificationSubject::Complaint { .. }))
        .map(|n| (n.summary.reference.clone(), n.summary.event.clone()))
        .collect();
    out.sort();
    out
}

fn types(runs: &[(JobEnvelope, Disposition)]) -> Vec<(String, Option<Origin>, Disposition)> {
    runs.iter()
        .map(|(j, d)| (j.job_type.clone(), j.origin, d.clone()))
        .collect()
}

fn toy_job(origin: Origin) -> (String, Option<Origin>, Disposition) {
    (PUSHED.name().to_string(), Some(origin), Disposition::Done)
}

// 1.
#[tokio::test]
async fn a_dropped_push_is_found_after_its_grace_and_handled_once() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    // Created five minutes ago; its push never comes.
    w.remote.add("C-1", "OPEN", t0() - minutes(5));

    // Inside the grace: nothing queued, a push may still be on its way.
    let r = w.pass(&a).await;
    assert_eq!((r.outcome, r.complete), (Outcome::Complete, true), "{r:?}");
    assert_eq!(
        (r.tally.listed, r.tally.waiting, r.tally.found),
        (1, 1, 0),
        "{r:?}"
    );
    assert!(w.work().await.is_empty(), "nothing queued inside the grace");
    assert!(w.notices().await.is_empty());

    // After it: the push's own job, once.
    w.advance(minutes(11));
    let r = w.pass(&a).await;
    assert_eq!(
        (r.tally.listed, r.tally.waiting, r.tally.found),
        (1, 0, 1),
        "{r:?}"
    );
    assert_eq!(r.found_complaints.len(), 1, "{r:?}");
    assert_eq!(r.found_complaints[0].platform_complaint_id, "C-1");
    assert_eq!(r.found_complaints[0].why, "unknown");
    assert_eq!(
        r.found_complaints[0].complaint_id,
        complaint_id(TOY, &a, "C-1")
    );
    // A pass before the job ran: already queued, nothing more.
    w.advance(minutes(1));
    let again = w.pass(&a).await;
    assert_eq!(
        (again.tally.found, again.tally.already_queued),
        (0, 1),
        "{again:?}"
    );
    let runs = w.work().await;
    assert_eq!(types(&runs), [toy_job(Origin::Reconcile)], "{runs:?}");
    assert_eq!(runs[0].0.account_id.as_deref(), Some(a.as_str()));
    let c = w
        .record(&a, "C-1")
        .await
        .expect("recorded by the push's job");
    assert_eq!(c.raw_status, "OPEN");
    // Staff hear once about the complaint, and once that pushes are not arriving.
    let n = w.notices().await;
    assert_eq!(
        complaint_notices(&n),
        [("C-1".to_string(), "complaint OPEN".to_string())],
        "{n:?}"
    );
    assert_eq!(about(&n, "push_silence"), 1, "{n:?}");
    assert_eq!(n.len(), 2, "{n:?}");
    let silence = n
        .iter()
        .find(|n| matches!(n.subject, NotificationSubject::Account { .. }))
        .expect("the silence alert");
    assert_eq!(silence.audience.account_id, a);
    assert_eq!(silence.summary.reference, "C-1");
    assert_eq!(
        silence.summary.link.as_deref(),
        Some(format!("{BASE}console/?account={a}").as_str()),
        "an account alert links to the account's inbox in the console"
    );

    // A further pass finds nothing new.
    w.advance(minutes(1));
    let r = w.pass(&a).await;
    assert_eq!(
        (r.tally.listed, r.tally.unchanged, r.tally.found),
        (1, 1, 0),
        "{r:?}"
    );
    assert!(w.work().await.is_empty());
    assert!(w.notices().await.is_empty());

    // The push, arriving at last: its job runs and changes nothing anyone sees.
    w.advance(minutes(1));
    w.push(&a, "C-1", "E-late").await;
    let runs = w.work().await;
    assert_eq!(types(&runs), [toy_job(Origin::Push)], "{runs:?}");
    assert!(w.notices().await.is_empty(), "staff are not told twice");
    let after = w.record(&a, "C-1").await.expect("still recorded");
    assert_eq!(after.raw_status, "OPEN");
    let h = w.health(&a).await;
    assert_eq!(h["found_by_reconciliation_7d"], 1, "{h}");
    assert_eq!(
        h["found_recently"][0]["platform_complaint_id"], "C-1",
        "{h}"
    );
}

// 2.
#[tokio::test]
async fn a_push_inside_the_grace_leaves_the_pass_nothing_to_find() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    w.remote.add("C-2", "OPEN", t0());
    w.advance(minutes(3));
    w.push(&a, "C-2", "E-2").await;
    assert_eq!(types(&w.work().await), [toy_job(Origin::Push)]);
    assert_eq!(w.notices().await.len(), 1, "the push's own notice");

    w.advance(minutes(17));
    let r = w.pass(&a).await;
    assert_eq!(
        (
            r.tally.listed,
            r.tally.unchanged,
            r.tally.found,
            r.tally.waiting
        ),
        (1, 1, 0, 0),
        "{r:?}"
    );
    assert!(w.work().await.is_empty());
    assert!(w.notices().await.is_empty(), "no silence alert");
    let h = w.health(&a).await;
    assert_eq!(h["found_by_reconciliation_7d"], 0, "{h}");
}

// 3.
#[tokio::test]
async fn the_silence_alert_fires_once_per_account_and_beijing_day() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    let b = w.shop("toy-b").await;
    w.remote.add("C-1", "OPEN", t0() - minutes(60));
    let r = w.pass(&a).await;
    assert_eq!(r.tally.found, 1, "{r:?}");
    w.work().await;
    let n = w.notices().await;
    assert_eq!(about(&n, "push_silence"), 1, "{n:?}");

    // Another found the same Beijing day: staff know already.
    w.advance(minutes(60));
    w.remote.add("C-2", "OPEN", w.now() - minutes(20));
    let r = w.pass(&a).await;
    assert_eq!(r.tally.found, 1, "{r:?}");
    w.work().await;
    let n = w.notices().await;
    assert_eq!(complaint_notices(&n).len(), 1, "{n:?}");
    assert_eq!(about(&n, "push_silence"), 0, "{n:?}");

    // Another account's staff are told about their own silence (the toy lists both shops'
    // complaints alike, so B finds C-1 and C-2 as well).
    let r = w.pass(&b).await;
    assert_eq!(r.tally.found, 2, "{r:?}");
    w.work().await;
    let n = w.notices().await;
    assert_eq!(about(&n, "push_silence"), 1, "{n:?}");

    // The next Beijing day (16:00 UTC is midnight in Beijing): told again.
    w.clock.set(t0() + minutes(14 * 60 + 30));
    w.remote.add("C-3", "OPEN", w.now() - minutes(20));
    let r = w.pass(&a).await;
    assert_eq!(r.tally.found, 1, "{r:?}");
    w.work().await;
    let n = w.notices().await;
    assert_eq!(about(&n, "push_silence"), 1, "{n:?}");
    assert_eq!(n.len(), 2, "{n:?}");
}

// 4.
#[tokio::test]
async fn a_state_change_on_an_old_open_complaint_is_caught_by_the_re_read() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    // Two complaints pushed forty days ago, before any list window: one the merchant's turn
    // (it has a deadline), one waiting on the platform.
    let old = t0() - Span::days(40);
    w.clock.set(old);
    w.remote.add("O-1", "OPEN", old);
    w.remote.add("O-2", "WAITING", old);
    w.push(&a, "O-1", "E-1").await;
    w.push(&a, "O-2", "E-2").await;
    assert_eq!(w.work().await.len(), 2);
    w.notices().await;
    w.clock.set(t0());

    let r = w.pass(&a).await;
    assert_eq!(
        (
            r.tally.listed,
            r.tally.reread,
            r.tally.unchanged,
            r.tally.found
        ),
        (0, 2, 2, 0),
        "{r:?}"
    );
    assert_eq!(
        w.remote.detail_calls(),
        ["O-1", "O-2"],
        "nearest deadline first, then those waiting"
    );

    // The platform moves both, without saying when, and pushes nothing.
    w.remote.moved("O-1", "DONE", None);
    w.remote.moved("O-2", "OPEN", None);
    w.advance(minutes(1));
    let r = w.pass(&a).await;
    assert_eq!(
        (r.tally.reread, r.tally.waiting, r.tally.found),
        (2, 2, 0),
        "first seen: {r:?}"
    );
    assert!(w.work().await.is_empty());

    w.advance(minutes(10));
    let r = w.pass(&a).await;
    assert_eq!(
        (r.tally.reread, r.tally.waiting, r.tally.found),
        (2, 2, 0),
        "still inside the grace: {r:?}"
    );

    w.advance(minutes(6));
    let r = w.pass(&a).await;
    assert_eq!((r.tally.reread, r.tally.found), (2, 2), "{r:?}");
    assert!(
        r.found_complaints.iter().all(|f| f.why == "state_moved"),
        "{r:?}"
    );
    let runs = w.work().await;
    assert_eq!(
        types(&runs),
        [toy_job(Origin::Reconcile), toy_job(Origin::Reconcile)]
    );
    assert_eq!(w.record(&a, "O-1").await.expect("O-1").raw_status, "DONE");
    assert_eq!(w.record(&a, "O-2").await.expect("O-2").raw_status, "OPEN");
    let n = w.notices().await;
    assert_eq!(
        complaint_notices(&n),
        [
            ("O-1".to_string(), "complaint DONE".to_string()),
            ("O-2".to_string(), "complaint OPEN".to_string())
        ],
        "{n:?}"
    );
    assert_eq!(about(&n, "push_silence"), 1, "{n:?}");

    // Nothing more to find; the resolved one is no longer re-read.
    w.advance(minutes(1));
    let r = w.pass(&a).await;
    assert_eq!(
        (r.tally.reread, r.tally.unchanged, r.tally.found),
        (1, 1, 0),
        "{r:?}"
    );
}

// A change the platform dates is timed from that date, not from when a pass saw it.
#[tokio::test]
async fn a_dated_state_change_is_acted_on_once_its_grace_has_passed() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    let old = t0() - Span::days(40);
    w.clock.set(old);
    w.remote.add("O-1", "WAITING", old);
    w.push(&a, "O-1", "E-1").await;
    w.work().await;
    w.clock.set(t0());
    w.remote.moved("O-1", "OPEN", Some(t0() - minutes(16)));
    let r = w.pass(&a).await;
    assert_eq!((r.tally.reread, r.tally.found), (1, 1), "{r:?}");
    assert_eq!(r.found_complaints[0].why, "state_moved");
}

// 5.
#[tokio::test]
async fn a_throttled_list_backs_off_and_the_continuation_finishes_the_pass() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    for id in ["C-1", "C-2", "C-3"] {
        w.remote.add(id, "OPEN", t0() - minutes(60));
    }
    // The second page is throttled.
    w.remote.fail_lists(&[None, Some(Fault::Throttled)]);
    let r = w.pass(&a).await;
    assert_eq!(
        (r.outcome, r.complete),
        (Outcome::Throttled, false),
        "{r:?}"
    );
    assert_eq!(
        (r.tally.listed, r.tally.found, r.tally.throttled),
        (2, 2, 1),
        "{r:?}"
    );
    let at = r.continues_at.expect("when it continues");
    assert!(at > w.now(), "{at} after {}", w.now());
    // The first page's finds are queued; the continuation waits for its delay.
    let runs = w.work().await;
    assert_eq!(
        types(&runs),
        [toy_job(Origin::Reconcile), toy_job(Origin::Reconcile)]
    );
    let released = w.release().await;
    assert_eq!(released.len(), 1, "{released:?}");
    assert_eq!(released[0].0, queues::EVENTS);
    assert!(released[0].1 >= Duration::from_secs(15), "{released:?}");
    assert_eq!(
        chrono::Duration::from_std(released[0].1).expect("a delay"),
        at - w.now(),
        "continues_at is when the queued continuation becomes visible"
    );

    w.advance(minutes(1));
    let done = w.continuation().await;
    assert_eq!(
        (done.outcome, done.complete),
        (Outcome::Complete, true),
        "{done:?}"
    );
    assert_eq!(
        (done.tally.listed, done.tally.found, done.tally.throttled),
        (3, 3, 1),
        "the pass's counts: {done:?}"
    );
    assert_eq!(
        done.found_complaints.len(),
        1,
        "this part found C-3: {done:?}"
    );
    assert_eq!(done.found_complaints[0].platform_complaint_id, "C-3");
    let cursors: Vec<_> = w.remote.list_calls().into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        cursors,
        [None, Some(json!(2)), Some(json!(2))],
        "continued at the throttled page"
    );
    let runs = w.work().await;
    assert_eq!(
        types(&runs),
        [toy_job(Origin::Reconcile)],
        "each found once: {runs:?}"
    );

    w.advance(minutes(1));
    let again = w.pass(&a).await;
    assert_eq!(
        (again.tally.found, again.tally.unchanged),
        (0, 3),
        "{again:?}"
    );
    assert!(w.work().await.is_empty());
    let h = w.health(&a).await;
    assert_eq!(h["throttled_24h"], 1, "{h}");
    assert_eq!(h["platform_errors_24h"], 0, "{h}");
}

// 6.
#[tokio::test]
async fn a_time_boxed_pass_continues_on_the_queue_and_a_superseded_continuation_does_nothing() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    w.remote.add("C-1", "OPEN", t0() - minutes(60));

    let r = w.pass_for(&a, Duration::ZERO).await;
    assert_eq!(
        (r.outcome, r.complete),
        (Outcome::Continues, false),
        "{r:?}"
    );
    assert_eq!(r.continues_at, Some(w.now()), "{r:?}");
    assert!(w.remote.list_calls().is_empty(), "no time for a call");
    let done = w.continuation().await;
    assert_eq!(
        (done.outcome, done.complete),
        (Outcome::Complete, true),
        "{done:?}"
    );
    assert_eq!(done.tally.found, 1, "{done:?}");
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);
    let h = w.health(&a).await;
    assert_eq!(h["last_reconciliation"]["outcome"], "complete", "{h}");
    assert!(h["reconciliation_running_since"].is_null(), "{h}");

    // Another pass runs out of time; staff's pass replaces it before its continuation runs.
    w.advance(minutes(5));
    let r = w.pass_for(&a, Duration::ZERO).await;
    assert_eq!(r.outcome, Outcome::Continues, "{r:?}");
    let h = w.health(&a).await;
    assert_eq!(h["reconciliation_running_since"], json!(w.now()), "{h}");
    w.advance(minutes(1));
    let (s, staff) =
        w.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{a}/reconcile"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{staff}");
    assert_eq!(staff["outcome"], "complete", "{staff}");
    assert_eq!(staff["complete"], true, "{staff}");
    let calls = w.remote.list_calls().len();
    let stale = w.continuation().await;
    assert_eq!(stale.outcome, Outcome::Skipped, "{stale:?}");
    assert_eq!(
        w.remote.list_calls().len(),
        calls,
        "the superseded part calls nothing"
    );
    assert!(w.work().await.is_empty());
    let h = w.health(&a).await;
    assert_eq!(
        h["last_reconciliation"]["started_at"],
        json!(w.now()),
        "the last pass is staff's: {h}"
    );
}

// 7.
#[tokio::test]
async fn every_page_is_listed() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    for i in 1..=5 {
        w.remote
            .add(&format!("C-{i}"), "OPEN", t0() - minutes(60 + i));
    }
    let r = w.pass(&a).await;
    assert_eq!((r.tally.listed, r.tally.found), (5, 5), "{r:?}");
    let cursors: Vec<_> = w.remote.list_calls().into_iter().map(|(_, c)| c).collect();
    assert_eq!(cursors, [None, Some(json!(2)), Some(json!(4))]);
    assert_eq!(w.work().await.len(), 5);
    for i in 1..=5 {
        assert!(w.record(&a, &format!("C-{i}")).await.is_some(), "C-{i}");
    }
}

// 8.
#[tokio::test]
async fn the_watermark_keeps_the_next_pass_from_listing_everything_again() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    let first = w.pass(&a).await;
    assert_eq!(first.window_start, Some(t0() - Span::days(29)), "{first:?}");
    assert_eq!(first.window_end, Some(t0()));
    w.advance(minutes(10));
    let second = w.pass(&a).await;
    assert_eq!(
        second.window_start,
        Some(t0() - minutes(15) - Span::hours(1)),
        "{second:?}"
    );
    assert_eq!(second.window_end, Some(t0() + minutes(10)));
    let windows: Vec<_> = w.remote.list_calls().into_iter().map(|(w, _)| w).collect();
    assert_eq!(
        windows,
        [
            Window {
                start: t0() - Span::days(29),
                end: t0()
            },
            Window {
                start: t0() - minutes(75),
                end: t0() + minutes(10)
            }
        ]
    );

    // A pass that did not list everything leaves the watermark where it was.
    w.remote.fail_lists(&[Some(Fault::Permanent)]);
    w.advance(minutes(10));
    let failed = w.pass(&a).await;
    assert_eq!(
        (failed.outcome, failed.complete),
        (Outcome::Failed, true),
        "{failed:?}"
    );
    w.advance(minutes(10));
    let next = w.pass(&a).await;
    assert_eq!(
        next.window_start,
        Some(t0() + minutes(10) - minutes(15) - Span::hours(1)),
        "{next:?}"
    );
}

// 9.
#[tokio::test]
async fn a_changed_callback_url_raises_one_drift_alert_per_registered_url() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    let expected = format!("{BASE}callbacks/toy/toy-a");
    w.remote.register_url(Some("https://elsewhere.example/cb"));
    let r = w.pass(&a).await;
    assert_eq!(r.callback_urls.len(), 1, "{r:?}");
    assert_eq!(r.callback_urls[0].matches, Some(false));
    let n = w.notices().await;
    assert_eq!(about(&n, "callback_url"), 1, "{n:?}");
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(
        n[0].summary.link.as_deref(),
        Some(format!("{BASE}console/?account={a}").as_str()),
        "the drift alert links to the account's inbox in the console"
    );
    let h = w.health(&a).await;
    assert_eq!(
        h["callback_urls"],
        json!([{"what": "complaint", "registered": "https://elsewhere.example/cb",
                "expected": expected, "matches": false, "checked_at": w.now()}]),
        "{h}"
    );

    w.advance(minutes(10));
    w.pass(&a).await;
    assert!(w.notices().await.is_empty(), "told once");

    w.remote.register_url(Some("https://other.example/cb"));
    w.advance(minutes(10));
    w.pass(&a).await;
    assert_eq!(
        about(&w.notices().await, "callback_url"),
        1,
        "another URL, another alert"
    );

    w.remote.register_url(Some(&expected));
    w.advance(minutes(10));
    w.pass(&a).await;
    assert!(w.notices().await.is_empty());
    let h = w.health(&a).await;
    assert_eq!(
        h["callback_urls"][0]["registered"],
        expected.as_str(),
        "{h}"
    );
    assert_eq!(h["callback_urls"][0]["matches"], true, "{h}");

    // Nothing registered at all is drift too.
    w.remote.register_url(None);
    w.advance(minutes(10));
    w.pass(&a).await;
    assert_eq!(about(&w.notices().await, "callback_url"), 1);
    let h = w.health(&a).await;
    assert_eq!(h["callback_urls"][0]["registered"], Value::Null, "{h}");
    assert_eq!(h["callback_urls"][0]["matches"], false, "{h}");
}

// 10.
#[tokio::test]
async fn the_health_resource_says_what_pushes_and_passes_did() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    w.remote
        .register_url(Some(&format!("{BASE}callbacks/toy/toy-a")));
    let h = w.health(&a).await;
    assert_eq!(h["account_id"], a.as_str());
    assert!(h["last_push_at"].is_null(), "{h}");
    assert!(h["last_reconciliation"].is_null(), "{h}");
    assert_eq!(h["found_by_reconciliation_7d"], 0);
    assert_eq!(h["callback_urls"], json!([]));

    // A complaint found by reconciliation: its job is not a push.
    w.remote.add("C-1", "OPEN", t0() - minutes(30));
    let r = w.pass(&a).await;
    assert_eq!(r.tally.found, 1);
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);
    let h = w.health(&a).await;
    assert!(
        h["last_push_at"].is_null(),
        "a reconciliation job is no push: {h}"
    );
    assert_eq!(h["found_by_reconciliation_7d"], 1, "{h}");
    let last = &h["last_reconciliation"];
    assert_eq!(last["outcome"], "complete", "{h}");
    assert_eq!(last["found"], 1, "{h}");
    assert_eq!(last["listed"], 1, "{h}");
    assert_eq!(last["started_at"], json!(t0()), "{h}");
    assert_eq!(h["callback_urls"][0]["matches"], true, "{h}");

    // A push, received two minutes later, and run later still.
    w.remote.add("C-2", "OPEN", t0());
    w.advance(minutes(2));
    let pushed_at = w.now();
    w.push(&a, "C-2", "E-2").await;
    w.advance(minutes(3));
    assert_eq!(types(&w.work().await), [toy_job(Origin::Push)]);
    let h = w.health(&a).await;
    assert_eq!(
        h["last_push_at"],
        json!(pushed_at),
        "when the push was received: {h}"
    );

    // A platform error: counted, the pass continues later.
    w.remote.fail_lists(&[Some(Fault::Retryable)]);
    let r = w.pass(&a).await;
    assert_eq!((r.outcome, r.complete), (Outcome::Failed, false), "{r:?}");
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("the toy platform said no")),
        "{r:?}"
    );
    let h = w.health(&a).await;
    assert_eq!(h["platform_errors_24h"], 1, "{h}");
    assert_eq!(h["throttled_24h"], 0, "{h}");
    assert_eq!(h["reconciliation_running_since"], json!(w.now()), "{h}");
    // A day later the error has aged out of the count; the found complaint has not.
    w.advance(Span::hours(25));
    let h = w.health(&a).await;
    assert_eq!(h["platform_errors_24h"], 0, "{h}");
    assert_eq!(h["found_by_reconciliation_7d"], 1, "{h}");
    w.advance(Span::days(7));
    let h = w.health(&a).await;
    assert_eq!(h["found_by_reconciliation_7d"], 0, "{h}");

    // Unknown accounts, kinds with nothing to reconcile, roles.
    for (method, path) in [
        (Method::GET, "/admin/v1/accounts/acc_nobody/health"),
        (Method::POST, "/admin/v1/accounts/acc_nobody/reconcile"),
    ] {
        let (s, body) = w.h.admin(method, path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let quiet =
        w.h.create(json!({"kind": "quiet_shop", "name": "Quiet", "settings": {"shop": "quiet-1"}}))
            .await;
    let hub =
        w.h.create(json!({"kind": "toy_hub", "name": "Hub", "settings": {"shop": "hub-1"}}))
            .await;
    for id in [&quiet, &hub] {
        let (s, body) =
            w.h.admin(
                Method::POST,
                &format!("/admin/v1/accounts/{id}/reconcile"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{id}: {body}");
    }
    let calls = w.remote.list_calls().len();
    let hub_pass = desk_core::reconcile::run(
        w.services(),
        w.platforms(),
        &domain::job::reconcile::Pass {
            account_id: hub.clone(),
            scheduled_at: w.now(),
            resume: None,
        },
        WORKER_BUDGET,
    )
    .await
    .expect("a scheduled pass of the hub");
    assert_eq!(hub_pass.outcome, Outcome::Skipped, "{hub_pass:?}");
    assert_eq!(w.remote.list_calls().len(), calls, "a hub is never listed");

    let (s, body) =
        w.h.admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(json!({"name": "looks", "scope": {"type": "all"}, "role": "viewer"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let viewer = body["token"].as_str().expect("token").to_string();
    let (s, body) =
        w.h.call(
            Method::POST,
            &format!("/admin/v1/accounts/{a}/reconcile"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, body) =
        w.h.call(
            Method::GET,
            &format!("/admin/v1/accounts/{a}/health"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

// 11.
#[tokio::test]
async fn a_disabled_account_is_reconciled_but_its_staff_get_no_alerts() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    let (s, body) =
        w.h.admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{a}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    w.remote.register_url(Some("https://elsewhere.example/cb"));
    w.remote.add("C-1", "OPEN", t0() - minutes(30));
    let r = w.pass(&a).await;
    assert_eq!(r.tally.found, 1, "{r:?}");
    assert_eq!(r.callback_urls[0].matches, Some(false), "{r:?}");
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);
    assert!(w.record(&a, "C-1").await.is_some());
    let n = w.notices().await;
    assert_eq!(
        complaint_notices(&n).len(),
        1,
        "the handler's own choice: {n:?}"
    );
    assert_eq!(about(&n, "push_silence"), 0, "{n:?}");
    assert_eq!(about(&n, "callback_url"), 0, "{n:?}");
    assert_eq!(n.len(), 1, "{n:?}");
    let h = w.health(&a).await;
    assert_eq!(h["found_by_reconciliation_7d"], 1, "{h}");
}

// Re-read errors: a refused re-read skips that complaint only; a failing one stops the pass
// and counts on the health.
#[tokio::test]
async fn a_refused_re_read_skips_one_complaint_and_a_failing_one_continues_later() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    let old = t0() - Span::days(40);
    w.clock.set(old);
    w.remote.add("O-1", "OPEN", old);
    w.remote.add("O-2", "OPEN", old + minutes(1));
    w.push(&a, "O-1", "E-1").await;
    w.push(&a, "O-2", "E-2").await;
    w.work().await;
    w.clock.set(t0());
    w.remote.moved("O-2", "DONE", Some(t0() - minutes(20)));

    w.remote.fail_details(&[Some(Fault::Permanent)]);
    let r = w.pass(&a).await;
    assert_eq!((r.outcome, r.complete), (Outcome::Complete, true), "{r:?}");
    assert_eq!(
        w.remote.detail_calls(),
        ["O-1", "O-2"],
        "nearest deadline first"
    );
    assert_eq!(
        (r.tally.reread, r.tally.errors, r.tally.found),
        (2, 1, 1),
        "{r:?}"
    );
    assert_eq!(r.found_complaints[0].platform_complaint_id, "O-2");
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);

    // A re-read that fails (a platform error, or no answer in time) skips that complaint for
    // this round: one that always fails must not hold the others back forever.
    w.remote.fail_details(&[Some(Fault::Retryable)]);
    w.advance(minutes(1));
    let r = w.pass(&a).await;
    assert_eq!((r.outcome, r.complete), (Outcome::Complete, true), "{r:?}");
    assert_eq!((r.tally.reread, r.tally.errors), (1, 1), "{r:?}");
    assert!(w.release().await.is_empty(), "nothing left for later");
    let h = w.health(&a).await;
    assert_eq!(h["platform_errors_24h"], 2, "{h}");
    assert_eq!(h["last_reconciliation"]["outcome"], "complete", "{h}");
}

// Open complaints with nothing due (the merchant replied; the buyer has not answered) are
// re-read too: only the list of those with a deadline and of those waiting on the platform
// would leave them unread forever.
#[tokio::test]
async fn an_open_complaint_with_nothing_due_is_re_read_too() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    let old = t0() - Span::days(40);
    w.clock.set(old);
    w.remote.add("O-1", "REPLIED", old);
    w.remote.add("O-2", "OPEN", old);
    w.remote.add("O-3", "WAITING", old);
    // Waiting on the platform, with a deadline: on both lists.
    w.remote.add("O-4", "APPEALED", old);
    for id in ["O-1", "O-2", "O-3", "O-4"] {
        w.push(&a, id, id).await;
    }
    assert_eq!(w.work().await.len(), 4);
    let c = w.record(&a, "O-1").await.expect("O-1");
    assert_eq!(
        (c.status, c.next_due_at),
        (ComplaintStatus::Processing, None)
    );
    w.clock.set(t0());
    w.remote.moved("O-1", "DONE", Some(t0() - minutes(20)));

    let r = w.pass(&a).await;
    let mut read = w.remote.detail_calls();
    read.sort();
    assert_eq!(
        read,
        ["O-1", "O-2", "O-3", "O-4"],
        "each open complaint once: {r:?}"
    );
    assert_eq!((r.tally.reread, r.tally.found), (4, 1), "{r:?}");
    assert_eq!(r.found_complaints[0].platform_complaint_id, "O-1");
}

// A scheduled pass leaves one under way alone for its lease; a continuation delivered twice
// runs once.
#[tokio::test]
async fn a_scheduled_pass_respects_the_lease_and_a_duplicate_continuation_runs_once() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    w.remote.add("C-1", "OPEN", t0() - minutes(60));
    let scheduled = |at: DateTime<Utc>| domain::job::reconcile::Pass {
        account_id: a.clone(),
        scheduled_at: at,
        resume: None,
    };
    let r = w.pass_for(&a, Duration::ZERO).await;
    assert_eq!(r.outcome, Outcome::Continues, "{r:?}");

    // The scheduler's pass while that one is under way: skipped, nothing called.
    w.advance(minutes(10));
    let s = desk_core::reconcile::run(
        w.services(),
        w.platforms(),
        &scheduled(w.now()),
        WORKER_BUDGET,
    )
    .await
    .expect("runs");
    assert_eq!(s.outcome, Outcome::Skipped, "{s:?}");
    assert!(w.remote.list_calls().is_empty());

    // The continuation, delivered twice (a redelivery after a crash before its delete).
    let msgs = w
        .services()
        .ports
        .queue
        .receive(
            queues::EVENTS,
            10,
            Duration::from_secs(60),
            Duration::from_millis(20),
        )
        .await
        .expect("receive");
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let job: JobEnvelope = serde_json::from_str(&msgs[0].body).expect("a job");
    let pass = PASS.payload(&job).expect("a pass");
    let first = desk_core::reconcile::run(w.services(), w.platforms(), &pass, WORKER_BUDGET)
        .await
        .expect("runs");
    assert_eq!(
        (first.outcome, first.tally.found),
        (Outcome::Complete, 1),
        "{first:?}"
    );
    let again = desk_core::reconcile::run(w.services(), w.platforms(), &pass, WORKER_BUDGET)
        .await
        .expect("runs");
    assert_eq!(again.outcome, Outcome::Skipped, "{again:?}");
    assert_eq!(w.remote.list_calls().len(), 1, "listed once");
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);

    // A pass under way longer than the lease (its continuation lost) does not block the
    // schedule.
    w.advance(minutes(1));
    let stuck = w.pass_for(&a, Duration::ZERO).await;
    assert_eq!(stuck.outcome, Outcome::Continues, "{stuck:?}");
    w.advance(minutes(29));
    let s = desk_core::reconcile::run(
        w.services(),
        w.platforms(),
        &scheduled(w.now()),
        WORKER_BUDGET,
    )
    .await
    .expect("runs");
    assert_eq!(s.outcome, Outcome::Skipped, "inside the lease: {s:?}");
    w.advance(minutes(1));
    let s = desk_core::reconcile::run(
        w.services(),
        w.platforms(),
        &scheduled(w.now()),
        WORKER_BUDGET,
    )
    .await
    .expect("runs");
    assert_eq!(
        (s.outcome, s.complete),
        (Outcome::Complete, true),
        "after the lease: {s:?}"
    );
}

// What happened on the platform before the account was added here could never have been
// pushed to us: it is brought in through the push's job, but it is no missed push.
#[tokio::test]
async fn an_account_added_now_brings_in_older_complaints_without_alerts() {
    let w = World::new().await;
    let a = w.shop_now("toy-a").await;
    assert_eq!(w.account(&a).await.created_at, t0());
    // Complained about an hour before the account was added.
    w.remote.add("B-1", "OPEN", t0() - minutes(60));
    let r = w.pass(&a).await;
    assert_eq!((r.outcome, r.complete), (Outcome::Complete, true), "{r:?}");
    assert_eq!(
        (r.tally.listed, r.tally.before_account, r.tally.found),
        (1, 1, 0),
        "{r:?}"
    );
    assert!(r.found_complaints.is_empty(), "{r:?}");
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);
    assert_eq!(
        w.record(&a, "B-1").await.expect("brought in").raw_status,
        "OPEN"
    );
    let n = w.notices().await;
    assert_eq!(
        complaint_notices(&n),
        [("B-1".to_string(), "complaint OPEN".to_string())],
        "the handler's own notice: {n:?}"
    );
    assert_eq!(about(&n, "push_silence"), 0, "{n:?}");
    let h = w.health(&a).await;
    assert_eq!(h["found_by_reconciliation_7d"], 0, "{h}");
    assert_eq!(h["last_reconciliation"]["before_account"], 1, "{h}");

    // Complained about after the account was added, and never pushed: found.
    w.advance(minutes(30));
    w.remote.add("A-1", "OPEN", t0() + minutes(10));
    let r = w.pass(&a).await;
    assert_eq!(
        (r.tally.listed, r.tally.before_account, r.tally.found),
        (2, 0, 1),
        "{r:?}"
    );
    assert_eq!(r.found_complaints[0].platform_complaint_id, "A-1");
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);
    let n = w.notices().await;
    assert_eq!(about(&n, "push_silence"), 1, "{n:?}");
    let h = w.health(&a).await;
    assert_eq!(h["found_by_reconciliation_7d"], 1, "{h}");
}

// A change the platform shows as the merchant's own (a reply in its console) is brought in,
// but no push was missed; the buyer's next change, never pushed, is.
#[tokio::test]
async fn a_change_the_merchant_made_in_the_platforms_console_is_brought_in_not_found() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    let old = t0() - Span::days(40);
    w.clock.set(old);
    w.remote.add("O-1", "OPEN", old);
    w.push(&a, "O-1", "E-1").await;
    assert_eq!(types(&w.work().await), [toy_job(Origin::Push)]);
    w.notices().await;
    w.clock.set(t0());

    w.remote
        .changed("O-1", "REPLIED", t0() - minutes(20), Some("M-1"), true);
    let r = w.pass(&a).await;
    assert_eq!((r.outcome, r.complete), (Outcome::Complete, true), "{r:?}");
    assert_eq!(
        (r.tally.reread, r.tally.merchant_acted, r.tally.found),
        (1, 1, 0),
        "{r:?}"
    );
    assert!(r.found_complaints.is_empty(), "{r:?}");
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);
    assert_eq!(
        w.record(&a, "O-1").await.expect("O-1").raw_status,
        "REPLIED",
        "the record caught up"
    );
    let n = w.notices().await;
    assert_eq!(about(&n, "push_silence"), 0, "{n:?}");
    let h = w.health(&a).await;
    assert_eq!(h["found_by_reconciliation_7d"], 0, "{h}");

    w.advance(minutes(1));
    w.remote
        .changed("O-1", "OPEN", w.now() - minutes(16), Some("U-2"), false);
    let r = w.pass(&a).await;
    assert_eq!(
        (r.tally.merchant_acted, r.tally.found),
        (0, 1),
        "the buyer's change: {r:?}"
    );
    w.work().await;
    assert_eq!(about(&w.notices().await, "push_silence"), 1);
}

// The change key: a complaint back in a state it was found in is queued again when the
// platform names a new change, and not when it names the same one.
#[tokio::test]
async fn a_complaint_back_in_a_state_it_was_found_in_is_found_again_under_a_new_change() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    w.remote.add("C-1", "OPEN", t0() - minutes(60));
    w.remote
        .changed("C-1", "OPEN", t0() - minutes(60), Some("1"), false);
    let r = w.pass(&a).await;
    assert_eq!(r.tally.found, 1, "{r:?}");
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);

    w.advance(minutes(1));
    w.remote
        .changed("C-1", "WAITING", w.now() - minutes(20), Some("2"), false);
    let r = w.pass(&a).await;
    assert_eq!(r.tally.found, 1, "{r:?}");
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);
    assert_eq!(
        w.record(&a, "C-1").await.expect("C-1").raw_status,
        "WAITING"
    );

    // Back in OPEN under the change it was first found in: queued once already.
    w.advance(minutes(1));
    w.remote
        .changed("C-1", "OPEN", w.now() - minutes(20), Some("1"), false);
    let r = w.pass(&a).await;
    assert_eq!((r.tally.found, r.tally.already_queued), (0, 1), "{r:?}");
    assert!(w.work().await.is_empty(), "nothing queued");

    // Back in OPEN through a new change: queued again.
    w.advance(minutes(1));
    w.remote
        .changed("C-1", "OPEN", w.now() - minutes(20), Some("3"), false);
    let r = w.pass(&a).await;
    assert_eq!((r.tally.found, r.tally.already_queued), (1, 0), "{r:?}");
    assert_eq!(r.found_complaints[0].why, "state_moved", "{r:?}");
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);
    assert_eq!(w.record(&a, "C-1").await.expect("C-1").raw_status, "OPEN");
}

// Staff's passes of one account start at most once a minute: a second request while the
// first one's pass is under way answers 409 naming it, and so does one within a minute of a
// pass that is over.
#[tokio::test]
async fn staff_passes_of_an_account_start_at_most_once_a_minute() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    w.remote.add("C-1", "OPEN", t0() - minutes(60));
    let path = format!("/admin/v1/accounts/{a}/reconcile");
    // The first is throttled: under way, its rest queued for later.
    w.remote.fail_lists(&[Some(Fault::Throttled)]);
    let (s, first) = w.h.admin(Method::POST, &path, None).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["outcome"], "throttled", "{first}");
    assert_eq!(first["complete"], false, "{first}");
    let calls = w.remote.list_calls().len();

    w.advance(Span::seconds(30));
    let (s, body) = w.h.admin(Method::POST, &path, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let text = body.to_string();
    assert!(
        text.contains("less than a minute ago") && text.contains("under way"),
        "names the pass under way: {body}"
    );
    assert_eq!(
        w.remote.list_calls().len(),
        calls,
        "the refused one calls nothing"
    );
    let h = w.health(&a).await;
    assert_eq!(
        h["reconciliation_running_since"],
        json!(t0()),
        "the first one is still the pass under way: {h}"
    );

    w.advance(Span::seconds(30));
    let (s, body) = w.h.admin(Method::POST, &path, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "complete", "{body}");
    assert_eq!(body["found"], 1, "{body}");
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);
    // The first pass's continuation, let through now, was replaced.
    assert_eq!(w.release().await.len(), 1);
    let stale = w.continuation().await;
    assert_eq!(stale.outcome, Outcome::Skipped, "{stale:?}");

    // A pass that is over counts too: once a minute, whatever became of the last one.
    w.advance(Span::seconds(20));
    let (s, body) = w.h.admin(Method::POST, &path, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(
        body.to_string().contains("less than a minute ago"),
        "{body}"
    );
    w.advance(Span::seconds(41));
    let (s, body) = w.h.admin(Method::POST, &path, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

// Staff's pass started while a scheduled pass is listing: staff's completes, the scheduled
// one stops at its next step, queues nothing and records nothing.
#[tokio::test]
async fn a_scheduled_pass_replaced_by_staffs_while_it_lists_stops_at_its_next_step() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    for id in ["C-1", "C-2", "C-3"] {
        w.remote.add(id, "OPEN", t0() - minutes(60));
    }
    let staff: Arc<Mutex<Option<Report>>> = Arc::default();
    let (services, platforms, clock, account, out) = (
        w.services().clone(),
        w.platforms().clone(),
        w.clock.clone(),
        a.clone(),
        staff.clone(),
    );
    // While the scheduled pass waits for its first page, staff ask for a pass.
    w.remote.on_next_list(Box::new(move || {
        Box::pin(async move {
            clock.advance(minutes(1));
            let r = desk_core::reconcile::run_now(&services, &platforms, &account, ADMIN_BUDGET)
                .await
                .expect("staff's pass runs")
                .expect("the account exists");
            *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        })
    }));
    let r = w.scheduled(&a, t0(), WORKER_BUDGET).await;
    let staff = staff
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("staff's pass ran inside the list call");
    assert_eq!(
        (staff.outcome, staff.complete, staff.tally.found),
        (Outcome::Complete, true, 3),
        "{staff:?}"
    );
    assert_eq!((r.outcome, r.complete), (Outcome::Skipped, true), "{r:?}");
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("superseded")),
        "{r:?}"
    );
    assert_eq!((r.continues_at, r.tally.found), (None, 0), "{r:?}");
    let cursors: Vec<_> = w.remote.list_calls().into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        cursors,
        [None, None, Some(json!(2))],
        "the scheduled pass's first page, staff's two; nothing after"
    );
    assert!(w.release().await.is_empty(), "nothing queued for later");
    let runs = w.work().await;
    assert_eq!(
        types(&runs),
        [
            toy_job(Origin::Reconcile),
            toy_job(Origin::Reconcile),
            toy_job(Origin::Reconcile)
        ],
        "staff's finds only, no continuation: {runs:?}"
    );
    let h = w.health(&a).await;
    let last = &h["last_reconciliation"];
    assert_eq!(last["started_at"], json!(t0() + minutes(1)), "staff's: {h}");
    assert_eq!(
        (last["outcome"].as_str(), last["found"].as_u64()),
        (Some("complete"), Some(3)),
        "{h}"
    );
    assert!(h["reconciliation_running_since"].is_null(), "{h}");
}

// A platform call that never answers is cut off at the part's time: the part answers, its
// rest is queued, and three such failures end the pass.
#[tokio::test]
async fn a_platform_call_that_never_answers_is_cut_off_at_the_parts_time() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    w.remote.add("C-1", "OPEN", t0() - minutes(60));
    w.remote.hang_lists(4);
    // A guard only (no timing is asserted): without the cut-off a part never answers.
    let guard = Duration::from_secs(120);
    let did_not_answer = |r: &Report| {
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("did not answer"))
    };

    // A call that had less than SLOW_CALL when it was cut off started late: out of time, no
    // platform error, run first in the next part (at once).
    let late = MIN_CALL_TIME + Duration::from_secs(1);
    let r = tokio::time::timeout(guard, w.scheduled(&a, t0(), late))
        .await
        .expect("the part answers although the platform does not");
    assert_eq!(
        (r.outcome, r.complete),
        (Outcome::Continues, false),
        "{r:?}"
    );
    assert_eq!((r.tally.errors, r.error.as_deref()), (0, None), "{r:?}");
    assert_eq!(w.remote.list_calls().len(), 1, "it was called");
    assert!(
        w.release().await.is_empty(),
        "its continuation is queued at once, not held for a delay"
    );

    // One that had SLOW_CALL or more is slower than a pass can wait: a platform error.
    let budget = SLOW_CALL + Duration::from_secs(1);
    let r = tokio::time::timeout(guard, w.continuation_for(budget))
        .await
        .expect("the part answers although the platform does not");
    assert_eq!((r.outcome, r.complete), (Outcome::Failed, false), "{r:?}");
    assert!(did_not_answer(&r), "{r:?}");
    assert!(r.continues_at.is_some(), "{r:?}");
    assert_eq!(r.tally.errors, 1, "{r:?}");
    let held = w.release().await;
    assert_eq!(held.len(), 1, "its continuation: {held:?}");

    w.advance(minutes(1));
    let r = tokio::time::timeout(guard, w.continuation_for(budget))
        .await
        .expect("the part answers");
    assert_eq!((r.outcome, r.complete), (Outcome::Failed, false), "{r:?}");
    assert_eq!(r.tally.errors, 2, "{r:?}");
    assert_eq!(w.release().await.len(), 1);

    w.advance(minutes(2));
    let r = tokio::time::timeout(guard, w.continuation_for(budget))
        .await
        .expect("the part answers");
    assert_eq!(
        (r.outcome, r.complete, r.continues_at),
        (Outcome::Failed, true, None),
        "the third failure ends the pass: {r:?}"
    );
    assert!(did_not_answer(&r), "{r:?}");
    assert_eq!(r.tally.errors, 3, "{r:?}");
    assert!(w.release().await.is_empty(), "nothing left for later");
    assert!(w.work().await.is_empty());
    let h = w.health(&a).await;
    assert_eq!(h["last_reconciliation"]["outcome"], "failed", "{h}");
    assert_eq!(h["platform_errors_24h"], 3, "{h}");
    assert!(h["reconciliation_running_since"].is_null(), "{h}");

    // The next pass, the platform answering again, is not held back.
    w.advance(minutes(1));
    let r = w.pass(&a).await;
    assert_eq!((r.outcome, r.tally.found), (Outcome::Complete, 1), "{r:?}");
}

// A scheduled pass whose first part died with the process holds the lease; the worker's retry
// of that same job (same slot, no progress) runs it, while another slot's pass is skipped.
#[tokio::test]
async fn a_scheduled_pass_whose_first_part_died_runs_when_the_worker_retries_it() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    w.remote.add("C-1", "OPEN", t0() - minutes(60));
    let slot = t0();
    w.remote.hang_lists(1);
    let (services, platforms) = (w.services().clone(), w.platforms().clone());
    let pass = domain::job::reconcile::Pass {
        account_id: a.clone(),
        scheduled_at: slot,
        resume: None,
    };
    let part = tokio::spawn(async move {
        desk_core::reconcile::run(&services, &platforms, &pass, WORKER_BUDGET).await
    });
    // The process dies while the part waits on the platform.
    while w.remote.list_calls().is_empty() {
        tokio::task::yield_now().await;
    }
    part.abort();
    let died = part.await;
    assert!(died.is_err_and(|e| e.is_cancelled()), "the part died");
    let h = w.health(&a).await;
    assert_eq!(
        h["reconciliation_running_since"],
        json!(slot),
        "the dead part holds the lease: {h}"
    );

    // The next slot's pass, inside the lease: skipped, nothing called.
    w.advance(minutes(10));
    let other = w.scheduled(&a, w.now(), WORKER_BUDGET).await;
    assert_eq!(other.outcome, Outcome::Skipped, "{other:?}");
    assert_eq!(
        other.error.as_deref(),
        Some("another pass is under way"),
        "{other:?}"
    );
    assert_eq!(w.remote.list_calls().len(), 1);

    // The worker retries the dead job: the same pass, not another one under way.
    w.advance(minutes(1));
    let retry = w.scheduled(&a, slot, WORKER_BUDGET).await;
    assert_eq!(
        (retry.outcome, retry.complete, retry.tally.found),
        (Outcome::Complete, true, 1),
        "{retry:?}"
    );
    assert_eq!(w.remote.list_calls().len(), 2);
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);
    let h = w.health(&a).await;
    assert_eq!(h["last_reconciliation"]["outcome"], "complete", "{h}");
    assert!(h["reconciliation_running_since"].is_null(), "{h}");
}

// A platform call that panics (a bug in a platform's code) ends the pass with an error; the
// process, the worker and the next pass go on.
#[tokio::test]
async fn a_platform_call_that_panics_ends_the_pass_not_the_process() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    w.remote.add("C-1", "OPEN", t0() - minutes(60));
    w.remote.panic_next_list();
    let r = w.pass(&a).await;
    assert_eq!((r.outcome, r.complete), (Outcome::Failed, true), "{r:?}");
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("did not finish")),
        "{r:?}"
    );
    let h = w.health(&a).await;
    assert_eq!(h["last_reconciliation"]["outcome"], "failed", "{h}");
    assert!(h["reconciliation_running_since"].is_null(), "{h}");

    w.advance(minutes(2));
    let r = w.pass(&a).await;
    assert_eq!((r.outcome, r.tally.found), (Outcome::Complete, 1), "{r:?}");
}

// A complaint we know, shown by the list in another state, is read in full before it counts.
// When that read is throttled the list stops at this item (the list's view alone is not acted
// on: it may be the merchant's own change) and the continuation starts with it; when it fails
// otherwise, the complaint waits for a later pass's re-read.
#[tokio::test]
async fn a_listed_change_is_read_in_full_and_a_throttled_read_resumes_at_its_item() {
    let w = World::new().await;
    let a = w.shop("toy-a").await;
    w.remote.add("C-1", "OPEN", t0() - minutes(60));
    w.push(&a, "C-1", "E-1").await;
    w.work().await;
    w.remote.moved("C-1", "DONE", Some(t0() - minutes(30)));
    w.remote.fail_details(&[Some(Fault::Throttled)]);
    let r = w.pass(&a).await;
    assert_eq!(
        (r.outcome, r.complete),
        (Outcome::Throttled, false),
        "{r:?}"
    );
    assert_eq!(
        (r.tally.listed, r.tally.found, r.tally.throttled),
        (0, 0, 1),
        "stopped at the item: {r:?}"
    );
    assert!(
        w.work().await.is_empty(),
        "nothing queued from the list's view"
    );
    assert_eq!(
        w.release().await.len(),
        1,
        "its continuation, after a delay"
    );
    let done = w.continuation().await;
    assert_eq!(
        (done.outcome, done.tally.listed, done.tally.found),
        (Outcome::Complete, 1, 1),
        "the continuation starts with the item: {done:?}"
    );
    assert_eq!(types(&w.work().await), [toy_job(Origin::Reconcile)]);

    // Another failure: counted, the complaint waits (it is open here: the re-read covers it).
    w.remote.moved("C-1", "APPEALED", Some(t0() - minutes(10)));
    w.remote.fail_details(&[Some(Fault::Retryable)]);
    w.advance(minutes(2));
    let r = w.pass(&a).await;
    assert_eq!(
        (r.outcome, r.tally.waiting, r.tally.errors, r.tally.found),
        (Outcome::Complete, 1, 1, 0),
        "{r:?}"
    );
}
