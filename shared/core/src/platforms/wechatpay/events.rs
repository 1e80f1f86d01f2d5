//! WeChat Pay jobs: complaint events (record, notify, auto-reply, auto-refund, complete),
//! violation notices and refund results.
//!
//! The policy decides from the complaint's state as the platform reports it (detail and
//! negotiation history), never from the push's event type, so a repeated, late or concurrent
//! event changes nothing that is already done. One worker at a time acts on a complaint (a
//! lease); a refund number is derived from (complaint, order, sequence), so a retry after a
//! crash finds the refund it already asked for instead of asking again.

use crate::automatic::Actions;
use crate::complaints::{
    AUTO_REFUND_SEQUENCE, Claim, ComplaintRepo, RefundRecord, auto_refund_amount, complaint_id,
    derived_id, violation_id,
};
use crate::notices::{self, Notice, store_error};
use crate::platforms::wechatpay::ClientError;
use crate::ratelimit::{Operation, RateLimiter, ops::wechatpay as op};
use crate::repo::SubMerchantRepo;
use crate::state::Services;
use crate::worker::{JobError, JobHandler, JobRegistry};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::account::{Account, AccountSettings, SubMerchant};
use domain::complaint::{
    ActionKind, ActionLogEntry, ActionOutcome, ActionTrigger, Complaint, ComplaintStatus,
    HistoryEntry, OrderRef, Platform, Violation,
};
use domain::job::{JobEnvelope, wechatpay as jobs};
use domain::notification::{Audience, NotificationSubject, NotificationSummary};
use std::sync::Arc;
use wechatpay::PlatformError;
use wechatpay::model::{self, RefundAmount, RefundProgressRequest, RefundRequest, ResponseRequest};

/// Register the WeChat Pay job handlers.
pub fn register(registry: &mut JobRegistry, state: &Services) {
    let h = Arc::new(Handlers {
        state: state.clone(),
    });
    registry.register(jobs::COMPLAINT.name(), Arc::new(ComplaintJob(h.clone())));
    registry.register(jobs::VIOLATION.name(), Arc::new(ViolationJob(h.clone())));
    registry.register(jobs::REFUND.name(), Arc::new(RefundJob(h)));
}

struct Handlers {
    state: Services,
}

struct ComplaintJob(Arc<Handlers>);
struct ViolationJob(Arc<Handlers>);
struct RefundJob(Arc<Handlers>);

fn platform_error(e: PlatformError) -> JobError {
    if e.is_throttled() {
        JobError::throttled(e)
    } else if e.is_retryable() {
        JobError::retryable(e)
    } else {
        JobError::Permanent(crate::error::chain(&e))
    }
}

/// A merchant's client with its call budget: a limited call first takes one call of its
/// operation from the merchant's budget (the job is deferred when there is none).
struct Api<'a> {
    client: &'a wechatpay::Client,
    limiter: &'a RateLimiter,
    /// The calling merchant (a provider's mchid for its sub-merchants too).
    mchid: &'a str,
}

impl Api<'_> {
    async fn take(&self, operation: Operation) -> Result<(), JobError> {
        Ok(self.limiter.acquire(operation, self.mchid).await?)
    }

    async fn complaint(&self, id: &str) -> Result<model::Complaint, JobError> {
        self.take(op::DETAIL).await?;
        self.client.complaint(id).await.map_err(platform_error)
    }
}

/// The mchid that calls WeChat Pay for an account.
fn calling_mchid(account: &Account) -> &str {
    match &account.settings {
        AccountSettings::WechatpayMerchant(s) => &s.mchid,
        AccountSettings::WechatpayProvider(s) => &s.mchid,
        _ => &account.id,
    }
}

/// Who a complaint belongs to and what its policy is.
struct Owner {
    account: Account,
    /// The platform's mchid of the account (provider or merchant).
    mchid: String,
    provider: bool,
    /// Provider complaints: the complained sub-merchant.
    sub_mchid: Option<String>,
    sub: Option<SubMerchant>,
    reply_text: Option<String>,
    auto_refund: bool,
    cap_fen: Option<u64>,
    /// Automatic platform actions allowed (account and sub-merchant enabled).
    act: bool,
}

impl Owner {
    fn name(&self) -> String {
        match (&self.sub, &self.sub_mchid) {
            (Some(s), _) => s.name.clone(),
            (None, Some(id)) => format!("{} / sub-merchant {id}", self.account.name),
            _ => self.account.name.clone(),
        }
    }

