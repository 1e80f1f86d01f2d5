//! `/admin/v1/sandbox/...`: the sandbox accounts of an instance started with `--sandbox`, and
//! pushing a test complaint for one of them ([`crate::try_it`]). Without an engine both answer
//! 404 saying how to turn them on.

use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::http::ValidJson;
use crate::state::AppState;
use crate::try_it::{Pushed, SandboxAccount, TestComplaint, TryIt, TryItError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// What the routes answer when this server has no sandbox accounts.
pub const SANDBOX_OFF: &str = "sandbox accounts are off (start with --sandbox)";

/// `GET /sandbox/accounts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxAccounts {
    /// The sandbox accounts the token may see, in a stable order (WeChat Pay first).
    pub items: Vec<SandboxAccount>,
}

/// `POST /sandbox/push`: which sandbox account (by id, by platform, or both; neither: the first
/// one) and the test complaint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushTestComplaint {
    /// Our id of a sandbox account.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub account_id: Option<String>,
    /// The sandbox account of this platform (`wechatpay`, `alipay`, `wxmini`); with
    /// `account_id`, the account must be of this platform.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub platform: Option<String>,
    /// The order's amount in fen (default 100, i.e. 1.00 yuan: under the sandbox accounts'
    /// automatic refund cap of 5.00 yuan).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub amount_fen: Option<u64>,
    /// What the buyer wrote (default: a sentence about a broken power bank).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 300)]
    pub text: Option<String>,
}

fn engine(state: &AppState) -> Result<&Arc<dyn TryIt>, ApiError> {
    state
        .try_it
        .as_ref()
        .ok_or_else(|| ApiError::not_found(SANDBOX_OFF))
}

/// The sandbox accounts `caller` may see: whole accounts within its scope (a token scoped to a
/// sub-merchant has none: a test complaint goes to the sandbox's own sub-merchant, which would
/// be outside its scope).
async fn visible(engine: &dyn TryIt, caller: &Caller) -> Vec<SandboxAccount> {
    engine
        .accounts()
        .await
        .into_iter()
        .filter(|a| caller.require_account(&a.account_id).is_ok())
        .collect()
}

#[utoipa::path(
    get, path = "/admin/v1/sandbox/accounts", tag = "sandbox",
    description = "The sandbox accounts of this instance: one per platform, against the platform simulators built into the all-in-one binary, present only when it was started with `--sandbox` (`SANDBOX=1`). Their names start with `沙箱 Sandbox · `. 404 when the server has none.",
    responses(
        (status = 200, body = SandboxAccounts),
        (status = 404, body = ErrorBody, description = "Sandbox accounts are off (start with --sandbox)")
    ),
    security(("bearer" = []))
)]
pub async fn list_sandbox_accounts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SandboxAccounts>, ApiError> {
    let engine = engine(&state)?;
    Ok(Json(SandboxAccounts {
        items: visible(&**engine, &caller).await,
    }))
}

#[utoipa::path(
    post, path = "/admin/v1/sandbox/push", tag = "sandbox",
    request_body = PushTestComplaint,
    description = "Push one realistic test complaint for a sandbox account: the account's simulator creates it and sends its signed (and, where the platform does, encrypted) push to this server's own callback route, exactly as the platform would; everything after is the real path (queue, worker, automatic reply, refund under the account's cap of 5.00 yuan, staff notice). Answers once the callback route accepted the push; the complaint appears shortly after at `complaint_id`. A scoped token may push only for an account in its scope (a token scoped to a sub-merchant has no sandbox account).",
    responses(
        (status = 202, body = Pushed, description = "The push was accepted by our callback route; the complaint is being handled"),
        (status = 404, body = ErrorBody, description = "Sandbox accounts are off (start with --sandbox), or no sandbox account has this id and platform (or it is outside the token's scope)"),
        (status = 502, body = ErrorBody, description = "Our own callback route refused the push (the message says what it answered)")
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn push_sandbox_complaint(
    State(state): State<AppState>,
    caller: Caller,
    ValidJson(body): ValidJson<PushTestComplaint>,
) -> Result<(StatusCode, Json<Pushed>), ApiError> {
    let engine = engine(&state)?;
    let test = TestComplaint::new(body.amount_fen, body.text.as_deref())
        .map_err(|(field, message)| ApiError::field(field, message))?;
    let accounts = visible(&**engine, &caller).await;
    // Both given: the account must be of that platform.
    let chosen = accounts.iter().find(|a| {
        body.account_id
            .as_ref()
            .is_none_or(|id| &a.account_id == id)
            && body.platform.as_ref().is_none_or(|p| &a.platform == p)
    });
    let Some(account) = chosen else {
        let names: Vec<&str> = accounts.iter().map(|a| a.platform.as_str()).collect();
        return Err(ApiError::not_found(format!(
            "no such sandbox account; this server has {}",
            if names.is_empty() {
                "none this token may use".to_string()
            } else {
                names.join(", ")
            }
        )));
    };
    match engine.push(&account.account_id, test).await {
        Ok(pushed) => {
            tracing::info!(account_id = %pushed.account_id, platform_complaint_id = %pushed.platform_complaint_id, "test complaint pushed");
            Ok((StatusCode::ACCEPTED, Json(pushed)))
        }
        Err(TryItError::UnknownAccount(id)) => Err(ApiError::not_found(format!(
            "{id} is not a sandbox account"
        ))),
        Err(e @ TryItError::Refused(_)) => Err(ApiError::Platform(e.to_string())),
        Err(e @ TryItError::Failed(_)) => Err(ApiError::internal(e)),
    }
}
