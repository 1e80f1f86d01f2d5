//! `/console/tokens` (administrators only): the access tokens this administrator may see
//! (name, role, scope by name, expiry, last used, created), a form that creates one (name, role,
//! scope among those this administrator may mint, expiry) and shows the new token once, in the
//! answer to the form itself (never in an address, the session or a log: a reload sends the form
//! again, which is refused, and the page is `no-store`), and revocation with a confirmation step
//! (the token this session uses is marked, and revoking it ends the session). Every read and
//! write goes through the admin API's own handlers, so its rules (a token mints nothing wider or
//! stronger than itself) are the API's.

pub mod create;
pub mod revoke;

use super::lang::Lang;
use super::operations::{Names, names};
use super::view;
use super::web::{BASE, Chrome, Signed, error_page, render_with};
use crate::admin::page::PageParams;
use crate::admin::roles::Roles;
use crate::admin::tokens::{TokenView, list_tokens};
use crate::console::web::UrlQuery;
use crate::extract::ApiQuery;
use crate::state::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use desk_core::sessions::new_form_id;
use domain::token::{Role, TokenScope};
use serde::Deserialize;
use std::sync::Arc;

/// Expiry choices in days ("never" is the empty value).
const EXPIRY_DAYS: [u32; 4] = [7, 30, 90, 365];

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: &'static str,
    pub scope: String,
    pub expires: String,
    pub expired: bool,
    /// `3分钟前 · 2026-11-27 09:30`, or "never used".
    pub last_used: String,
    pub created: String,
    /// The token this session uses.
    pub me: bool,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// What the create form shows: what was typed and, after a refusal, why (at its field).
#[derive(Default)]
pub struct FormState {
    pub name: String,
    pub error_name: Option<String>,
    pub error_role: Option<String>,
    pub error_scope: Option<String>,
    pub error_expires: Option<String>,
    /// A refusal that names no field (or a form sent twice).
    pub error: Option<String>,
    pub expires_on: String,
}

/// The token just created, shown once.
pub struct Created {
    pub name: String,
    pub token: String,
}

#[derive(Template)]
#[template(path = "console/tokens.html")]
struct TokensPage {
    c: Chrome,
    rows: Vec<TokenRow>,
    next: Option<String>,
    can_create: bool,
    can_revoke: bool,
    /// The list could not be read (the page shows the token just made all the same).
    list_failed: bool,
    form_action: String,
    roles: Vec<Choice>,
    scopes: Vec<Choice>,
    expiries: Vec<Choice>,
    form: FormState,
    own_expiry: Option<String>,
    created: Option<Created>,
    revoked: bool,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    cursor: Option<String>,
    /// A token was just revoked.
    #[serde(default)]
    revoked: Option<String>,
    /// The create form's one-time id.
    #[serde(default)]
    form: Option<String>,
}

fn role_label(lang: Lang, r: Role) -> &'static str {
    match r {
        Role::Viewer => lang.t("只读（查看投诉）", "viewer (reads complaints)"),
        Role::Agent => lang.t("客服（处理投诉）", "agent (acts on complaints)"),
        Role::Admin => lang.t(
            "管理员（全部，包括设置）",
            "admin (everything, settings too)",
        ),
    }
}

/// A scope in words, by name.
pub fn scope_label(lang: Lang, names: &Names, s: &TokenScope) -> String {
    match s {
        TokenScope::All => lang.t("全部账户", "all accounts").to_string(),
        TokenScope::Account { account_id } => format!(
            "{}{}",
            lang.t("账户：", "account: "),
            names.account(account_id)
        ),
        TokenScope::SubMerchant {
            account_id,
            sub_mchid,
        } => format!(
            "{}{} / {}",
            lang.t("子商户：", "sub-merchant: "),
            names.account(account_id),
            names.sub(account_id, sub_mchid)
        ),
    }
}

fn scope_value(s: &TokenScope) -> String {
    match s {
        TokenScope::All => "all".into(),
        TokenScope::Account { account_id } => format!("account:{account_id}"),
        TokenScope::SubMerchant {
            account_id,
            sub_mchid,
        } => format!("sub:{account_id}:{sub_mchid}"),
    }
}

fn parse_scope(v: &str) -> Option<TokenScope> {
    let mut parts = v.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("all"), None, None) => Some(TokenScope::All),
        (Some("account"), Some(a), None) if !a.is_empty() => Some(TokenScope::Account {
            account_id: a.into(),
        }),
        (Some("sub"), Some(a), Some(s)) if !a.is_empty() && !s.is_empty() => {
            Some(TokenScope::SubMerchant {
                account_id: a.into(),
                sub_mchid: s.into(),
            })
        }
        _ => None,
    }
}

/// How long ago `t` was, in words, and when: `3分钟前 · 2026-11-27 09:30`.
pub fn ago(lang: Lang, now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let span = view::span(lang, now - t);
    match lang {
        Lang::Zh => format!("{span}前 · {}", view::beijing(t)),
        Lang::En => format!("{span} ago · {}", view::beijing(t)),
    }
}