    /// Whose staff hear about it: the account's own (if enabled) and a known, enabled
    /// sub-merchant's. A provider hears about its sub-merchants whatever their state.
    fn audiences(&self) -> Vec<Audience> {
        let mut v = Vec::new();
        if self.account.enabled {
            v.push(Audience {
                account_id: self.account.id.clone(),
                sub_mchid: None,
            });
        }
        if let Some(s) = self.sub.as_ref().filter(|s| s.enabled) {
            v.push(Audience {
                account_id: self.account.id.clone(),
                sub_mchid: Some(s.sub_mchid.clone()),
            });
        }
        v
    }
}

impl Handlers {
    async fn account(&self, job: &JobEnvelope) -> Result<Account, JobError> {
        crate::automatic::job_account(&self.state, job).await
    }

    async fn client(&self, account: &Account) -> Result<Arc<wechatpay::Client>, JobError> {
        match self
            .state
            .wechatpay
            .get(account, &*self.state.ports.secrets)
            .await
        {
            Ok(c) => Ok(c),
            Err(ClientError::Secrets(e)) => Err(JobError::Retryable {
                source: Box::new(ClientError::Secrets(e)),
                retry_after: None,
            }),
            Err(e) => Err(JobError::Permanent(e.to_string())),
        }
    }

    async fn owner(&self, account: Account, complainted: &str) -> Result<Owner, JobError> {
        match &account.settings {
            AccountSettings::WechatpayMerchant(s) => Ok(Owner {
                mchid: s.mchid.clone(),
                provider: false,
                sub_mchid: None,
                sub: None,
                reply_text: s.reply_text.clone(),
                auto_refund: s.auto_refund,
                cap_fen: s.refund_cap_fen,
                act: account.enabled,
                account,
            }),
            AccountSettings::WechatpayProvider(s) => {
                if complainted.is_empty() || complainted == s.mchid {
                    return Ok(Owner {
                        mchid: s.mchid.clone(),
                        provider: true,
                        sub_mchid: None,
                        sub: None,
                        reply_text: s.reply_text.clone(),
                        auto_refund: s.auto_refund,
                        cap_fen: s.refund_cap_fen,
                        act: account.enabled,
                        account,
                    });
                }
                let sub = SubMerchantRepo::new(&*self.state.ports.records)
                    .get(&account.id, complainted)
                    .await
                    .map_err(store_error)?
                    .map(|(s, _)| s);
                let (reply_text, auto_refund, cap_fen, enabled) = match &sub {
                    Some(m) => (
                        m.reply_text
                            .clone()
                            .or_else(|| s.default_reply_text.clone()),
                        m.auto_refund,
                        m.refund_cap_fen.or(s.refund_cap_fen),
                        m.enabled,
                    ),
                    None => (
                        s.default_reply_text.clone(),
                        s.default_auto_refund,
                        s.refund_cap_fen,
                        true,
                    ),
                };
                Ok(Owner {
                    mchid: s.mchid.clone(),
                    provider: true,
                    sub_mchid: Some(complainted.to_string()),
                    sub,
                    reply_text,
                    auto_refund,
                    cap_fen,
                    act: account.enabled && enabled,
                    account,
                })
            }
            _ => Err(JobError::Permanent(format!(
                "account {} is not a WeChat Pay account",
                account.id
            ))),
        }
    }

