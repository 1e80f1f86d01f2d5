//! Signing in and out: an access token (or a one-time code another signed-in device made) is
//! exchanged for a session cookie; failed attempts are throttled per (address, token id) and,
//! more loosely, per address; afterwards the
//! browser returns to the page a link pointed at. Links never carry a credential.

use super::lang::Lang;
use super::web::{
    BASE, Chrome, SESSION_COOKIE_MAX_AGE_SECS, SIGN_IN_COOKIE, Signed, Visit, client_address,
    cookie, error_page, render, render_with, safe_next, see_other, session_cookie_name, set_cookie,
};
use crate::ApiError;
use crate::caller::Caller;
use crate::console::web::UrlQuery;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::Response;
use desk_core::sessions::{self, Attempt, SessionRepo};
use serde::Deserialize;
use subtle::ConstantTimeEq;

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    /// Set when a session ended (idle, signed out elsewhere, token revoked).
    ended: Option<String>,
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    c: Chrome,
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

fn new_form_value() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn title(lang: Lang) -> String {
    lang.t("登录 · 投诉工作台", "Sign in · complaint desk")
        .to_string()
}

/// The sign-in form with a fresh CSRF value in its cookie.
fn sign_in_form(
    visit: &Visit,
    status: StatusCode,
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Response {
    let value = new_form_value();
    let page = SignInPage {
        c: Chrome::anonymous(visit, title(visit.lang), value.clone()),
        next,
        error,
        notice,
    };
    let mut res = render_with(status, &page);
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SIGN_IN_COOKIE, &value, 3600, visit.https),
    );
    res
}

/// `GET /console/sign-in?next=`.
pub async fn show(
    State(state): State<AppState>,
    visit: Visit,
    headers: HeaderMap,
    UrlQuery(q): UrlQuery<SignInQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    // Signed in already: straight on.
    if let Some(id) = cookie(&headers, session_cookie_name(visit.https))
        && let Ok(Some(session)) = SessionRepo::new(&*state.ports.records)
            .get(id, state.ports.clock.now())
            .await
        && Caller::of_principal(&state, &session.principal)
            .await
            .is_ok()
    {
        return see_other(&next);
    }
    let notice = q.ended.is_some().then(|| {
        visit.lang.t(
            "登录已失效，请重新登录。",
            "Your session has ended: sign in again.",
        )
    });
    sign_in_form(&visit, StatusCode::OK, next, None, notice)
}

/// Why a sign-in was refused with 429.
#[derive(Clone, Copy)]
enum Refusal {
    /// Too many attempts at once: retry in a moment.
    Busy,
    /// This token (or the one-time codes) failed too often from this address.
    Name,
    /// This address failed too often, whatever the tokens.
    Address,
}

