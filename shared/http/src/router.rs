//! The routers: every route (the all-in-one binary, the admin API function), or only the
//! callback routes of one endpoint family of the registered platforms (the callback functions).
//! The registered platforms' browser pages are served by the first only.

use crate::error::ApiError;
use crate::http::{request_id, route_body_limit};
use crate::state::CallbackState;
use axum::Router;
use axum::extract::State;
use axum::response::Response;

async fn fallback() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// `GET /healthz` (see [`crate::health`]).
async fn healthz(State(state): State<CallbackState>) -> Response {
    state.health.answer(&state.ports).await
}

/// Every route: the health check, the admin API, every registered platform's callbacks and
/// browser pages. The same router runs in the embedded binary and in Lambda (admin API).
#[cfg(feature = "full")]
pub fn router(state: crate::AppState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(crate::scrape::metrics))
        .merge(crate::admin::router(state.clone()))
        .merge(crate::console::router(&state))
        .merge(crate::callbacks::routes(
            state.platforms(),
            crate::callbacks::Mount::All,
        ))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(route_body_limit))
        .layer(axum::middleware::from_fn(request_id))
        .with_state(state)
}

/// Only the callbacks of one endpoint family ([`desk_core::callback::CallbackRoute::family`])
/// of the platforms registered in the state, and the health check (the callback Lambda
/// functions): no page.
pub fn callback_router(state: CallbackState, family: &str) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .merge(crate::callbacks::routes(
            &state.platforms,
            crate::callbacks::Mount::Family(family),
        ))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(route_body_limit))
        .layer(axum::middleware::from_fn(request_id))
        .with_state(state)
}
