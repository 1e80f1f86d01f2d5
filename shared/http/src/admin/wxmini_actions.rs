//! Admin actions on mini-program complaints: reply (respond: agree or refuse to settle, text,
//! images), supplement, refund-evidence (with a "goods received" choice), appeal, refund
//! (through the linked WeChat Pay account), the buyer's images; the trade experience score and
//! violation records of a mini program. Images come from `POST /media` and are uploaded to
//! WeChat when the action is sent (media ids expire). `309` answers 409: the complaint has
//! moved to a state where this action is not possible.

use super::budget;
use super::refund_claim::{self, RefundedOrder};
use super::staff_action::{ActionResult, log_outcome};
use crate::ApiError;
use crate::caller::Caller;
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use desk_core::complaints::{ComplaintRepo, RefundRecord, violation_id};
use desk_core::platforms::wechat::mini_client;
use desk_core::platforms::wxmini::events::{payment, refund_number, refund_order, upload_media};
use desk_core::ratelimit::ops::wxmini as op;
use desk_core::repo::AccountRepo;
use domain::account::{Account, AccountSettings, SettlementDecision};
use domain::complaint::{ActionKind, ActionOutcome, Complaint, ComplaintStatus, Violation};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use wechat::WechatError;
use wechat::mini::{Client, Evidence};

fn platform(e: WechatError) -> ApiError {
    if e.is_throttled() {
        super::budget::throttled(e)
    } else if e.is_already_moved_on() {
        ApiError::Conflict(format!(
            "the complaint is not in a state that allows this action ({e})"
        ))
    } else if e.is_retryable() {
        ApiError::Unavailable(Box::new(e))
    } else {
        ApiError::Platform(e.to_string())
    }
}

async fn account(state: &AppState, c: &Complaint) -> Result<Account, ApiError> {
    AccountRepo::new(&*state.ports.records)
        .get(&c.account_id)
        .await?
        .map(|(a, _)| a)
        .ok_or_else(|| ApiError::not_found(format!("complaint {} not found", c.id)))
}

async fn client(state: &AppState, a: &Account) -> Result<Client, ApiError> {
    mini_client(state, a)
        .await
        .map_err(|e| ApiError::Conflict(format!("cannot call WeChat: {e}")))
}