/// 429: the sign-in is refused for `wait`.
fn too_many(visit: &Visit, next: String, wait: chrono::Duration, why: Refusal) -> Response {
    let lang = visit.lang;
    let minutes = wait.num_minutes().max(1);
    let message = match (why, lang) {
        (Refusal::Busy, _) => lang
            .t(
                "登录请求过多，请稍后重试。",
                "Too many sign-in attempts at once: please retry in a moment.",
            )
            .to_string(),
        (Refusal::Name, Lang::Zh) => {
            format!("此令牌（或登录码）失败次数过多，请 {minutes} 分钟后再试。")
        }
        (Refusal::Name, Lang::En) => format!(
            "Too many failed attempts with this token (or with sign-in codes) from your \
             address: try again in {minutes} minutes."
        ),
        (Refusal::Address, Lang::Zh) => {
            format!("你的地址失败次数过多，请 {minutes} 分钟后再试。")
        }
        (Refusal::Address, Lang::En) => {
            format!("Too many failed attempts from your address: try again in {minutes} minutes.")
        }
    };
    let mut res = sign_in_form(
        visit,
        StatusCode::TOO_MANY_REQUESTS,
        next,
        Some(message),
        None,
    );
    if let Ok(v) = wait.num_seconds().max(1).to_string().parse() {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    csrf: String,
}

/// `POST /console/sign-in`: a token or a one-time code → a session.
pub async fn submit(
    State(state): State<AppState>,
    visit: Visit,
    req: axum::extract::Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let form: SignInForm = match read_form(&parts, body).await {
        Ok(f) => f,
        Err(res) => return *res,
    };
    let lang = visit.lang;
    let next = safe_next(form.next.as_deref());
    let expected = cookie(&parts.headers, SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return sign_in_form(
            &visit,
            StatusCode::FORBIDDEN,
            next,
            Some(
                lang.t(
                    "登录表单已过期，请重新提交。",
                    "The sign-in form had expired: please submit it again.",
                )
                .into(),
            ),
            None,
        );
    }
    let token = form.token.trim();
    let code = form.code.trim();
    if token.is_empty() && code.is_empty() {
        return sign_in_form(
            &visit,
            StatusCode::BAD_REQUEST,
            next,
            Some(
                lang.t(
                    "请输入访问令牌或一次性登录码。",
                    "Enter an access token or a one-time sign-in code.",
                )
                .into(),
            ),
            None,
        );
    }
    let address = client_address(&parts);
    let name = attempt_name(token);
    let repo = SessionRepo::new(&*state.ports.records);
    let now = state.ports.clock.now();
    // The attempt is counted before it is verified (concurrent guesses cannot all slip
    // under the limit) and given back if it succeeds.
    match repo.reserve_attempt(&address, &name, now).await {
        Ok(Attempt::Reserved) => {}
        Ok(Attempt::Throttled(until)) => {
            tracing::warn!(%address, %name, "console sign-in refused: too many failed attempts with this name");
            return too_many(&visit, next, until - now, Refusal::Name);
        }
        Ok(Attempt::AddressThrottled(until)) => {
            tracing::warn!(%address, "console sign-in refused: too many failed attempts from the address");
            return too_many(&visit, next, until - now, Refusal::Address);
        }
        Ok(Attempt::Busy) => {
            tracing::warn!(%address, "console sign-in refused: too many attempts at once");
            return too_many(&visit, next, chrono::Duration::seconds(5), Refusal::Busy);
        }
        Err(e) => return error_page(lang, &e.into()),
    }
    let principal = if !token.is_empty() {
        match Caller::of_token(&state, token).await {
            Ok(caller) => Some(caller.principal(&state)),
            Err(ApiError::Unauthorized(_)) => None,
            Err(e) => return error_page(lang, &e),
        }
    } else {
        match repo.redeem_code(code, now).await {
            // The code's token must still work.
            Ok(Some(p)) => Caller::of_principal(&state, &p).await.ok().map(|_| p),
            Ok(None) => None,
            Err(e) => return error_page(lang, &e.into()),
        }
    };
    let Some(principal) = principal else {
        // The reserved attempt stays counted.
        tracing::info!(%address, "console sign-in refused: unknown, revoked or expired token or code");
        return sign_in_form(
            &visit,
            StatusCode::UNAUTHORIZED,
            next,
            Some(
                lang.t(
                    "令牌或登录码无效、已过期或已被吊销。",
                    "The token or code is not valid, has expired or was revoked.",
                )
                .into(),
            ),
            None,
        );
    };
    match repo.release_attempt(&address, &name, now).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!("a successful sign-in's attempt stays counted (busy)"),
        Err(e) => tracing::warn!(error = %e, "a successful sign-in's attempt stays counted"),
    }
    let (session_id, _) = match repo.create(principal, now).await {
        Ok(s) => s,
        Err(e) => return error_page(lang, &e.into()),
    };
    // A browser signing in again: its previous session ends (whoever held that cookie value
    // is not signed in by it any more).
    if let Some(old) = cookie(&parts.headers, session_cookie_name(visit.https))
        .filter(|v| !v.is_empty() && *v != session_id)
        && let Err(e) = repo.delete(old).await
    {
        tracing::warn!(error = %e, "the previous session of a signed-in browser was not removed");
    }
    let mut res = see_other(&next);
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            session_cookie_name(visit.https),
            &session_id,
            SESSION_COOKIE_MAX_AGE_SECS,
            visit.https,
        ),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SIGN_IN_COOKIE, "", 0, visit.https),
    );
    res
}

