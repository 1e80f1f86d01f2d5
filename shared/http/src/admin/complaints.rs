//! `/admin/v1/complaints`, `/violations` and `/deliveries`: the complaint list and detail, the
//! WeChat Pay actions staff take by hand (each one sent to the platform and written to the
//! action log; the other platforms' in their own modules), the violation and delivery lists.
//! Evidence images: [`super::media`].

use super::budget::{self, wechatpay_error};
use super::page::{ListPage, PageParams};
use super::refund_claim::{RefundedOrder, claim_refund, release_claim};
use super::staff_action::{ActionResult, done, log_outcome, visible};
use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiPath, ApiQuery};
use crate::http::{JsonBytes, ValidJson};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use desk_core::complaints::{ComplaintDetail, ComplaintRepo, RefundRecord, list::ComplaintFilter};
use desk_core::platforms::wechatpay::events::out_refund_no;
use desk_core::ratelimit::{Operation, ops::wechatpay as op};
use desk_core::repo::AccountRepo;
use domain::account::Account;
use domain::complaint::{ActionKind, Complaint, ComplaintStatus, Platform, Violation};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use wechatpay::model::{RefundAmount, RefundProgressRequest, RefundRequest, ResponseRequest};

/// Filters of `GET /complaints`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComplaintQuery {
    /// A platform this build serves (`wechatpay`, `alipay`, `wxmini`, ...).
    #[param(value_type = Option<Platform>)]
    pub platform: Option<String>,
    /// Our account id.
    pub account: Option<String>,
    pub sub_mchid: Option<String>,
    /// `pending`, `processing`, `awaiting_platform`, `resolved`, `closed`.
    #[param(value_type = Option<ComplaintStatus>)]
    pub status: Option<String>,
    /// Received at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// Received at or before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
    pub limit: Option<u32>,
    #[serde(default, deserialize_with = "crate::extract::empty_as_none")]
    pub cursor: Option<String>,
}

fn enum_param<T: serde::de::DeserializeOwned>(
    field: &str,
    v: &Option<String>,
) -> Result<Option<T>, ApiError> {
    v.as_deref()
        .map(|s| {
            serde_json::from_value(serde_json::Value::String(s.to_string()))
                .map_err(|_| ApiError::field(field, format!("unknown value {s:?}")))
        })
        .transpose()
}

fn time_param(field: &str, v: &Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    v.as_deref()
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::field(field, "must be an RFC 3339 time"))
        })
        .transpose()
}

