//! The seam between the generic desk and a platform, proven by a platform written here, in the
//! test file: its own callback route, a complaint detail served from memory, reply, refund and
//! complete that record what they were asked, an account kind, and two staff actions. Nothing
//! outside this file knows it; registering it is the only step. Through the generic code alone
//! it gets: the callback verified, accepted and queued (a repeated push once), the record
//! stored, the automatic reply → refund under the cap → complete exactly once (also after a
//! second push of the same complaint, and when the run fails right after the refund), staff
//! told once, the admin list and detail, an admin reply, an admin extra action, and the one
//! 409 for an action it lacks.

mod common;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use common::*;
use desk_core::Error;
use desk_core::accounts::{AccountKindSpec, CredentialsChange};
use desk_core::automatic::{
    AutoOps, Found, Made, NoRefund, RefundTarget, Refusal, Sent, Shown, Snapshot, StaffNotice,
};
use desk_core::callback::{
    CallbackContext, CallbackHandler, CallbackRequest, CallbackResponse, CallbackRoute,
};
use desk_core::complaints::complaint_id;
use desk_core::platform::{Platform, Platforms};
use desk_core::repo::AccountRepo;
use desk_core::staff_actions::{
    ActionAnswer, ActionBody, Staff, StaffAction, StaffActions, log_admin, no_such_action,
};
use desk_core::state::{FaultMode, FaultPoint, Services};
use desk_core::worker::{Disposition, JobError, JobHandler, JobRegistry, RetryPolicy};
use domain::account::{
    Account, AccountKind, AccountKindFacts, AccountSettings, Credentials, CredentialsStatus,
};
use domain::complaint::{ActionKind, ActionOutcome, Complaint, ComplaintStatus, OrderRef};
use domain::job::{JobEnvelope, JobKind};
use domain::notification::Audience;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOY: domain::complaint::Platform = domain::complaint::Platform::new("toy");
const TOY_SHOP: AccountKind = AccountKind::new("toy_shop");
/// The toy's one job: a complaint was pushed.
const PUSHED: JobKind<Pushed> = JobKind::new("toy.complaint");
/// The callback's shared secret (the toy's "signature").
const SIGNATURE: &str = "toy-signature-0123";

#[derive(Debug, Serialize, Deserialize)]
struct Pushed {
    shop: String,
    complaint_id: String,
}

/// A complaint on the toy platform.
#[derive(Debug, Clone)]
struct RemoteComplaint {
    order: String,
    amount_fen: u64,
    text: String,
    replied: bool,
    completed: bool,
}

/// The toy platform's side: its complaints, its refunds, and every write it was asked for.
#[derive(Default)]
struct Remote {
    complaints: Mutex<HashMap<String, RemoteComplaint>>,
    refunds: Mutex<HashMap<String, u64>>,
    calls: Mutex<Vec<String>>,
}

impl Remote {
    fn asked(&self, what: String) {
        self.calls.lock().expect("calls").push(what);
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("calls").clone()
    }

    fn complaint(&self, id: &str) -> Option<RemoteComplaint> {
        self.complaints.lock().expect("complaints").get(id).cloned()
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut RemoteComplaint)) {
        if let Some(c) = self.complaints.lock().expect("complaints").get_mut(id) {
            f(c);
        }
    }
}

struct Toy {
    remote: Arc<Remote>,
    actions: ToyActions,
}

impl Toy {
    fn new(remote: Arc<Remote>) -> Self {
        Self {
            actions: ToyActions {
                remote: remote.clone(),
            },
            remote,
        }
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
        vec![AccountKindSpec {
            facts: AccountKindFacts {
                kind: TOY_SHOP,
                platform: TOY,
                has_complaints: true,
                callback_family: "toy",
                platform_id_field: "shop",
                has_sub_merchants: false,
                budget_by_account_id: false,
            },
            settings_schema: desk_core::schema::SchemaOf::of::<ToySettings>(),
            settings_rules: None,
            settings: toy_settings,
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
        }]
    }

