//! The staff console (`/console/`): server-rendered pages over the same use-cases as the admin
//! API (its handlers are called with the signed-in staff member as the caller, so scope, role
//! and every platform check are the API's), signed in with a session cookie. Served by the
//! all-in-one binary and by the admin API function on AWS; no build step: the templates are
//! compiled in (askama) and the stylesheet and the small script are embedded.
//!
//! Every response carries a strict Content-Security-Policy (no inline script or style, no
//! framing), `nosniff` and `no-store`; every POST must come from this site (`Origin`,
//! `Sec-Fetch-Site`) and carry the session's CSRF value.
//!
//! Pages: [`inbox`], [`complaint`], [`sign_in`], [`try_it`] (the sandbox accounts), [`settings`]
//! (an administrator's index of the settings pages), [`violations`] and [`score`] (a mini
//! program's trade score, charted by [`score_chart`]), [`dashboard`] (the numbers over 7, 30 or
//! 90 days, charted by [`dashboard_chart`]). What they share: [`web`], [`view`],
//! [`lang`].

pub mod accounts;
pub mod complaint;
// The charts' shared axes (score_chart.rs, dashboard_chart.rs).
pub mod chart_axes;
// The dashboard (dashboard.rs, its chart dashboard_chart.rs).
pub mod dashboard;
pub mod dashboard_chart;
pub mod forms;
pub mod inbox;
pub mod lang;
pub mod notifications;
pub mod operations;
pub mod settings;
pub mod sign_in;
pub mod tokens;
pub mod try_it;
pub mod view;
pub mod web;
// Violations and the trade score (violations.rs, score.rs).
pub mod score;
pub mod score_chart;
pub mod violations;

pub use lang::Lang;

use crate::ApiError;
use crate::state::AppState;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use std::sync::Arc;
use web::BASE;

/// The console's Content-Security-Policy: our own script and stylesheet only, images only from
/// us (complaint images come through our download route), forms only to us, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                       base-uri 'none'";

const CSS: &str = include_str!("../../assets/console/console.css");
const JS: &str = include_str!("../../assets/console/console.js");

/// The console's routes (merged into the full router).
pub fn router(state: &AppState) -> Router<AppState> {
    let document = crate::admin::openapi::document(state.platforms());
    let roles = Arc::new(crate::admin::roles::Roles::from_document(&document));
    Router::new()
        .route(BASE, get(|| async { web::see_other(&format!("{BASE}/")) }))
        .route(&format!("{BASE}/"), get(inbox::inbox))
        .route(
            &format!("{BASE}/sign-in"),
            get(sign_in::show).post(sign_in::submit),
        )
        .route(&format!("{BASE}/sign-out"), post(sign_in::sign_out))
        .route(
            &format!("{BASE}/sign-in-code"),
            get(sign_in::show_code).post(sign_in::make_code),
        )
        .route(&format!("{BASE}/try"), get(try_it::show).post(try_it::push))
        .route(&format!("{BASE}/settings"), get(settings::show))
        .route(&format!("{BASE}/dashboard"), get(dashboard::show))
        // Accounts and sub-merchants (accounts.rs).
        .route(&format!("{BASE}/accounts"), get(accounts::list))
        .route(&format!("{BASE}/accounts/new"), get(accounts::choose))
        .route(
            &format!("{BASE}/accounts/new/{{kind}}"),
            get(accounts::new_form).post(accounts::create),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}"),
            get(accounts::page::show),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/settings"),
            post(accounts::edits::save_settings),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/enabled"),
            post(accounts::edits::set_enabled),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/credentials"),
            post(accounts::edits::save_credentials),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/callback-registration"),
            post(accounts::edits::register),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/authorization-link"),
            post(accounts::edits::authorization_link),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/sub-merchants/new"),
            get(accounts::subs::new_form).post(accounts::subs::create),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/sub-merchants/{{sub_mchid}}"),
            get(accounts::subs::show).post(accounts::subs::save),
        )
        // Staff notifications (notifications.rs).
        .route(&format!("{BASE}/notifications"), get(notifications::list))
        .route(
            &format!("{BASE}/accounts/{{id}}/notifications"),
            get(notifications::show_account).post(notifications::save_account),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/notifications/test"),
            post(notifications::test_account),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/notifications/test/{{form}}"),
            get(notifications::results_account),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/sub-merchants/{{sub}}/notifications"),
            get(notifications::show_sub_merchant).post(notifications::save_sub_merchant),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/sub-merchants/{{sub}}/notifications/test"),
            post(notifications::test_sub_merchant),
        )
        .route(
            &format!("{BASE}/accounts/{{id}}/sub-merchants/{{sub}}/notifications/test/{{form}}"),
            get(notifications::results_sub_merchant),
        )
        // Violations and the trade score (violations.rs).
        .route(&format!("{BASE}/violations"), get(violations::list))
        .route(&format!("{BASE}/accounts/{{id}}/score"), get(score::show))
        // Tokens and operations (tokens.rs, operations.rs).
        .route(
            &format!("{BASE}/tokens"),
            get(tokens::show).post(tokens::create::create),
        )
        .route(
            &format!("{BASE}/tokens/{{id}}/revoke"),
            get(tokens::revoke::confirm_revoke).post(tokens::revoke::revoke),
        )
        .route(
            &format!("{BASE}/dead-letters"),
            get(operations::dead_letters),
        )
        .route(
            &format!("{BASE}/dead-letters/{{id}}/replay"),
            post(operations::replay),
        )
        .route(
            &format!("{BASE}/deliveries"),
            get(operations::deliveries::show),
        )
        .route(&format!("{BASE}/complaints/{{id}}"), get(complaint::show))
        .route(
            &format!("{BASE}/complaints/{{id}}/act/{{action}}"),
            post(complaint::act),
        )
        .route(
            &format!("{BASE}/complaints/{{id}}/media/{{n}}"),
            get(complaint::image),
        )
        .route(
            &format!("{BASE}/complaints/{{id}}/history/{{entry_id}}/media/{{n}}"),
            get(complaint::history_image),
        )
        .route(&format!("{BASE}/assets/{{file}}"), get(asset))
        .route(&format!("{BASE}/{{*rest}}"), get(not_found).post(not_found))
        .route_layer(axum::middleware::from_fn(check_path_ids))
        .layer(Extension(roles))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
}

