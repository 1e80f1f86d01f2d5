//! `POST /callbacks/alipay/{app_id}`: Alipay's messages (form POST) for
//! `alipay.merchant.tradecomplain.changed` and `alipay.security.risk.complaints.merchants.notify`.
//!
//! Verified with the app's Alipay key (certificate mode: the Alipay certificate's key; key mode:
//! the Alipay public key), the V1 rule first and V2 second (which matched is logged). No
//! timestamp window: Alipay retries for about 25 hours. Deduped on `notify_id`, recorded and
//! durably queued. Answers: `success`; 400 `fail` for a bad signature or body; 404
//! `fail` for an unknown app; 503 when the inbox is unavailable. Unknown message methods are
//! acknowledged and logged, not queued.

use crate::state::CallbackState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::job::{alipay as jobs, queues};
use domain::ports::{Accepted, InboxError};
use serde_json::json;

pub use alipay::notify::MAX_FORM_FIELDS;

fn answer(status: StatusCode, body: &'static str) -> Response {
    (status, [("content-type", "text/plain;charset=utf-8")], body).into_response()
}

#[tracing::instrument(skip_all, fields(platform = "alipay", app_id = %app_id, notify_id, msg_method))]
pub async fn receive(
    State(state): State<CallbackState>,
    Path(app_id): Path<String>,
    body: crate::http::CallbackBody,
) -> Response {
    let body: Bytes = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(reason = %e, "message body refused");
            return answer(StatusCode::BAD_REQUEST, "fail");
        }
    };
    let account = match state
        .accounts
        .find(&*state.ports.records, "alipay", &app_id)
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::warn!("message for an unknown app");
            return answer(StatusCode::NOT_FOUND, "fail");
        }
        Err(e) => {
            tracing::error!(error = %desk_core::error::chain(&e), "records unavailable");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "fail");
        }
    };
    let params = match alipay::notify::parse_form(&body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(reason = %e, "message body refused");
            return answer(StatusCode::BAD_REQUEST, "fail");
        }
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(key) =
        desk_core::credentials::alipay_verifying_key(&*state.ports.secrets, &account).await
    else {
        tracing::error!(account_id = %account.id, "cannot verify: the app's Alipay key or certificate is not configured");
        return answer(StatusCode::SERVICE_UNAVAILABLE, "fail");
    };
    let Some(rule) = alipay::notify::verify(&params, &key) else {
        tracing::warn!("message signature does not verify");
        return answer(StatusCode::BAD_REQUEST, "fail");
    };
    let method = get("msg_method")
        .or(get("notify_type"))
        .unwrap_or_default()
        .to_string();
    let notify_id = get("notify_id").unwrap_or_default().to_string();
    tracing::Span::current().record("notify_id", notify_id.as_str());
    tracing::Span::current().record("msg_method", method.as_str());
    tracing::debug!(rule = ?rule, "message signature verified");
    if get("app_id").is_some_and(|a| a != app_id) {
        tracing::warn!("message for another app on this path");
        return answer(StatusCode::BAD_REQUEST, "fail");
    }
    let job_kind = match method.as_str() {
        "alipay.merchant.tradecomplain.changed" => jobs::TRADE_COMPLAINT,
        "alipay.security.risk.complaints.merchants.notify" => jobs::RISK_COMPLAINT,
        other => {
            tracing::info!(
                msg_method = other,
                "message method not handled; acknowledged"
            );
            return answer(StatusCode::OK, "success");
        }
    };
    let Ok(biz) = serde_json::from_str::<serde_json::Value>(get("biz_content").unwrap_or_default())
    else {
        tracing::warn!("biz_content is not JSON");
        return answer(StatusCode::BAD_REQUEST, "fail");
    };
    if notify_id.is_empty() {
        return answer(StatusCode::BAD_REQUEST, "fail");
    }
    let now = state.ports.clock.now();
    let message = jobs::Message {
        app_id: app_id.clone(),
        notify_id: notify_id.clone(),
        msg_method: method.clone(),
        biz,
    };
    let Ok(job) = job_kind.envelope(&message, now) else {
        return answer(StatusCode::INTERNAL_SERVER_ERROR, "fail");
    };
    let job = job.for_account(&account.id, None);
    let Ok(text) = serde_json::to_string(&job) else {
        return answer(StatusCode::INTERNAL_SERVER_ERROR, "fail");
    };
    let record = json!({"msg_method": method, "received_at": now, "account_id": account.id});
    match state
        .ports
        .inbox
        .accept(
            &format!("alipay:{app_id}:{notify_id}"),
            record,
            queues::EVENTS,
            &text,
        )
        .await
    {
        Ok(Accepted::Queued) => {
            tracing::info!(enabled = account.enabled, "message accepted and queued");
            answer(StatusCode::OK, "success")
        }
        Ok(Accepted::Duplicate) => {
            tracing::info!("duplicate message; nothing more to do");
            answer(StatusCode::OK, "success")
        }
        Err(InboxError::Invalid(m)) => {
            tracing::error!(%m, "inbox refused the message");
            answer(StatusCode::INTERNAL_SERVER_ERROR, "fail")
        }
        Err(e) => {
            tracing::error!(error = %desk_core::error::chain(&e), "inbox unavailable");
            answer(StatusCode::SERVICE_UNAVAILABLE, "fail")
        }
    }
}