    fn link(&self, path: &str) -> Option<String> {
        self.state.public_url(path)
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn mask_phone(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

fn normalise(state: &str) -> ComplaintStatus {
    match state {
        "PENDING" => ComplaintStatus::Pending,
        "PROCESSING" => ComplaintStatus::Processing,
        "PROCESSED" => ComplaintStatus::Resolved,
        _ => ComplaintStatus::AwaitingPlatform,
    }
}

/// Our refund number: deterministic from (complaint, order, sequence), 32 characters.
pub fn out_refund_no(complaint_id: &str, order: &str, sequence: u32) -> String {
    let id = derived_id("", &format!("{complaint_id}|{order}|{sequence}"));
    format!("CD{id}{:06}", sequence)
}

/// Push action types caused by the merchant's own actions: recorded, not told to staff again.
fn own_action(action_type: &str) -> bool {
    matches!(
        action_type,
        "MERCHANT_RESPONSE"
            | "MERCHANT_CONFIRM_COMPLETE"
            | "SELLER_REFUND"
            | "MERCHANT_APPROVE_REFUND"
            | "MERCHANT_REJECT_REFUND"
    )
}

/// What a complaint push tells staff about, as the key of its notice: the complaint and what
/// happened to it (a new complaint; otherwise the history entry the action added, or the
/// state when the history shows none), never the notification id, so the same event pushed
/// again under another id (WeChat Pay does) is told once, and a later change has its own.
fn notice_event(
    record_id: &str,
    action_type: &str,
    event_type: &str,
    d: &model::Complaint,
    history: &[model::NegotiationEntry],
) -> String {
    if action_type == "CREATE_COMPLAINT"
        || (action_type.is_empty() && event_type == "COMPLAINT.CREATE")
    {
        return format!("wechatpay:{record_id}:new");
    }
    let wanted: &[&str] = match action_type {
        "CONTINUE_COMPLAINT" => &["USER_CONTINUE_COMPLAINT"],
        "USER_RESPONSE" => &["USER_RESPONSE", "USER_CLICK_RESPONSE"],
        "RESPONSE_BY_PLATFORM" => &["PLATFORM_RESPONSE"],
        _ => &[],
    };
    let newest = |keep: &dyn Fn(&model::NegotiationEntry) -> bool| {
        history
            .iter()
            .enumerate()
            .filter(|(_, h)| keep(h))
            .max_by_key(|(n, h)| (parse_time(&h.operate_time), *n))
            .map(|(n, h)| {
                if h.log_id.is_empty() {
                    format!("{n:04}")
                } else {
                    h.log_id.clone()
                }
            })
    };
    let what = newest(&|h| wanted.contains(&h.operate_type.as_str()))
        .or_else(|| newest(&|h| !h.operate_type.starts_with("MERCHANT_")))
        .unwrap_or_else(|| format!("state-{}", d.complaint_state));
    format!("wechatpay:{record_id}:{action_type}:{what}")
}

fn event_name(action_type: &str, event_type: &str) -> String {
    match action_type {
        "CREATE_COMPLAINT" => "new complaint".into(),
        "CONTINUE_COMPLAINT" => "complaint continued".into(),
        "USER_RESPONSE" => "buyer wrote again".into(),
        "RESPONSE_BY_PLATFORM" => "platform message".into(),
        "REFUND_SUCCESS" => "refund arrived".into(),
        "" => event_type.to_string(),
        other => other.to_string(),
    }
}

#[async_trait]
impl JobHandler for ComplaintJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let h = &self.0;
        let p = jobs::COMPLAINT.payload(job)?;
        let notice: model::ComplaintNotice = serde_json::from_value(p.resource.clone())
            .map_err(|e| JobError::Permanent(format!("complaint resource: {e}")))?;
        // The id goes into a WeChat Pay path: refuse it before anything is called.
        wechatpay::ids::complaint_id(&notice.complaint_id)
            .map_err(|e| JobError::Permanent(format!("complaint resource: {e}")))?;
        let account = h.account(job).await?;
        let client = h.client(&account).await?;
        let mchid = calling_mchid(&account).to_string();
        let api = Api {
            client: &client,
            limiter: &h.state.limiter,
            mchid: &mchid,
        };
        let detail = api.complaint(&notice.complaint_id).await?;
        let history = fetch_history(&api, &notice.complaint_id).await?;
        let owner = h.owner(account, &detail.complainted_mchid).await?;
        let now = h.state.ports.clock.now();
        let record = upsert(h, &owner, &detail, &history, &client, now).await?;

        if !own_action(&notice.action_type) {
            let summary = NotificationSummary {
                platform: "wechatpay".into(),
                event: event_name(&notice.action_type, &p.event_type),
                merchant: owner.name(),
                reference: detail.complaint_id.clone(),
                at: now,
                amount_fen: record.complaint_amount_fen,
                user_text: Some(detail.complaint_detail.chars().take(200).collect()),
                deadline: record.deadline,
                link: h.link(&format!("admin/v1/complaints/{}", record.id)),
            };
            notices::send(
                &h.state.ports,
                Notice {
                    owner_pk: ComplaintRepo::complaint_owner(&record.id),
                    event_key: notice_event(
                        &record.id,
                        &notice.action_type,
                        &p.event_type,
                        &detail,
                        &history,
                    ),
                    subject: NotificationSubject::Complaint {
                        complaint_id: record.id.clone(),
                    },
                    summary,
                    audiences: &owner.audiences(),
                    now,
                    record_only_when_queued: false,
                },
            )
            .await?;
        }

        if !owner.act {
            tracing::info!(complaint_id = %record.id, "account or sub-merchant disabled: recorded, no automatic action");
            return Ok(());
        }
        let mut log = Actions::begin(&h.state, &record.id, &job.id, now).await?;
        let result = act(h, &owner, &api, &detail, &history, record, &mut log).await;
        log.release(&h.state).await;
        result?;
        // Record what the platform now shows (state, our reply in its history).
        if let (Ok(d), Ok(hist)) = (
            api.complaint(&notice.complaint_id).await,
            fetch_history(&api, &notice.complaint_id).await,
        ) {
            upsert(h, &owner, &d, &hist, &client, h.state.ports.clock.now()).await?;
        }
        log.outcome()
    }
}

async fn fetch_history(
    api: &Api<'_>,
    complaint_id: &str,
) -> Result<Vec<model::NegotiationEntry>, JobError> {
    let mut out = Vec::new();
    loop {
        api.take(op::HISTORY).await?;
        let page = api
            .client
            .negotiation_history(complaint_id, 50, out.len() as u32)
            .await
            .map_err(platform_error)?;
        let n = page.data.len();
        out.extend(page.data);
        let total = page.total_count.unwrap_or(0) as usize;
        if n == 0 || out.len() >= total || out.len() >= 1000 {
            return Ok(out);
        }
    }
}

fn has(history: &[model::NegotiationEntry], op: &str) -> bool {
    history.iter().any(|h| h.operate_type == op)
}

/// Create or update our record from the platform's detail and history.
async fn upsert(
    h: &Handlers,
    owner: &Owner,
    d: &model::Complaint,
    history: &[model::NegotiationEntry],
    client: &wechatpay::Client,
    now: DateTime<Utc>,
) -> Result<Complaint, JobError> {
    let repo = ComplaintRepo::new(&*h.state.ports.records);
    let id = complaint_id(Platform::Wechatpay, &owner.account.id, &d.complaint_id);
    let phone = d
        .payer_phone
        .as_deref()
        .and_then(|c| client.decrypt_sensitive(c).ok())
        .map(|p| mask_phone(&p));
    let complained_at = parse_time(&d.complaint_time);
    let mut tags = d.user_tag_list.clone();
    if d.in_platform_service {
        tags.push("in_platform_service".into());
    }
    if d.incoming_user_response {
        tags.push("incoming_user_response".into());
    }
    let fill = |c: &mut Complaint| {
        c.sub_mchid = owner.sub_mchid.clone();
        c.raw_status = d.complaint_state.clone();
        c.status = normalise(&d.complaint_state);
        c.orders = d
            .complaint_order_info
            .iter()
            .map(|o| OrderRef {
                transaction_id: Some(o.transaction_id.clone()).filter(|s| !s.is_empty()),
                out_trade_no: Some(o.out_trade_no.clone()).filter(|s| !s.is_empty()),
                amount_fen: Some(o.amount),
            })
            .collect();
        c.complaint_amount_fen = d
            .apply_refund_amount
            .or_else(|| d.complaint_order_info.first().map(|o| o.amount));
        c.problem_type = Some(d.problem_type.clone()).filter(|s| !s.is_empty());
        c.description = Some(d.complaint_detail.clone()).filter(|s| !s.is_empty());
        c.need_immediate_service = d.need_immediate_service;
        c.complained_at = complained_at;
        c.replied |= has(history, "MERCHANT_RESPONSE");
        c.completed |= has(history, "MERCHANT_CONFIRM_COMPLETE");
        c.deadline = match (c.complained_at, c.replied, c.status) {
            (_, _, ComplaintStatus::Resolved | ComplaintStatus::Closed) => None,
            (Some(t), false, _) => Some(t + Duration::hours(24)),
            (Some(t), true, _) => Some(t + Duration::hours(72)),
            (None, _, _) => None,
        };
        if phone.is_some() {
            c.payer_phone_masked = phone.clone();
        }
        c.media = d
            .complaint_media_list
            .iter()
            .flat_map(|m| m.media_url.iter().cloned())
            .collect();
        c.tags = tags.clone();
        c.updated_at = now;
    };
    let new = Complaint::new(
        id.clone(),
        Platform::Wechatpay,
        None,
        owner.account.id.clone(),
        d.complaint_id.clone(),
        now,
    );
    let record = repo.upsert(new, fill).await.map_err(store_error)?;
    for (n, e) in history.iter().enumerate() {
        let entry = HistoryEntry {
            complaint_id: id.clone(),
            entry_id: if e.log_id.is_empty() {
                format!("{n:04}")
            } else {
                e.log_id.clone()
            },
            operator: Some(e.operator.clone()).filter(|s| !s.is_empty()),
            operation: e.operate_type.clone(),
            content: Some(e.operate_details.clone()).filter(|s| !s.is_empty()),
            media: e.image_list.clone(),
            at: parse_time(&e.operate_time).unwrap_or(record.received_at),
        };
        repo.put_history(&entry).await.map_err(store_error)?;
    }
    Ok(record)
}

/// Whether a failed write left the complaint in the state we wanted anyway.
async fn platform_shows(
    api: &Api<'_>,
    complaint_id: &str,
    done: impl Fn(&model::Complaint, &[model::NegotiationEntry]) -> bool,
) -> Result<bool, JobError> {
    let d = match api.complaint(complaint_id).await {
        Ok(d) => d,
        Err(e @ JobError::Deferred { .. }) => return Err(e),
        Err(_) => return Ok(false),
    };
    match fetch_history(api, complaint_id).await {
        Ok(h) => Ok(done(&d, &h)),
        Err(e @ JobError::Deferred { .. }) => Err(e),
        Err(_) => Ok(false),
    }
}

/// Log the outcome of a platform write; true when it is done. A refusal counts as done when
/// the platform now shows the state we wanted ("already processed"); a retryable failure is
/// retried later.
async fn settle(
    log: &mut Actions<'_>,
    api: &Api<'_>,
    complaint_id: &str,
    action: ActionKind,
    result: Result<(), PlatformError>,
    success: String,
    done: impl Fn(&model::Complaint, &[model::NegotiationEntry]) -> bool,
) -> Result<bool, JobError> {
    let (outcome, detail) = match result {
        Ok(()) => (ActionOutcome::Succeeded, success),
        // Retried as a new run of the job, which reads the platform's history again first:
        // a reply is never sent again blindly.
        Err(e) if e.is_retryable() => return Err(platform_error(e)),
        Err(e) if platform_shows(api, complaint_id, done).await? => (
            ActionOutcome::AlreadyDone,
            format!("the platform already shows it done ({e})"),
        ),
        Err(e) => (ActionOutcome::Failed, e.to_string()),
    };
    log.log(action, outcome, detail, None).await?;
    Ok(outcome != ActionOutcome::Failed)
}

/// The automatic reply, refund and completion.
async fn act(
    h: &Handlers,
    owner: &Owner,
    api: &Api<'_>,
    d: &model::Complaint,
    history: &[model::NegotiationEntry],
    record: Complaint,
    log: &mut Actions<'_>,
) -> Result<(), JobError> {
    let client = api.client;
    let repo = ComplaintRepo::new(&*h.state.ports.records);
    let complainted = if d.complainted_mchid.is_empty() {
        owner.mchid.clone()
    } else {
        d.complainted_mchid.clone()
    };
    let processed = d.complaint_state == "PROCESSED";

    // 1. Reply, once: the platform's history is the truth about whether we already did.
    if let Some(text) = owner.reply_text.as_deref().filter(|t| !t.is_empty())
        && !record.replied
        && !processed
    {
        api.take(if d.need_immediate_service {
            op::RESPONSE_IMMEDIATE
        } else {
            op::RESPONSE
        })
        .await?;
        let sent = if d.need_immediate_service {
            client
                .respond_immediate(
                    &d.complaint_id,
                    &complainted,
                    text,
                    &derived_id("reply_", &record.id),
                )
                .await
                .map(|_| ())
        } else {
            client
                .respond(
                    &d.complaint_id,
                    &ResponseRequest {
                        complainted_mchid: complainted.clone(),
                        response_content: text.to_string(),
                        ..Default::default()
                    },
                )
                .await
        };
        let how = if d.need_immediate_service {
            "response-immediate-service"
        } else {
            "response"
        };
        let chars = text.chars().count();
        let replied = settle(
            log,
            api,
            &d.complaint_id,
            ActionKind::Reply,
            sent,
            format!("replied through {how} ({chars} characters)"),
            |_, h| has(h, "MERCHANT_RESPONSE"),
        )
        .await?;
        if replied {
            repo.modify(&record.id, |c| c.replied = true)
                .await
                .map_err(store_error)?;
        }
    }
    // 2. Refund, once per (complaint, order): the automatic refund's own number.
    if !owner.auto_refund {
        return Ok(());
    }
    let Some(order) = d.complaint_order_info.first() else {
        log.log(
            ActionKind::Refund,
            ActionOutcome::Skipped,
            "the complaint names no order".into(),
            None,
        )
        .await?;
        return Ok(());
    };
    let order_key = if order.transaction_id.is_empty() {
        &order.out_trade_no
    } else {
        &order.transaction_id
    };
    let number = out_refund_no(&record.id, order_key, AUTO_REFUND_SEQUENCE);
    let stored = repo
        .refund(&record.id, &number)
        .await
        .map_err(store_error)?
        .map(|(r, _)| r);
    // Our claim, not yet confirmed by the platform: asked again with the same amount.
    let claimed = stored
        .as_ref()
        .filter(|r| r.refund_id.is_none())
        .map(|r| (r.amount_fen, r.status == "CLOSED"));
    if let Some((_, true)) = claimed {
        log.log(
            ActionKind::Refund,
            ActionOutcome::Skipped,
            format!("the automatic refund {number} was withdrawn or refused; not asked again"),
            Some(number),
        )
        .await?;
        return Ok(());
    }
    let claimed = claimed.map(|(amount, _)| amount);
    let mut refunded = stored.is_some() && claimed.is_none();
    if !refunded {
        let sub = owner.provider.then(|| complainted.clone());
        // A refund asked for before a crash is found by its number, never asked for again.
        api.take(op::REFUND).await?;
        match client.query_refund(&number, sub.as_deref()).await {
            Ok(r) => {
                record_refund(h, owner, &record.id, &number, order, &r, log, true).await?;
                refunded = true;
            }
            Err(PlatformError::Api { status: 404, .. }) => {}
            Err(e) if e.is_retryable() => return Err(platform_error(e)),
            Err(e) => {
                log.log(
                    ActionKind::Refund,
                    ActionOutcome::Failed,
                    format!("cannot query refund {number}: {e}"),
                    Some(number.clone()),
                )
                .await?;
                return Ok(());
            }
        }
    }
    if !refunded {
        if d.complaint_full_refunded {
            log.log(
                ActionKind::Refund,
                ActionOutcome::Skipped,
                "the order is already fully refunded on the platform".into(),
                None,
            )
            .await?;
            return Ok(());
        }
        if processed {
            return Ok(());
        }
        // The amount comes from the platform's order data, never from the push.
        let wanted = match d.apply_refund_amount {
            Some(a) if d.problem_type == "REFUND" && a > 0 => a.min(order.amount),
            _ => order.amount,
        };
        // At most what is left of the order after the refunds made by hand.
        let tid = Some(order.transaction_id.clone()).filter(|s| !s.is_empty());
        let of_order = |r: &RefundRecord| r.transaction_id == tid;
        let amount = match claimed {
            Some(amount) => amount,
            None => {
                let refunds = repo.refunds(&record.id).await.map_err(store_error)?;
                match auto_refund_amount(order.amount, &refunds, of_order, wanted) {
                    Ok(amount) => amount,
                    Err(why) => {
                        log.log(ActionKind::Refund, ActionOutcome::Skipped, why, None)
                            .await?;
                        return Ok(());
                    }
                }
            }
        };
        if let Some(cap) = owner.cap_fen
            && amount > cap
        {
            log.log(
                ActionKind::Refund,
                ActionOutcome::Skipped,
                format!("refund of {amount} fen is above the cap of {cap} fen; left to staff"),
                Some(number),
            )
            .await?;
            return Ok(());
        }
        if d.problem_type == "REFUND" && !has(history, "MERCHANT_APPROVE_REFUND") {
            api.take(op::REFUND_PROGRESS).await?;
            let approved = client
                .update_refund_progress(
                    &d.complaint_id,
                    &RefundProgressRequest {
                        action: "APPROVE".into(),
                        launch_refund_day: Some(0),
                        ..Default::default()
                    },
                )
                .await;
            let approved = settle(
                log,
                api,
                &d.complaint_id,
                ActionKind::RefundProgress,
                approved,
                "approved the buyer's refund request".into(),
                |_, h| has(h, "MERCHANT_APPROVE_REFUND"),
            )
            .await?;
            if !approved {
                return Ok(());
            }
        }
        if claimed.is_none() {
            let claim = RefundRecord {
                complaint_id: record.id.clone(),
                out_refund_no: number.clone(),
                sequence: AUTO_REFUND_SEQUENCE,
                transaction_id: tid.clone(),
                amount_fen: amount,
                refund_id: None,
                status: "PROCESSING".into(),
                created_at: log.now,
                updated_at: log.now,
            };
            let why = match repo
                .claim_refund(&owner.account.id, &claim, order.amount, of_order)
                .await
                .map_err(store_error)?
            {
                Claim::Made => None,
                Claim::Withdrawn => Some(format!(
                    "a refund made meanwhile took what was left; automatic refund of {amount} fen withdrawn"
                )),
                Claim::NumberTaken => {
                    Some(format!("refund {number} is being asked for by another run"))
                }
            };
            if let Some(why) = why {
                log.log(
                    ActionKind::Refund,
                    ActionOutcome::Skipped,
                    why,
                    Some(number),
                )
                .await?;
                return Ok(());
            }
        }
        let req = RefundRequest {
            sub_mchid: owner.provider.then(|| complainted.clone()),
            transaction_id: Some(order.transaction_id.clone()).filter(|s| !s.is_empty()),
            out_trade_no: Some(order.out_trade_no.clone())
                .filter(|s| !s.is_empty() && order.transaction_id.is_empty()),
            out_refund_no: number.clone(),
            reason: Some("投诉退款".into()),
            notify_url: h.link(&format!("callbacks/wechatpay/{}/refunds", owner.mchid)),
            amount: RefundAmount {
                refund: amount,
                total: order.amount,
                currency: "CNY".into(),
            },
        };
        api.take(op::REFUND).await?;
        match client.create_refund(&req).await {
            Ok(r) => {
                h.state.fault("after_refund");
                record_refund(h, owner, &record.id, &number, order, &r, log, false).await?;
            }
            Err(e) if e.is_retryable() => return Err(platform_error(e)),
            Err(e) => {
                if matches!(e, PlatformError::Api { .. }) {
                    repo.close_claim(&owner.account.id, &record.id, &number, log.now)
                        .await
                        .map_err(store_error)?;
                }
                log.log(
                    ActionKind::Refund,
                    ActionOutcome::Failed,
                    e.to_string(),
                    Some(number),
                )
                .await?;
                return Ok(());
            }
        }
    }

    // 3. Complete, after the refund.
    let current = repo
        .get(&record.id)
        .await
        .map_err(store_error)?
        .map(|(c, _)| c);
    if current.is_some_and(|c| c.completed) {
        return Ok(());
    }
    api.take(op::COMPLETE).await?;
    let completed = client.complete(&d.complaint_id, &complainted).await;
    let done = settle(
        log,
        api,
        &d.complaint_id,
        ActionKind::Complete,
        completed,
        "marked complete".into(),
        |c, _| c.complaint_state == "PROCESSED",
    )
    .await?;
    if done {
        repo.modify(&record.id, crate::complaints::mark_wechatpay_completed)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn record_refund(
    h: &Handlers,
    owner: &Owner,
    complaint_id: &str,
    number: &str,
    order: &model::ComplaintOrder,
    r: &model::Refund,
    log: &mut Actions<'_>,
    found: bool,
) -> Result<(), JobError> {
    let repo = ComplaintRepo::new(&*h.state.ports.records);
    let now = log.now;
    let amount = r.amount_refund().unwrap_or(order.amount);
    repo.record_refund(
        &owner.account.id,
        &RefundRecord {
            complaint_id: complaint_id.to_string(),
            out_refund_no: number.to_string(),
            sequence: AUTO_REFUND_SEQUENCE,
            transaction_id: Some(order.transaction_id.clone()).filter(|s| !s.is_empty()),
            amount_fen: amount,
            refund_id: Some(r.refund_id.clone()).filter(|s| !s.is_empty()),
            status: r.status.clone(),
            created_at: now,
            updated_at: now,
        },
    )
    .await
    .map_err(store_error)?;
    let (outcome, detail) = if found {
        (
            ActionOutcome::AlreadyDone,
            format!(
                "refund {number} of {amount} fen was already asked for ({}); not asked again",
                r.status
            ),
        )
    } else {
        (
            ActionOutcome::Succeeded,
            format!("refund of {amount} fen asked for ({})", r.status),
        )
    };
    log.log(
        ActionKind::Refund,
        outcome,
        detail,
        Some(number.to_string()),
    )
    .await
}

#[async_trait]
impl JobHandler for ViolationJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let h = &self.0;
        let p = jobs::VIOLATION.payload(job)?;
        let n: model::ViolationNotice = serde_json::from_value(p.resource.clone())
            .map_err(|e| JobError::Permanent(format!("violation resource: {e}")))?;
        let account = h.account(job).await?;
        let owner = h.owner(account, &n.sub_mchid).await?;
        let now = h.state.ports.clock.now();
        let occurred = p
            .create_time
            .as_deref()
            .and_then(parse_time)
            .unwrap_or(job.created_at);
        // The violation event: its type, record and what the platform says (the same notice
        // pushed again under another notification id is the same event, told once).
        let event = format!(
            "{}:{}:{}",
            p.event_type,
            n.record_id,
            derived_id("", &p.resource.to_string())
        );
        let v = Violation {
            id: violation_id(&owner.account.id, &event),
            account_id: owner.account.id.clone(),
            sub_mchid: Some(n.sub_mchid.clone()).filter(|s| !s.is_empty()),
            event_type: p.event_type.clone(),
            record_id: n.record_id.clone(),
            summary: [
                n.risk_description.as_str(),
                n.punish_plan.as_str(),
                n.punish_description.as_str(),
            ]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("; "),
            details: p.resource.clone(),
            occurred_at: parse_time(&n.punish_time),
            received_at: job.created_at,
        };
        let repo = ComplaintRepo::new(&*h.state.ports.records);
        repo.create_violation(&v).await.map_err(store_error)?;
        let intercept = p.event_type == "VIOLATION.INTERCEPT";
        // Interception notices: at most once per sub-merchant per Asia/Shanghai day.
        let event_key = if intercept {
            format!(
                "wechatpay-intercept:{}:{}:{}",
                owner.account.id,
                n.sub_mchid,
                domain::clock::china_day(occurred)
            )
        } else {
            format!("wechatpay-violation:{}:{event}", owner.account.id)
        };
        let summary = NotificationSummary {
            platform: "wechatpay".into(),
            event: p.event_type.clone(),
            merchant: if n.company_name.is_empty() {
                owner.name()
            } else {
                n.company_name.clone()
            },
            reference: n.record_id.clone(),
            at: now,
            amount_fen: None,
            user_text: Some(v.summary.clone()).filter(|s| !s.is_empty()),
            deadline: None,
            link: h.link(&format!(
                "admin/v1/violations?account={}&sub_mchid={}",
                owner.account.id, n.sub_mchid
            )),
        };
        notices::send(
            &h.state.ports,
            Notice {
                owner_pk: ComplaintRepo::violation_owner(&v.id),
                event_key,
                subject: NotificationSubject::Violation {
                    violation_id: v.id.clone(),
                },
                summary,
                audiences: &owner.audiences(),
                now,
                record_only_when_queued: intercept,
            },
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl JobHandler for RefundJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let h = &self.0;
        let p = jobs::REFUND.payload(job)?;
        let r = &p.resource;
        let number = r["out_refund_no"].as_str().unwrap_or_default();
        let status = r["refund_status"].as_str().unwrap_or_default();
        let account = h.account(job).await?;
        let repo = ComplaintRepo::new(&*h.state.ports.records);
        let Some(cid) = repo
            .complaint_of_refund(&account.id, number)
            .await
            .map_err(store_error)?
        else {
            tracing::info!(out_refund_no = %number, "refund result for a refund we did not ask for; ignored");
            return Ok(());
        };
        if let Some((mut rec, version)) = repo.refund(&cid, number).await.map_err(store_error)? {
            let _ = version;
            rec.status = status.to_string();
            rec.refund_id = r["refund_id"].as_str().map(String::from).or(rec.refund_id);
            rec.updated_at = job.created_at;
            repo.put_refund(&account.id, &rec)
                .await
                .map_err(store_error)?;
        }
        repo.log_action(&ActionLogEntry {
            complaint_id: cid.clone(),
            action_id: derived_id("act_", &format!("refund-result|{}", p.notification_id)),
            action: ActionKind::Refund,
            trigger: ActionTrigger::Policy,
            outcome: if status == "SUCCESS" {
                ActionOutcome::Succeeded
            } else {
                ActionOutcome::Failed
            },
            detail: format!("the platform reports refund {number}: {status}"),
            request_no: Some(number.to_string()),
            at: job.created_at,
        })
        .await
        .map_err(store_error)?;
        tracing::info!(complaint_id = %cid, out_refund_no = %number, %status, "refund result recorded");
        Ok(())
    }
}
