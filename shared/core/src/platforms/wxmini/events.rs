//! Mini-program jobs: trade complaints (`wxmini.complaint`) and third-party platform
//! authorisation events (`wxopen.authorization`).
//!
//! A complaint push: fetch the detail (an enabled account; a disabled one is recorded from the
//! push alone: no platform call at all), upsert the record with its history and deadline
//! (`expireTime`), notify staff, then the policy: with the automatic response on and no
//! response yet, respond with the configured decision, text and images (uploaded per action:
//! media ids expire); with auto-refund on, refund the order through the linked WeChat Pay
//! merchant (or provider + sub_mchid) with a deterministic refund number, queried before it is
//! asked for, and respond (agree) if nobody has. `309` (already moved on) counts as done.

use crate::automatic::Actions;
use crate::complaints::{
    AUTO_REFUND_SEQUENCE, AutoRefund, ComplaintRepo, RefundRecord, complaint_id,
};
use crate::notices::{self, Notice, store_error};
use crate::platforms::wechat::mini_client;
use crate::ratelimit::ops::wxmini as op;
use crate::repo::AccountRepo;
use crate::state::Services;
use crate::worker::{JobError, JobHandler, JobRegistry};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::account::{
    Account, AccountSettings, PaymentLink, SettlementDecision, WxminiAppSettings,
};
use domain::complaint::{
    ActionKind, ActionOutcome, Complaint, ComplaintStatus, HistoryEntry, OrderRef, Platform,
};
use domain::job::{JobEnvelope, wxmini as jobs, wxopen};
use domain::notification::{Audience, NotificationSubject, NotificationSummary};
use serde_json::Value;
use std::sync::Arc;
use wechat::mini::{Client, Evidence};
use wechat::xml;
use wechatpay::PlatformError;
use wechatpay::model::{RefundAmount, RefundRequest};

pub fn register(registry: &mut JobRegistry, state: &Services) {
    registry.register(
        jobs::COMPLAINT.name(),
        Arc::new(ComplaintJob {
            state: state.clone(),
        }),
    );
    registry.register(
        wxopen::AUTHORIZATION.name(),
        Arc::new(AuthorizationJob {
            state: state.clone(),
        }),
    );
}

struct ComplaintJob {
    state: Services,
}

struct AuthorizationJob {
    state: Services,
}

/// The complaint statuses that wait for the merchant's answer (48 hours each).
pub fn waits_for_merchant(status: i64) -> bool {
    matches!(status, 201 | 206)
}

/// Our normalised status of a mini-program status code (codes only partly documented: 201 and
/// 206 wait for the merchant, 312 the platform refunds; the rest wait for the user or the
/// platform until the complaint closes).
pub fn normalise(status: i64) -> ComplaintStatus {
    match status {
        201 | 206 => ComplaintStatus::Pending,
        202 | 207 => ComplaintStatus::Processing,
        s if s >= 400 => ComplaintStatus::Closed,
        _ => ComplaintStatus::AwaitingPlatform,
    }
}

fn unix(v: &Value) -> Option<DateTime<Utc>> {
    xml::int(v)
        .filter(|t| *t > 0)
        .and_then(|t| DateTime::from_timestamp(t, 0))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Value::Array(a) => a.iter().filter_map(xml::text).collect(),
        _ => vec![],
    }
}

/// What the policy reads from a complaint: the detail API's `complaintOrder` (+ `item[]`) or,
/// for a disabled account, the push's `BussiCallBackInfo`.
pub struct Facts {
    pub id: String,
    pub status: i64,
    pub order_id: Option<String>,
    pub out_trade_no: Option<String>,
    pub total_fen: Option<u64>,
    pub content: Option<String>,
    pub media: Vec<String>,
    pub phone: Option<String>,
    pub problem_type: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub history: Vec<Item>,
}

/// One entry of the complaint's history.
pub struct Item {
    /// `itemType` (0 when only the push is known).
    pub item_type: i64,
    pub content: Option<String>,
    pub media: Vec<String>,
    pub at: Option<DateTime<Utc>>,
}

fn nonempty(v: &Value) -> Option<String> {
    xml::text(v).filter(|s| !s.is_empty())
}

