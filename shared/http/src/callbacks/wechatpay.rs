//! `POST /callbacks/wechatpay/{mchid}/{complaints|violations|refunds}`.
//!
//! Answers: 204 accepted (queued or duplicate, disabled accounts included); 401
//! with a FAIL body for a bad or probe signature, an unknown serial after one refresh, or a
//! stale timestamp; 400 for a malformed body or one that cannot be decrypted; 404 for an
//! unknown mchid; 503 when the inbox is unavailable (WeChat Pay retries).

use crate::state::CallbackState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::account::AccountKind;
use domain::job::{queues, wechatpay as jobs};
use domain::ports::{Accepted, InboxError};
use serde_json::json;
use wechatpay::notify::Envelope;
use wechatpay::{SignedHeaders, VerifyError};

fn fail(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"code": "FAIL", "message": message}))).into_response()
}

#[tracing::instrument(skip_all, fields(platform = "wechatpay", mchid = %mchid, kind = %kind, notification_id))]
pub async fn receive(
    State(state): State<CallbackState>,
    Path((mchid, kind)): Path<(String, String)>,
    headers: HeaderMap,
    body: crate::http::CallbackBody,
) -> Response {
    let body: Bytes = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(reason = %e, "callback body refused");
            return fail(
                StatusCode::BAD_REQUEST,
                "the body is too large or unreadable",
            );
        }
    };
    let (job_kind, event_prefix) = match kind.as_str() {
        "complaints" => (jobs::COMPLAINT, "COMPLAINT."),
        "violations" => (jobs::VIOLATION, "VIOLATION."),
        "refunds" => (jobs::REFUND, "REFUND."),
        _ => return fail(StatusCode::NOT_FOUND, "no such callback"),
    };
    let account = match state
        .accounts
        .find(&*state.ports.records, "wechatpay", &mchid)
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::warn!("callback for an unknown mchid");
            return fail(StatusCode::NOT_FOUND, "unknown merchant");
        }
        Err(e) => {
            tracing::error!(error = %desk_core::error::chain(&e), "records unavailable");
            return fail(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable");
        }
    };
    if kind == "violations" && account.kind() != AccountKind::WechatpayProvider {
        return fail(
            StatusCode::NOT_FOUND,
            "violation notices are for service providers",
        );
    }
    let client = match state.wechatpay.get(&account, &*state.ports.secrets).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(account_id = %account.id, error = %e, "cannot verify: credentials incomplete");
            return fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "merchant keys are not configured",
            );
        }
    };
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let signed = match SignedHeaders::read(get) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "callback without signature headers");
            return fail(StatusCode::UNAUTHORIZED, "signature headers missing");
        }
    };
    let now = state.ports.clock.now();
    let mut verdict = client.verifier().verify(&signed, &body, now);
    if let Err(VerifyError::UnknownSerial(serial)) = &verdict
        && !serial.starts_with("PUB_KEY_ID_")
    {
        // The one platform call allowed here: download certificates (at most once a minute).
        if let Err(e) = client.refresh_certificates().await {
            tracing::warn!(error = %e, "certificate refresh failed");
        }
        verdict = client.verifier().verify(&signed, &body, now);
    }
    match verdict {
        Ok(()) => {}
        Err(VerifyError::Probe) => {
            tracing::debug!("signature probe rejected");
            return fail(StatusCode::UNAUTHORIZED, "signature probe");
        }
        Err(e) => {
            tracing::warn!(error = %e, serial = %signed.serial, "callback rejected");
            return fail(StatusCode::UNAUTHORIZED, "signature verification failed");
        }
    }
    let envelope = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "malformed notification");
            return fail(StatusCode::BAD_REQUEST, "malformed notification");
        }
    };
    tracing::Span::current().record("notification_id", envelope.id.as_str());
    if !envelope.event_type.starts_with(event_prefix) {
        tracing::warn!(event_type = %envelope.event_type, "event type does not belong on this path");
        return fail(
            StatusCode::BAD_REQUEST,
            "event type does not belong on this path",
        );
    }
    let plaintext = match envelope.decrypt(client.apiv3_key()) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot decrypt the resource (API v3 key?)");
            return fail(StatusCode::BAD_REQUEST, "cannot decrypt");
        }
    };
    let resource: serde_json::Value = match serde_json::from_str(&plaintext) {
        Ok(v) => v,
        Err(_) => return fail(StatusCode::BAD_REQUEST, "resource is not JSON"),
    };
    let sub_mchid = resource["sub_mchid"].as_str().map(String::from);
    let notification = jobs::Notification {
        mchid: mchid.clone(),
        notification_id: envelope.id.clone(),
        event_type: envelope.event_type.clone(),
        create_time: Some(envelope.create_time.clone()),
        resource,
    };
    let Ok(job) = job_kind.envelope(&notification, now) else {
        return fail(StatusCode::INTERNAL_SERVER_ERROR, "cannot queue");
    };
    let job = job.for_account(&account.id, sub_mchid);
    let Ok(job_text) = serde_json::to_string(&job) else {
        return fail(StatusCode::INTERNAL_SERVER_ERROR, "cannot queue");
    };
    let record =
        json!({"event_type": envelope.event_type, "received_at": now, "account_id": account.id});
    match state
        .ports
        .inbox
        .accept(
            &format!("wechatpay:{mchid}:{}", envelope.id),
            record,
            queues::EVENTS,
            &job_text,
        )
        .await
    {
        Ok(Accepted::Queued) => {
            tracing::info!(event_type = %envelope.event_type, enabled = account.enabled, "notification accepted and queued");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Accepted::Duplicate) => {
            tracing::info!(event_type = %envelope.event_type, "duplicate notification; nothing more to do");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(InboxError::Invalid(m)) => {
            tracing::error!(%m, "inbox refused the notification");
            fail(StatusCode::INTERNAL_SERVER_ERROR, "cannot queue")
        }
        Err(e) => {
            tracing::error!(error = %desk_core::error::chain(&e), "inbox unavailable");
            fail(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable")
        }
    }
}