#[utoipa::path(
    get, path = "/admin/v1/complaints", tag = "complaints",
    params(ComplaintQuery),
    responses((status = 200, body = ListPage<Complaint>), (status = 400, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_complaints(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ComplaintQuery>,
) -> Result<Json<ListPage<Complaint>>, ApiError> {
    let limit = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let mut f = ComplaintFilter {
        platform: q
            .platform
            .as_deref()
            .map(|p| {
                state.platforms().named(p).ok_or_else(|| {
                    ApiError::field(
                        "platform",
                        format!(
                            "unknown value {p:?}; this build serves {}",
                            state.platforms().names().join(", ")
                        ),
                    )
                })
            })
            .transpose()?,
        account_id: q.account.clone(),
        sub_mchid: q.sub_mchid.clone(),
        status: enum_param::<ComplaintStatus>("status", &q.status)?,
        since: time_param("since", &q.since)?,
        until: time_param("until", &q.until)?,
    };
    // A scoped token lists its own scope; naming something outside it finds nothing.
    match &caller.scope {
        domain::token::TokenScope::All => {}
        domain::token::TokenScope::Account { account_id } => {
            if f.account_id.get_or_insert_with(|| account_id.clone()) != account_id {
                return Ok(Json(ListPage {
                    items: vec![],
                    next_cursor: None,
                }));
            }
        }
        domain::token::TokenScope::SubMerchant {
            account_id,
            sub_mchid,
        } => {
            if f.account_id.get_or_insert_with(|| account_id.clone()) != account_id
                || f.sub_mchid.get_or_insert_with(|| sub_mchid.clone()) != sub_mchid
            {
                return Ok(Json(ListPage {
                    items: vec![],
                    next_cursor: None,
                }));
            }
        }
    }
    let (items, next_cursor) = ComplaintRepo::new(&*state.ports.records)
        .list(
            &f,
            |c| {
                caller
                    .scope
                    .covers(Some(&c.account_id), c.sub_mchid.as_deref())
            },
            limit as usize,
            q.cursor.clone(),
        )
        .await?;
    Ok(Json(ListPage { items, next_cursor }))
}

#[utoipa::path(
    get, path = "/admin/v1/complaints/{id}", tag = "complaints",
    params(("id" = String, Path, description = "Our complaint id")),
    responses((status = 200, body = ComplaintDetail), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_complaint(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ComplaintDetail>, ApiError> {
    visible(&state, &caller, &id).await?;
    ComplaintRepo::new(&*state.ports.records)
        .detail(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("complaint {id} not found")))
}

/// The complaint, its account and that account's WeChat Pay client (409 for other platforms).
pub(super) struct Target {
    pub complaint: Complaint,
    pub account: Account,
    pub client: std::sync::Arc<wechatpay::Client>,
    /// `complainted_mchid` for write calls.
    pub mchid: String,
}

pub(super) async fn target(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<Target, ApiError> {
    let complaint = visible(state, caller, id).await?;
    if complaint.platform != Platform::Wechatpay {
        return Err(ApiError::Conflict(format!(
            "{} complaints have no {action} action{}",
            complaint.platform.as_str(),
            if complaint.platform == Platform::Wxmini {
                ": use reply (agree or refuse), supplement, refund-evidence, appeal or refund"
            } else {
                ""
            }
        )));
    }
    let (account, _) = AccountRepo::new(&*state.ports.records)
        .get(&complaint.account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("complaint {id} not found")))?;
    let client = state.wechatpay_client(&account).await?;
    let mchid = complaint
        .sub_mchid
        .clone()
        .unwrap_or_else(|| account.platform_id().to_string());
    Ok(Target {
        complaint,
        account,
        client,
        mchid,
    })
}

/// Log a WeChat Pay call's outcome, and answer.
async fn logged<T>(
    state: &AppState,
    caller: &Caller,
    complaint_id: &str,
    action: ActionKind,
    what: String,
    request_no: Option<String>,
    result: Result<T, wechatpay::PlatformError>,
) -> Result<T, ApiError> {
    log_outcome(
        state,
        caller,
        complaint_id,
        action,
        what,
        request_no,
        result,
        wechatpay_error,
    )
    .await
}

/// Check the media ids, take the budget of the action (`action`) and of one upload per image
/// (429 before anything is sent), then upload our stored media to the platform; its media ids.
async fn platform_media(
    state: &AppState,
    caller: &Caller,
    t: &Target,
    ids: &[String],
    action: Operation,
) -> Result<Vec<String>, ApiError> {
    if ids.len() > 4 {
        return Err(ApiError::field("images", "at most 4 images"));
    }
    let repo = ComplaintRepo::new(&*state.ports.records);
    // Every id is checked before the first upload: nothing goes to the platform if one is
    // unknown or another scope's.
    let mut found = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        found.push(
            repo.media_for(
                id,
                &caller.scope,
                &t.account.id,
                t.complaint.sub_mchid.as_deref(),
            )
            .await?
            .ok_or_else(|| ApiError::field(format!("images[{n}]"), format!("no media {id}")))?,
        );
    }
    let mut blobs = Vec::new();
    for (n, media) in found.into_iter().enumerate() {
        let blob = state
            .ports
            .blobs
            .get(&format!("media/{}", media.id))
            .await
            .map_err(|e| ApiError::Unavailable(Box::new(e)))?
            .ok_or_else(|| {
                ApiError::field(
                    format!("images[{n}]"),
                    format!("media {} has no content", media.id),
                )
            })?;
        blobs.push((media, blob));
    }
    budget::take_all(
        state,
        budget::merchant_of(&t.account),
        &budget::with_uploads(action, op::IMAGE_UPLOAD, blobs.len()),
    )
    .await?;
    let mut out = Vec::new();
    for (media, blob) in blobs {
        out.push(
            t.client
                .upload_image(&media.filename, blob.bytes)
                .await
                .map_err(wechatpay_error)?,
        );
    }
    Ok(out)
}

/// `POST /complaints/{id}/reply`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// 1 to 200 characters (mini programs: up to 500, or none with images). Line breaks (`\n`)
    /// are kept; any other control character (CR, NUL, tab, ...) is 400.
    #[serde(default)]
    pub text: String,
    /// Media ids from `POST /media` (at most 4), uploaded within the caller's scope for this
    /// complaint's account; any other id is 400 and nothing is uploaded to the platform.
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub jump_url: Option<String>,
    #[serde(default)]
    pub jump_url_text: Option<String>,
    /// Mini programs only (required there): `agree` (同意和解) or `refuse` (拒绝和解).
    #[serde(default)]
    pub decision: Option<domain::account::SettlementDecision>,
}

#[utoipa::path(
    post, path = "/admin/v1/complaints/{id}/reply", tag = "complaints",
    params(("id" = String, Path)), request_body = ReplyBody,
    responses((status = 200, body = ActionResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(complaint_id = %id))]
pub async fn reply(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ValidJson(body): ValidJson<ReplyBody>,
) -> Result<Json<ActionResult>, ApiError> {
    super::validate::text_controls("text", &body.text)?;
    if body.text.chars().count() > 500 {
        return Err(ApiError::field("text", "must be at most 500 characters"));
    }
    super::validate::base_url("jump_url", &body.jump_url)?;
    if let Some(t) = &body.jump_url_text {
        super::validate::non_empty("jump_url_text", t, super::validate::REPLY_TEXT_MAX)?;
    }
    let c = visible(&state, &caller, &id).await?;
    if c.platform == Platform::Wxmini {
        if body.jump_url.is_some() {
            return Err(ApiError::field(
                "jump_url",
                "mini-program responses have no jump link",
            ));
        }
        let b = serde_json::json!({"text": body.text, "images": body.images, "decision": body.decision});
        return super::wxmini_actions::act(&state, &caller, &c, "reply", &b).await;
    }
    if body.decision.is_some() {
        return Err(ApiError::field(
            "decision",
            "only mini-program responses agree or refuse to settle",
        ));
    }
    let n = body.text.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(ApiError::field("text", "must be 1 to 200 characters"));
    }
    if body.jump_url.is_some() != body.jump_url_text.is_some() {
        return Err(ApiError::field(
            "jump_url_text",
            "jump_url and jump_url_text go together",
        ));
    }
    if c.platform == Platform::Alipay {
        return super::alipay_actions::act(
            &state,
            &caller,
            &c,
            "reply",
            Some(body.text),
            None,
            &body.images,
        )
        .await;
    }
    let t = target(&state, &caller, &id, "reply").await?;
    let images = platform_media(&state, &caller, &t, &body.images, op::RESPONSE).await?;
    let result = t
        .client
        .respond(
            &t.complaint.platform_complaint_id,
            &ResponseRequest {
                complainted_mchid: t.mchid.clone(),
                response_content: body.text.trim().to_string(),
                response_images: images,
                jump_url: body.jump_url,
                jump_url_text: body.jump_url_text,
            },
        )
        .await;
    logged(
        &state,
        &caller,
        &id,
        ActionKind::Reply,
        format!("reply sent ({n} characters)"),
        None,
        result,
    )
    .await?;
    ComplaintRepo::new(&*state.ports.records)
        .modify(&id, |c| c.replied = true)
        .await?;
    Ok(done(&id, ActionKind::Reply, None))
}

