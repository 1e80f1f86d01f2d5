//! The complaint actions only some platforms have, each its own route with its own body:
//! `feedback` (Alipay trade complaints), `supplement` (Alipay trade complaints and mini
//! programs), `refund-evidence` and `appeal` (mini programs). Each checks the complaint (404),
//! then whether its platform has the action (409, saying which it has), then the body (400).

use super::staff_action::{ActionResult, visible};
use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::ApiPath;
use crate::http::JsonBytes;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use domain::complaint::{Complaint, Platform};
use serde::Deserialize;
use utoipa::ToSchema;

/// Alipay feedback codes (`alipay.merchant.tradecomplain.feedback.submit`).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum FeedbackCode {
    #[serde(rename = "00")]
    #[schema(rename = "00")]
    Refunded,
    #[serde(rename = "02")]
    #[schema(rename = "02")]
    PartlyRefunded,
    #[serde(rename = "03")]
    #[schema(rename = "03")]
    Negotiated,
    #[serde(rename = "04")]
    #[schema(rename = "04")]
    NoRefund,
    #[serde(rename = "05")]
    #[schema(rename = "05")]
    Other,
    #[serde(rename = "06")]
    #[schema(rename = "06")]
    Delivered,
}

impl FeedbackCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackCode::Refunded => "00",
            FeedbackCode::PartlyRefunded => "02",
            FeedbackCode::Negotiated => "03",
            FeedbackCode::NoRefund => "04",
            FeedbackCode::Other => "05",
            FeedbackCode::Delivered => "06",
        }
    }
}

/// `POST /complaints/{id}/feedback` (Alipay trade complaints).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    /// 1 to 200 characters; line breaks (`\n`) are kept, any other control character is 400.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x09\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub text: String,
    /// Default `05`.
    #[serde(default)]
    pub code: Option<FeedbackCode>,
    /// Media ids from `POST /media` (at most 4).
    #[serde(default)]
    #[schema(max_items = 4)]
    pub images: Vec<String>,
}

/// `POST /complaints/{id}/supplement` (Alipay trade complaints: text 1 to 200 characters, at
/// most 4 images; mini programs: text up to 500 characters and up to 9 images, at least one of
/// them) and `POST /complaints/{id}/appeal` (mini programs).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBody {
    /// Line breaks (`\n`) are kept; any other control character is 400.
    #[serde(default)]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$")]
    pub text: Option<String>,
    /// Media ids from `POST /media`.
    #[serde(default)]
    #[schema(max_items = 9)]
    pub images: Vec<String>,
}

/// `POST /complaints/{id}/refund-evidence` (mini programs): text up to 500 characters and up to
/// 9 images, at least one of them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundEvidenceBody {
    /// Whether the returned goods were received (stated at the head of the text).
    pub goods_received: bool,
    /// Line breaks (`\n`) are kept; any other control character is 400.
    #[serde(default)]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$")]
    pub text: Option<String>,
    /// Media ids from `POST /media`.
    #[serde(default)]
    #[schema(max_items = 9)]
    pub images: Vec<String>,
}

/// 409 for a platform without `action`, saying which actions it has.
fn no_such_action(c: &Complaint, action: &str) -> ApiError {
    ApiError::Conflict(format!(
        "{} complaints have no {action} action{}",
        c.platform.as_str(),
        match c.platform {
            Platform::Wechatpay => ": use reply, refund-progress, refund and complete",
            Platform::Wxmini => ": use reply, supplement, refund-evidence, appeal and refund",
            Platform::Alipay => ": use reply, feedback, supplement, refund and complete",
            _ => "",
        }
    ))
}

#[utoipa::path(
    post, path = "/admin/v1/complaints/{id}/feedback", tag = "complaints",
    params(("id" = String, Path)), request_body = FeedbackBody,
    responses((status = 200, body = ActionResult), (status = 409, body = ErrorBody, description = "Not an Alipay trade complaint"), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(complaint_id = %id))]
pub async fn feedback(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: JsonBytes,
) -> Result<Json<ActionResult>, ApiError> {
    let c = visible(&state, &caller, &id).await?;
    if c.platform != Platform::Alipay {
        return Err(no_such_action(&c, "feedback"));
    }
    let body: FeedbackBody = body.parse()?;
    super::alipay_actions::act(
        &state,
        &caller,
        &c,
        "feedback",
        Some(body.text),
        Some(
            body.code
                .unwrap_or(FeedbackCode::Other)
                .as_str()
                .to_string(),
        ),
        &body.images,
    )
    .await
}

#[utoipa::path(
    post, path = "/admin/v1/complaints/{id}/supplement", tag = "complaints",
    params(("id" = String, Path)), request_body = EvidenceBody,
    responses((status = 200, body = ActionResult), (status = 409, body = ErrorBody, description = "A WeChat Pay complaint, or an Alipay consumer complaint"), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(complaint_id = %id))]
pub async fn supplement(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: JsonBytes,
) -> Result<Json<ActionResult>, ApiError> {
    let c = visible(&state, &caller, &id).await?;
    if c.platform == Platform::Wechatpay {
        return Err(no_such_action(&c, "supplement"));
    }
    let body: EvidenceBody = body.parse()?;
    match c.platform {
        Platform::Alipay => {
            super::alipay_actions::act(
                &state,
                &caller,
                &c,
                "supplement",
                body.text,
                None,
                &body.images,
            )
            .await
        }
        Platform::Wxmini => {
            let b = serde_json::json!({"text": body.text, "images": body.images});
            super::wxmini_actions::act(&state, &caller, &c, "supplement", &b).await
        }
        _ => Err(no_such_action(&c, "supplement")),
    }
}

#[utoipa::path(
    post, path = "/admin/v1/complaints/{id}/refund-evidence", tag = "complaints",
    params(("id" = String, Path)), request_body = RefundEvidenceBody,
    responses((status = 200, body = ActionResult), (status = 409, body = ErrorBody, description = "Not a mini-program complaint, or not in a state that allows it"), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(complaint_id = %id))]
pub async fn refund_evidence(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: JsonBytes,
) -> Result<Json<ActionResult>, ApiError> {
    let c = visible(&state, &caller, &id).await?;
    if c.platform != Platform::Wxmini {
        return Err(no_such_action(&c, "refund-evidence"));
    }
    let body: RefundEvidenceBody = body.parse()?;
    let b = serde_json::json!({
        "text": body.text, "images": body.images, "goods_received": body.goods_received,
    });
    super::wxmini_actions::act(&state, &caller, &c, "refund-evidence", &b).await
}

#[utoipa::path(
    post, path = "/admin/v1/complaints/{id}/appeal", tag = "complaints",
    params(("id" = String, Path)), request_body = EvidenceBody,
    responses((status = 200, body = ActionResult), (status = 409, body = ErrorBody, description = "Not a mini-program complaint, or not in a state that allows it"), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(complaint_id = %id))]
pub async fn appeal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: JsonBytes,
) -> Result<Json<ActionResult>, ApiError> {
    let c = visible(&state, &caller, &id).await?;
    if c.platform != Platform::Wxmini {
        return Err(no_such_action(&c, "appeal"));
    }
    let body: EvidenceBody = body.parse()?;
    let b = serde_json::json!({"text": body.text, "images": body.images});
    super::wxmini_actions::act(&state, &caller, &c, "appeal", &b).await
}