/// `reply`, `supplement`, `refund-evidence` or `appeal` on a mini-program complaint. Body:
/// `text` (at most 500 characters), `images` (media ids, at most 9); `reply` needs `decision`
/// (`agree` or `refuse`); `refund-evidence` takes `goods_received` (true/false), stated at the
/// head of the text (the API has no field for it).
pub async fn act(
    state: &AppState,
    caller: &Caller,
    c: &Complaint,
    action: &str,
    body: &Value,
) -> Result<Json<ActionResult>, ApiError> {
    let text = body["text"].as_str().unwrap_or_default().trim().to_string();
    let images: Vec<String> = body["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    super::validate::text_controls("text", &text)?;
    if text.chars().count() > 500 {
        return Err(ApiError::field("text", "must be at most 500 characters"));
    }
    if images.len() > 9 {
        return Err(ApiError::field("images", "at most 9 images"));
    }
    if text.is_empty() && images.is_empty() {
        return Err(ApiError::field(
            "text",
            "give a text or images (内容或者图片不能为空)",
        ));
    }
    let decision = match (action, body["decision"].as_str()) {
        ("reply", Some("agree")) => Some(SettlementDecision::Agree),
        ("reply", Some("refuse")) => Some(SettlementDecision::Refuse),
        ("reply", _) => {
            return Err(ApiError::field(
                "decision",
                "a mini-program response needs `agree` (同意和解) or `refuse` (拒绝和解)",
            ));
        }
        _ => None,
    };
    let content = match (action, body["goods_received"].as_bool()) {
        ("refund-evidence", Some(true)) => format!("【已收到退货】{text}"),
        ("refund-evidence", Some(false)) => format!("【未收到退货】{text}"),
        ("refund-evidence", None) => {
            return Err(ApiError::field(
                "goods_received",
                "say whether the returned goods were received (true or false)",
            ));
        }
        _ => text.clone(),
    };
    let a = account(state, c).await?;
    let client = client(state, &a).await?;
    // Unknown images are 400 before any budget is taken; then the action's call and one
    // upload per image, all before the first is made.
    let repo = ComplaintRepo::new(&*state.ports.records);
    for m in &images {
        if repo
            .media_for(m, &caller.scope, &a.id, None)
            .await?
            .is_none()
        {
            // Named `images`, as this route always has.
            return Err(ApiError::field("images", format!("no media {m}")));
        }
    }
    let call = if action == "reply" {
        op::RESPOND
    } else {
        op::EVIDENCE
    };
    budget::take_all(
        state,
        budget::merchant_of(&a),
        &budget::with_uploads(call, op::MEDIA_UPLOAD, images.len()),
    )
    .await?;
    let media = upload_media(state, &client, &caller.scope, &a.id, &images)
        .await
        .map_err(|e| ApiError::field("images", e))?;
    let e = Evidence {
        content,
        media_ids: media,
    };
    let id = &c.platform_complaint_id;
    let (kind, result) = match action {
        "reply" => (
            ActionKind::Reply,
            client
                .respond(id, decision.map(|d| d.code()).unwrap_or(2), &e)
                .await,
        ),
        "supplement" => (ActionKind::Supplement, client.supply_proof(id, &e).await),
        "refund-evidence" => (
            ActionKind::RefundEvidence,
            client.supply_refund(id, &e).await,
        ),
        "appeal" => (ActionKind::Appeal, client.appeal(id, &e).await),
        other => {
            return Err(ApiError::Conflict(format!(
                "mini-program complaints have no {other} action: use reply, supplement, refund-evidence, appeal or refund"
            )));
        }
    };
    let what = format!(
        "{action}{} ({} characters, {} images)",
        match decision {
            Some(SettlementDecision::Agree) => ": agree to settle",
            Some(SettlementDecision::Refuse) => ": refuse to settle",
            None => "",
        },
        text.chars().count(),
        images.len()
    );
    log_outcome(state, caller, &c.id, kind, what, None, result, platform).await?;
    if kind == ActionKind::Reply {
        ComplaintRepo::new(&*state.ports.records)
            .modify(&c.id, |x| {
                x.replied = true;
                if x.status == ComplaintStatus::Pending {
                    x.status = ComplaintStatus::Processing;
                }
            })
            .await?;
    }
    Ok(Json(ActionResult {
        complaint_id: c.id.clone(),
        action: kind,
        outcome: ActionOutcome::Succeeded,
        request_no: None,
    }))
}

/// A refund of a mini-program order through its linked WeChat Pay account.
pub async fn refund(
    state: &AppState,
    caller: &Caller,
    c: &Complaint,
    amount_fen: u64,
    reason: Option<String>,
) -> Result<Json<RefundRecord>, ApiError> {
    let a = account(state, c).await?;
    let AccountSettings::WxminiApp(s) = &a.settings else {
        return Err(ApiError::internal(std::io::Error::other(
            "not a mini program",
        )));
    };
    let link = s.payment.as_ref().ok_or_else(|| {
        ApiError::Conflict(
            "link the WeChat Pay account that takes this mini program's payments (settings.payment) to refund".into(),
        )
    })?;
    let total = c
        .orders
        .first()
        .and_then(|o| o.amount_fen)
        .ok_or_else(|| ApiError::Conflict("the complaint names no order amount".into()))?;
    let pay = payment(state, link)
        .await
        .map_err(|e| ApiError::Conflict(format!("cannot refund: {e}")))?;
    // The paying merchant's budget, before the claim: over it, no refund number is taken.
    budget::take(
        state,
        budget::merchant_of(&pay.account),
        desk_core::ratelimit::ops::wechatpay::REFUND,
    )
    .await?;
    let claim = refund_claim::claim_refund(
        state,
        &pay.account.id,
        &c.id,
        RefundedOrder {
            total,
            transaction_id: c.orders.first().and_then(|o| o.transaction_id.clone()),
        },
        amount_fen,
        |_| true,
        |sequence| refund_number(c, sequence),
    )
    .await?;
    let sequence = claim.sequence;
    let reason = reason.unwrap_or_else(|| "投诉退款".into());
    let result = refund_order(state, &pay, c, sequence, amount_fen, &reason).await;
    if let Err(e @ wechatpay::PlatformError::Api { .. }) = &result
        && !e.is_retryable()
    {
        refund_claim::release_claim(state, &pay.account.id, &claim).await?;
    }
    let number = result.as_ref().ok().map(|(r, _)| r.out_refund_no.clone());
    let (r, _) = log_outcome(
        state,
        caller,
        &c.id,
        ActionKind::Refund,
        format!("refund of {amount_fen} fen"),
        number,
        result,
        budget::wechatpay_error,
    )
    .await?;
    Ok(Json(r))
}

/// The buyer's image `n` of a mini-program complaint (fetched with the media API).
pub async fn media(
    state: &AppState,
    c: &Complaint,
    n: usize,
) -> Result<(Vec<u8>, String), ApiError> {
    let media_id = c
        .media
        .get(n)
        .ok_or_else(|| ApiError::not_found(format!("complaint {} has no media {n}", c.id)))?;
    let a = account(state, c).await?;
    let client = client(state, &a).await?;
    budget::take(state, budget::merchant_of(&a), op::MEDIA_GET).await?;
    client.get_media(media_id).await.map_err(platform)
}

/// `GET /accounts/{id}/trade-score`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TradeScore {
    pub account_id: String,
    pub appid: String,
    /// 交易体验分.
    pub current_score: Option<i64>,
    /// Number of penalties.
    pub total: Option<i64>,
    /// The platform's penalty records, verbatim (`illegalOrderId`, `complaintOrderId`,
    /// `illegalWording`, `status`, `minusScore`, ...).
    pub penalties: Vec<Value>,
    pub fetched_at: DateTime<Utc>,
}