/// Who a sign-in attempt claims to be, for its throttle: a stored token's id (its public part,
/// `cdt_<id>_...`), so one person's typos lock only that token at that address. Every attempt
/// that names no stored token (the administrator token, anything malformed) shares the name
/// `token`, and every one-time code the name `code`: a code is short, so guesses at codes
/// cannot each pick a fresh name. Never the secret itself.
fn attempt_name(token: &str) -> String {
    if token.is_empty() {
        "code".to_string()
    } else {
        match crate::auth::token_id(token) {
            Some(id) => format!("token:{}", id.to_ascii_lowercase()),
            None => "token".to_string(),
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// The most an urlencoded console form may hold: an Alipay account in certificate mode sends
/// four PEM files (the root certificate alone holds several certificates), urlencoded.
pub const FORM_LIMIT: usize = 64 * 1024;

/// A small urlencoded form (at most [`FORM_LIMIT`]), or a 400 page.
pub async fn read_form<T: serde::de::DeserializeOwned>(
    parts: &Parts,
    body: axum::body::Body,
) -> Result<T, Box<Response>> {
    let lang = super::web::lang_of(parts);
    let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
        Box::new(error_page(
            lang,
            &ApiError::field(
                "form",
                lang.t(
                    "表单内容太多，读不了（最多 64 KiB）。",
                    "The form could not be read (at most 64 KiB).",
                ),
            ),
        ))
    })?;
    serde_urlencoded::from_bytes(&bytes).map_err(|e| {
        Box::new(error_page(
            lang,
            &ApiError::field(
                "form",
                format!(
                    "{}{e}",
                    lang.t("表单内容不正确：", "The form is not valid: ")
                ),
            ),
        ))
    })
}

/// A signed-in staff member's form: read (see [`read_form`]) and refused without the
/// session's CSRF value (`csrf` gives it).
pub async fn signed_form<T: serde::de::DeserializeOwned>(
    signed: &Signed,
    req: axum::extract::Request,
    csrf: impl Fn(&T) -> &str,
) -> Result<T, Box<Response>> {
    let (parts, body) = req.into_parts();
    let form: T = read_form(&parts, body).await?;
    signed.check_csrf(Some(csrf(&form)))?;
    Ok(form)
}

/// A form that carries nothing but the session's CSRF value (a button: sign out, replay,
/// revoke, register): refused without it.
pub async fn csrf_only(signed: &Signed, req: axum::extract::Request) -> Result<(), Box<Response>> {
    signed_form::<CsrfForm>(signed, req, |f| &f.csrf)
        .await
        .map(|_| ())
}

/// `POST /console/sign-out`.
pub async fn sign_out(
    State(state): State<AppState>,
    signed: Signed,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = csrf_only(&signed, req).await {
        return *res;
    }
    if let Err(e) = SessionRepo::new(&*state.ports.records)
        .delete(&signed.session_id)
        .await
    {
        return error_page(signed.visit.lang, &e.into());
    }
    let mut res = see_other(&format!("{BASE}/sign-in"));
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            session_cookie_name(signed.visit.https),
            "",
            0,
            signed.visit.https,
        ),
    );
    res
}

#[derive(Template)]
#[template(path = "console/sign_in_code.html")]
struct CodePage {
    c: Chrome,
    code: Option<String>,
    minutes: i64,
    sign_in_url: String,
}

fn code_page(state: &AppState, signed: &Signed, code: Option<String>) -> Response {
    let lang = signed.visit.lang;
    // Without a console base (none configured, or console links `off`) the page cannot know the
    // address staff reach it at: it names the path after "this site's address".
    let sign_in_url = state.console_url("console/sign-in").unwrap_or_else(|| {
        format!(
            "{}{BASE}/sign-in",
            lang.t("本站地址 + ", "this site's address + ")
        )
    });
    render(&CodePage {
        c: signed.chrome(
            state,
            lang.t("在其他设备登录", "Sign in on another device").into(),
        ),
        code,
        minutes: sessions::CODE_LIFETIME.num_minutes(),
        sign_in_url,
    })
}

/// `GET /console/sign-in-code`: what a one-time code is for, and the button that makes one.
pub async fn show_code(State(state): State<AppState>, signed: Signed) -> Response {
    code_page(&state, &signed, None)
}

/// `POST /console/sign-in-code`: a new one-time code for this staff member (the same token,
/// role and scope), shown once.
pub async fn make_code(
    State(state): State<AppState>,
    signed: Signed,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = csrf_only(&signed, req).await {
        return *res;
    }
    let principal = signed.caller.principal(&state);
    match SessionRepo::new(&*state.ports.records)
        .create_code(principal, state.ports.clock.now())
        .await
    {
        Ok((code, _)) => {
            tracing::info!(token_id = %signed.caller.token_id, "one-time sign-in code made");
            let mut res = code_page(&state, &signed, Some(code));
            res.headers_mut()
                .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
            res
        }
        Err(e) => error_page(signed.visit.lang, &e.into()),
    }
}