    fn callbacks(&self) -> Vec<CallbackRoute> {
        vec![CallbackRoute::post("/callbacks/toy/{shop}", ToyCallback)]
    }

    fn pages(&self) -> Vec<CallbackRoute> {
        vec![CallbackRoute::get("/toy/{shop}/welcome", ToyWelcome)]
    }

    fn staff_actions(&self) -> &dyn StaffActions {
        &self.actions
    }

    fn complaint_images(&self) -> &dyn desk_core::complaint_images::ComplaintImages {
        self
    }

    fn account_actions(&self) -> &dyn desk_core::account_actions::AccountActions {
        self
    }
}

/// The toy's images: two per complaint, made from its id, each fetch recorded.
#[async_trait]
impl desk_core::complaint_images::ComplaintImages for Toy {
    async fn image(
        &self,
        _services: &Services,
        complaint: &Complaint,
        n: usize,
    ) -> Result<desk_core::complaint_images::ComplaintImage, Error> {
        if n >= 2 {
            return Err(Error::NotFound(format!("no image {n}")));
        }
        self.remote
            .asked(format!("image {n} of {}", complaint.platform_complaint_id));
        Ok(desk_core::complaint_images::ComplaintImage {
            bytes: format!("toy image {} #{n}", complaint.platform_complaint_id).into_bytes(),
            content_type: "image/png".into(),
            private_max_age: None,
        })
    }
}

/// `POST /accounts/{id}/ping` (a note, answered with the shop) and `DELETE
/// /accounts/{id}/ping` (204) on toy shops.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PingBody {
    /// Passed to the toy platform.
    note: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PingAnswer {
    shop: String,
    note: String,
}

#[async_trait]
impl desk_core::account_actions::AccountActions for Toy {
    fn actions(&self) -> Vec<desk_core::account_actions::AccountAction> {
        use desk_core::account_actions::{AccountAction, Method};
        vec![
            AccountAction::new("ping", Method::Post, "toy_ping", &[TOY_SHOP])
                .with_body::<PingBody>()
                .answered_with::<PingAnswer>()
                .summary("Ping the toy shop"),
            AccountAction::new("ping", Method::Delete, "toy_unping", &[TOY_SHOP]),
        ]
    }

    async fn run(
        &self,
        _services: &Services,
        staff: &Staff,
        account: &Account,
        action: &desk_core::account_actions::AccountAction,
        body: ActionBody,
    ) -> Result<desk_core::account_actions::AccountAnswer, Error> {
        use desk_core::account_actions::AccountAnswer;
        let shop = account.platform_id().to_string();
        match action.operation_id {
            "toy_ping" => {
                let b: PingBody = body.parse()?;
                self.remote
                    .asked(format!("ping {shop} {} by {}", b.note, staff.token_id));
                AccountAnswer::json(&PingAnswer { shop, note: b.note })
            }
            _ => {
                self.remote.asked(format!("unping {shop}"));
                Ok(AccountAnswer::NoContent)
            }
        }
    }
}

/// The toy's settings, as the account API takes them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ToySettings {
    shop: String,
    #[serde(default)]
    reply_text: Option<String>,
    #[serde(default)]
    auto_refund: bool,
    #[serde(default)]
    refund_cap_fen: Option<u64>,
}

fn toy_settings(value: Value) -> Result<AccountSettings, Error> {
    let s = serde_json::from_value::<ToySettings>(value.clone())
        .map_err(|e| Error::field("settings", e.to_string()))?;
    if !s.shop.starts_with("toy-") {
        return Err(Error::field("settings.shop", "must start with toy-"));
    }
    AccountSettings::from_parts(TOY_SHOP, value).map_err(|m| Error::field("settings", m))
}