fn row_of(
    lang: Lang,
    now: DateTime<Utc>,
    names: &Names,
    signed: &Signed,
    t: TokenView,
) -> TokenRow {
    TokenRow {
        me: t.id == signed.caller.token_id,
        role: role_label(lang, t.role),
        scope: scope_label(lang, names, &t.scope),
        expires: t
            .expires_at
            .map(view::beijing)
            .unwrap_or_else(|| lang.t("永不过期", "never").into()),
        expired: t.expires_at.is_some_and(|at| at <= now),
        last_used: t
            .last_used_at
            .map(|at| ago(lang, now, at))
            .unwrap_or_else(|| lang.t("从未使用", "never used").into()),
        created: view::beijing(t.created_at),
        name: t.name,
        id: t.id,
    }
}

/// The scopes this caller may mint: its own and every narrower one among the accounts and
/// sub-merchants it sees.
fn scope_choices(
    lang: Lang,
    caller_scope: &TokenScope,
    names: &Names,
    chosen: &str,
) -> Vec<Choice> {
    let mut scopes = vec![TokenScope::All];
    for id in names.accounts.keys() {
        scopes.push(TokenScope::Account {
            account_id: id.clone(),
        });
    }
    for (id, sub) in names.subs.keys() {
        scopes.push(TokenScope::SubMerchant {
            account_id: id.clone(),
            sub_mchid: sub.clone(),
        });
    }
    if !scopes.contains(caller_scope) {
        scopes.push(caller_scope.clone());
    }
    scopes
        .into_iter()
        .filter(|s| caller_scope.contains(s))
        .map(|s| {
            let value = scope_value(&s);
            Choice {
                selected: value == chosen,
                label: scope_label(lang, names, &s),
                value,
            }
        })
        .collect()
}

/// What one rendering of the page shows besides the list.
pub struct Shown {
    pub cursor: Option<String>,
    pub form: FormState,
    /// The role, scope and expiry chosen (values of the form's selects).
    pub chosen: (String, String, String),
    pub created: Option<Created>,
    pub revoked: bool,
    pub status: StatusCode,
}

impl Shown {
    fn list(cursor: Option<String>) -> Self {
        Shown {
            cursor,
            form: FormState::default(),
            chosen: ("viewer".into(), "all".into(), String::new()),
            created: None,
            revoked: false,
            status: StatusCode::OK,
        }
    }
}

/// The page: the list and the create form.
async fn page(state: &AppState, roles: &Roles, signed: &Signed, shown: Shown) -> Response {
    let lang = signed.visit.lang;
    let Shown {
        cursor,
        form,
        chosen,
        created,
        revoked,
        status,
    } = shown;
    let listed = match list_tokens(
        State(state.clone()),
        signed.caller.clone(),
        ApiQuery(PageParams {
            limit: Some(100),
            cursor,
        }),
    )
    .await
    {
        Ok(l) => Some(l.0),
        // A token just made is shown whatever else fails: it is never shown again.
        Err(e) if created.is_some() => {
            e.log_cause();
            None
        }
        Err(e) => return error_page(lang, &e),
    };
    let names = match names(state, &signed.caller).await {
        Ok(n) => n,
        Err(e) if created.is_some() => {
            e.log_cause();
            Default::default()
        }
        Err(e) => return error_page(lang, &e),
    };
    let now = state.ports.clock.now();
    let list_failed = listed.is_none();
    let (items, next_cursor) = listed.map(|l| (l.items, l.next_cursor)).unwrap_or_default();
    let rows = items
        .into_iter()
        .map(|t| row_of(lang, now, &names, signed, t))
        .collect();
    let (role, scope, expires) = (chosen.0.as_str(), chosen.1.as_str(), chosen.2.as_str());
    let role_choices = [Role::Viewer, Role::Agent, Role::Admin]
        .into_iter()
        .filter(|r| *r <= signed.caller.role)
        .map(|r| Choice {
            value: r.as_str().to_string(),
            label: role_label(lang, r).to_string(),
            selected: r.as_str() == role,
        })
        .collect();
    let mut expiries = vec![Choice {
        value: String::new(),
        label: lang.t("永不过期", "never").into(),
        selected: expires.is_empty(),
    }];
    expiries.extend(EXPIRY_DAYS.iter().map(|d| Choice {
        value: d.to_string(),
        label: match lang {
            Lang::Zh => format!("{d} 天后"),
            Lang::En => format!("in {d} days"),
        },
        selected: expires == d.to_string(),
    }));
    let page = TokensPage {
        c: signed.chrome(state, lang.t("令牌", "Tokens").into()),
        rows,
        next: next_cursor.map(|n| format!("{BASE}/tokens?cursor={}", view::path_segment(&n))),
        can_create: signed.may(roles, &Method::POST, "/tokens"),
        can_revoke: signed.may(roles, &Method::DELETE, "/tokens/{id}"),
        list_failed,
        form_action: format!("{BASE}/tokens?form={}", new_form_id()),
        roles: role_choices,
        scopes: scope_choices(lang, &signed.caller.scope, &names, scope),
        expiries,
        form,
        own_expiry: signed.caller.expires_at.map(view::beijing),
        created,
        revoked,
    };
    render_with(status, &page)
}

/// `GET /console/tokens`.
pub async fn show(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    UrlQuery(q): UrlQuery<ListQuery>,
) -> Response {
    if let Err(res) = signed.require_settings() {
        return *res;
    }
    if let Err(res) = signed.require(&roles, &Method::GET, "/tokens") {
        return *res;
    }
    let mut shown = Shown::list(q.cursor.filter(|c| !c.is_empty()));
    shown.revoked = q.revoked.is_some();
    page(&state, &roles, &signed, shown).await
}
