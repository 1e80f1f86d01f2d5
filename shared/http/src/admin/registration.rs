//! `/admin/v1/accounts/{id}/callback-registration`: register our callback URLs with the
//! platform, where it has an API for it (WeChat Pay: the complaint URL for merchants and
//! providers, and the violation URL for providers). URLs are built from `PUBLIC_BASE_URL`.

use super::accounts::visible_account;
use super::budget::{self, wechatpay_error as platform};
use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use desk_core::platforms::wechatpay::limits::NOTIFICATION_URL;
use domain::account::{Account, AccountKind};
use serde::Serialize;
use utoipa::ToSchema;
use wechatpay::client::NotificationUrl;

/// One callback URL and what the platform has registered.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registration {
    /// Our URL for this notification.
    pub ours: String,
    /// What the platform has registered (none if nothing).
    pub registered: Option<String>,
    pub matches: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Registrations {
    pub complaints: Registration,
    /// Service providers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violations: Option<Registration>,
}

fn kinds(account: &Account) -> Result<Vec<(NotificationUrl, &'static str)>, ApiError> {
    match account.kind() {
        AccountKind::WechatpayMerchant => Ok(vec![(NotificationUrl::Complaints, "complaints")]),
        AccountKind::WechatpayProvider => Ok(vec![
            (NotificationUrl::Complaints, "complaints"),
            (NotificationUrl::Violations, "violations"),
        ]),
        other => Err(ApiError::Conflict(format!(
            "{other} has no registration API: set the callback URL in the platform's console"
        ))),
    }
}

fn our_url(state: &AppState, account: &Account, path: &str) -> Result<String, ApiError> {
    let base = state.public_base_url.as_ref().ok_or_else(|| {
        ApiError::Conflict(
            "PUBLIC_BASE_URL is not set: the platforms need an HTTPS address to call".into(),
        )
    })?;
    if base.scheme() != "https" {
        return Err(ApiError::Conflict(
            "PUBLIC_BASE_URL must be https: the platforms call only HTTPS addresses".into(),
        ));
    }
    Ok(format!(
        "{}/callbacks/wechatpay/{}/{path}",
        base.as_str().trim_end_matches('/'),
        account.platform_id()
    ))
}

async fn describe(state: &AppState, account: &Account) -> Result<Registrations, ApiError> {
    let c = state.wechatpay_client(account).await?;
    let mut out = Vec::new();
    for (which, path) in kinds(account)? {
        let ours = our_url(state, account, path)?;
        budget::take(state, budget::merchant_of(account), NOTIFICATION_URL).await?;
        let registered = c.notification_url(which).await.map_err(platform)?;
        out.push(Registration {
            matches: registered.as_deref() == Some(ours.as_str()),
            ours,
            registered,
        });
    }
    let mut it = out.into_iter();
    let complaints = it
        .next()
        .ok_or_else(|| ApiError::Internal("no complaint registration".into()))?;
    Ok(Registrations {
        complaints,
        violations: it.next(),
    })
}

#[utoipa::path(
    post, path = "/admin/v1/accounts/{id}/callback-registration", tag = "accounts",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Registrations, description = "Registered; what the platform now holds"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Registrations>, ApiError> {
    let (account, _) = visible_account(&state, &caller, &id).await?;
    let c = state.wechatpay_client(&account).await?;
    for (which, path) in kinds(&account)? {
        let url = our_url(&state, &account, path)?;
        // Converges: an unchanged URL is not written again, a changed one is replaced.
        budget::take(&state, budget::merchant_of(&account), NOTIFICATION_URL).await?;
        let done = c
            .set_notification_url(which, &url)
            .await
            .map_err(platform)?;
        tracing::info!(%url, outcome = ?done, "callback URL registered");
    }
    Ok(Json(describe(&state, &account).await?))
}

#[utoipa::path(
    get, path = "/admin/v1/accounts/{id}/callback-registration", tag = "accounts",
    params(("id" = String, Path)),
    responses((status = 200, body = Registrations), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_registration(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Registrations>, ApiError> {
    let (account, _) = visible_account(&state, &caller, &id).await?;
    Ok(Json(describe(&state, &account).await?))
}

#[utoipa::path(
    delete, path = "/admin/v1/accounts/{id}/callback-registration", tag = "accounts",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub async fn unregister(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let (account, _) = visible_account(&state, &caller, &id).await?;
    let c = state.wechatpay_client(&account).await?;
    for (which, _) in kinds(&account)? {
        budget::take(&state, budget::merchant_of(&account), NOTIFICATION_URL).await?;
        match c.delete_notification_url(which).await {
            Ok(()) | Err(wechatpay::PlatformError::Api { status: 404, .. }) => {}
            Err(e) => return Err(platform(e)),
        }
    }
    tracing::info!("callback URLs unregistered");
    Ok(StatusCode::NO_CONTENT)
}