fn settings_of(account: &Account) -> Result<ToySettings, JobError> {
    let AccountSettings::Open(s) = &account.settings else {
        return Err(JobError::Permanent("not a toy shop".into()));
    };
    serde_json::from_value(Value::Object(s.settings.clone()))
        .map_err(|e| JobError::Permanent(format!("toy settings: {e}")))
}

fn no_credentials(_: CredentialsChange<'_>) -> Result<(Credentials, CredentialsStatus), Error> {
    Err(Error::field("credentials", "the toy platform takes none"))
}

/// `POST /callbacks/toy/{shop}`: the signature header, the shop's account, then accepted.
struct ToyCallback;

#[async_trait]
impl CallbackHandler for ToyCallback {
    async fn handle(&self, ctx: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse {
        if req.header("x-toy-signature") != Some(SIGNATURE) {
            return CallbackResponse::text(401, "bad signature");
        }
        let shop = req.param("shop");
        let account = match AccountRepo::new(&*ctx.ports.records)
            .find_by_platform_id("toy", shop)
            .await
        {
            Ok(Some(a)) => a,
            Ok(None) => return CallbackResponse::text(404, "unknown shop"),
            Err(_) => return CallbackResponse::text(503, "try again"),
        };
        #[derive(Deserialize)]
        struct Push {
            event_id: String,
            complaint_id: String,
        }
        let Ok(push) = serde_json::from_slice::<Push>(&req.body) else {
            return CallbackResponse::text(400, "malformed");
        };
        let payload = Pushed {
            shop: shop.to_string(),
            complaint_id: push.complaint_id,
        };
        let Ok(job) = PUSHED.envelope(&payload, req.received_at) else {
            return CallbackResponse::text(500, "fail");
        };
        let job = job.for_account(&account.id, None);
        match desk_core::callback::accept(
            ctx.services,
            &format!("toy:{}", push.event_id),
            json!({"event_id": push.event_id}),
            &job,
        )
        .await
        {
            Ok(_) => CallbackResponse::json(200, &json!({"code": "ok"})),
            Err(_) => CallbackResponse::text(503, "try again"),
        }
    }
}

/// The toy's complaint job: read the complaint from the platform, hand it to the generic code.
struct ToyJob {
    services: Services,
    remote: Arc<Remote>,
}

#[async_trait]
impl JobHandler for ToyJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let pushed = PUSHED.payload(job)?;
        let account = desk_core::automatic::job_account(&self.services, job).await?;
        let settings = settings_of(&account)?;
        let remote = self
            .remote
            .complaint(&pushed.complaint_id)
            .ok_or_else(|| JobError::Permanent("no such toy complaint".into()))?;
        let id = complaint_id(TOY, &account.id, &pushed.complaint_id);
        let now = self.services.ports.clock.now();
        let shown_remote = remote.clone();
        let shown = Shown {
            new: Complaint::new(
                id.clone(),
                TOY,
                None,
                account.id.clone(),
                pushed.complaint_id.clone(),
                now,
            ),
            fill: Box::new(move |c: &mut Complaint| {
                c.raw_status = if shown_remote.completed {
                    "DONE"
                } else {
                    "OPEN"
                }
                .into();
                c.status = if shown_remote.completed {
                    ComplaintStatus::Resolved
                } else {
                    ComplaintStatus::Pending
                };
                c.orders = vec![OrderRef {
                    transaction_id: Some(shown_remote.order.clone()),
                    out_trade_no: None,
                    amount_fen: Some(shown_remote.amount_fen),
                }];
                c.complaint_amount_fen = Some(shown_remote.amount_fen);
                c.description = Some(shown_remote.text.clone());
                c.replied |= shown_remote.replied;
                c.completed |= shown_remote.completed;
            }),
            history: Box::new(|_| Vec::new()),
            now,
        };
        let ops = account.enabled.then(|| ToyOps {
            remote: self.remote.clone(),
            complaint_id: pushed.complaint_id.clone(),
            account_id: account.id.clone(),
            settings,
        });
        desk_core::automatic::handle(
            &self.services,
            &job.id,
            Snapshot {
                shown,
                notice: Some(StaffNotice {
                    event_key: format!("toy:{id}:new"),
                    event: "new complaint".into(),
                    merchant: account.name.clone(),
                    user_text: Some(remote.text.clone()),
                    audiences: vec![Audience {
                        account_id: account.id.clone(),
                        sub_mchid: None,
                    }],
                }),
                ops,
            },
        )
        .await
    }
}

