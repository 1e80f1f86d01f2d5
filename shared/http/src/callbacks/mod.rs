//! Platform callbacks, mounted from the registered platforms: each platform lists its routes
//! ([`desk_core::platform::Platform::callbacks`]) and verifies and accepts its own callbacks
//! without a web framework; this module turns a request into a
//! [`desk_core::callback::CallbackRequest`] (path parameters, query, headers, body within
//! [`crate::http::CALLBACK_BODY_LIMIT`]) and the handler's answer into the response, byte for
//! byte. A body over the limit (or one that broke off) gets the route's own answer before the
//! handler runs; a route without one gets 413 in the JSON error envelope.

use crate::error::ApiError;
use crate::state::CallbackState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use desk_core::callback::{
    CallbackContext, CallbackRequest, CallbackResponse, CallbackRoute, Method,
};
use desk_core::platform::Platforms;
use std::sync::Arc;

/// The callback routes of `platforms`: all of them (`family` None: the all-in-one router), or
/// those of one endpoint family (`Some("wxopen")`: a callback function). When two platforms
/// claim the same method and path, the first registered serves it (and the other is logged).
pub fn routes<S>(platforms: &Platforms, family: Option<&str>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    CallbackState: FromRef<S>,
{
    let mut mounted: Vec<(&'static str, Method)> = Vec::new();
    let mut router = Router::new();
    for platform in platforms.iter() {
        for route in platform.callbacks() {
            if family.is_some_and(|f| f != route.family) {
                continue;
            }
            if mounted.contains(&(route.path, route.method)) {
                tracing::error!(
                    path = route.path,
                    method = route.method.as_str(),
                    platform = platform.name().as_str(),
                    "another platform already serves this callback route; not mounted"
                );
                continue;
            }
            mounted.push((route.path, route.method));
            let (path, method) = (route.path, route.method);
            let route = Arc::new(route);
            let handler = move |State(state): State<CallbackState>, req: Request| {
                let route = route.clone();
                async move { serve(state, &route, req).await }
            };
            router = router.route(
                path,
                match method {
                    Method::Get => axum::routing::get(handler),
                    Method::Post => axum::routing::post(handler),
                },
            );
        }
    }
    router
}

/// Read the request, run the route's handler, write its answer.
async fn serve(state: CallbackState, route: &CallbackRoute, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let params = match Path::<Vec<(String, String)>>::from_request_parts(&mut parts, &state).await {
        Ok(Path(p)) => p,
        Err(rejection) => return rejection.into_response(),
    };
    let query = parts.uri.query().map(str::to_string);
    let headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((name.as_str().to_string(), value.to_string()))
        })
        .collect();
    let body = match route.method {
        // A GET carries no body worth reading (the URL check reads none).
        Method::Get => Vec::new(),
        Method::Post => match Bytes::from_request(Request::from_parts(parts, body), &state).await {
            Ok(b) => Vec::from(b),
            Err(e) => {
                tracing::warn!(reason = %e, path = route.path, "callback body refused");
                return match &route.body_refused {
                    Some(answer) => respond(answer.clone()),
                    None if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        ApiError::PayloadTooLarge.into_response()
                    }
                    None => ApiError::InvalidJson("the request body could not be read".into())
                        .into_response(),
                };
            }
        },
    };
    let request = CallbackRequest {
        method: route.method,
        params,
        query,
        headers,
        body,
        received_at: state.ports.clock.now(),
    };
    let ctx = CallbackContext {
        services: &state.services,
        settings: state.callback_settings(),
    };
    respond(route.handler.handle(ctx, request).await)
}

/// The handler's answer as given: status, content type (when it has one), body.
fn respond(answer: CallbackResponse) -> Response {
    let Ok(status) = StatusCode::from_u16(answer.status) else {
        tracing::error!(
            status = answer.status,
            "a callback answered with no HTTP status"
        );
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut res = Response::new(Body::from(answer.body));
    *res.status_mut() = status;
    if let Some(ct) = answer.content_type {
        let Ok(value) = HeaderValue::from_str(ct) else {
            tracing::error!(
                content_type = ct,
                "a callback answered with an unusable content type"
            );
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        res.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    res
}
