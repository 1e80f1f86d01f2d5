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
use crate::auth::Caller;
use crate::complaints::derived_id;
use crate::extract::ApiPath;
use crate::platforms::wechat::{ComponentAccount, component_account, tokens};
use crate::repo::AccountRepo;
use crate::state::AppState;
use crate::worker::JobError;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountSettings, AuthorizationInfo, WxminiAppSettings, WxminiMode};
use domain::ports::{Item, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// How long an authorisation link works.
pub const STATE_SECONDS: i64 = 600;

const PURPOSE: &str = "wxopen-authorization-state-v1";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// A signed state for a component account, valid until `now + STATE_SECONDS`.
pub fn sign_state(state: &AppState, account_id: &str, now: DateTime<Utc>) -> String {
    let payload = format!(
        "{account_id}.{}.{}",
        now.timestamp() + STATE_SECONDS,
        uuid::Uuid::new_v4().simple()
    );
    let body = b64().encode(payload.as_bytes());
    let mac = state.fingerprints.mac(PURPOSE, body.as_bytes());
    format!("{body}.{}", b64().encode(mac))
}

/// The account id a state was made for, if its signature holds and it has not expired.
pub fn verify_state(state: &AppState, s: &str, now: DateTime<Utc>) -> Result<String, &'static str> {
    let (body, mac) = s.split_once('.').ok_or("malformed")?;
    let given = b64().decode(mac).map_err(|_| "malformed")?;
    let want = state.fingerprints.mac(PURPOSE, body.as_bytes());
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_slice(),
        want.as_slice(),
    )) {
        return Err("signature does not verify");
    }
    let payload =
        String::from_utf8(b64().decode(body).map_err(|_| "malformed")?).map_err(|_| "malformed")?;
    let mut parts = payload.split('.');
    let (Some(account), Some(exp)) = (parts.next(), parts.next()) else {
        return Err("malformed");
    };
    let exp: i64 = exp.parse().map_err(|_| "malformed")?;
    if exp < now.timestamp() {
        return Err("expired");
    }
    Ok(account.to_string())
}