/// The toy's operations on one complaint: each records what it was asked.
struct ToyOps {
    remote: Arc<Remote>,
    complaint_id: String,
    account_id: String,
    settings: ToySettings,
}

#[async_trait]
impl AutoOps for ToyOps {
    type Order = String;

    async fn reply(&self, _record: &Complaint) -> Result<Option<Sent>, JobError> {
        let Some(text) = self.settings.reply_text.clone() else {
            return Ok(None);
        };
        self.remote.asked(format!("reply {text}"));
        self.remote.update(&self.complaint_id, |c| c.replied = true);
        Ok(Some(Sent::Done(format!(
            "replied ({} characters)",
            text.chars().count()
        ))))
    }

    async fn refund_target(
        &self,
        record: &Complaint,
    ) -> Result<Result<RefundTarget<String>, NoRefund>, JobError> {
        if !self.settings.auto_refund {
            return Ok(Err(NoRefund::Silent));
        }
        let Some(c) = self.remote.complaint(&self.complaint_id) else {
            return Ok(Err(NoRefund::Skipped("the complaint is gone".into())));
        };
        Ok(Ok(RefundTarget {
            number: format!("TOY-{}", record.id),
            payer: self.account_id.clone(),
            transaction_id: Some(c.order.clone()),
            per_order: false,
            total: c.amount_fen,
            cap: self.settings.refund_cap_fen,
            wanted: Ok(c.amount_fen),
            order: c.order,
        }))
    }

    async fn find_refund(&self, t: &RefundTarget<String>) -> Result<Found, JobError> {
        Ok(
            match self.remote.refunds.lock().expect("refunds").get(&t.number) {
                Some(amount) => Found::Made(Made {
                    refund_id: Some(format!("R-{}", t.number)),
                    status: "SUCCESS".into(),
                    amount: Some(*amount),
                }),
                None => Found::NotFound,
            },
        )
    }

    async fn refund(
        &self,
        t: &RefundTarget<String>,
        amount: u64,
    ) -> Result<Result<Made, Refusal>, JobError> {
        self.remote
            .asked(format!("refund {} {amount} of {}", t.number, t.order));
        self.remote
            .refunds
            .lock()
            .expect("refunds")
            .insert(t.number.clone(), amount);
        Ok(Ok(Made {
            refund_id: Some(format!("R-{}", t.number)),
            status: "SUCCESS".into(),
            amount: Some(amount),
        }))
    }

    async fn complete(&self, _record: &Complaint, refunded: u64) -> Result<Option<Sent>, JobError> {
        self.remote.asked(format!("complete after {refunded}"));
        self.remote
            .update(&self.complaint_id, |c| c.completed = true);
        Ok(Some(Sent::Done("completed".into())))
    }
}

