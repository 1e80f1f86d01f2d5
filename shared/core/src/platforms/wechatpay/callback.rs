//! `POST /callbacks/wechatpay/{mchid}/{complaints|violations|refunds}`.
//!
//! Answers: 204 accepted (queued or duplicate, disabled accounts included); 401
//! with a FAIL body for a bad or probe signature, an unknown serial after one refresh, or a
//! stale timestamp; 400 for a malformed body (too large included) or one that cannot be
//! decrypted; 404 for an unknown mchid; 503 when the inbox is unavailable (WeChat Pay retries).

use crate::callback::{
    CallbackContext, CallbackHandler, CallbackRequest, CallbackResponse, CallbackRoute,
    NotAccepted, accept,
};
use crate::metrics::CallbackOutcome;
use async_trait::async_trait;
use domain::account::AccountKind;
use domain::job::wechatpay as jobs;
use domain::ports::Accepted;
use serde_json::json;
use wechatpay::notify::Envelope;
use wechatpay::{SignedHeaders, VerifyError};

/// The platform's routes.
pub fn routes() -> Vec<CallbackRoute> {
    vec![
        CallbackRoute::post("/callbacks/wechatpay/{mchid}/{kind}", Receive)
            .body_refused(fail(400, "the body is too large or unreadable")),
    ]
}

fn fail(status: u16, message: &str) -> CallbackResponse {
    CallbackResponse::json(status, &json!({"code": "FAIL", "message": message}))
}

struct Receive;

#[async_trait]
impl CallbackHandler for Receive {
    async fn handle(&self, ctx: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse {
        receive(ctx, &req).await
    }
}

#[tracing::instrument(skip_all, fields(platform = "wechatpay", mchid = %req.param("mchid"), kind = %req.param("kind"), notification_id))]
async fn receive(state: CallbackContext<'_>, req: &CallbackRequest) -> CallbackResponse {
    let (mchid, kind) = (req.param("mchid"), req.param("kind"));
    let (job_kind, event_prefix) = match kind {
        "complaints" => (jobs::COMPLAINT, "COMPLAINT."),
        "violations" => (jobs::VIOLATION, "VIOLATION."),
        "refunds" => (jobs::REFUND, "REFUND."),
        _ => return fail(404, "no such callback").counted_as(CallbackOutcome::BadRequest),
    };
    let account = match state
        .accounts
        .find(&*state.ports.records, "wechatpay", mchid)
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::warn!("callback for an unknown mchid");
            return fail(404, "unknown merchant");
        }
        Err(e) => {
            tracing::error!(error = %crate::error::chain(&e), "records unavailable");
            return fail(503, "temporarily unavailable");
        }
    };
    if kind == "violations" && account.kind() != AccountKind::WechatpayProvider {
        return fail(404, "violation notices are for service providers")
            .counted_as(CallbackOutcome::BadRequest);
    }
    let client = match super::Clients::of(&state)
        .get(&account, &*state.ports.secrets)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(account_id = %account.id, error = %e, "cannot verify: credentials incomplete");
            return fail(503, "merchant keys are not configured");
        }
    };
    let signed = match SignedHeaders::read(|n| req.header(n)) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "callback without signature headers");
            return fail(401, "signature headers missing");
        }
    };
    let now = req.received_at;
    let body = &req.body;
    let mut verdict = client.verifier().verify(&signed, body, now);
    if let Err(VerifyError::UnknownSerial(serial)) = &verdict
        && !serial.starts_with("PUB_KEY_ID_")
    {
        // The one platform call allowed here: download certificates (at most once a minute).
        if let Err(e) = client.refresh_certificates().await {
            tracing::warn!(error = %e, "certificate refresh failed");
        }
        verdict = client.verifier().verify(&signed, body, now);
    }
    match verdict {
        Ok(()) => {}
        Err(VerifyError::Probe) => {
            tracing::debug!("signature probe rejected");
            return fail(401, "signature probe");
        }
        Err(e) => {
            tracing::warn!(error = %e, serial = %signed.serial, "callback rejected");
            return fail(401, "signature verification failed");
        }
    }
    let envelope = match Envelope::parse(body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "malformed notification");
            return fail(400, "malformed notification");
        }
    };
    tracing::Span::current().record("notification_id", envelope.id.as_str());
    if !envelope.event_type.starts_with(event_prefix) {
        tracing::warn!(event_type = %envelope.event_type, "event type does not belong on this path");
        return fail(400, "event type does not belong on this path");
    }
    let plaintext = match envelope.decrypt(client.apiv3_key()) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot decrypt the resource (API v3 key?)");
            return fail(400, "cannot decrypt");
        }
    };
    let resource: serde_json::Value = match serde_json::from_str(&plaintext) {
        Ok(v) => v,
        Err(_) => return fail(400, "resource is not JSON"),
    };
    let sub_mchid = resource["sub_mchid"].as_str().map(String::from);
    let notification = jobs::Notification {
        mchid: mchid.to_string(),
        notification_id: envelope.id.clone(),
        event_type: envelope.event_type.clone(),
        create_time: Some(envelope.create_time.clone()),
        resource,
    };
    let Ok(job) = job_kind.envelope(&notification, now) else {
        return fail(500, "cannot queue");
    };
    let job = job.for_account(&account.id, sub_mchid);
    let record =
        json!({"event_type": envelope.event_type, "received_at": now, "account_id": account.id});
    match accept(
        state.services,
        &format!("wechatpay:{mchid}:{}", envelope.id),
        record,
        &job,
    )
    .await
    {
        Ok(Accepted::Queued) => {
            tracing::info!(event_type = %envelope.event_type, enabled = account.enabled, "notification accepted and queued");
            CallbackResponse::empty(204).counted_as(CallbackOutcome::queued(account.enabled))
        }
        Ok(Accepted::Duplicate) => {
            tracing::info!(event_type = %envelope.event_type, "duplicate notification; nothing more to do");
            CallbackResponse::empty(204).counted_as(CallbackOutcome::Duplicate)
        }
        Err(NotAccepted::Refused) => fail(500, "cannot queue"),
        Err(NotAccepted::Unavailable) => fail(503, "temporarily unavailable"),
    }
}