impl Facts {
    pub fn from_detail(d: &Value) -> Facts {
        let o = &d["complaintOrder"];
        Facts {
            id: nonempty(&o["complaintOrderId"]).unwrap_or_default(),
            status: xml::int(&o["status"]).unwrap_or_default(),
            order_id: nonempty(&o["orderId"]),
            out_trade_no: nonempty(&o["outTradeNo"]),
            total_fen: xml::int(&o["totalCost"]).map(|v| v.max(0) as u64),
            content: nonempty(&o["customerMaterial"]["content"]),
            media: strings(&o["customerMaterial"]["mediaIdList"]),
            phone: nonempty(&o["phoneNumber"]),
            problem_type: nonempty(&o["type"]),
            created: unix(&o["createTime"]),
            expires: unix(&o["expireTime"]),
            history: xml::list(&d["item"])
                .iter()
                .map(|i| Item {
                    item_type: xml::int(&i["itemType"]).unwrap_or_default(),
                    content: nonempty(&i["content"]),
                    media: strings(&i["mediaIdList"]),
                    at: unix(&i["time"]),
                })
                .collect(),
        }
    }

    pub fn from_push(i: &Value) -> Facts {
        Facts {
            id: nonempty(&i["complaint_order_id"]).unwrap_or_default(),
            status: xml::int(&i["status"]).unwrap_or_default(),
            order_id: nonempty(&i["order_id"]),
            out_trade_no: nonempty(&i["out_trade_no"]),
            total_fen: xml::int(&i["total_cost"]).map(|v| v.max(0) as u64),
            content: nonempty(&i["customer_material_content"]),
            media: strings(&i["customer_material_media_id_list"]),
            phone: nonempty(&i["phone_number"]),
            problem_type: nonempty(&i["type"]),
            created: unix(&i["create_time"]),
            expires: unix(&i["expire_time"]),
            history: xml::list(&i["history"])
                .iter()
                .map(|h| Item {
                    item_type: 0,
                    content: nonempty(&h["content"]),
                    media: strings(&h["media_id_list"]),
                    at: unix(&h["time"]),
                })
                .collect(),
        }
    }
}

/// The WeChat Pay account that takes the mini program's payments, for refunds.
pub struct Payment {
    pub account: Account,
    pub client: Arc<wechatpay::Client>,
    pub sub_mchid: Option<String>,
}

pub async fn payment(state: &Services, link: &PaymentLink) -> Result<Payment, String> {
    let (account, _) = AccountRepo::new(&*state.ports.records)
        .get(&link.account_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("payment account {} does not exist", link.account_id))?;
    let client = state
        .wechatpay
        .get(&account, &*state.ports.secrets)
        .await
        .map_err(|e| format!("payment account {}: {e}", account.id))?;
    Ok(Payment {
        account,
        client,
        sub_mchid: link.sub_mchid.clone(),
    })
}

/// The amount of a mini-program complaint's automatic refund, claimed (see
/// [`ComplaintRepo::claim_auto_refund`]).
async fn auto_refund_claim(
    state: &Services,
    pay: &Payment,
    record: &Complaint,
    total: u64,
    cap: Option<u64>,
) -> Result<Result<u64, String>, JobError> {
    let number = refund_number(record, AUTO_REFUND_SEQUENCE);
    ComplaintRepo::new(&*state.ports.records)
        .claim_auto_refund(
            &record.id,
            AutoRefund {
                account_id: &pay.account.id,
                number: &number,
                transaction_id: record.orders.first().and_then(|o| o.transaction_id.clone()),
                total,
                cap,
                now: state.ports.clock.now(),
            },
        )
        .await
        .map_err(store_error)
}

/// The request number of a mini-program complaint's refund `sequence` (of its first order).
pub fn refund_number(complaint: &Complaint, sequence: u32) -> String {
    let order = complaint.orders.first().cloned().unwrap_or_default();
    let key = order
        .out_trade_no
        .or(order.transaction_id)
        .unwrap_or_default();
    crate::platforms::wechatpay::events::out_refund_no(&complaint.id, &key, sequence)
}