#[utoipa::path(
    post, path = "/admin/v1/complaints/{id}/complete", tag = "complaints",
    params(("id" = String, Path)),
    request_body(content = CompleteBody, description = "Optional (Alipay only): an empty body sends the defaults."),
    responses((status = 200, body = ActionResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(complaint_id = %id))]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: JsonBytes,
) -> Result<Json<ActionResult>, ApiError> {
    let c = visible(&state, &caller, &id).await?;
    if c.platform == Platform::Alipay {
        let body: CompleteBody = body.parse_or_default()?;
        // No text: the app's finishing text for the code (see `alipay_actions::act`).
        return super::alipay_actions::act(
            &state,
            &caller,
            &c,
            "complete",
            body.text,
            body.code,
            &[],
        )
        .await;
    }
    let t = target(&state, &caller, &id, "complete").await?;
    budget::take(&state, budget::merchant_of(&t.account), op::COMPLETE).await?;
    let result = t
        .client
        .complete(&t.complaint.platform_complaint_id, &t.mchid)
        .await;
    logged(
        &state,
        &caller,
        &id,
        ActionKind::Complete,
        "marked complete".into(),
        None,
        result,
    )
    .await?;
    ComplaintRepo::new(&*state.ports.records)
        .modify(&id, desk_core::complaints::mark_wechatpay_completed)
        .await?;
    Ok(done(&id, ActionKind::Complete, None))
}

