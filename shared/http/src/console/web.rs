//! What every console page shares: the cookies (session, language, sign-in form), who is
//! visiting ([`Visit`]) and who is signed in ([`Signed`]), the CSRF check of every form, the
//! page chrome every template gets ([`Chrome`]), rendering, redirects and the error page.

use super::lang::Lang;
use crate::ApiError;
use crate::admin::roles::Roles;
use crate::caller::Caller;
use crate::state::AppState;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use desk_core::sessions::{Session, SessionRepo};
use domain::token::{Role, TokenScope};
use subtle::ConstantTimeEq;

/// Where the console lives.
pub const BASE: &str = "/console";
/// The session cookie behind HTTPS (`__Host-`: only from this host, path `/`, `Secure`).
pub const SESSION_COOKIE_SECURE: &str = "__Host-desk_session";
/// The session cookie on plain HTTP (a local instance without a TLS proxy).
pub const SESSION_COOKIE_PLAIN: &str = "desk_session";
/// The sign-in form's own CSRF value (before there is a session).
pub const SIGN_IN_COOKIE: &str = "desk_sign_in";
/// The language chosen with `?lang=`.
pub const LANG_COOKIE: &str = "desk_lang";
/// How long the browser keeps the session cookie; the server ends a session idle for 7 days
/// whatever the cookie says.
pub const SESSION_COOKIE_MAX_AGE_SECS: i64 = 30 * 24 * 3600;

/// A cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the browser reached us over HTTPS: API Gateway and the README's TLS proxies say so
/// in `X-Forwarded-Proto` (the last proxy's word counts).
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The session cookie's name for this request's scheme.
pub fn session_cookie_name(https: bool) -> &'static str {
    if https {
        SESSION_COOKIE_SECURE
    } else {
        SESSION_COOKIE_PLAIN
    }
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax (a link from webmail or WeChat's in-app
/// browser is cross-site; Strict would drop the cookie), path `/`, `Secure` behind HTTPS.
/// `max_age` 0 removes it.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The client's address, for the sign-in throttle: the peer (on AWS the admin API function
/// sets API Gateway's `sourceIp` as the peer), or, when the peer is a proxy on this machine or
/// there is no peer, the address the nearest proxy put last in `X-Forwarded-For`. An IPv6
/// client counts by its /64 (a client holds at least that many addresses); an IPv4-mapped
/// IPv6 address is its IPv4 address.
///
/// Which `X-Forwarded-For` element to trust: only the **last**. A client may send the header
/// with anything in it; each proxy appends the address that connected to it (API Gateway, HTTP
/// API and REST API alike, appends the caller's address last; so do nginx's
/// `$proxy_add_x_forwarded_for` and Caddy), so the last element is the one the nearest proxy
/// saw, and everything before it is the client's to choose. A proxy may also add its own
/// header line instead of extending the client's: the last element of the last line is read,
/// never the first line. A caller therefore cannot pick its own throttle bucket by sending the
/// header: it can only add elements before the one its proxy appends.
pub fn client_address(parts: &Parts) -> String {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    let forwarded = || {
        parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .and_then(|v| v.parse::<std::net::IpAddr>().ok())
    };
    let ip = match peer {
        Some(ip) if !ip.is_loopback() => Some(ip),
        Some(ip) => forwarded().or(Some(ip)),
        None => forwarded(),
    };
    match ip {
        Some(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Some(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".to_string(),
    }
}

/// The language of this request: `?lang=`, then the cookie, then Chinese.
pub fn lang_of(parts: &Parts) -> Lang {
    query_lang(parts.uri.query())
        .or_else(|| cookie(&parts.headers, LANG_COOKIE).and_then(Lang::parse))
        .unwrap_or_default()
}

/// `lang=` in a query string.
pub fn query_lang(query: Option<&str>) -> Option<Lang> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Lang::parse(&v))
}

/// Where a sign-in may return to: a console path of ours, never another site (`//evil`,
/// `/\evil`, a scheme) and never the sign-in itself.
pub fn safe_next(next: Option<&str>) -> String {
    let home = format!("{BASE}/");
    let Some(next) = next else { return home };
    let ok = next.len() <= 2000
        && (next == BASE || next.starts_with(&format!("{BASE}/")))
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && !next.starts_with(&format!("{BASE}/sign-in"))
        // A form's address (answered only to POST).
        && !next.contains("/act/");
    if ok { next.to_string() } else { home }
}

/// The page a form was sent from: a complaint's action → the complaint's page; the try page's
/// push → the try page; anything else → the inbox.
pub fn page_of_form(path: &str) -> String {
    if let Some(rest) = path.strip_prefix(&format!("{BASE}/complaints/"))
        && let Some((id, _)) = rest.split_once('/')
    {
        return format!("{BASE}/complaints/{id}");
    }
    if path == format!("{BASE}/try") {
        return path.to_string();
    }
    format!("{BASE}/")
}

/// A page's query string, read as axum's `Query` reads it. A query that does not fit (letters
/// where a number belongs, a parameter given twice) answers the console's error page (400, in
/// the page's language, saying what is wrong), not axum's plain-text rejection.
pub struct UrlQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for UrlQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(q)) => Ok(UrlQuery(q)),
            Err(e) => {
                let lang = lang_of(parts);
                Err(error_page(
                    lang,
                    &ApiError::field(
                        "query",
                        format!(
                            "{}{}",
                            lang.t(
                                "网址中的参数不正确，请从页面上的链接或筛选重新进入：",
                                "The address's parameters are not valid; use the page's links or filters: ",
                            ),
                            e.body_text()
                        ),
                    ),
                ))
            }
        }
    }
}