/// Refund `amount` of the complaint's order through WeChat Pay, once per (complaint, order,
/// sequence): the number is queried first, so a retry after a crash finds it. The refund is
/// recorded; `true` when it had already been made.
pub async fn refund_order(
    state: &Services,
    pay: &Payment,
    complaint: &Complaint,
    sequence: u32,
    amount: u64,
    reason: &str,
) -> Result<(RefundRecord, bool), PlatformError> {
    let order = complaint.orders.first().cloned().unwrap_or_default();
    let number = refund_number(complaint, sequence);
    let sub = pay.sub_mchid.as_deref();
    let (r, found) = match pay.client.query_refund(&number, sub).await {
        Ok(r) => (r, true),
        Err(PlatformError::Api { status: 404, .. }) => {
            let req = RefundRequest {
                sub_mchid: pay.sub_mchid.clone(),
                // The merchant's order number when the complaint names it, else the
                // platform's order id.
                transaction_id: order
                    .out_trade_no
                    .is_none()
                    .then(|| order.transaction_id.clone())
                    .flatten(),
                out_trade_no: order.out_trade_no.clone(),
                out_refund_no: number.clone(),
                reason: Some(reason.to_string()),
                notify_url: state.public_url(&format!(
                    "callbacks/wechatpay/{}/refunds",
                    pay.account.platform_id()
                )),
                amount: RefundAmount {
                    refund: amount,
                    total: order.amount_fen.unwrap_or(amount),
                    currency: "CNY".into(),
                },
            };
            let r = pay.client.create_refund(&req).await?;
            state.fault("after_refund");
            (r, false)
        }
        Err(e) => return Err(e),
    };
    let now = state.ports.clock.now();
    let record = RefundRecord {
        complaint_id: complaint.id.clone(),
        out_refund_no: number,
        sequence,
        transaction_id: order.transaction_id.clone(),
        amount_fen: r.amount_refund().unwrap_or(amount),
        refund_id: Some(r.refund_id.clone()).filter(|s| !s.is_empty()),
        status: r.status.clone(),
        created_at: now,
        updated_at: now,
    };
    let repo = ComplaintRepo::new(&*state.ports.records);
    repo.record_refund(&pay.account.id, &record)
        .await
        .map_err(|e| PlatformError::Invalid(format!("refund made but not recorded: {e}")))?;
    Ok((record, found))
}

/// Upload our stored media (`POST /media` ids) to the mini program of `account_id`; their
/// media ids. Only media `scope` may use for that account counts (another account's is "no
/// media"), and every id is checked before the first upload.
pub async fn upload_media(
    state: &Services,
    client: &Client,
    scope: &domain::token::TokenScope,
    account_id: &str,
    ids: &[String],
) -> Result<Vec<String>, String> {
    let repo = ComplaintRepo::new(&*state.ports.records);
    let mut found = Vec::new();
    for id in ids {
        found.push(
            repo.media_for(id, scope, account_id, None)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no media {id}"))?,
        );
    }
    let mut out = Vec::new();
    for m in found {
        let blob = state
            .ports
            .blobs
            .get(&format!("media/{}", m.id))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("media {} has no content", m.id))?;
        out.push(
            client
                .upload_image(&m.filename, &m.content_type, blob.bytes)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}

#[async_trait]
impl JobHandler for ComplaintJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let state = &self.state;
        let account = crate::automatic::job_account(state, job).await?;
        let AccountSettings::WxminiApp(settings) = account.settings.clone() else {
            return Err(JobError::Permanent("not a mini program".into()));
        };
        let push = jobs::COMPLAINT.payload(job)?;
        let coid = push.complaint_order_id.as_str();
        if !wechat::mini::is_complaint_order_id(coid) {
            return Err(JobError::Permanent(
                "complaint_order_id in the push is not a mini-program complaint id (1 to 20 digits)"
                    .into(),
            ));
        }
        let mut client = None;
        let f = if account.enabled {
            let c = mini_client(state, &account)
                .await
                .map_err(JobError::Permanent)?;
            state.limiter.acquire(op::DETAIL, &account.id).await?;
            let d = c
                .complaint_detail(coid)
                .await
                .map_err(crate::platforms::wechat::job_error)?;
            client = Some(c);
            Facts::from_detail(&d)
        } else {
            Facts::from_push(&push.info)
        };
        let now = state.ports.clock.now();
        let repo = ComplaintRepo::new(&*state.ports.records);
        let id = complaint_id(Platform::Wxmini, &account.id, coid);
        let fill = |c: &mut Complaint| {
            c.raw_status = f.status.to_string();
            c.status = normalise(f.status);
            c.orders = vec![OrderRef {
                transaction_id: f.order_id.clone(),
                out_trade_no: f.out_trade_no.clone(),
                amount_fen: f.total_fen,
            }];
            c.complaint_amount_fen = f.total_fen;
            c.description = f.content.clone();
            c.problem_type = f.problem_type.clone();
            c.complained_at = f.created.or(c.complained_at);
            c.deadline = waits_for_merchant(f.status).then_some(f.expires).flatten();
            c.payer_phone_masked = f
                .phone
                .as_deref()
                .map(crate::platforms::wechatpay::events::mask_phone)
                .or(c.payer_phone_masked.take());
            if !f.media.is_empty() {
                c.media = f.media.clone();
            }
            c.updated_at = now;
        };
        let new = Complaint::new(
            id.clone(),
            Platform::Wxmini,
            None,
            account.id.clone(),
            coid.to_string(),
            now,
        );
        let record = repo.upsert(new, fill).await.map_err(store_error)?;
        for (n, item) in f.history.iter().enumerate() {
            repo.put_history(&HistoryEntry {
                complaint_id: id.clone(),
                entry_id: format!("{n:04}"),
                operator: None,
                operation: item.item_type.to_string(),
                content: item.content.clone(),
                media: item.media.clone(),
                at: item.at.unwrap_or(now),
            })
            .await
            .map_err(store_error)?;
        }
        let audiences: Vec<Audience> = account
            .enabled
            .then(|| Audience {
                account_id: account.id.clone(),
                sub_mchid: None,
            })
            .into_iter()
            .collect();
        notices::send(
            &state.ports,
            Notice {
                owner_pk: ComplaintRepo::complaint_owner(&id),
                // What happened to the complaint (its status and how far its history goes),
                // never the push's time: the same change pushed again is told once.
                event_key: format!("wxmini:{id}:{}:{}", f.status, f.history.len()),
                subject: NotificationSubject::Complaint {
                    complaint_id: id.clone(),
                },
                summary: NotificationSummary {
                    platform: "wxmini".into(),
                    event: if waits_for_merchant(f.status) {
                        "new complaint".into()
                    } else {
                        "complaint updated".into()
                    },
                    merchant: account.name.clone(),
                    reference: coid.to_string(),
                    at: now,
                    amount_fen: f.total_fen,
                    user_text: f.content.clone().map(|d| d.chars().take(200).collect()),
                    deadline: record.deadline,
                    link: state.public_url(&format!("admin/v1/complaints/{id}")),
                },
                audiences: &audiences,
                now,
                record_only_when_queued: false,
            },
        )
        .await?;
        let Some(client) = client else {
            tracing::info!(complaint_id = %id, "account disabled: recorded only");
            return Ok(());
        };
        if f.status != 201 {
            return Ok(());
        }
        let mut log = Actions::begin(state, &id, &job.id, now).await?;
        let result = act(state, &client, &settings, &id, &mut log).await;
        log.release(state).await;
        result?;
        log.outcome()
    }
}

