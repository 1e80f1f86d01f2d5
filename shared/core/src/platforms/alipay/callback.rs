//! `POST /callbacks/alipay/{app_id}`: Alipay's messages (form POST) for
//! `alipay.merchant.tradecomplain.changed` and `alipay.security.risk.complaints.merchants.notify`.
//!
//! Verified with the app's Alipay key (certificate mode: the Alipay certificate's key; key mode:
//! the Alipay public key), the V1 rule first and V2 second (which matched is logged). No
//! timestamp window: Alipay retries for about 25 hours. Deduped on `notify_id`, recorded and
//! durably queued. Answers: `success`; 400 `fail` for a bad signature or body (too large
//! included); 404 `fail` for an unknown app; 503 when the inbox is unavailable. Unknown message
//! methods are acknowledged and logged, not queued.

use crate::callback::{
    CallbackContext, CallbackHandler, CallbackRequest, CallbackResponse, CallbackRoute,
    NotAccepted, accept,
};
use crate::metrics::CallbackOutcome;
use async_trait::async_trait;
use domain::job::alipay as jobs;
use domain::ports::Accepted;
use serde_json::json;

pub use alipay::notify::MAX_FORM_FIELDS;

/// The platform's routes.
pub fn routes() -> Vec<CallbackRoute> {
    vec![
        CallbackRoute::post("/callbacks/alipay/{app_id}", Receive)
            .body_refused(answer(400, "fail")),
    ]
}

fn answer(status: u16, body: &'static str) -> CallbackResponse {
    CallbackResponse::text(status, body)
}

struct Receive;

#[async_trait]
impl CallbackHandler for Receive {
    async fn handle(&self, ctx: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse {
        receive(ctx, &req).await
    }
}

#[tracing::instrument(skip_all, fields(platform = "alipay", app_id = %req.param("app_id"), notify_id, msg_method))]
async fn receive(state: CallbackContext<'_>, req: &CallbackRequest) -> CallbackResponse {
    let app_id = req.param("app_id");
    let account = match state
        .accounts
        .find(&*state.ports.records, "alipay", app_id)
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::warn!("message for an unknown app");
            return answer(404, "fail");
        }
        Err(e) => {
            tracing::error!(error = %crate::error::chain(&e), "records unavailable");
            return answer(503, "fail");
        }
    };
    let params = match alipay::notify::parse_form(&req.body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(reason = %e, "message body refused");
            return answer(400, "fail");
        }
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(key) = super::credentials::verifying_key(&*state.ports.secrets, &account).await else {
        tracing::error!(account_id = %account.id, "cannot verify: the app's Alipay key or certificate is not configured");
        return answer(503, "fail");
    };
    let Some(rule) = alipay::notify::verify(&params, &key) else {
        tracing::warn!("message signature does not verify");
        return answer(400, "fail").counted_as(CallbackOutcome::BadSignature);
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
        return answer(400, "fail");
    }
    let job_kind = match method.as_str() {
        "alipay.merchant.tradecomplain.changed" => jobs::TRADE_COMPLAINT,
        "alipay.security.risk.complaints.merchants.notify" => jobs::RISK_COMPLAINT,
        other => {
            tracing::info!(
                msg_method = other,
                "message method not handled; acknowledged"
            );
            return answer(200, "success");
        }
    };
    let Ok(biz) = serde_json::from_str::<serde_json::Value>(get("biz_content").unwrap_or_default())
    else {
        tracing::warn!("biz_content is not JSON");
        return answer(400, "fail");
    };
    if notify_id.is_empty() {
        return answer(400, "fail");
    }
    let now = req.received_at;
    let message = jobs::Message {
        app_id: app_id.to_string(),
        notify_id: notify_id.clone(),
        msg_method: method.clone(),
        biz,
    };
    let Ok(job) = job_kind.envelope(&message, now) else {
        return answer(500, "fail");
    };
    let job = job.for_account(&account.id, None);
    let record = json!({"msg_method": method, "received_at": now, "account_id": account.id});
    match accept(
        state.services,
        &format!("alipay:{app_id}:{notify_id}"),
        record,
        &job,
    )
    .await
    {
        Ok(Accepted::Queued) => {
            tracing::info!(enabled = account.enabled, "message accepted and queued");
            answer(200, "success").counted_as(CallbackOutcome::queued(account.enabled))
        }
        Ok(Accepted::Duplicate) => {
            tracing::info!("duplicate message; nothing more to do");
            answer(200, "success").counted_as(CallbackOutcome::Duplicate)
        }
        Err(NotAccepted::Refused) => answer(500, "fail"),
        Err(NotAccepted::Unavailable) => answer(503, "fail"),
    }
}
