//! One-click authorisation of mini programs through our third-party platform.
//!
//! 1. `POST /admin/v1/accounts/{id}/authorization-link` (a `wxopen_component`): our launch-page
//!    URL with a signed `state` (account id, expiry 10 minutes, nonce; HMAC under the
//!    installation key).
//! 2. `GET /wxopen/{component_appid}/authorize?state=` (served on our domain, as WeChat
//!    requires): checks the state, asks WeChat for a pre-auth code and shows the link to
//!    WeChat's authorisation page (WeChat checks the page the admin clicked from, so it is a
//!    link, not a redirect).
//! 3. `GET /wxopen/{component_appid}/authorized?auth_code=&state=`: checks the state again and
//!    onboards: exchanges the code, stores the authorizer's tokens, reads the mini program's
//!    name and creates or re-enables the `wxmini_app` with the permission sets granted.
//!
//! The `authorized` event does the same ([`onboard`]); each auth code is claimed once (a record
//! keyed by the code), so whichever comes first wins and the second changes nothing: a second
//! exchange would rotate the refresh token under the first.

use crate::ApiError;
use crate::caller::Caller;
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use desk_core::platforms::wechat::{ComponentAccount, component_account, tokens};
use desk_core::platforms::wxmini::onboarding::{
    OnboardError, STATE_SECONDS, onboard, sign_state, verify_state,
};
use desk_core::repo::AccountRepo;
use domain::account::AccountSettings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /accounts/{id}/authorization-link`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationLink {
    /// Open it in a browser (it must be served from the domain registered with WeChat as the
    /// 授权发起页域名).
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[utoipa::path(
    post, path = "/admin/v1/accounts/{id}/authorization-link", tag = "accounts",
    params(("id" = String, Path, description = "Our id of a wxopen_component account")),
    responses((status = 200, body = AuthorizationLink), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn authorization_link(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AuthorizationLink>, ApiError> {
    caller.require_account(&id)?;
    let (account, _) = AccountRepo::new(&*state.ports.records)
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {id} not found")))?;
    let AccountSettings::WxopenComponent(s) = &account.settings else {
        return Err(ApiError::Conflict(
            "authorization links are made for wxopen_component accounts".into(),
        ));
    };
    let base = state.public_base_url.as_ref().ok_or_else(|| {
        ApiError::Conflict(
            "PUBLIC_BASE_URL is not configured: WeChat cannot reach the launch page".into(),
        )
    })?;
    let now = state.ports.clock.now();
    let st = sign_state(&state, &id, now);
    let mut url = base
        .join(&format!("wxopen/{}/authorize", s.component_appid))
        .map_err(ApiError::internal)?;
    url.query_pairs_mut().append_pair("state", &st);
    Ok(Json(AuthorizationLink {
        url: url.to_string(),
        expires_at: now + chrono::Duration::seconds(STATE_SECONDS),
    }))
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub state: Option<String>,
    pub auth_code: Option<String>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1>{body}</body></html>",
            t = escape(title)
        )),
    )
        .into_response()
}

fn refused(reason: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "授权链接无效 / Link not valid",
        &format!(
            "<p>This authorisation link cannot be used ({}). Ask for a new one: <code>POST /admin/v1/accounts/{{id}}/authorization-link</code>.</p>",
            escape(reason)
        ),
    )
}

/// The state's component account, checked against the path.
async fn checked(
    state: &AppState,
    component_appid: &str,
    q: &PageQuery,
) -> Result<ComponentAccount, Response> {
    let now = state.ports.clock.now();
    let account_id = match q.state.as_deref().map(|s| verify_state(state, s, now)) {
        Some(Ok(a)) => a,
        Some(Err(reason)) => {
            tracing::warn!(reason, "authorisation state refused");
            return Err(refused(reason));
        }
        None => return Err(refused("no state")),
    };
    match component_account(state, &account_id).await {
        Ok(c) if c.component.appid == component_appid => Ok(c),
        Ok(_) => {
            tracing::warn!("authorisation state for another third-party platform");
            Err(refused("made for another platform"))
        }
        Err(e) => {
            tracing::error!(reason = %e, "third-party platform not usable");
            Err(page(
                StatusCode::SERVICE_UNAVAILABLE,
                "暂时无法授权 / Not available",
                &format!("<p>{}</p>", escape(&e)),
            ))
        }
    }
}

/// `GET /wxopen/{component_appid}/authorize?state=`: the launch page.
#[tracing::instrument(skip_all, fields(component_appid = tracing::field::Empty))]
pub async fn launch_page(
    State(state): State<AppState>,
    component_appid: Result<Path<String>, PathRejection>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let (Ok(Path(component_appid)), Ok(Query(q))) = (component_appid, q) else {
        return refused("the link is malformed");
    };
    tracing::Span::current().record("component_appid", component_appid.as_str());
    let c = match checked(&state, &component_appid, &q).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(base) = state.public_base_url.as_ref() else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "暂时无法授权 / Not available",
            "<p>PUBLIC_BASE_URL is not configured.</p>",
        );
    };
    let failed = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "could not start the authorisation");
        page(
            StatusCode::BAD_GATEWAY,
            "暂时无法授权 / WeChat refused",
            &format!("<p>{}</p>", escape(&e.to_string())),
        )
    };
    let t = match tokens(&state, c.api_base_url.as_deref()) {
        Ok(t) => t,
        Err(e) => return failed(&e),
    };
    let code = match wechat::component::pre_auth_code(&t, &c.component).await {
        Ok(code) => code,
        Err(e @ wechat::WechatError::NotReady(_)) => {
            tracing::warn!(error = %e, "authorisation asked for before the first ticket");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "请稍后再试 / Try again in a few minutes",
                &format!("<p>{}</p>", escape(&e.to_string())),
            );
        }
        Err(e) => return failed(&e),
    };
    let Ok(mut redirect) = base.join(&format!("wxopen/{component_appid}/authorized")) else {
        return failed(&"PUBLIC_BASE_URL");
    };
    redirect
        .query_pairs_mut()
        .append_pair("state", q.state.as_deref().unwrap_or_default());
    let page_base = match c.account.settings.clone() {
        AccountSettings::WxopenComponent(s) => s
            .auth_page_base_url
            .unwrap_or_else(|| wechat::component::AUTH_PAGE.into()),
        _ => wechat::component::AUTH_PAGE.into(),
    };
    let url = match page_base
        .parse()
        .map_err(|e: url::ParseError| e.to_string())
        .and_then(|b| {
            wechat::component::authorization_url(&b, &component_appid, &code, redirect.as_str())
                .map_err(|e| e.to_string())
        }) {
        Ok(u) => u,
        Err(e) => return failed(&e),
    };
    tracing::info!("authorisation page shown");
    page(
        StatusCode::OK,
        "授权小程序 / Authorise your mini program",
        &format!(
            "<p>Scan with the mini program administrator's WeChat to let complaint desk handle its trade complaints (permission sets 76 交易投诉, 151 交易体验分, 18 违规记录).</p><p><a id=\"authorize\" href=\"{}\">前往微信授权 / Authorise on WeChat</a></p>",
            escape(url.as_str())
        ),
    )
}

/// `GET /wxopen/{component_appid}/authorized?auth_code=&state=`: WeChat sends the admin back.
#[tracing::instrument(skip_all, fields(component_appid = tracing::field::Empty))]
pub async fn authorized_page(
    State(state): State<AppState>,
    component_appid: Result<Path<String>, PathRejection>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let (Ok(Path(component_appid)), Ok(Query(q))) = (component_appid, q) else {
        return refused("the link is malformed");
    };
    tracing::Span::current().record("component_appid", component_appid.as_str());
    let c = match checked(&state, &component_appid, &q).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(code) = q.auth_code.as_deref().filter(|c| !c.is_empty()) else {
        return refused("WeChat sent no auth_code (authorisation cancelled?)");
    };
    match onboard(&state, &c, code, "redirect").await {
        Ok(a) => {
            let perms = match &a.settings {
                AccountSettings::WxminiApp(s) => s
                    .authorization
                    .as_ref()
                    .map(|x| x.permission_sets.clone())
                    .unwrap_or_default(),
                _ => vec![],
            };
            let warn = if perms.contains(&76) {
                String::new()
            } else {
                "<p><strong>Permission set 76 (交易投诉) was not granted: complaints cannot be handled. Authorise again and keep it ticked.</strong></p>".into()
            };
            page(
                StatusCode::OK,
                "授权成功 / Authorised",
                &format!(
                    "<p>{} ({}) is connected as account <code id=\"account\">{}</code>. Permission sets: {:?}.</p>{warn}",
                    escape(&a.name),
                    escape(a.platform_id()),
                    escape(&a.id),
                    perms
                ),
            )
        }
        Err(OnboardError::Wechat(e)) => {
            tracing::warn!(error = %e, "authorisation code exchange refused");
            page(
                StatusCode::BAD_GATEWAY,
                "授权失败 / WeChat refused",
                &format!("<p>{}</p>", escape(&e.to_string())),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "authorisation not finished");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "授权未完成 / Try again",
                &format!("<p>{}</p>", escape(&e.to_string())),
            )
        }
    }
}

/// The two browser pages.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/wxopen/{component_appid}/authorize",
            axum::routing::get(launch_page),
        )
        .route(
            "/wxopen/{component_appid}/authorized",
            axum::routing::get(authorized_page),
        )
}