/// Every id in a console path is checked before a page runs, by the admin API's rules
/// ([`crate::admin::path_ids::check_path_param`]: our ids are plain words, a sub-merchant is
/// its number): anything else (`../`, `%2F`, spaces, control characters) answers the error
/// page (400) and is never looked up, sent on or logged. The asset's file name and the unknown
/// page's rest are not ids.
async fn check_path_ids(
    params: Result<axum::extract::RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let lang = web::lang_of(&parts);
    let Ok(params) = params else {
        return web::error_page(lang, &ApiError::field("path", "must be UTF-8 text"));
    };
    for (name, value) in &params {
        let rule = match name {
            "file" | "rest" => continue,
            "sub" => "sub_mchid",
            other => other,
        };
        if let Err(what) = crate::admin::path_ids::check_path_param(rule, value) {
            let words = match lang {
                Lang::Zh => format!("地址中的编号不对（{name}）：请从页面上的链接进入。"),
                Lang::En => format!("The address has an id that cannot be one ({name} {what})."),
            };
            return web::error_page(lang, &ApiError::field(name, words));
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

async fn not_found(req: Request) -> Response {
    let (parts, _) = req.into_parts();
    web::error_page(
        web::lang_of(&parts),
        &ApiError::not_found(format!("no console page {}", parts.uri.path())),
    )
}

/// `GET /console/assets/{file}`: the stylesheet and the script.
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Whether a request comes from another site: its `Sec-Fetch-Site` says so, or its `Origin`
/// is neither this request's `Host` nor `PUBLIC_BASE_URL`'s host (a proxy that does not pass
/// `Host` on).
pub fn cross_site(headers: &HeaderMap, public_host: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or("null");
        let ours = (!host.is_empty() && origin_host.eq_ignore_ascii_case(host))
            || public_host.is_some_and(|p| origin_host.eq_ignore_ascii_case(p));
        return !ours;
    }
    false
}

/// Every console response's security headers, the language switch's cookie, and the refusal
/// of a POST from another site.
async fn guard(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let https = web::is_https(req.headers());
    let lang_switch = web::query_lang(req.uri().query());
    let public_host = state.public_base_url.as_ref().and_then(|u| {
        u.host_str().map(|h| {
            u.port()
                .map_or_else(|| h.to_string(), |p| format!("{h}:{p}"))
        })
    });
    let mut res =
        if req.method() == Method::POST && cross_site(req.headers(), public_host.as_deref()) {
            let (parts, _) = req.into_parts();
            tracing::info!(
                path = parts.uri.path(),
                "console POST from another site refused"
            );
            web::error_page(
                web::lang_of(&parts),
                &ApiError::Forbidden("this form was sent from another site".into()),
            )
        } else {
            next.run(req).await
        };
    let h = res.headers_mut();
    // Appended: a response's own policy (a complaint image's `sandbox`) is kept, and both
    // are enforced.
    h.append(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(lang) = lang_switch {
        let code = if lang.is_en() { "en" } else { "zh" };
        h.append(
            header::SET_COOKIE,
            web::set_cookie(web::LANG_COOKIE, code, 365 * 24 * 3600, https),
        );
    }
    res
}