/// A visitor, signed in or not.
pub struct Visit {
    pub lang: Lang,
    pub https: bool,
    /// The path and query asked for (where a sign-in returns to).
    pub here: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let here = if matches!(parts.method, Method::GET | Method::HEAD) {
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| format!("{BASE}/"))
        } else {
            // A form's address is no page to come back to (a GET of it is 405): its page is.
            page_of_form(parts.uri.path())
        };
        Ok(Visit {
            lang: lang_of(parts),
            https: is_https(&parts.headers),
            here,
        })
    }
}

/// A signed-in staff member: the session and the caller it stands for, checked again on
/// every request (a revoked or expired token, or a changed administrator token, ends the
/// session). Without one, a page answers with the sign-in page's address and comes back here
/// afterwards.
pub struct Signed {
    pub caller: Caller,
    pub session_id: String,
    pub session: Session,
    pub visit: Visit,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let visit = Visit::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        let to_sign_in = |visit: &Visit, ended: bool| {
            let mut to = format!(
                "{BASE}/sign-in?next={}",
                form_urlencoded::byte_serialize(visit.here.as_bytes()).collect::<String>()
            );
            if ended {
                to.push_str("&ended=1");
            }
            let mut res = see_other(&to);
            if ended {
                res.headers_mut().append(
                    header::SET_COOKIE,
                    set_cookie(session_cookie_name(visit.https), "", 0, visit.https),
                );
            }
            res
        };
        let Some(session_id) = cookie(&parts.headers, session_cookie_name(visit.https))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
        else {
            return Err(to_sign_in(&visit, false));
        };
        let repo = SessionRepo::new(&*state.ports.records);
        let now = state.ports.clock.now();
        let session = match repo.get(&session_id, now).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(to_sign_in(&visit, true)),
            Err(e) => return Err(error_page(visit.lang, &ApiError::from(e))),
        };
        let caller = match Caller::of_principal(state, &session.principal).await {
            Ok(c) => c,
            Err(ApiError::Unauthorized(why)) => {
                tracing::info!(why, "console session ended: its token no longer works");
                if let Err(e) = repo.delete(&session_id).await {
                    tracing::warn!(error = %e, "ended session not removed");
                }
                return Err(to_sign_in(&visit, true));
            }
            Err(e) => return Err(error_page(visit.lang, &e)),
        };
        Ok(Signed {
            caller,
            session_id,
            session,
            visit,
        })
    }
}

impl Signed {
    /// Refuse a form without this session's CSRF value (403).
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), Box<Response>> {
        let presented = presented.unwrap_or_default();
        if !presented.is_empty()
            && bool::from(presented.as_bytes().ct_eq(self.session.csrf.as_bytes()))
        {
            Ok(())
        } else {
            tracing::info!(token_id = %self.caller.token_id, "console form refused: CSRF value missing or wrong");
            Err(Box::new(error_page(
                self.visit.lang,
                &ApiError::Forbidden(
                    self.visit
                        .lang
                        .t(
                            "表单已过期或来源不明，请刷新页面后重试。",
                            "The form is stale or did not come from this console: reload the page and try again.",
                        )
                        .to_string(),
                ),
            )))
        }
    }

    /// Whether this staff member's role may call the admin route `route` (as the admin
    /// router writes it, after `/admin/v1`: `/accounts/{id}`) with `method`: the check the
    /// admin API's layer makes before its handlers, which the console calls directly.
    pub fn may(&self, roles: &Roles, method: &Method, route: &str) -> bool {
        self.caller.role >= roles.of(method, &format!("{}{route}", crate::http::ADMIN_BASE))
    }

    /// The error page (403 naming the role needed) unless [`Self::may`]: every console page
    /// that calls an admin handler checks its route's role first.
    pub fn require(
        &self,
        roles: &Roles,
        method: &Method,
        route: &str,
    ) -> Result<(), Box<Response>> {
        let route = format!("{}{route}", crate::http::ADMIN_BASE);
        self.caller
            .require_role(roles.of(method, &route), &format!("{method} {route}"))
            .map_err(|e| Box::new(error_page(self.visit.lang, &e)))
    }

    /// The error page (403) unless this staff member may see the settings pages (accounts,
    /// notifications, tokens, operations): administrators only. An agent or a viewer sees no
    /// settings, not even read-only ones.
    pub fn require_settings(&self) -> Result<(), Box<Response>> {
        if settings_offered(&self.caller) {
            Ok(())
        } else {
            Err(Box::new(error_page(
                self.visit.lang,
                &ApiError::Forbidden(
                    self.visit
                        .lang
                        .t(
                            "设置页面只对管理员开放（需要角色 admin 的令牌）。",
                            "The settings pages are for administrators (a token with role \"admin\").",
                        )
                        .to_string(),
                ),
            )))
        }
    }

    /// The chrome of a page this staff member sees.
    pub fn chrome(&self, state: &AppState, title: String) -> Chrome {
        Chrome {
            lang: self.visit.lang,
            title,
            here: self.visit.here.clone(),
            user: Some(UserView::of(&self.caller)),
            csrf: self.session.csrf.clone(),
            try_it: try_it_offered(state),
            settings: settings_offered(&self.caller),
        }
    }
}