/// Why onboarding or deauthorisation did not finish.
#[derive(Debug, thiserror::Error)]
pub enum OnboardError {
    #[error("WeChat: {0}")]
    Wechat(#[from] wechat::WechatError),
    #[error("store: {0}")]
    Store(String),
    #[error("another request is onboarding with this code; try again")]
    Busy,
    #[error("{0}")]
    Invalid(String),
}

impl OnboardError {
    pub fn into_job_error(self) -> JobError {
        match self {
            OnboardError::Wechat(e) => crate::policy::wxmini::wechat_job_error(e),
            OnboardError::Store(m) => JobError::Retryable {
                source: m.into(),
                retry_after: None,
            },
            OnboardError::Busy => JobError::Retryable {
                source: "another request is onboarding with this code".into(),
                retry_after: Some(std::time::Duration::from_secs(5)),
            },
            OnboardError::Invalid(m) => JobError::Permanent(m),
        }
    }
}

fn store(e: impl std::fmt::Display) -> OnboardError {
    OnboardError::Store(e.to_string())
}

/// Claim an auth code; `Ok(Err(account_id))` when another request already finished with it.
async fn claim(
    state: &AppState,
    code: &str,
    via: &str,
) -> Result<Result<(), String>, OnboardError> {
    let records = &*state.ports.records;
    let pk = format!("WXAUTHCODE#{}", derived_id("", code));
    for _ in 0..150 {
        let now = state.ports.clock.now().timestamp();
        let item = Item::new(
            &pk,
            "CLAIM",
            json!({"state": "claimed", "via": via, "at": now}),
        )
        .expiring_at(now + 86_400);
        match records.get(&pk, "CLAIM").await.map_err(store)? {
            None => match records.create(item).await {
                Ok(_) => return Ok(Ok(())),
                Err(StoreError::AlreadyExists { .. }) => continue,
                Err(e) => return Err(store(e)),
            },
            Some(i) if i.data["state"] == "done" => {
                return Ok(Err(i.data["account_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()));
            }
            Some(i) if i.data["at"].as_i64().unwrap_or(0) < now - 60 => {
                // The holder gave up or crashed.
                match records.update(item, i.version).await {
                    Ok(_) => return Ok(Ok(())),
                    Err(StoreError::VersionConflict { .. }) => continue,
                    Err(e) => return Err(store(e)),
                }
            }
            Some(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    Err(OnboardError::Busy)
}

/// Exchange an auth code and create or re-enable the mini program's account (idempotent per
/// code). The account.
pub async fn onboard(
    state: &AppState,
    c: &ComponentAccount,
    code: &str,
    via: &str,
) -> Result<Account, OnboardError> {
    let repo = AccountRepo::new(&*state.ports.records);
    if let Err(account_id) = claim(state, code, via).await? {
        tracing::info!(via, %account_id, "authorisation already handled; nothing more to do");
        return repo
            .get(&account_id)
            .await
            .map_err(store)?
            .map(|(a, _)| a)
            .ok_or_else(|| OnboardError::Invalid(format!("account {account_id} vanished")));
    }
    let t = tokens(state, c.api_base_url.as_deref()).map_err(OnboardError::Invalid)?;
    let auth = wechat::component::query_auth(&t, &c.component, code).await?;
    let appid = auth.authorizer_appid.clone();
    let info = wechat::component::authorizer_info(&t, &c.component, &appid).await?;
    let nick = info["authorizer_info"]["nick_name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(&appid)
        .to_string();
    if !auth.permission_sets.contains(&76) {
        tracing::warn!(%appid, granted = ?auth.permission_sets, "permission set 76 (trade complaints) was not granted: complaint calls will be refused");
    }
    let now = state.ports.clock.now();
    let authorization = AuthorizationInfo {
        permission_sets: auth.permission_sets.clone(),
        authorized_at: now,
        active: true,
    };
    let account = loop {
        match repo
            .find_by_platform_id("wxmini", &appid)
            .await
            .map_err(store)?
        {
            Some(found) => {
                let Some((mut a, version)) = repo.get(&found.id).await.map_err(store)? else {
                    continue;
                };
                let AccountSettings::WxminiApp(s) = &mut a.settings else {
                    return Err(OnboardError::Invalid(format!(
                        "{} is not a mini program",
                        a.id
                    )));
                };
                if s.mode == WxminiMode::Manual {
                    tracing::info!(account_id = %a.id, "mini program onboarded by hand is now authorised to the third-party platform");
                }
                s.mode = WxminiMode::Authorised;
                // Pushes now come through the platform, always encrypted.
                s.allow_plaintext = false;
                s.component_account_id = Some(c.account.id.clone());
                s.authorization = Some(authorization.clone());
                a.enabled = true;
                a.updated_at = now;
                a.credentials = crate::admin::accounts::empty_status(a.kind(), &a.settings);
                match repo.update(&a, version).await {
                    Ok(_) => {
                        state.account_changed(&a);
                        break a;
                    }
                    Err(e) if e.is_conflict() => continue,
                    Err(e) => return Err(store(e)),
                }
            }
            None => {
                let settings = AccountSettings::WxminiApp(WxminiAppSettings {
                    appid: appid.clone(),
                    mode: WxminiMode::Authorised,
                    component_account_id: Some(c.account.id.clone()),
                    auto_response: None,
                    auto_refund: false,
                    refund_cap_fen: None,
                    payment: None,
                    authorization: Some(authorization.clone()),
                    api_base_url: None,
                    allow_plaintext: false,
                });
                let a = Account {
                    id: format!("acc_{}", uuid::Uuid::now_v7().simple()),
                    name: nick.clone(),
                    enabled: true,
                    credentials: crate::admin::accounts::empty_status(
                        domain::account::AccountKind::WxminiApp,
                        &settings,
                    ),
                    settings,
                    created_at: now,
                    updated_at: now,
                };
                match repo.create(&a).await {
                    Ok(()) => {
                        state.account_changed(&a);
                        break a;
                    }
                    Err(e) if e.is_conflict() => continue,
                    Err(e) => return Err(store(e)),
                }
            }
        }
    };
    let pk = format!("WXAUTHCODE#{}", derived_id("", code));
    state
        .ports
        .records
        .put(
            Item::new(
                &pk,
                "CLAIM",
                json!({"state": "done", "via": via, "account_id": account.id}),
            )
            .expiring_at(now.timestamp() + 86_400),
        )
        .await
        .map_err(store)?;
    tracing::info!(via, account_id = %account.id, %appid, permission_sets = ?auth.permission_sets, "mini program authorised");
    Ok(account)
}

/// `unauthorized`: the mini program withdrew; its account is disabled and its tokens dropped.
pub async fn deauthorize(
    state: &AppState,
    component_account_id: &str,
    appid: &str,
) -> Result<(), OnboardError> {
    let repo = AccountRepo::new(&*state.ports.records);
    // Its tokens first, and any failure retried: once they are marked forgotten, no call gets a
    // token for it until it is authorised again (the component's secret is not needed).
    match repo.get(component_account_id).await.map_err(store)? {
        Some((c, _)) => match &c.settings {
            AccountSettings::WxopenComponent(s) => {
                let t = tokens(state, s.api_base_url.as_deref()).map_err(OnboardError::Invalid)?;
                t.forget_authorizer(&s.component_appid, appid).await?;
            }
            _ => {
                tracing::warn!(%appid, account_id = %c.id, "unauthorized through an account that is not a third-party platform: no tokens to drop")
            }
        },
        None => {
            tracing::warn!(%appid, account_id = %component_account_id, "unauthorized through a third-party platform that no longer exists: no tokens to drop")
        }
    }
    for _ in 0..10 {
        let Some(found) = repo
            .find_by_platform_id("wxmini", appid)
            .await
            .map_err(store)?
        else {
            tracing::info!(%appid, "unauthorized for a mini program we do not know; nothing to do");
            return Ok(());
        };
        let Some((mut a, version)) = repo.get(&found.id).await.map_err(store)? else {
            return Ok(());
        };
        let AccountSettings::WxminiApp(s) = &mut a.settings else {
            return Ok(());
        };
        if s.component_account_id.as_deref() != Some(component_account_id) {
            tracing::warn!(%appid, "unauthorized from a platform this mini program is not authorised to; ignored");
            return Ok(());
        }
        if let Some(auth) = &mut s.authorization {
            auth.active = false;
        }
        a.enabled = false;
        a.updated_at = state.ports.clock.now();
        match repo.update(&a, version).await {
            Ok(_) => {
                state.account_changed(&a);
                tracing::warn!(account_id = %a.id, %appid, "mini program withdrew its authorisation: account disabled");
                return Ok(());
            }
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(store(e)),
        }
    }
    Err(OnboardError::Store("account kept changing".into()))
}

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