/// `POST /complaints/{id}/refund`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Fen: at least 1, at most what is left of the order.
    pub amount_fen: u64,
    #[serde(default)]
    pub reason: Option<String>,
    /// Which order (`transaction_id`); default: the complaint's first.
    #[serde(default)]
    pub transaction_id: Option<String>,
}

#[utoipa::path(
    post, path = "/admin/v1/complaints/{id}/refund", tag = "complaints",
    params(("id" = String, Path)), request_body = RefundBody,
    responses((status = 200, body = RefundRecord), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(complaint_id = %id))]
pub async fn refund(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ValidJson(body): ValidJson<RefundBody>,
) -> Result<Json<RefundRecord>, ApiError> {
    if body.amount_fen == 0 {
        return Err(ApiError::field("amount_fen", "must be at least 1 fen"));
    }
    let c = visible(&state, &caller, &id).await?;
    if c.platform == Platform::Alipay {
        return super::alipay_actions::refund(&state, &caller, &c, body.amount_fen, body.reason)
            .await;
    }
    if c.platform == Platform::Wxmini {
        return super::wxmini_actions::refund(&state, &caller, &c, body.amount_fen, body.reason)
            .await;
    }
    let t = target(&state, &caller, &id, "refund").await?;
    let order = match &body.transaction_id {
        Some(tid) => t
            .complaint
            .orders
            .iter()
            .find(|o| o.transaction_id.as_deref() == Some(tid.as_str())),
        None => t.complaint.orders.first(),
    }
    .cloned()
    .ok_or_else(|| ApiError::field("transaction_id", "the complaint has no such order"))?;
    let total = order.amount_fen.unwrap_or_default();
    let repo = ComplaintRepo::new(&*state.ports.records);
    let order_key = order
        .transaction_id
        .clone()
        .or(order.out_trade_no.clone())
        .unwrap_or_default();
    // The budget before the claim: over it, no refund number is taken.
    budget::take(&state, budget::merchant_of(&t.account), op::REFUND).await?;
    let claim = claim_refund(
        &state,
        &t.account.id,
        &id,
        RefundedOrder {
            total,
            transaction_id: order.transaction_id.clone(),
        },
        body.amount_fen,
        |r| r.transaction_id == order.transaction_id,
        |sequence| out_refund_no(&id, &order_key, sequence),
    )
    .await?;
    let number = claim.out_refund_no.clone();
    let provider = t.complaint.sub_mchid.is_some();
    let req = RefundRequest {
        sub_mchid: provider.then(|| t.mchid.clone()),
        transaction_id: order.transaction_id.clone(),
        out_trade_no: order
            .out_trade_no
            .clone()
            .filter(|_| order.transaction_id.is_none()),
        out_refund_no: number.clone(),
        reason: body.reason.clone(),
        notify_url: state.public_url(&format!(
            "callbacks/wechatpay/{}/refunds",
            t.account.platform_id()
        )),
        amount: RefundAmount {
            refund: body.amount_fen,
            total,
            currency: "CNY".into(),
        },
    };
    let result = t.client.create_refund(&req).await;
    if let Err(e @ wechatpay::PlatformError::Api { .. }) = &result
        && !e.is_retryable()
    {
        release_claim(&state, &t.account.id, &claim).await?;
    }
    let r = logged(
        &state,
        &caller,
        &id,
        ActionKind::Refund,
        format!("refund of {} fen", body.amount_fen),
        Some(number.clone()),
        result,
    )
    .await?;
    let record = RefundRecord {
        refund_id: Some(r.refund_id).filter(|s| !s.is_empty()),
        status: r.status,
        updated_at: state.ports.clock.now(),
        ..claim
    };
    repo.record_refund(&t.account.id, &record).await?;
    Ok(Json(record))
}

