//! The one-click authorisation's browser pages, served on our domain (WeChat requires it) by
//! the all-in-one router (the embedded binary, the admin API function):
//!
//! 1. `GET /wxopen/{component_appid}/authorize?state=` (the link of
//!    `POST /admin/v1/accounts/{id}/authorization-link`, [`super::authorization`]): checks the
//!    state, asks WeChat for a pre-auth code and shows the link to WeChat's authorisation page
//!    (WeChat checks the page the admin clicked from, so it is a link, not a redirect).
//! 2. `GET /wxopen/{component_appid}/authorized?auth_code=&state=`: WeChat sends the admin
//!    back; checks the state again and onboards ([`onboard`]): exchanges the code, stores the
//!    authorizer's tokens, reads the mini program's name and creates or re-enables the
//!    `wxmini_app` with the permission sets granted.
//!
//! The `authorized` event does the same; each auth code is claimed once, so whichever comes
//! first wins and the second changes nothing.

use super::onboarding::{OnboardError, onboard, verify_state};
use crate::callback::{
    CallbackContext, CallbackHandler, CallbackRequest, CallbackResponse, CallbackRoute,
};
use crate::platforms::wechat::{ComponentAccount, component_account, tokens};
use crate::state::Services;
use async_trait::async_trait;
use domain::account::AccountSettings;

/// The launch page.
pub const LAUNCH: &str = "/wxopen/{component_appid}/authorize";
/// The page WeChat sends the admin back to.
pub const AUTHORIZED: &str = "/wxopen/{component_appid}/authorized";

/// The content type of the pages.
pub const HTML: &str = "text/html; charset=utf-8";

/// The two pages. A link whose path cannot be read gets the "malformed link" page.
pub fn routes() -> Vec<CallbackRoute> {
    vec![
        CallbackRoute::get(LAUNCH, LaunchPage).body_refused(malformed()),
        CallbackRoute::get(AUTHORIZED, AuthorizedPage).body_refused(malformed()),
    ]
}

/// The launch page's URL for a component under `base` (`PUBLIC_BASE_URL`).
pub fn launch_url(base: &url::Url, component_appid: &str) -> Result<url::Url, url::ParseError> {
    base.join(&format!("wxopen/{component_appid}/authorize"))
}

/// The return page's URL for a component under `base` (`PUBLIC_BASE_URL`).
fn authorized_url(base: &url::Url, component_appid: &str) -> Result<url::Url, url::ParseError> {
    base.join(&format!("wxopen/{component_appid}/authorized"))
}

/// What the pages read from the query. A parameter given twice makes the link malformed.
#[derive(Debug, Default)]
struct PageQuery {
    state: Option<String>,
    auth_code: Option<String>,
}

impl PageQuery {
    fn parse(query: Option<&str>) -> Option<Self> {
        let mut q = PageQuery::default();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let slot = match name.as_ref() {
                "state" => &mut q.state,
                "auth_code" => &mut q.auth_code,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return None;
            }
        }
        Some(q)
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: u16, title: &str, body: &str) -> CallbackResponse {
    CallbackResponse::new(
        status,
        Some(HTML),
        format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1>{body}</body></html>",
            t = escape(title)
        ),
    )
}

fn refused(reason: &str) -> CallbackResponse {
    page(
        400,
        "授权链接无效 / Link not valid",
        &format!(
            "<p>This authorisation link cannot be used ({}). Ask for a new one: <code>POST /admin/v1/accounts/{{id}}/authorization-link</code>.</p>",
            escape(reason)
        ),
    )
}

fn malformed() -> CallbackResponse {
    refused("the link is malformed")
}

