//! The admin API (`/admin/v1`): bearer tokens, accounts, write-only credentials,
//! sub-merchants, staff notification settings, tokens and dead letters. One axum router, served
//! by the embedded binary and by the `admin-api` Lambda function.

pub mod accounts;
pub mod alipay_actions;
pub mod complaints;
pub mod dead_letters;
pub mod notifications;
pub mod openapi;
pub mod registration;
pub mod sub_merchants;
pub mod tokens;
pub mod validate;
pub mod wxmini_actions;

use crate::state::AppState;
use axum::Router;
use axum::extract::{RawPathParams, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const BASE: &str = "/admin/v1";

/// `?limit=&cursor=` on list routes.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageParams {
    /// 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<u32, crate::ApiError> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=200).contains(&n) => Ok(n),
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

pub fn router() -> Router<AppState> {
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
        .route("/complaints/{id}/{action}", post(complaints::other_action))
        .route(
            "/complaints/{id}/media/{n}",
            get(complaints::download_media),
        )
        // Its body limit, `complaints::MEDIA_LIMIT`, is decided with every other route's
        // (`crate::http::body_rule`).
        .route("/media", post(complaints::upload_media))
        .route("/violations", get(complaints::list_violations))
        .route("/deliveries", get(complaints::list_deliveries))
        .route("/dead-letters", get(dead_letters::list_dead_letters))
        .route(
            "/dead-letters/{id}/replay",
            post(dead_letters::replay_dead_letter),
        )
        .route("/openapi.json", get(openapi::serve))
        .route_layer(axum::middleware::from_fn(check_path_ids));
    Router::new().nest(BASE, r)
}

/// Every id in an admin path is checked before a handler runs: ours (`acc_…`, `cmp_…`, token
/// and dead-letter ids) and the platforms' (`sub_mchid`) are plain words; anything else (`../`,
/// `%2F`, spaces, controls) is 400 naming the parameter, never looked up or sent on.
async fn check_path_ids(params: RawPathParams, req: Request, next: Next) -> Response {
    for (name, value) in &params {
        let ok = match name {
            "sub_mchid" => {
                (8..=32).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
            }
            "n" => value.len() <= 4 && value.bytes().all(|b| b.is_ascii_digit()),
            // Our ids; a dead letter's is `queue:message-id`.
            _ => {
                (1..=200).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'))
            }
        };
        if !ok {
            let what = match name {
                "sub_mchid" => "must be a sub-merchant number (8 to 32 digits)",
                "n" => "must be a position in the media list (a small number)",
                _ => "must be an id: letters, digits, _, - or :",
            };
            return crate::ApiError::field(name, what).into_response();
        }
    }
    next.run(req).await
}
