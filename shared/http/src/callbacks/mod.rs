//! Platform callbacks and browser pages, mounted from the registered platforms: each platform
//! lists its callback routes ([`desk_core::platform::Platform::callbacks`]) and its pages
//! ([`desk_core::platform::Platform::pages`]) and answers them without a web framework; this
//! module turns a request into a [`desk_core::callback::CallbackRequest`] (path parameters,
//! query, headers, body within the route's limit: [`crate::http::CALLBACK_BODY_LIMIT`] under
//! `/callbacks/`) and the handler's answer into the response, byte for byte. A body over the
//! limit (or one that broke off) gets the route's own answer before the handler runs; a route
//! without one gets 413 in the JSON error envelope. A page whose path cannot be read (a
//! parameter that is not UTF-8) gets the same answer of its own (a link that is malformed); a
//! callback route, the router's 400.

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
use desk_core::metrics::CallbackOutcome;
use desk_core::platform::Platforms;
use std::sync::Arc;

/// What a router mounts of the registered platforms' routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mount<'a> {
    /// Every callback and every page (the all-in-one router: the embedded binary, the admin
    /// API function).
    All,
    /// The callbacks of one endpoint family ([`CallbackRoute::family`]: a callback function
    /// serves one), and no page.
    Family(&'a str),
}

/// A callback route or a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Callback,
    Page,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Callback => "callback",
            Kind::Page => "page",
        }
    }
}

/// The routes of `platforms` that `mount` selects: callbacks first, then pages. When two routes
/// claim the same method and path, the first registered serves it (and the other is logged).
/// A page is never mounted under `/callbacks/` (the callback functions' paths), the admin API
/// or `/healthz`.
pub fn routes<S>(platforms: &Platforms, mount: Mount<'_>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    CallbackState: FromRef<S>,
{
    let mut mounted: Vec<(&'static str, Method)> = Vec::new();
    let mut router = Router::new();
    for platform in platforms.iter() {
        for route in platform.callbacks() {
            if matches!(mount, Mount::Family(family) if family != route.family) {
                continue;
            }
            router = add(router, &mut mounted, platform.name(), route, Kind::Callback);
        }
    }
    if mount == Mount::All {
        for platform in platforms.iter() {
            for route in platform.pages() {
                if !page_path_allowed(route.path) {
                    tracing::error!(
                        path = route.path,
                        platform = platform.name().as_str(),
                        "a page may not be served there (under /callbacks/, the admin API or /healthz); not mounted"
                    );
                    continue;
                }
                router = add(router, &mut mounted, platform.name(), route, Kind::Page);
            }
        }
    }
    router
}

/// Whether a platform's page may be served at `path`: outside the callbacks, the admin API and
/// the health check.
fn page_path_allowed(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("/callbacks/")
        && !path.starts_with(crate::http::ADMIN_BASE)
        && path != "/healthz"
}

/// Mount `route` on `router`, unless a route of the same method and path already is.
fn add<S>(
    router: Router<S>,
    mounted: &mut Vec<(&'static str, Method)>,
    platform: domain::complaint::Platform,
    route: CallbackRoute,
    kind: Kind,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    CallbackState: FromRef<S>,
{
    if mounted.contains(&(route.path, route.method)) {
        tracing::error!(
            path = route.path,
            method = route.method.as_str(),
            platform = platform.as_str(),
            kind = kind.as_str(),
            "another platform already serves this route; not mounted"
        );
        return router;
    }
    mounted.push((route.path, route.method));
    let (path, method) = (route.path, route.method);
    let route = Arc::new(route);
    let handler = move |State(state): State<CallbackState>, req: Request| {
        let route = route.clone();
        async move {
            let (res, outcome) = serve(state, &route, kind, req).await;
            if kind == Kind::Callback {
                desk_core::metrics::callback(platform, outcome);
            }
            res
        }
    };
    router.route(
        path,
        match method {
            Method::Get => axum::routing::get(handler),
            Method::Post => axum::routing::post(handler),
        },
    )
}

/// Read the request, run the route's handler, write its answer; how it is counted.
async fn serve(
    state: CallbackState,
    route: &CallbackRoute,
    kind: Kind,
    req: Request,
) -> (Response, CallbackOutcome) {
    let (mut parts, body) = req.into_parts();
    let params = match Path::<Vec<(String, String)>>::from_request_parts(&mut parts, &state).await {
        Ok(Path(p)) => p,
        Err(rejection) => {
            let res = match (kind, &route.body_refused) {
                (Kind::Page, Some(answer)) => respond(answer.clone()),
                _ => rejection.into_response(),
            };
            return (res, CallbackOutcome::BadRequest);
        }
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
                tracing::warn!(reason = %e, path = route.path, kind = kind.as_str(), "request body refused");
                let res = match &route.body_refused {
                    Some(answer) => respond(answer.clone()),
                    None if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        ApiError::PayloadTooLarge.into_response()
                    }
                    None => ApiError::InvalidJson("the request body could not be read".into())
                        .into_response(),
                };
                return (res, CallbackOutcome::BadRequest);
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
    let answer = route.handler.handle(ctx, request).await;
    let outcome = answer.outcome();
    (respond(answer), outcome)
}

/// The handler's answer as given: status, content type (when it has one), body.
fn respond(answer: CallbackResponse) -> Response {
    let Ok(status) = StatusCode::from_u16(answer.status) else {
        tracing::error!(
            status = answer.status,
            "a platform's route answered with no HTTP status"
        );
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut res = Response::new(Body::from(answer.body));
    *res.status_mut() = status;
    if let Some(ct) = answer.content_type {
        let Ok(value) = HeaderValue::from_str(ct) else {
            tracing::error!(
                content_type = ct,
                "a platform's route answered with an unusable content type"
            );
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        res.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_stay_out_of_the_callbacks_the_admin_api_and_the_health_check() {
        assert!(page_path_allowed("/toy/{shop}"));
        assert!(page_path_allowed("/toy/{shop}/welcome"));
        assert!(!page_path_allowed("/callbacks/toy/{shop}"));
        assert!(!page_path_allowed("/admin/v1/accounts/{id}"));
        assert!(!page_path_allowed("/healthz"));
        assert!(!page_path_allowed("toy/{shop}"));
    }
}