/// `POST /complaints/{id}/refund-progress`: approve or reject the buyer's refund request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundProgressBody {
    /// `approve` or `reject`.
    pub action: String,
    /// Required with `reject`.
    #[serde(default)]
    pub reason: Option<String>,
    /// With `approve`: days until the refund is made (default 0).
    #[serde(default)]
    pub launch_refund_day: Option<u32>,
    /// With `reject`: media ids from `POST /media` (at most 4).
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub remark: Option<String>,
}

#[utoipa::path(
    post, path = "/admin/v1/complaints/{id}/refund-progress", tag = "complaints",
    params(("id" = String, Path)), request_body = RefundProgressBody,
    responses((status = 200, body = ActionResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(complaint_id = %id))]
pub async fn refund_progress(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ValidJson(body): ValidJson<RefundProgressBody>,
) -> Result<Json<ActionResult>, ApiError> {
    let action = match body.action.as_str() {
        "approve" => "APPROVE",
        "reject" => "REJECT",
        _ => return Err(ApiError::field("action", "must be approve or reject")),
    };
    if action == "REJECT" && body.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(ApiError::field("reason", "a rejection needs a reason"));
    }
    let t = target(&state, &caller, &id, "refund-progress").await?;
    let media = platform_media(&state, &caller, &t, &body.images, op::REFUND_PROGRESS).await?;
    let result = t
        .client
        .update_refund_progress(
            &t.complaint.platform_complaint_id,
            &RefundProgressRequest {
                action: action.into(),
                launch_refund_day: (action == "APPROVE")
                    .then_some(body.launch_refund_day.unwrap_or(0)),
                reject_reason: body.reason.filter(|_| action == "REJECT"),
                reject_media_list: media,
                remark: body.remark,
            },
        )
        .await;
    logged(
        &state,
        &caller,
        &id,
        ActionKind::RefundProgress,
        format!("refund request {}", body.action),
        None,
        result,
    )
    .await?;
    Ok(done(&id, ActionKind::RefundProgress, None))
}

/// `POST /complaints/{id}/complete`: Alipay only; WeChat Pay complaints take no body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// The finishing text (1 to 200 characters); default: the app's finishing text for the
    /// code.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x09\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub text: Option<String>,
    /// Trade complaints: the feedback code (`00`, `02` to `06`; default `05`); consumer
    /// complaints: the `process.finish` code (default `CONSENSUS_WITH_CLIENT`).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_]+$")]
    pub code: Option<String>,
}

