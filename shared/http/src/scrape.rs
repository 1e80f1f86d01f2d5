//! `GET /metrics`: the metrics in Prometheus's text format, for a token or a console session
//! of scope `all` (any role: a viewer's token will do). 401 without one, 403 for a token
//! scoped to an account or a sub-merchant (the metrics cover every account), in the admin
//! API's error format. Served only where a composition root renders metrics
//! ([`Scrape`]: the embedded binary); elsewhere 404.

use crate::caller::Caller;
use crate::console::web::{SESSION_COOKIE_PLAIN, SESSION_COOKIE_SECURE, cookie};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use desk_core::sessions::SessionRepo;

/// The content type of Prometheus's text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

pub use crate::state::Scrape;

/// The metrics as a response.
pub async fn text(scrape: &dyn Scrape) -> Response {
    let mut res = scrape.render().await.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res
}

/// `GET /metrics` on the main listener.
pub async fn metrics(State(state): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let Some(scrape) = state.metrics.clone() else {
        return ApiError::NotFound("no such route".into()).into_response();
    };
    let caller = match caller(&parts, &state).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = caller.require_admin("reading the metrics") {
        return e.into_response();
    }
    text(&*scrape).await
}

/// The bearer token's caller, else the console session's.
async fn caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    if parts.headers.contains_key(header::AUTHORIZATION) {
        return Caller::authenticate(parts, state).await;
    }
    let unauthorized = ApiError::Unauthorized(
        "send Authorization: Bearer <token> (a token of scope \"all\"), or sign in to the console",
    );
    let session_id = [SESSION_COOKIE_SECURE, SESSION_COOKIE_PLAIN]
        .into_iter()
        .find_map(|name| cookie(&parts.headers, name).filter(|v| !v.is_empty()))
        .ok_or(unauthorized)?;
    let now = state.ports.clock.now();
    let session = SessionRepo::new(&*state.ports.records)
        .get(session_id, now)
        .await?
        .ok_or(ApiError::Unauthorized("the console session has ended"))?;
    Caller::of_principal(state, &session.principal).await
}

/// The router of a separate metrics listener (`--metrics-listen`): `GET /metrics` with no
/// authentication (the address is meant for a private network), nothing else.
pub fn router(scrape: std::sync::Arc<dyn Scrape>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let scrape = scrape.clone();
            async move { text(&*scrape).await }
        }),
    )
}
