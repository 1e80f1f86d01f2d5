//! Reconciliation on demand and an account's health: `POST /accounts/{id}/reconcile` runs a
//! pass now (time-boxed well inside API Gateway's 30 s: what it found so far, `complete:
//! false` when the rest was queued), `GET /accounts/{id}/health` reads what the passes and the
//! workers recorded (no platform call).

use super::accounts::visible_account;
use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use desk_core::reconcile::health::Health;
use desk_core::reconcile::pass::{ADMIN_BUDGET, reconciles};
use desk_core::reconcile::{Outcome, Report, run_now};
use desk_core::worker::JobError;

#[utoipa::path(
    post, path = "/admin/v1/accounts/{id}/reconcile", tag = "accounts",
    description = "Run a reconciliation pass of the account now: list the platform's recent complaints, re-read the detail of open ones, compare the registered callback URLs. A complaint we did not know, or whose state moved without a push, older than the 15-minute grace (a push may still be on its way), goes through the same job a push would have queued, so nothing is answered or refunded twice. Time-boxed: it works at most 15 s (no platform call starts with less than 6 s left; one still running then is cut off) and answers what was done so far, with `complete: false` when the rest runs on the queue (`continues_at`); the counts are the whole pass's, `found_complaints` those this request found. A complaint created or changed before the account was added here, or changed by the merchant in the platform's own console, is brought up to date without counting as found. A pass under way is replaced by this one. A throttled pass (the platform's 429, or our rate limiter) answers 200 with `outcome: throttled` and continues on the queue.",
    params(("id" = String, Path, description = "Our account id")),
    responses(
        (status = 200, body = Report, description = "What the pass did (so far)"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The account's kind receives no complaints (nothing to reconcile), or a pass staff asked for less than a minute ago is still under way (staff's passes start at most once a minute per account)"),
        (status = 503, body = ErrorBody, description = "The record store or the queue is unavailable; nothing was lost, try again")
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub async fn reconcile_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Report>, ApiError> {
    let (account, _) = visible_account(&state, &caller, &id).await?;
    if !reconciles(state.platforms(), &account) {
        return Err(ApiError::Conflict(format!(
            "account {id} is a {} account: it receives no complaints, nothing to reconcile",
            account.kind().as_str()
        )));
    }
    match run_now(state.services(), state.platforms(), &id, ADMIN_BUDGET).await {
        Ok(Some(report)) if report.outcome == Outcome::Skipped => {
            let why = report
                .error
                .unwrap_or_else(|| "another pass is under way".into());
            if why.contains("no longer exists") {
                // Deleted while the request ran.
                Err(ApiError::not_found(format!("account {id} not found")))
            } else {
                Err(ApiError::Conflict(why))
            }
        }
        Ok(Some(report)) => Ok(Json(report)),
        Ok(None) => Err(ApiError::not_found(format!("account {id} not found"))),
        Err(JobError::Retryable { source, .. }) => {
            tracing::warn!(error = %desk_core::error::chain(&*source), "reconciliation could not run");
            Err(ApiError::Busy(
                "the record store or the queue is unavailable; try again",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "reconciliation failed");
            Err(ApiError::internal(e))
        }
    }
}

#[utoipa::path(
    get, path = "/admin/v1/accounts/{id}/health", tag = "accounts",
    description = "The account's push and reconciliation health: the last push received, the last reconciliation pass and its outcome, complaints found only by reconciliation (7 days), platform errors and throttling answers (24 h), and the callback URLs registered on the platform compared with the expected ones (as the last pass read them).",
    params(("id" = String, Path, description = "Our account id")),
    responses((status = 200, body = Health), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn account_health(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Health>, ApiError> {
    visible_account(&state, &caller, &id).await?;
    let now = state.ports.clock.now();
    let h = desk_core::reconcile::health::health(&*state.ports.records, &id, now).await?;
    Ok(Json(h))
}