/// `reply` (a text) and `nudge` (the toy's own action), run by staff through the admin API.
struct ToyActions {
    remote: Arc<Remote>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ToyReplyBody {
    /// What the buyer reads.
    text: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NudgeBody {
    /// Why the platform should look again.
    reason: String,
}

#[async_trait]
impl StaffActions for ToyActions {
    fn actions(&self) -> Vec<StaffAction> {
        vec![
            StaffAction::new::<ToyReplyBody>("reply", ActionKind::Reply, "Reply to the buyer"),
            StaffAction::new::<NudgeBody>("nudge", ActionKind::Feedback, "Ask the toy to look"),
        ]
    }

    async fn run(
        &self,
        services: &Services,
        staff: &Staff,
        complaint: &Complaint,
        action: &str,
        body: ActionBody,
    ) -> Result<ActionAnswer, Error> {
        let (kind, what) = match action {
            "reply" => {
                let b: ToyReplyBody = body.parse()?;
                (ActionKind::Reply, format!("staff reply {}", b.text))
            }
            "nudge" => {
                let b: NudgeBody = body.parse()?;
                (ActionKind::Feedback, format!("nudge {}", b.reason))
            }
            other => return Err(no_such_action(TOY.as_str(), other, &self.actions())),
        };
        self.remote
            .asked(format!("{what} on {}", complaint.platform_complaint_id));
        log_admin(
            services,
            staff,
            &complaint.id,
            kind,
            ActionOutcome::Succeeded,
            what,
            None,
        )
        .await?;
        Ok(ActionAnswer::done(&complaint.id, kind, None))
    }
}

/// The harness with the built-in platforms and the toy, failing the first run that reaches
/// the point right after a refund.
fn toy_harness(remote: Arc<Remote>) -> Harness {
    let mut h = harness();
    h.state.fault_point = Some(FaultPoint::new("after_refund", FaultMode::FailOnce));
    let mut platforms: Platforms = desk_core::platforms::builtin();
    platforms.register(Arc::new(Toy::new(remote)));
    h.state.callbacks.platforms = Arc::new(platforms);
    h.router = desk_http::router::router(h.state.clone());
    h
}

/// Push complaint `complaint` of `shop` as event `event_id`, signed with `signature`.
async fn push_signed(
    h: &Harness,
    shop: &str,
    event_id: &str,
    complaint: &str,
    signature: &str,
) -> (StatusCode, Value) {
    h.post_with_headers(
        &format!("/callbacks/toy/{shop}"),
        &[("x-toy-signature".to_string(), signature.to_string())],
        json!({"event_id": event_id, "complaint_id": complaint}).to_string(),
    )
    .await
}

async fn push(h: &Harness, shop: &str, event_id: &str, complaint: &str) -> (StatusCode, Value) {
    push_signed(h, shop, event_id, complaint, SIGNATURE).await
}

/// Run the worker's handlers (those of the registered platforms) on the events queue until it
/// is empty, a retried job again at once; each job's type and what became of it.
async fn work(h: &Harness) -> Vec<(String, Disposition)> {
    use domain::job::queues::EVENTS;
    let registry = desk_core::policy::registry(&h.state, h.state.platforms());
    let queue = h.state.ports.queue.clone();
    let mut out = Vec::new();
    loop {
        let msgs = queue
            .receive(
                EVENTS,
                10,
                Duration::from_secs(60),
                Duration::from_millis(200),
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
                    .change_visibility(EVENTS, &m.receipt, Duration::ZERO)
                    .await
                    .expect("visible again"),
                _ => queue.delete(EVENTS, &m.receipt).await.expect("delete"),
            }
            out.push((job.job_type, d));
        }
    }
}

async fn detail(h: &Harness, id: &str) -> Value {
    let (s, d) = h
        .admin(Method::GET, &format!("/admin/v1/complaints/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    d
}

fn actions_of(detail: &Value) -> Vec<(String, String)> {
    detail["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap_or("").to_string(),
                a["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toy_platform_end_to_end() {
    let remote = Arc::new(Remote::default());
    remote.complaints.lock().expect("complaints").insert(
        "C-1".into(),
        RemoteComplaint {
            order: "ORDER-9".into(),
            amount_fen: 3000,
            text: "the toy never came".into(),
            replied: false,
            completed: false,
        },
    );
    let h = toy_harness(remote.clone());

    // An account of the toy's own kind, through the admin API.
    let account_id = h
        .create(json!({
            "kind": "toy_shop",
            "name": "Toy shop",
            "settings": {"shop": "toy-1", "reply_text": "Sorry, on it", "auto_refund": true,
                         "refund_cap_fen": 5000}
        }))
        .await;

    // The callback: its own verification, then accepted and queued once, however often the
    // same push comes.
    let (s, body) = push_signed(&h, "toy-1", "E-1", "C-1", "forged").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    let ok = (StatusCode::OK, json!({"code": "ok"}));
    assert_eq!(push(&h, "toy-1", "E-1", "C-1").await, ok);
    assert_eq!(push(&h, "toy-1", "E-1", "C-1").await, ok);
    assert_eq!(
        push(&h, "nobody", "E-9", "C-1").await.0,
        StatusCode::NOT_FOUND
    );
    assert!(
        remote.calls().is_empty(),
        "no platform call from a callback"
    );

    // The worker: the record, then reply → refund under the cap → complete. The first run
    // fails right after the refund (retried); the retry finds the refund and completes.
    let runs = work(&h).await;
    let kinds: Vec<_> = runs.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        kinds,
        ["toy.complaint", "toy.complaint"],
        "one job, run twice: {runs:?}"
    );
    assert!(matches!(runs[0].1, Disposition::Retry(_)), "{runs:?}");
    assert_eq!(runs[1].1, Disposition::Done, "{runs:?}");
    let id = complaint_id(TOY, &account_id, "C-1");
    let first = detail(&h, &id).await;
    assert_eq!(first["complaint"]["completed"], true, "{first}");

    // A second push of the same complaint (a new event): handled, nothing sent again.
    assert_eq!(push(&h, "toy-1", "E-2", "C-1").await, ok);
    let runs = work(&h).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].1, Disposition::Done, "{runs:?}");
    let again = detail(&h, &id).await;

    assert_eq!(
        remote.calls(),
        vec![
            "reply Sorry, on it".to_string(),
            format!("refund TOY-{id} 3000 of ORDER-9"),
            "complete after 3000".to_string(),
        ],
        "each step exactly once, the refund not repeated after the failed run"
    );
    let c = &again["complaint"];
    assert_eq!(c["platform"], "toy");
    assert_eq!(c["platform_complaint_id"], "C-1");
    assert_eq!(c["replied"], true);
    assert_eq!(c["completed"], true);
    assert_eq!(c["status"], "resolved");
    assert_eq!(c["complaint_amount_fen"], 3000);
    let refunds = again["refunds"].as_array().expect("refunds");
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["out_refund_no"], format!("TOY-{id}"));
    assert_eq!(refunds[0]["amount_fen"], 3000);
    assert_eq!(refunds[0]["status"], "SUCCESS");
    let log = actions_of(&again);
    let count = |action: &str| log.iter().filter(|(a, _)| a == action).count();
    assert_eq!(count("reply"), 1, "{log:?}");
    assert_eq!(count("complete"), 1, "{log:?}");
    assert!(
        log.iter()
            .any(|(a, o)| a == "refund" && (o == "succeeded" || o == "already_done")),
        "{log:?}"
    );
    assert!(!log.iter().any(|(_, o)| o == "failed"), "{log:?}");

    // Staff told once, whatever the pushes.
    let notices = again["notifications"].as_array().expect("notifications");
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["summary"]["platform"], "toy");
    assert_eq!(notices[0]["summary"]["event"], "new complaint");
    assert_eq!(notices[0]["audience"]["account_id"], account_id.as_str());
    let staff_jobs: Vec<_> = h
        .queued_jobs(domain::job::queues::NOTIFY)
        .await
        .into_iter()
        .filter(|j| j.job_type == domain::job::notify::STAFF.name())
        .collect();
    assert_eq!(staff_jobs.len(), 1, "{staff_jobs:?}");

