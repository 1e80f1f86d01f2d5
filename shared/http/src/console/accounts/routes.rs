//! The routes platforms declare on accounts (`callback-registration` on WeChat Pay accounts,
//! `authorization-link` on a third-party platform), run from the account's page after the role
//! check the admin API's layer would make, and WeChat Pay's registration in words.

use crate::ApiError;
use crate::admin::actions::staff;
use crate::admin::roles::Roles;
use crate::console::Lang;
use crate::console::web::Signed;
use crate::state::AppState;
use axum::http::Method;
use desk_core::account_actions::{AccountAnswer, Method as RouteMethod};
use desk_core::staff_actions::ActionBody;
use domain::account::Account;
use serde_json::Value;

/// WeChat Pay's registration, as the page shows it.
pub struct RegistrationView {
    pub lines: Vec<Line>,
    pub error: Option<String>,
}

pub struct Line {
    pub words: String,
    pub matches: bool,
}

/// Run an account route a platform declares (`callback-registration`) after its role check.
pub async fn account_route(
    state: &AppState,
    signed: &Signed,
    roles: &Roles,
    account: &Account,
    name: &str,
    method: RouteMethod,
) -> Result<Option<Value>, ApiError> {
    let http_method = match method {
        RouteMethod::Get => Method::GET,
        RouteMethod::Post => Method::POST,
        RouteMethod::Delete => Method::DELETE,
    };
    let route = format!("{}/accounts/{{id}}/{name}", crate::http::ADMIN_BASE);
    signed.caller.require_role(
        roles.of(&http_method, &route),
        &format!("{http_method} {route}"),
    )?;
    signed.caller.require_account(&account.id)?;
    let platforms = state.platforms();
    let platform = platforms
        .account_kind(account.kind())
        .and_then(|k| platforms.get(k.facts.platform))
        .ok_or_else(|| ApiError::Conflict(format!("{} is not served", account.kind())))?;
    let actions = platform.account_actions();
    let offered = actions.actions();
    let spec = offered
        .iter()
        .find(|a| a.name == name && a.method == method && a.serves(account.kind()))
        .ok_or_else(|| ApiError::Conflict(format!("{} has no {name}", account.kind())))?;
    let answer = actions
        .run(
            state,
            &staff(&signed.caller),
            account,
            spec,
            ActionBody::new(None),
        )
        .await?;
    Ok(match answer {
        AccountAnswer::Json(v) => Some(v),
        AccountAnswer::NoContent => None,
    })
}

pub fn has_route(state: &AppState, account: &Account, name: &str) -> bool {
    let platforms = state.platforms();
    platforms
        .account_kind(account.kind())
        .and_then(|k| platforms.get(k.facts.platform))
        .is_some_and(|p| {
            p.account_actions()
                .actions()
                .iter()
                .any(|a| a.name == name && a.serves(account.kind()))
        })
}

/// Why callback URLs cannot be registered or checked yet, in words: `PUBLIC_BASE_URL` (the
/// HTTPS address platforms call) is not set, or is not HTTPS.
pub fn base_missing(state: &AppState, lang: Lang) -> Option<String> {
    match state.public_base_url.as_ref() {
        Some(b) if b.scheme() == "https" => None,
        Some(_) => Some(
            lang.t(
                "PUBLIC_BASE_URL 必须是 HTTPS 地址（平台只调用 HTTPS）：请先改好它再登记或检查回调地址。",
                "PUBLIC_BASE_URL must be an HTTPS address (platforms call only HTTPS): fix it first, then register or check the callback URLs.",
            )
            .into(),
        ),
        None => Some(
            lang.t(
                "请先设置 PUBLIC_BASE_URL（平台调用本系统的 HTTPS 地址），才能向微信支付登记或检查回调地址。",
                "Set PUBLIC_BASE_URL (the HTTPS address platforms call this desk at) first: only then can the callback URLs be registered with or checked at WeChat Pay.",
            )
            .into(),
        ),
    }
}

pub fn registration_view(lang: Lang, answer: Result<Option<Value>, ApiError>) -> RegistrationView {
    match answer {
        Ok(Some(v)) => {
            let mut lines = Vec::new();
            for (key, zh, en) in [
                ("complaints", "投诉通知", "Complaint notifications"),
                ("violations", "违规通知", "Violation notifications"),
            ] {
                let r = &v[key];
                if r.is_null() {
                    continue;
                }
                let matches = r["matches"].as_bool().unwrap_or(false);
                let registered = r["registered"].as_str();
                let words = match (lang, matches, registered) {
                    (Lang::Zh, true, _) => format!("{zh}：已登记，与本系统一致"),
                    (Lang::En, true, _) => format!("{en}: registered, the same as ours"),
                    (Lang::Zh, false, Some(u)) => {
                        format!("{zh}：登记的是 {u}，与本系统不一致，请重新登记")
                    }
                    (Lang::En, false, Some(u)) => {
                        format!("{en}: {u} is registered, not ours: register again")
                    }
                    (Lang::Zh, false, None) => format!("{zh}：还没有登记"),
                    (Lang::En, false, None) => format!("{en}: not registered yet"),
                };
                lines.push(Line { words, matches });
            }
            RegistrationView { lines, error: None }
        }
        Ok(None) => RegistrationView {
            lines: Vec::new(),
            error: None,
        },
        Err(e) => {
            e.log_cause();
            RegistrationView {
                lines: Vec::new(),
                error: Some(match lang {
                    Lang::Zh => format!("读不到微信支付登记的地址：{}", e.message()),
                    Lang::En => format!("Could not read what WeChat Pay holds: {}", e.message()),
                }),
            }
        }
    }
}
