//! The admin API (`/admin/v1`): bearer tokens, accounts, write-only credentials,
//! sub-merchants, staff notification settings, tokens and dead letters. One axum router, served
//! by the embedded binary and by the `admin-api` Lambda function.

pub mod accounts;
pub mod actions;
pub mod alipay_actions;
pub mod budget;
pub mod complaints;
pub mod dead_letters;
pub mod notifications;
pub mod openapi;
pub mod registration;
pub mod sub_merchants;
pub mod tokens;
pub mod validate;
pub mod wxmini_actions;

use crate::auth::Caller;
use crate::state::AppState;
use axum::Router;
use axum::extract::{RawPathParams, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const BASE: &str = crate::http::ADMIN_BASE;

/// The most items a page holds (`limit`).
pub const PAGE_LIMIT_MAX: u32 = 200;
/// Items a page holds when `limit` is not given.
pub const PAGE_LIMIT_DEFAULT: u32 = 50;

/// `?limit=&cursor=` on list routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    #[serde(default, deserialize_with = "crate::extract::empty_as_none")]
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<u32, crate::ApiError> {
        match self.limit {
            None => Ok(PAGE_LIMIT_DEFAULT),
            Some(n) if (1..=PAGE_LIMIT_MAX).contains(&n) => Ok(n),
            Some(_) => Err(crate::ApiError::field("limit", "must be 1 to 200")),
        }
    }
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub fn router(state: AppState) -> Router<AppState> {
    let r = Router::new()
        .route(
            "/accounts",
            get(accounts::list_accounts).post(accounts::create_account),
        )
        .route(
            "/accounts/{id}",
            get(accounts::get_account)
                .patch(accounts::patch_account)
                .delete(accounts::delete_account),
        )
        .route("/accounts/{id}/credentials", put(accounts::put_credentials))
        .route(
            "/accounts/{id}/authorization-link",
            post(crate::wxopen::authorization_link),
        )
        .route(
            "/accounts/{id}/trade-score",
            get(wxmini_actions::trade_score),
        )
        .route(
            "/accounts/{id}/callback-registration",
            post(registration::register)
                .get(registration::get_registration)
                .delete(registration::unregister),
        )
        .route(
            "/accounts/{id}/sub-merchants",
            get(sub_merchants::list_sub_merchants).post(sub_merchants::create_sub_merchant),
        )
        .route(
            "/accounts/{id}/sub-merchants/{sub_mchid}",
            get(sub_merchants::get_sub_merchant)
                .patch(sub_merchants::patch_sub_merchant)
                .delete(sub_merchants::delete_sub_merchant),
        )
        .route(
            "/accounts/{id}/notifications",
            get(notifications::get_account_notifications)
                .put(notifications::put_account_notifications),
        )
        .route(
            "/accounts/{id}/sub-merchants/{sub_mchid}/notifications",
            get(notifications::get_sub_merchant_notifications)
                .put(notifications::put_sub_merchant_notifications),
        )
        .route(
            "/tokens",
            get(tokens::list_tokens).post(tokens::create_token),
        )
        .route("/tokens/{id}", axum::routing::delete(tokens::delete_token))
        .route("/complaints", get(complaints::list_complaints))
        .route("/complaints/{id}", get(complaints::get_complaint))
        .route("/complaints/{id}/reply", post(complaints::reply))
        .route("/complaints/{id}/complete", post(complaints::complete))
        .route("/complaints/{id}/refund", post(complaints::refund))
        .route(
            "/complaints/{id}/refund-progress",
            post(complaints::refund_progress),
        )
        .route("/complaints/{id}/feedback", post(actions::feedback))
        .route("/complaints/{id}/supplement", post(actions::supplement))
        .route(
            "/complaints/{id}/refund-evidence",
            post(actions::refund_evidence),
        )
        .route("/complaints/{id}/appeal", post(actions::appeal))
        .route(
            "/complaints/{id}/media/{n}",
            get(complaints::download_media),
        )
        // Its body limit, `crate::http::MEDIA_LIMIT`, is decided with every other route's
        // (`crate::http::body_rule`).
        .route("/media", post(complaints::upload_media))
        .route("/violations", get(complaints::list_violations))
        .route("/deliveries", get(complaints::list_deliveries))
        .route("/dead-letters", get(dead_letters::list_dead_letters))
        .route(
            "/dead-letters/{id}/replay",
            post(dead_letters::replay_dead_letter),
        )
        .route_layer(axum::middleware::from_fn(check_path_ids))
        .route_layer(axum::middleware::from_fn_with_state(state, authenticate))
        // Registered after the layers: the document needs no token.
        .route("/openapi.json", get(openapi::serve));
    Router::new().nest(BASE, r)
}

/// Our ids in paths (`acc_…`, `cmp_…`, token ids, a dead letter's `queue:message-id`): at most
/// this many bytes of [`is_id_byte`].
pub const ID_MAX_LEN: usize = 200;
/// The most a media position (`/complaints/{id}/media/{n}`) can be.
pub const MEDIA_POSITION_MAX: u32 = 9999;

/// A byte of one of our ids: letters, digits, `_`, `-`, `:`.
pub fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':')
}