/// `GET /violations?account=&sub_mchid=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViolationQuery {
    /// Our account id (required unless the token is scoped to one).
    pub account: Option<String>,
    pub sub_mchid: Option<String>,
    pub limit: Option<u32>,
    #[serde(default, deserialize_with = "crate::extract::empty_as_none")]
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/admin/v1/violations", tag = "complaints",
    params(ViolationQuery),
    responses((status = 200, body = ListPage<Violation>), (status = 400, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_violations(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ViolationQuery>,
) -> Result<Json<ListPage<Violation>>, ApiError> {
    let limit = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let (scope_account, scope_sub) = match &caller.scope {
        domain::token::TokenScope::All => (None, None),
        domain::token::TokenScope::Account { account_id } => (Some(account_id.clone()), None),
        domain::token::TokenScope::SubMerchant {
            account_id,
            sub_mchid,
        } => (Some(account_id.clone()), Some(sub_mchid.clone())),
    };
    let account = q
        .account
        .clone()
        .or(scope_account)
        .ok_or_else(|| ApiError::field("account", "name the provider account"))?;
    let sub = q.sub_mchid.clone().or(scope_sub);
    if !caller.scope.covers(Some(&account), sub.as_deref()) {
        return Ok(Json(ListPage {
            items: vec![],
            next_cursor: None,
        }));
    }
    if q.cursor.is_none()
        && let Some((a, _)) = AccountRepo::new(&*state.ports.records)
            .get(&account)
            .await?
        && matches!(a.settings, domain::account::AccountSettings::WxminiApp(_))
        && a.enabled
    {
        // Mini-program violation records live on the platform: read them first.
        super::wxmini_actions::sync_violations(&state, &a).await?;
    }
    let (items, next_cursor) = ComplaintRepo::new(&*state.ports.records)
        .list_violations(
            &account,
            sub.as_deref(),
            |_| true,
            limit as usize,
            q.cursor.clone(),
        )
        .await?;
    Ok(Json(ListPage { items, next_cursor }))
}

/// `GET /deliveries?complaint=&status=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Our complaint id.
    pub complaint: Option<String>,
    /// `pending`, `retrying`, `sent`, `failed`.
    #[param(value_type = Option<domain::notification::DeliveryStatus>)]
    pub status: Option<String>,
    pub limit: Option<u32>,
    #[serde(default, deserialize_with = "crate::extract::empty_as_none")]
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/admin/v1/deliveries", tag = "complaints",
    params(DeliveryQuery),
    responses((status = 200, body = ListPage<domain::notification::Delivery>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> Result<Json<ListPage<domain::notification::Delivery>>, ApiError> {
    let limit = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let status = enum_param::<domain::notification::DeliveryStatus>("status", &q.status)?;
    let (items, next_cursor) = match &q.complaint {
        Some(id) => {
            // One complaint's deliveries (a few per event and channel), read together; the
            // caller sees the complaint or gets a 404.
            visible(&state, &caller, id).await?;
            let all = desk_core::deliveries::deliveries_of(
                &*state.ports.records,
                &domain::notification::NotificationSubject::Complaint {
                    complaint_id: id.clone(),
                },
            )
            .await?;
            let shown = |d: &domain::notification::Delivery| {
                status.is_none_or(|s| d.status == s)
                    && match &d.audience {
                        Some(a) => caller
                            .scope
                            .covers(Some(&a.account_id), a.sub_mchid.as_deref()),
                        None => caller.scope.is_all(),
                    }
            };
            (all.into_iter().filter(|d| shown(d)).collect(), None)
        }
        None => {
            // The caller's scope is the list's partition: one query per page.
            desk_core::deliveries::list_deliveries(
                &*state.ports.records,
                &caller.scope,
                status,
                limit,
                q.cursor.clone(),
            )
            .await?
        }
    };
    Ok(Json(ListPage { items, next_cursor }))
}