/// Respond once: `309` means the complaint already moved on (counted as done).
async fn respond(
    state: &Services,
    client: &Client,
    record: &Complaint,
    decision: SettlementDecision,
    text: &str,
    images: &[String],
    log: &mut Actions<'_>,
) -> Result<(), JobError> {
    let media = match upload_media(
        state,
        client,
        &domain::token::TokenScope::All,
        &record.account_id,
        images,
    )
    .await
    {
        Ok(m) => m,
        Err(e) => {
            return log
                .log(
                    ActionKind::Reply,
                    ActionOutcome::Failed,
                    format!("images: {e}"),
                    None,
                )
                .await;
        }
    };
    let evidence = Evidence {
        content: text.to_string(),
        media_ids: media,
    };
    state
        .limiter
        .acquire(op::RESPOND, &record.account_id)
        .await?;
    let (outcome, detail) = match client
        .respond(&record.platform_complaint_id, decision.code(), &evidence)
        .await
    {
        Ok(()) => (
            ActionOutcome::Succeeded,
            format!(
                "responded: {} ({} characters, {} images)",
                if decision == SettlementDecision::Agree {
                    "agree to settle"
                } else {
                    "refuse to settle"
                },
                text.chars().count(),
                images.len()
            ),
        ),
        Err(e) if e.is_already_moved_on() => (
            ActionOutcome::AlreadyDone,
            "the complaint had already moved on (309)".to_string(),
        ),
        Err(e) if e.is_retryable() => return Err(crate::platforms::wechat::job_error(e)),
        Err(e) => {
            return log
                .log(
                    ActionKind::Reply,
                    ActionOutcome::Failed,
                    e.to_string(),
                    None,
                )
                .await;
        }
    };
    log.log(ActionKind::Reply, outcome, detail, None).await?;
    ComplaintRepo::new(&*state.ports.records)
        .modify(&record.id, |c| {
            c.replied = true;
            if c.status == ComplaintStatus::Pending {
                c.status = ComplaintStatus::Processing;
            }
        })
        .await
        .map_err(store_error)?;
    Ok(())
}