    // The admin list and detail.
    let (s, list) = h
        .admin(Method::GET, "/admin/v1/complaints?platform=toy", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["id"], id.as_str());

    // Staff act through the generic routes: a reply, the toy's own action, and the one 409
    // for an action other platforms have.
    let (s, res) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/complaints/{id}/reply"),
            Some(json!({"text": "A new one is on its way"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{res}");
    assert_eq!(res["action"], "reply");
    assert_eq!(res["outcome"], "succeeded");
    let (s, res) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/complaints/{id}/nudge"),
            Some(json!({"reason": "the buyer called"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{res}");
    assert_eq!(res["action"], "feedback");
    let (s, res) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/complaints/{id}/nudge"),
            Some(json!({"why": "no reason field"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{res}");
    let (s, res) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/complaints/{id}/refund-progress"),
            Some(json!({"action": "APPROVE"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{res}");
    assert_eq!(
        res["error"]["message"],
        "toy complaints have no refund-progress action: use reply and nudge"
    );
    let calls = remote.calls();
    assert_eq!(
        calls[3..],
        [
            "staff reply A new one is on its way on C-1".to_string(),
            "nudge the buyer called on C-1".to_string(),
        ]
    );
    let (_, detail) = h
        .admin(Method::GET, &format!("/admin/v1/complaints/{id}"), None)
        .await;
    let mut admin_log: Vec<_> = detail["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["trigger"]["by"] == "admin")
        .map(|a| a["action"].as_str().unwrap_or("").to_string())
        .collect();
    // Both are logged as the admin's. Two actions within the same instant have no order in
    // the log (seen once under load: feedback listed before reply).
    admin_log.sort();
    assert_eq!(admin_log, ["feedback", "reply"]);

    // The document states the toy's own action with its body.
    let (s, doc) = h.admin(Method::GET, "/admin/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        doc["paths"]["/admin/v1/complaints/{id}/nudge"]["post"].is_object(),
        "the toy's action is documented"
    );
    let served = |schema: &str| doc["components"]["schemas"][schema]["enum"].clone();
    assert!(
        served("Platform")
            .as_array()
            .is_some_and(|e| e.contains(&json!("toy")))
    );
    assert!(
        served("AccountKind")
            .as_array()
            .is_some_and(|e| e.contains(&json!("toy_shop")))
    );
}

#[tokio::test]
async fn toy_images_and_account_routes_go_through_the_generic_routes() {
    let remote = Arc::new(Remote::default());
    remote.complaints.lock().expect("complaints").insert(
        "C-7".into(),
        RemoteComplaint {
            order: "ORDER-7".into(),
            amount_fen: 100,
            text: "scratched".into(),
            replied: false,
            completed: false,
        },
    );
    let h = toy_harness(remote.clone());
    let account_id = h
        .create(json!({"kind": "toy_shop", "name": "Toy shop", "settings": {"shop": "toy-7"}}))
        .await;
    assert_eq!(push(&h, "toy-7", "E-7", "C-7").await.0, StatusCode::OK);
    work(&h).await;
    let id = complaint_id(TOY, &account_id, "C-7");

    // The buyer's image, fetched by the toy itself through the generic download route.
    let image = |n: usize| {
        let h = &h;
        let path = format!("/admin/v1/complaints/{id}/media/{n}");
        async move { h.raw(Method::GET, &path, Some(ADMIN), None, "").await }
    };
    let (s, bytes) = image(1).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bytes, b"toy image C-7 #1");
    assert_eq!(image(2).await.0, StatusCode::NOT_FOUND);
    assert_eq!(remote.calls(), ["image 1 of C-7"]);

    // Its account route with a body, and without one (204).
    let ping = format!("/admin/v1/accounts/{account_id}/ping");
    let (s, res) = h
        .admin(Method::POST, &ping, Some(json!({"note": "hello"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{res}");
    assert_eq!(res, json!({"shop": "toy-7", "note": "hello"}));
    let (s, res) = h
        .admin(Method::POST, &ping, Some(json!({"nope": "hello"})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{res}");
    let (s, res) = h.admin(Method::DELETE, &ping, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{res}");
    // A method nobody offers on it, and a name nobody offers.
    assert_eq!(
        h.admin(Method::GET, &ping, None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        h.admin(
            Method::GET,
            &format!("/admin/v1/accounts/{account_id}/nothing-here"),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // Another platform's route on a toy shop: the one 409, naming what the toy shop has; and
    // the toy's route on another platform's account.
    let (s, res) = h
        .admin(
            Method::GET,
            &format!("/admin/v1/accounts/{account_id}/trade-score"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{res}");
    assert_eq!(
        res["error"]["message"],
        "toy_shop accounts have no GET trade-score: use POST ping and DELETE ping"
    );
    let alipay = h
        .create(
            json!({"kind": "alipay_app", "name": "A", "settings": {"app_id": "2021000000000001"}}),
        )
        .await;
    let (s, res) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{alipay}/ping"),
            Some(json!({"note": "hello"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{res}");
    assert_eq!(
        res["error"]["message"],
        "alipay_app accounts have no POST ping (it has no account routes)"
    );
    // Outside a token's scope: as unknown.
    let other = h
        .token(json!({"type": "account", "account_id": alipay}))
        .await;
    let (s, _) = h.call(Method::DELETE, &ping, Some(&other), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        remote.calls(),
        [
            "image 1 of C-7",
            "ping toy-7 hello by admin",
            "unping toy-7"
        ],
        "only the toy shop's own calls reached the toy"
    );

    // The document states the route with its body and answer.
    let (_, doc) = h.admin(Method::GET, "/admin/v1/openapi.json", None).await;
    let item = &doc["paths"]["/admin/v1/accounts/{id}/ping"];
    assert_eq!(
        item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/PingBody"
    );
    assert_eq!(
        item["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/PingAnswer"
    );
    assert!(item["delete"]["responses"]["204"].is_object(), "{item}");
    assert!(doc["components"]["schemas"]["PingBody"]["properties"]["note"].is_object());
}

/// `GET /toy/{shop}/welcome`: the toy's browser page, naming the shop and the query it got.
struct ToyWelcome;

#[async_trait]
impl CallbackHandler for ToyWelcome {
    async fn handle(&self, _: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse {
        CallbackResponse::new(
            203,
            Some("text/html; charset=utf-8"),
            format!(
                "<p>welcome to {} ({})</p>",
                req.param("shop"),
                req.query.as_deref().unwrap_or_default()
            ),
        )
    }
}

#[tokio::test]
async fn a_toy_page_is_served_by_the_all_in_one_router_and_by_no_callback_function() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let h = toy_harness(Arc::new(Remote::default()));
    let send = |router: axum::Router, method: Method, uri: &'static str| async move {
        let req = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .body(axum::body::Body::empty())
            .expect("request");
        let res = router.oneshot(req).await.expect("response");
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    };
    const PAGE: &str = "/toy/toy-7/welcome?lang=en";
    let (s, content_type, body) = send(h.router.clone(), Method::GET, PAGE).await;
    assert_eq!(s, StatusCode::NON_AUTHORITATIVE_INFORMATION, "{body}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert_eq!(body, "<p>welcome to toy-7 (lang=en)</p>");

    // No callback function serves it, whatever its family: every family of every registered
    // route, the page's own included.
    let platforms = h.state.platforms();
    let mut families: Vec<&str> = platforms
        .iter()
        .flat_map(|p| p.callbacks().into_iter().chain(p.pages()))
        .map(|r| r.family)
        .collect();
    families.sort_unstable();
    families.dedup();
    assert!(families.contains(&"toy"), "{families:?}");
    for family in families {
        let router = desk_http::router::callback_router(h.state.callbacks.clone(), family);
        let (s, _, body) = send(router, Method::GET, PAGE).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{family}: {body}");
        assert!(body.contains("no such route"), "{family}: {body}");
    }
    // The toy's callback function does serve its callback (its own answer, not the fallback).
    let toy = desk_http::router::callback_router(h.state.callbacks.clone(), "toy");
    let (s, _, body) = send(toy, Method::POST, "/callbacks/toy/toy-7").await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::UNAUTHORIZED, "bad signature")
    );
}