/// The pattern of our ids, as the OpenAPI document states it (the same rule as [`is_id_byte`]
/// and [`ID_MAX_LEN`]).
pub fn id_pattern() -> String {
    format!("^[A-Za-z0-9_:-]{{1,{ID_MAX_LEN}}}$")
}

/// Whether a path parameter is acceptable, and what it must be when it is not.
pub fn check_path_param(name: &str, value: &str) -> Result<(), &'static str> {
    match name {
        "sub_mchid" => {
            if validate::is_platform_number(value) {
                Ok(())
            } else {
                Err("must be a sub-merchant number (8 to 32 digits)")
            }
        }
        "n" => {
            if value.parse::<u32>().is_ok_and(|n| n <= MEDIA_POSITION_MAX)
                && value.bytes().all(|b| b.is_ascii_digit())
            {
                Ok(())
            } else {
                Err("must be a position in the media list (0 to 9999)")
            }
        }
        _ => {
            if (1..=ID_MAX_LEN).contains(&value.len()) && value.bytes().all(is_id_byte) {
                Ok(())
            } else {
                Err("must be an id: 1 to 200 letters, digits, _, - or :")
            }
        }
    }
}

/// Every admin route but the document itself needs a token, checked before anything else about
/// the request: on a served route and method, a caller without a valid token gets 401, never a
/// 400 about the path or the body. A path or method that is not served answers 404 or 405 with
/// or without a token (it reveals nothing the public document does not). The caller is kept for the handler's [`Caller`] extractor.
async fn authenticate(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    use axum::extract::FromRequestParts;
    let (mut parts, body) = req.into_parts();
    match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) => e.into_response(),
    }
}

/// Every id in an admin path is checked before a handler runs: ours (`acc_…`, `cmp_…`, token
/// and dead-letter ids) and the platforms' (`sub_mchid`) are plain words; anything else (`../`,
/// `%2F`, spaces, controls, bytes that are not UTF-8) is 400 naming the parameter, never
/// looked up or sent on.
async fn check_path_ids(
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    req: Request,
    next: Next,
) -> Response {
    let params = match params {
        Ok(p) => p,
        Err(axum::extract::rejection::RawPathParamsRejection::InvalidUtf8InPathParam(e)) => {
            let field = match e.body_text().split('`').nth(1) {
                Some(name) => name.to_string(),
                None => "path".to_string(),
            };
            return crate::ApiError::field(field, "must be UTF-8 text").into_response();
        }
        Err(e) => return crate::ApiError::Internal(Box::new(e)).into_response(),
    };
    for (name, value) in &params {
        if let Err(what) = check_path_param(name, value) {
            return crate::ApiError::field(name, what).into_response();
        }
    }
    next.run(req).await
}
