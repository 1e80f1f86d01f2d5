//! The admin API (`/admin/v1`): bearer tokens, accounts, write-only credentials,
//! sub-merchants, staff notification settings, tokens and dead letters. One axum router, served
//! by the embedded binary and by the `admin-api` Lambda function.
//!
//! This module builds the router from its children and authenticates every request; the
//! children never import it: what they share lives in leaf modules ([`page`], [`path_ids`],
//! [`budget`], [`validate`]). The complaint actions are one route per action the registered
//! platforms offer, all served by [`actions::act`]; the document is built from the same
//! registry ([`openapi::document`]). So are the routes platforms bring on accounts
//! (`/accounts/{id}/{name}`), served by [`actions::account_act`].

pub mod accounts;
pub mod action_document;
pub mod actions;
pub mod budget;
pub mod complaints;
pub mod dead_letters;
pub mod deadline_settings;
pub mod media;
pub mod notifications;
pub mod openapi;
pub mod page;
pub mod path_ids;
pub mod reconcile;
pub mod roles;
pub mod sandbox;
pub mod sub_merchants;
pub mod test_notice;
pub mod tokens;
pub mod validate;

use crate::caller::Caller;
use crate::extract::ApiPath;
use crate::http::JsonBytes;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get, post, put};
use desk_core::account_actions::Method;

pub const BASE: &str = crate::http::ADMIN_BASE;

pub fn router(state: AppState) -> Router<AppState> {
    let mut r = Router::new()
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
            "/accounts/{id}/reconcile",
            post(reconcile::reconcile_account),
        )
        .route("/accounts/{id}/health", get(reconcile::account_health))
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
            "/accounts/{id}/notifications/test",
            post(test_notice::test_account_notifications),
        )
        .route(
            "/accounts/{id}/sub-merchants/{sub_mchid}/notifications/test",
            post(test_notice::test_sub_merchant_notifications),
        )
        .route(
            "/tokens",
            get(tokens::list_tokens).post(tokens::create_token),
        )
        .route("/tokens/{id}", axum::routing::delete(tokens::delete_token))
        .route("/complaints", get(complaints::list_complaints))
        .route("/complaints/{id}", get(complaints::get_complaint))
        .route("/complaints/{id}/media/{n}", get(media::download_media))
        .route(
            "/complaints/{id}/history/{entry_id}/media/{n}",
            get(media::download_history_media),
        )
        // Its body limit, `crate::http::MEDIA_LIMIT`, is decided with every other route's
        // (`crate::http::body_rule`).
        .route("/media", post(media::upload_media))
        .route("/violations", get(complaints::list_violations))
        .route("/deliveries", get(complaints::list_deliveries))
        .route("/dead-letters", get(dead_letters::list_dead_letters))
        .route(
            "/dead-letters/{id}/replay",
            post(dead_letters::replay_dead_letter),
        )
        .route("/sandbox/accounts", get(sandbox::list_sandbox_accounts))
        .route("/sandbox/push", post(sandbox::push_sandbox_complaint));
    // One route per action a registered platform offers; an action no platform has is not
    // served (404, as any unknown path).
    for name in actions::offered(state.platforms()) {
        r = r.route(
            &format!("/complaints/{{id}}/{name}"),
            post(
                move |State(state): State<AppState>,
                      caller: Caller,
                      ApiPath(id): ApiPath<String>,
                      body: JsonBytes| actions::act(state, caller, id, name, body),
            ),
        );
    }
    // One route per account route a registered platform offers, with the methods offered on
    // it (the desk's own account routes keep their names).
    for (name, methods) in actions::account_routes(state.platforms()) {
        let mut on = axum::routing::MethodRouter::new();
        for method in methods {
            let filter = match method {
                Method::Get => MethodFilter::GET,
                Method::Post => MethodFilter::POST,
                Method::Delete => MethodFilter::DELETE,
            };
            on = on.on(
                filter,
                move |State(state): State<AppState>,
                      caller: Caller,
                      ApiPath(id): ApiPath<String>,
                      axum::extract::RawQuery(query): axum::extract::RawQuery,
                      body: Result<JsonBytes, crate::ApiError>| {
                    actions::account_act(state, caller, id, (name, method), body, query)
                },
            );
        }
        r = r.route(&format!("/accounts/{{id}}/{name}"), on);
    }
    let document = std::sync::Arc::new(openapi::document(state.platforms()));
    let roles = std::sync::Arc::new(roles::Roles::from_document(&document));
    let r = r
        .route_layer(axum::middleware::from_fn(path_ids::check_path_ids))
        .route_layer(axum::middleware::from_fn_with_state(
            (state, roles),
            authenticate,
        ))
        // Registered after the layers: the document needs no token.
        .route(
            "/openapi.json",
            get(move || openapi::serve(document.clone())),
        );
    Router::new().nest(BASE, r)
}

/// Every admin route but the document itself needs a token, checked before anything else about
/// the request: on a served route and method, a caller without a valid token gets 401, never a
/// 400 about the path or the body. A path or method that is not served answers 404 or 405 with
/// or without a token (it reveals nothing the public document does not). Then the token's role:
/// one below what the route needs ([`roles`]) answers 403 naming the role, before the path, the
/// scope or the body is looked at. The caller is kept for the handler's [`Caller`] extractor.
async fn authenticate(
    State((state, roles)): State<(AppState, std::sync::Arc<roles::Roles>)>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let caller = match Caller::authenticate(&parts, &state).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let route = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let route = if route.starts_with(BASE) {
        route
    } else {
        format!("{BASE}{route}")
    };
    let needed = roles.of(&parts.method, &route);
    if let Err(e) = caller.require_role(needed, &format!("{} {route}", parts.method)) {
        tracing::info!(token_id = %caller.token_id, role = %caller.role, needed = %needed, route, "refused: role too low");
        return e.into_response();
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}
