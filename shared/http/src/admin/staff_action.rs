//! What every staff action on a complaint shares, whichever platform it goes to: finding the
//! complaint within the caller's scope, writing the action log, and the answer
//! ([`ActionResult`]).

use crate::ApiError;
use crate::caller::Caller;
use crate::state::AppState;
use axum::Json;
use desk_core::complaints::{ComplaintRepo, derived_id};
use domain::complaint::{ActionKind, ActionLogEntry, ActionOutcome, ActionTrigger, Complaint};
use serde::Serialize;
use utoipa::ToSchema;

/// The complaint, if the caller may see it (404 otherwise, as for an unknown id).
pub async fn visible(state: &AppState, caller: &Caller, id: &str) -> Result<Complaint, ApiError> {
    let found = ComplaintRepo::new(&*state.ports.records).get(id).await?;
    match found {
        Some((c, _))
            if caller
                .scope
                .covers(Some(&c.account_id), c.sub_mchid.as_deref()) =>
        {
            Ok(c)
        }
        _ => Err(ApiError::not_found(format!("complaint {id} not found"))),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionResult {
    pub complaint_id: String,
    pub action: ActionKind,
    pub outcome: ActionOutcome,
    /// Refund number, when one was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_no: Option<String>,
}

/// The answer of an action that succeeded.
pub fn done(id: &str, action: ActionKind, request_no: Option<String>) -> Json<ActionResult> {
    Json(ActionResult {
        complaint_id: id.to_string(),
        action,
        outcome: ActionOutcome::Succeeded,
        request_no,
    })
}

/// Write a staff action on a complaint to its action log (who, what, how it went).
pub async fn log_admin(
    state: &AppState,
    caller: &Caller,
    complaint_id: &str,
    action: ActionKind,
    outcome: ActionOutcome,
    detail: String,
    request_no: Option<String>,
) -> Result<(), ApiError> {
    let now = state.ports.clock.now();
    tracing::info!(complaint_id, action = ?action, outcome = ?outcome, %detail, token_id = %caller.token_id, "admin action");
    ComplaintRepo::new(&*state.ports.records)
        .log_action(&ActionLogEntry {
            complaint_id: complaint_id.to_string(),
            action_id: derived_id(
                "act_",
                &format!("{}|{}|{now}", caller.token_id, uuid::Uuid::new_v4()),
            ),
            action,
            trigger: ActionTrigger::Admin {
                token_id: caller.token_id.clone(),
            },
            outcome,
            detail,
            request_no,
            at: now,
        })
        .await?;
    Ok(())
}

/// Log a platform call's outcome in the action log, and answer (`to_api` maps its error).
#[allow(clippy::too_many_arguments)]
pub async fn log_outcome<T, E: std::fmt::Display>(
    state: &AppState,
    caller: &Caller,
    complaint_id: &str,
    action: ActionKind,
    what: String,
    request_no: Option<String>,
    result: Result<T, E>,
    to_api: impl FnOnce(E) -> ApiError,
) -> Result<T, ApiError> {
    match result {
        Ok(v) => {
            log_admin(
                state,
                caller,
                complaint_id,
                action,
                ActionOutcome::Succeeded,
                what,
                request_no,
            )
            .await?;
            Ok(v)
        }
        Err(e) => {
            log_admin(
                state,
                caller,
                complaint_id,
                action,
                ActionOutcome::Failed,
                format!("{what}: {e}"),
                request_no,
            )
            .await?;
            Err(to_api(e))
        }
    }
}