/// Whether the settings pages are offered to this caller (role admin).
pub fn settings_offered(caller: &Caller) -> bool {
    caller.role >= Role::Admin
}

/// Whether the sandbox accounts are on (the "try it" page is offered).
pub fn try_it_offered(state: &AppState) -> bool {
    state.try_it.is_some()
}

/// Who is signed in, as the header shows it.
pub struct UserView {
    pub name: String,
    pub role: Role,
    pub scope: String,
}

impl UserView {
    pub fn of(caller: &Caller) -> Self {
        UserView {
            name: caller.token_name.clone(),
            role: caller.role,
            scope: match &caller.scope {
                TokenScope::All => String::new(),
                TokenScope::Account { account_id } => account_id.clone(),
                TokenScope::SubMerchant {
                    account_id,
                    sub_mchid,
                } => format!("{account_id} / {sub_mchid}"),
            },
        }
    }

    /// The role in the page's language.
    pub fn role_label(&self, lang: &Lang) -> &'static str {
        let lang = *lang;
        match self.role {
            Role::Viewer => lang.t("只读", "viewer"),
            Role::Agent => lang.t("客服", "agent"),
            Role::Admin => lang.t("管理员", "admin"),
        }
    }
}

/// What the layout of every page needs.
pub struct Chrome {
    pub lang: Lang,
    pub title: String,
    /// This page's path and query (the language switch links to it).
    pub here: String,
    pub user: Option<UserView>,
    /// The session's CSRF value (the sign-out form's); the sign-in form's own otherwise.
    pub csrf: String,
    pub try_it: bool,
    /// The settings pages are linked (an administrator).
    pub settings: bool,
}

impl Chrome {
    /// A page for a visitor who is not signed in.
    pub fn anonymous(visit: &Visit, title: String, csrf: String) -> Self {
        Chrome {
            lang: visit.lang,
            title,
            here: visit.here.clone(),
            user: None,
            csrf,
            try_it: false,
            settings: false,
        }
    }

    /// This page in the other language.
    pub fn switch_lang_href(&self) -> String {
        let other = if self.lang.is_en() { "zh" } else { "en" };
        let (path, query) = self.here.split_once('?').unwrap_or((&self.here, ""));
        let mut q: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k != "lang")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        q.push(("lang".into(), other.into()));
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        format!("{path}?{encoded}")
    }

    /// The name of the other language, in itself.
    pub fn other_lang_name(&self) -> &'static str {
        if self.lang.is_en() {
            "中文"
        } else {
            "English"
        }
    }
}

/// A rendered page (200), or the error page when the template fails.
pub fn render(t: &impl Template) -> Response {
    render_with(StatusCode::OK, t)
}

/// A rendered page with `status`.
pub fn render_with(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "internal error",
            )
                .into_response()
        }
    }
}

/// 303 to `to` (after a form, or to the sign-in).
pub fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    c: Chrome,
    status: u16,
    heading: &'a str,
    message: String,
}

/// The error page for `e`, with its status: what went wrong in words (a platform's refusal as
/// the platform said it; our own 5xx only as "internal error", its cause logged).
pub fn error_page(lang: Lang, e: &ApiError) -> Response {
    e.log_cause();
    let status = e.status();
    let heading = match status.as_u16() {
        400 | 422 => lang.t("请求有误", "The request is not valid"),
        401 => lang.t("请先登录", "Please sign in"),
        403 => lang.t("无权操作", "Not allowed"),
        404 => lang.t("找不到", "Not found"),
        409 => lang.t("当前状态不允许", "Not possible in the current state"),
        413 => lang.t("内容太大", "Too large"),
        429 => lang.t("操作太频繁", "Too many requests"),
        502 => lang.t("平台拒绝了请求", "The platform refused"),
        _ => lang.t("出错了", "Something went wrong"),
    };
    let c = Chrome {
        lang,
        title: heading.to_string(),
        here: format!("{BASE}/"),
        user: None,
        csrf: String::new(),
        try_it: false,
        settings: false,
    };
    let mut res = render_with(
        status,
        &ErrorPage {
            c,
            status: status.as_u16(),
            heading,
            message: e.message(),
        },
    );
    if let ApiError::RateLimited { retry_after, .. } = e
        && let Ok(v) =
            HeaderValue::from_str(&crate::error::retry_after_secs(*retry_after).to_string())
    {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}