async fn act(
    state: &Services,
    client: &Client,
    settings: &WxminiAppSettings,
    id: &str,
    log: &mut Actions<'_>,
) -> Result<(), JobError> {
    let repo = ComplaintRepo::new(&*state.ports.records);
    let current = || async {
        repo.get(id)
            .await
            .map_err(store_error)?
            .map(|(c, _)| c)
            .ok_or_else(|| JobError::Permanent("complaint record vanished".into()))
    };
    let record = current().await?;
    let auto = settings.auto_response.clone().filter(|r| r.enabled);
    // 1. The automatic response.
    if let Some(r) = &auto
        && !record.replied
    {
        respond(state, client, &record, r.decision, &r.text, &r.images, log).await?;
    }
    if !settings.auto_refund {
        return Ok(());
    }
    // 2. The refund through the linked WeChat Pay account.
    let Some(link) = &settings.payment else {
        return log
            .log(
                ActionKind::Refund,
                ActionOutcome::Skipped,
                "auto-refund is on but no WeChat Pay account is linked (settings.payment)".into(),
                None,
            )
            .await;
    };
    let record = current().await?;
    let Some(total) = record.orders.first().and_then(|o| o.amount_fen) else {
        return log
            .log(
                ActionKind::Refund,
                ActionOutcome::Skipped,
                "the complaint names no order amount".into(),
                None,
            )
            .await;
    };
    let pay = match payment(state, link).await {
        Ok(p) => p,
        Err(e) => {
            return log
                .log(ActionKind::Refund, ActionOutcome::Failed, e, None)
                .await;
        }
    };
    let amount =
        match auto_refund_claim(state, &pay, &record, total, settings.refund_cap_fen).await? {
            Ok(amount) => amount,
            Err(why) => {
                return log
                    .log(ActionKind::Refund, ActionOutcome::Skipped, why, None)
                    .await;
            }
        };
    match refund_order(
        state,
        &pay,
        &record,
        AUTO_REFUND_SEQUENCE,
        amount,
        "投诉退款",
    )
    .await
    {
        Ok((r, found)) => {
            log.log(
                ActionKind::Refund,
                if found {
                    ActionOutcome::AlreadyDone
                } else {
                    ActionOutcome::Succeeded
                },
                if found {
                    format!(
                        "refund {} was already made; not asked again",
                        r.out_refund_no
                    )
                } else {
                    format!("refund of {} fen ({})", r.amount_fen, r.status)
                },
                Some(r.out_refund_no),
            )
            .await?;
        }
        Err(e) if e.is_throttled() => return Err(JobError::throttled(e)),
        Err(e) if e.is_retryable() => return Err(JobError::retryable(e)),
        Err(e) => {
            if matches!(e, PlatformError::Api { .. }) {
                ComplaintRepo::new(&*state.ports.records)
                    .close_claim(
                        &pay.account.id,
                        &record.id,
                        &refund_number(&record, AUTO_REFUND_SEQUENCE),
                        state.ports.clock.now(),
                    )
                    .await
                    .map_err(store_error)?;
            }
            return log
                .log(
                    ActionKind::Refund,
                    ActionOutcome::Failed,
                    e.to_string(),
                    None,
                )
                .await;
        }
    }
    // 3. Tell the buyer (agree to settle) if nobody has responded yet.
    let record = current().await?;
    if !record.replied {
        let text = auto
            .map(|r| r.text)
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| {
                format!(
                    "已为您全额退款 {}.{:02} 元，请留意微信支付退款通知。",
                    amount / 100,
                    amount % 100
                )
            });
        respond(
            state,
            client,
            &record,
            SettlementDecision::Agree,
            &text,
            &[],
            log,
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl JobHandler for AuthorizationJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let state = &self.state;
        let p = wxopen::AUTHORIZATION.payload(job)?;
        let appid = p.authorizer_appid.as_str();
        let component_id = job
            .account_id
            .as_deref()
            .ok_or_else(|| JobError::Permanent("job names no account".into()))?;
        match p.info_type.as_str() {
            "unauthorized" => super::onboarding::deauthorize(state, component_id, appid)
                .await
                .map_err(|e| e.into_job_error()),
            _ => {
                let code = p
                    .authorization_code
                    .as_deref()
                    .ok_or_else(|| JobError::Permanent("no AuthorizationCode".into()))?;
                let c = crate::platforms::wechat::component_account(state, component_id)
                    .await
                    .map_err(JobError::Permanent)?;
                super::onboarding::onboard(state, &c, code, "event")
                    .await
                    .map(|_| ())
                    .map_err(|e| e.into_job_error())
            }
        }
    }
}
