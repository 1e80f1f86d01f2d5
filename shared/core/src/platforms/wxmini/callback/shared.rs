//! What the mini-program and third-party platform callbacks share: the answers, the query,
//! the refusals, the third-party platform's crypto, durable acceptance.

use crate::callback::{CallbackContext, CallbackRequest, CallbackResponse, NotAccepted, accept};
use crate::platforms::wechat::{ComponentAccount, component_by_appid};
use domain::job::JobEnvelope;
use domain::ports::Accepted;
use serde_json::Value;
use wechat::crypt::{Crypto, PushError, PushQuery};

pub(super) fn answer(status: u16, body: &'static str) -> CallbackResponse {
    CallbackResponse::text(status, body)
}

pub(super) fn query(req: &CallbackRequest) -> PushQuery {
    PushQuery::from_query(req.query.as_deref())
}

pub(super) fn refused(e: &PushError) -> CallbackResponse {
    match e {
        PushError::BadSignature => {
            tracing::warn!("push signature does not verify");
            answer(401, "fail")
        }
        PushError::WrongAppid(other) => {
            tracing::warn!(cipher_appid = %other, "push encrypted for another app");
            answer(401, "fail")
        }
        PushError::Malformed(m) => {
            tracing::warn!(reason = %m, "malformed push");
            answer(400, "fail")
        }
        PushError::PlaintextRefused => {
            tracing::warn!("plaintext push where encryption is required; refused");
            answer(401, "fail")
        }
        PushError::Stale => {
            tracing::warn!("plaintext push outside the timestamp window; refused");
            answer(401, "fail")
        }
    }
}

pub(super) fn unavailable(e: &(dyn std::error::Error + 'static)) -> CallbackResponse {
    tracing::error!(error = %crate::error::chain(e), "records unavailable");
    answer(503, "fail")
}

/// A third-party platform's push crypto (its ciphertexts name the component appid).
pub(super) async fn component_crypto(
    state: CallbackContext<'_>,
    component_appid: &str,
) -> Result<(ComponentAccount, Crypto), CallbackResponse> {
    let c = match component_by_appid(state.services, component_appid).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            tracing::warn!("push for an unknown third-party platform");
            return Err(answer(404, "fail"));
        }
        Err(e) => {
            tracing::error!(reason = %e, "third-party platform not usable");
            return Err(answer(503, "fail"));
        }
    };
    match Crypto::new(&c.token, c.encoding_aes_key.as_deref(), component_appid) {
        Ok(crypto) => Ok((c, crypto)),
        Err(e) => {
            tracing::error!(reason = %e, "the third-party platform's EncodingAESKey is unusable");
            Err(answer(503, "fail"))
        }
    }
}

/// Accept a push's job durably and answer. A push for a disabled account (`enabled` false)
/// is answered `success` all the same, so WeChat stops retrying (the worker records it and
/// takes no action), but counted `disabled` like the other platforms' callbacks.
pub(super) async fn enqueue(
    state: CallbackContext<'_>,
    dedupe_key: &str,
    job: JobEnvelope,
    record: Value,
    enabled: bool,
) -> CallbackResponse {
    match accept(state.services, dedupe_key, record, &job).await {
        Ok(Accepted::Queued) => {
            tracing::info!(job_type = %job.job_type, "push accepted and queued");
            answer(200, "success").counted_as(crate::metrics::CallbackOutcome::queued(enabled))
        }
        Ok(Accepted::Duplicate) => {
            tracing::info!("duplicate push; nothing more to do");
            answer(200, "success").counted_as(crate::metrics::CallbackOutcome::Duplicate)
        }
        Err(NotAccepted::Refused) => answer(500, "fail"),
        Err(NotAccepted::Unavailable) => answer(503, "fail"),
    }
}