async fn mini_account(state: &AppState, caller: &Caller, id: &str) -> Result<Account, ApiError> {
    caller.require_account(id)?;
    let (a, _) = AccountRepo::new(&*state.ports.records)
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {id} not found")))?;
    if !matches!(a.settings, AccountSettings::WxminiApp(_)) {
        return Err(ApiError::Conflict(format!(
            "{id} is not a mini program (wxmini_app)"
        )));
    }
    Ok(a)
}

#[utoipa::path(
    get, path = "/admin/v1/accounts/{id}/trade-score", tag = "accounts",
    params(("id" = String, Path, description = "Our id of a wxmini_app account")),
    responses((status = 200, body = TradeScore), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn trade_score(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TradeScore>, ApiError> {
    let a = mini_account(&state, &caller, &id).await?;
    let client = client(&state, &a).await?;
    let mut penalties = Vec::new();
    let mut first: Option<Value> = None;
    // At most 10 pages of 100.
    for page in 0..10u32 {
        budget::take(&state, budget::merchant_of(&a), op::PENALTY_LIST).await?;
        let v = client
            .penalty_list(page * 100, 100)
            .await
            .map_err(platform)?;
        let list = v["appealList"].as_array().cloned().unwrap_or_default();
        let n = list.len();
        penalties.extend(list);
        let total = v["totalNum"].as_i64().unwrap_or(0);
        first.get_or_insert(v);
        if n < 100 || penalties.len() as i64 >= total {
            break;
        }
    }
    let first = first.unwrap_or_default();
    Ok(Json(TradeScore {
        account_id: a.id.clone(),
        appid: a.platform_id().to_string(),
        current_score: first["currentScore"].as_i64(),
        total: first["totalNum"].as_i64(),
        penalties,
        fetched_at: state.ports.clock.now(),
    }))
}

/// Re-read a mini program's violation records of the last 90 days (and each one's appeal
/// records) into our violation records, before `GET /violations?account=` lists them.
pub async fn sync_violations(state: &AppState, a: &Account) -> Result<usize, ApiError> {
    let client = client(state, a).await?;
    let now = state.ports.clock.now();
    budget::take(state, budget::merchant_of(a), op::VIOLATION_RECORDS).await?;
    let v = client
        .illegal_records(now.timestamp() - 90 * 86_400, now.timestamp())
        .await
        .map_err(platform)?;
    let repo = ComplaintRepo::new(&*state.ports.records);
    let records = v["records"].as_array().cloned().unwrap_or_default();
    for r in &records {
        let Some(record_id) = wechat::xml::text(&r["illegal_record_id"]) else {
            continue;
        };
        budget::take(state, budget::merchant_of(a), op::VIOLATION_RECORDS).await?;
        let appeals = client.appeal_records(&record_id).await.map_err(platform)?;
        let occurred = r["create_time"]
            .as_i64()
            .and_then(|t| DateTime::from_timestamp(t, 0));
        let mut details = r.clone();
        details["appeal_records"] = appeals["records"].clone();
        repo.put_violation(&Violation {
            id: violation_id(&a.id, &format!("wxmini-illegal:{record_id}")),
            account_id: a.id.clone(),
            sub_mchid: None,
            event_type: "wxmini.illegal_record".into(),
            record_id: record_id.clone(),
            summary: [r["illegal_reason"].as_str(), r["rule_name"].as_str()]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; "),
            details,
            occurred_at: occurred,
            received_at: occurred.unwrap_or(now),
        })
        .await?;
    }
    tracing::info!(account_id = %a.id, count = records.len(), "mini-program violation records read");
    Ok(records.len())
}
