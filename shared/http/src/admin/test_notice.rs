//! `POST /admin/v1/accounts/{id}/notifications/test` and the sub-merchant's: send one test
//! notice now through every channel the audience's staff notification settings configure, and
//! answer each channel's and recipient's result in words ([`desk_core::test_notice`]). At
//! most one per audience every 30 seconds (429 with `Retry-After`); 409 when no channel is
//! configured. A disabled audience still gets the test, with a note that real notices are off.

use super::accounts::visible_account;
use super::sub_merchants::visible_sub_merchant;
use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use desk_core::test_notice::{TestAudience, TestNoticeReport, send_test_notice};
use domain::notification::Audience;

/// Send the test notice to an audience the caller may see.
pub async fn send_to(
    state: &AppState,
    caller: &Caller,
    id: &str,
    sub_mchid: Option<&str>,
) -> Result<TestNoticeReport, ApiError> {
    let to = match sub_mchid {
        None => {
            let (account, _) = visible_account(state, caller, id).await?;
            TestAudience {
                audience: Audience {
                    account_id: account.id,
                    sub_mchid: None,
                },
                name: account.name,
                disabled: !account.enabled,
            }
        }
        Some(sub) => {
            let (s, _) = visible_sub_merchant(state, caller, id, sub).await?;
            TestAudience {
                audience: Audience {
                    account_id: s.account_id,
                    sub_mchid: Some(s.sub_mchid),
                },
                name: s.name,
                disabled: !s.enabled,
            }
        }
    };
    Ok(send_test_notice(state.services(), &to).await?)
}

#[utoipa::path(
    post, path = "/admin/v1/accounts/{id}/notifications/test", tag = "notifications",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = TestNoticeReport, description = "Sent: each channel's and recipient's result, failures with why in words (`zh`, `en`)"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "No notification channel is configured"),
        (status = 429, body = ErrorBody, description = "A test notice was sent to this audience less than 30 seconds ago; `Retry-After` says when to try again", headers(("Retry-After" = u32, description = "Seconds (whole, rounded up) until the next test notice to this audience")))
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub async fn test_account_notifications(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TestNoticeReport>, ApiError> {
    Ok(Json(send_to(&state, &caller, &id, None).await?))
}

#[utoipa::path(
    post, path = "/admin/v1/accounts/{id}/sub-merchants/{sub_mchid}/notifications/test", tag = "notifications",
    params(("id" = String, Path), ("sub_mchid" = String, Path)),
    responses(
        (status = 200, body = TestNoticeReport, description = "Sent: each channel's and recipient's result, failures with why in words (`zh`, `en`)"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "No notification channel is configured"),
        (status = 429, body = ErrorBody, description = "A test notice was sent to this audience less than 30 seconds ago; `Retry-After` says when to try again", headers(("Retry-After" = u32, description = "Seconds (whole, rounded up) until the next test notice to this audience")))
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id, sub_mchid = %sub_mchid))]
pub async fn test_sub_merchant_notifications(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, sub_mchid)): ApiPath<(String, String)>,
) -> Result<Json<TestNoticeReport>, ApiError> {
    Ok(Json(send_to(&state, &caller, &id, Some(&sub_mchid)).await?))
}