/// The state's component account, checked against the path.
async fn checked(
    services: &Services,
    component_appid: &str,
    q: &PageQuery,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ComponentAccount, CallbackResponse> {
    let account_id = match q.state.as_deref().map(|s| verify_state(services, s, now)) {
        Some(Ok(a)) => a,
        Some(Err(reason)) => {
            tracing::warn!(reason, "authorisation state refused");
            return Err(refused(reason));
        }
        None => return Err(refused("no state")),
    };
    match component_account(services, &account_id).await {
        Ok(c) if c.component.appid == component_appid => Ok(c),
        Ok(_) => {
            tracing::warn!("authorisation state for another third-party platform");
            Err(refused("made for another platform"))
        }
        Err(e) => {
            tracing::error!(reason = %e, "third-party platform not usable");
            Err(page(
                503,
                "暂时无法授权 / Not available",
                &format!("<p>{}</p>", escape(&e)),
            ))
        }
    }
}

/// What both pages do first: read the query (a malformed one is the malformed-link page), note
/// the component appid on the page's span, and check the state against the path ([`checked`]).
async fn opened(
    services: &Services,
    req: &CallbackRequest,
) -> Result<(PageQuery, ComponentAccount), CallbackResponse> {
    let q = PageQuery::parse(req.query.as_deref()).ok_or_else(malformed)?;
    let component_appid = req.param("component_appid");
    tracing::Span::current().record("component_appid", component_appid);
    let c = checked(services, component_appid, &q, req.received_at).await?;
    Ok((q, c))
}

/// `GET /wxopen/{component_appid}/authorize?state=`.
pub struct LaunchPage;

#[async_trait]
impl CallbackHandler for LaunchPage {
    async fn handle(&self, ctx: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse {
        launch_page(ctx.services, &req).await
    }
}

/// `GET /wxopen/{component_appid}/authorized?auth_code=&state=`.
pub struct AuthorizedPage;

#[async_trait]
impl CallbackHandler for AuthorizedPage {
    async fn handle(&self, ctx: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse {
        authorized_page(ctx.services, &req).await
    }
}

/// The launch page: the link to WeChat's authorisation page.
#[tracing::instrument(skip_all, fields(component_appid = tracing::field::Empty))]
async fn launch_page(services: &Services, req: &CallbackRequest) -> CallbackResponse {
    let (q, c) = match opened(services, req).await {
        Ok(opened) => opened,
        Err(r) => return r,
    };
    let component_appid = req.param("component_appid");
    let Some(base) = services.public_base_url.as_ref() else {
        return page(
            503,
            "暂时无法授权 / Not available",
            "<p>PUBLIC_BASE_URL is not configured.</p>",
        );
    };
    let failed = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "could not start the authorisation");
        page(
            502,
            "暂时无法授权 / WeChat refused",
            &format!("<p>{}</p>", escape(&e.to_string())),
        )
    };
    let t = match tokens(services, c.api_base_url.as_deref()) {
        Ok(t) => t,
        Err(e) => return failed(&e),
    };
    let code = match wechat::component::pre_auth_code(&t, &c.component).await {
        Ok(code) => code,
        Err(e @ wechat::WechatError::NotReady(_)) => {
            tracing::warn!(error = %e, "authorisation asked for before the first ticket");
            return page(
                503,
                "请稍后再试 / Try again in a few minutes",
                &format!("<p>{}</p>", escape(&e.to_string())),
            );
        }
        Err(e) => return failed(&e),
    };
    let Ok(mut redirect) = authorized_url(base, component_appid) else {
        return failed(&"PUBLIC_BASE_URL");
    };
    redirect
        .query_pairs_mut()
        .append_pair("state", q.state.as_deref().unwrap_or_default());
    let page_base = match c.account.settings {
        AccountSettings::WxopenComponent(s) => s
            .auth_page_base_url
            .unwrap_or_else(|| wechat::component::AUTH_PAGE.into()),
        _ => wechat::component::AUTH_PAGE.into(),
    };
    let url = match page_base
        .parse()
        .map_err(|e: url::ParseError| e.to_string())
        .and_then(|b| {
            wechat::component::authorization_url(&b, component_appid, &code, redirect.as_str())
                .map_err(|e| e.to_string())
        }) {
        Ok(u) => u,
        Err(e) => return failed(&e),
    };
    tracing::info!("authorisation page shown");
    page(
        200,
        "授权小程序 / Authorise your mini program",
        &format!(
            "<p>Scan with the mini program administrator's WeChat to let complaint desk handle its trade complaints (permission sets 76 交易投诉, 151 交易体验分, 18 违规记录).</p><p><a id=\"authorize\" href=\"{}\">前往微信授权 / Authorise on WeChat</a></p>",
            escape(url.as_str())
        ),
    )
}

/// The return page: onboard the mini program with WeChat's auth code.
#[tracing::instrument(skip_all, fields(component_appid = tracing::field::Empty))]
async fn authorized_page(services: &Services, req: &CallbackRequest) -> CallbackResponse {
    let (q, c) = match opened(services, req).await {
        Ok(opened) => opened,
        Err(r) => return r,
    };
    let Some(code) = q.auth_code.as_deref().filter(|c| !c.is_empty()) else {
        return refused("WeChat sent no auth_code (authorisation cancelled?)");
    };
    match onboard(services, &c, code, "redirect").await {
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
                200,
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
                502,
                "授权失败 / WeChat refused",
                &format!("<p>{}</p>", escape(&e.to_string())),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "authorisation not finished");
            page(
                503,
                "授权未完成 / Try again",
                &format!("<p>{}</p>", escape(&e.to_string())),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_given_twice_makes_the_link_malformed() {
        let q = PageQuery::parse(Some("state=a%2Bb&auth_code=c&other=1&other=2")).expect("query");
        assert_eq!(q.state.as_deref(), Some("a+b"));
        assert_eq!(q.auth_code.as_deref(), Some("c"));
        assert!(PageQuery::parse(Some("state=a&state=b")).is_none());
        assert!(PageQuery::parse(Some("auth_code=a&state=x&auth_code=b")).is_none());
        let none = PageQuery::parse(None).expect("no query");
        assert!(none.state.is_none() && none.auth_code.is_none());
    }

    #[test]
    fn pages_escape_what_they_show() {
        let r = refused("<script>&'\"");
        assert_eq!(r.status, 400);
        assert_eq!(r.content_type, Some(HTML));
        let html = String::from_utf8(r.body).expect("utf8");
        assert!(html.starts_with("<!doctype html>"), "{html}");
        assert!(html.contains("(&lt;script&gt;&amp;&#39;&quot;)"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }
}
