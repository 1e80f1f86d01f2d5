//! `/console/accounts`: an administrator onboards and looks after accounts without curl. The
//! list (credential status and health), a card per account kind, a guided creation form per
//! kind (numbered steps saying where in the platform's console each value is, the callback
//! URLs to paste there, inputs read from the kind's schemas, the automatic refund as a
//! required choice), and each account's page ([`page`]) with its sub-merchants ([`subs`]).
//! Every page is a settings page (administrators only); each admin handler is called after
//! its route's role check, with the signed-in staff member as the caller.

pub mod edits;
pub mod form;
pub mod guide;
pub mod health;
pub mod inputs;
pub mod page;
pub mod routes;
pub mod subs;

use super::sign_in::signed_form;
use super::view;
use super::web::{BASE, Chrome, Signed, error_page, render, see_other};
use crate::ApiError;
use crate::admin::accounts::{AccountFilter, CreateAccount, create_account, list_accounts};
use crate::admin::page::PageParams;
use crate::admin::roles::Roles;
use crate::extract::ApiQuery;
use crate::http::ValidJson;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use desk_core::accounts::AccountKindSpec;
use desk_core::sessions::{SessionRepo, new_form_id};
use domain::account::{Account, CredentialsStatus};
use domain::token::TokenScope;
use form::{Errors, KindForm, Submitted};
use inputs::{DefaultRefundView, InputView, RefundView};
use serde_json::Value;
use std::sync::Arc;

/// A callback URL as a page shows it: copyable; on a creation form, `template` holds `{id}`
/// where the platform id goes while it is still being typed, and `placeholder` is the URL
/// shown while it is empty.
pub struct CallbackView {
    pub label: String,
    pub url: String,
    pub template: Option<String>,
    pub placeholder: String,
}

/// The callback URLs of a kind for `platform_id` (none yet: a placeholder naming the field);
/// `typing`: on a creation form, where the script fills them in as the id is typed.
pub fn callbacks(
    state: &AppState,
    spec: &AccountKindSpec,
    lang: super::Lang,
    platform_id: Option<&str>,
    typing: bool,
) -> Vec<CallbackView> {
    let base = state.public_base_url.as_ref();
    let placeholder = format!("{{{}}}", spec.facts.platform_id_field);
    guide::of(&spec.facts)
        .callbacks
        .iter()
        .map(|c| CallbackView {
            label: lang.t(c.label.0, c.label.1).to_string(),
            url: guide::callback_url(base, c.path, platform_id.unwrap_or(&placeholder)),
            template: typing.then(|| guide::callback_url(base, c.path, "{id}")),
            placeholder: guide::callback_url(base, c.path, &placeholder),
        })
        .collect()
}

/// A platform id typed into a creation form, when it can go into a callback URL as it is.
fn typed_platform_id<'a>(spec: &AccountKindSpec, typed: Option<&'a Submitted>) -> Option<&'a str> {
    let id = typed?
        .get(&format!(
            "{}{}",
            form::SETTING,
            spec.facts.platform_id_field
        ))?
        .trim();
    (!id.is_empty() && id.len() <= 64 && id.bytes().all(crate::admin::path_ids::is_id_byte))
        .then_some(id)
}

/// The platform's name in the page's language.
pub fn platform_of(spec: &AccountKindSpec, lang: super::Lang) -> &'static str {
    view::platform_label(lang, spec.facts.platform)
}

/// A credential status in words: complete, or what is missing.
pub fn credentials_words(lang: super::Lang, s: &CredentialsStatus) -> String {
    if s.complete {
        lang.t("凭证齐全", "Credentials complete").into()
    } else if s.missing.is_empty() {
        lang.t("凭证不全", "Credentials incomplete").into()
    } else {
        let names: Vec<String> = s.missing.iter().map(|m| guide::label(lang, m)).collect();
        match lang {
            super::Lang::Zh => format!("缺少凭证：{}", names.join("、")),
            super::Lang::En => format!("Credentials missing: {}", names.join(", ")),
        }
    }
}

/// A form of a signed-in staff member as name/value pairs, refused without the session's
/// CSRF value.
pub async fn submitted(
    signed: &Signed,
    req: axum::extract::Request,
) -> Result<Submitted, Response> {
    signed_form::<Vec<(String, String)>>(signed, req, |pairs| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    })
    .await
    .map(Submitted)
    .map_err(|res| *res)
}

/// The settings pages' common start: administrators only, and the admin route's role.
pub fn allowed(
    signed: &Signed,
    roles: &Roles,
    method: &Method,
    route: &str,
) -> Result<(), Box<Response>> {
    signed.require_settings()?;
    signed.require(roles, method, route)
}

/// Creating an account needs a token whose scope is everything: one scoped to an account or
/// a sub-merchant is told so before any form (the admin API would refuse it after the keys
/// were typed).
fn require_scope_all(signed: &Signed) -> Result<(), Box<Response>> {
    if signed.caller.scope.is_all() {
        return Ok(());
    }
    Err(Box::new(error_page(
        signed.visit.lang,
        &ApiError::Forbidden(
            signed
                .visit
                .lang
                .t(
                    "只有范围为「全部账户」的管理员才能新建账户；您的令牌只管理某个账户或子商户。请让拥有全部权限的管理员来新建。",
                    "Only an administrator whose scope is all accounts can create accounts; your token manages one account or sub-merchant. Ask an administrator with full access to create it.",
                )
                .to_string(),
        ),
    )))
}

/// The JSON a handler answered (for handlers whose answer type is opaque).
pub async fn answer_json(res: Response) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .map_err(ApiError::internal)?;
    serde_json::from_slice(&bytes).map_err(ApiError::internal)
}

struct Row {
    id: String,
    name: String,
    platform: &'static str,
    kind: String,
    platform_id: String,
    enabled: bool,
    credentials: String,
    credentials_ok: bool,
    health: String,
}

#[derive(Template)]
#[template(path = "console/accounts.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<Row>,
    /// The caller may create accounts (scope all).
    may_create: bool,
}

/// `GET /console/accounts`.
pub async fn list(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
) -> Response {
    if let Err(res) = allowed(&signed, &roles, &Method::GET, "/accounts") {
        return *res;
    }
    let lang = signed.visit.lang;
    if let TokenScope::SubMerchant {
        account_id,
        sub_mchid,
    } = &signed.caller.scope
    {
        // A sub-merchant's administrator has no account of its own to list: its page.
        return see_other(&format!(
            "{BASE}/accounts/{}/sub-merchants/{}",
            view::path_segment(account_id),
            view::path_segment(sub_mchid)
        ));
    }
    let mut accounts: Vec<Account> = Vec::new();
    let mut cursor = None;
    // Every page of the caller's scope (a desk has tens of accounts, not thousands).
    for _ in 0..20 {
        let page = PageParams {
            limit: Some(200),
            cursor: cursor.take(),
        };
        match list_accounts(
            State(state.clone()),
            signed.caller.clone(),
            ApiQuery(AccountFilter { kind: None }),
            ApiQuery(page),
        )
        .await
        {
            Ok(Json(p)) => {
                accounts.extend(p.items);
                match p.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            Err(e) => return error_page(lang, &e),
        }
    }
    let may_health = signed.may(&roles, &Method::GET, "/accounts/{id}/health");
    let mut rows = Vec::new();
    for a in accounts {
        let spec = state.platforms().account_kind(a.kind()).copied();
        let health = if may_health {
            health::summary(&state, &signed, &a.id).await
        } else {
            String::new()
        };
        rows.push(Row {
            platform: spec.map(|s| platform_of(&s, lang)).unwrap_or("?"),
            kind: spec
                .map(|s| {
                    let g = guide::of(&s.facts);
                    lang.t(g.title.0, g.title.1).to_string()
                })
                .unwrap_or_else(|| a.kind().as_str().to_string()),
            platform_id: a.platform_id().to_string(),
            credentials: credentials_words(lang, &a.credentials),
            credentials_ok: a.credentials.complete,
            enabled: a.enabled,
            name: a.name,
            id: a.id,
            health,
        });
    }
    render(&ListPage {
        c: signed.chrome(&state, lang.t("账户", "Accounts").into()),
        rows,
        may_create: signed.caller.scope.is_all(),
    })
}

struct KindCard {
    kind: &'static str,
    platform: &'static str,
    title: &'static str,
    who: &'static str,
}

#[derive(Template)]
#[template(path = "console/account_new.html")]
struct NewPage {
    c: Chrome,
    kinds: Vec<KindCard>,
}

/// `GET /console/accounts/new`: a card per account kind the registered platforms bring.
pub async fn choose(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
) -> Response {
    if let Err(res) = allowed(&signed, &roles, &Method::POST, "/accounts")
        .and_then(|()| require_scope_all(&signed))
    {
        return *res;
    }
    let lang = signed.visit.lang;
    let kinds = state
        .platforms()
        .account_kinds()
        .map(|k| {
            let g = guide::of(&k.facts);
            KindCard {
                kind: k.facts.kind.as_str(),
                platform: platform_of(k, lang),
                title: lang.t(g.title.0, g.title.1),
                who: lang.t(g.who.0, g.who.1),
            }
        })
        .collect();
    render(&NewPage {
        c: signed.chrome(&state, lang.t("新建账户", "New account").into()),
        kinds,
    })
}

#[derive(Template)]
#[template(path = "console/account_create.html")]
struct CreatePage {
    c: Chrome,
    kind: &'static str,
    title: &'static str,
    who: &'static str,
    steps: Vec<&'static str>,
    callbacks: Vec<CallbackView>,
    public_base: bool,
    registered_by_api: bool,
    id_input: String,
    form_id: String,
    name: String,
    name_error: Option<String>,
    settings: Vec<InputView>,
    refunds: bool,
    refund_needs_payment: bool,
    refund: RefundView,
    default_refunds: bool,
    default_refund: DefaultRefundView,
    credentials: Vec<InputView>,
    error: Option<String>,
    secrets_again: bool,
}

fn kind_named(state: &AppState, kind: &str) -> Result<AccountKindSpec, ApiError> {
    state
        .platforms()
        .account_kind_named(kind)
        .copied()
        .ok_or_else(|| ApiError::not_found(format!("no account kind {kind:?}")))
}

/// The creation form of `spec`, with what was typed and the errors of a refusal.
fn create_page(
    state: &AppState,
    signed: &Signed,
    spec: &AccountKindSpec,
    typed: Option<&Submitted>,
    errors: &Errors,
) -> CreatePage {
    let lang = signed.visit.lang;
    let form = KindForm::of(spec).for_settings(None);
    let g = guide::of(&spec.facts);
    let values = typed
        .map(|t| inputs::values_typed(&form, t))
        .unwrap_or_default();
    let secrets_typed = typed.is_some_and(|t| form.credentials_body(t).is_some());
    CreatePage {
        kind: spec.facts.kind.as_str(),
        title: lang.t(g.title.0, g.title.1),
        who: lang.t(g.who.0, g.who.1),
        steps: g.steps.iter().map(|s| lang.t(s.0, s.1)).collect(),
        callbacks: callbacks(state, spec, lang, typed_platform_id(spec, typed), true),
        public_base: state.public_base_url.is_some(),
        registered_by_api: g.registered_by_api,
        id_input: format!("input-{}", spec.facts.platform_id_field.replace('_', "-")),
        form_id: new_form_id(),
        name: typed
            .and_then(|t| t.get("name"))
            .unwrap_or_default()
            .to_string(),
        name_error: errors.of("name", lang),
        settings: inputs::settings_inputs(&form, lang, &values, errors, None, &[]),
        refunds: form.refunds,
        refund_needs_payment: form.refund_needs_payment,
        refund: RefundView::new(None, typed, errors, lang),
        default_refunds: form.default_refunds,
        default_refund: DefaultRefundView::new(None, typed, errors, lang),
        credentials: inputs::credential_inputs(&form, lang, typed, None, errors),
        error: errors.of("", lang),
        secrets_again: secrets_typed && !errors.is_empty(),
        c: signed.chrome(
            state,
            format!(
                "{}{}",
                lang.t("新建账户：", "New account: "),
                lang.t(g.title.0, g.title.1)
            ),
        ),
    }
}

/// `GET /console/accounts/new/{kind}`.
pub async fn new_form(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(kind): Path<String>,
) -> Response {
    if let Err(res) = allowed(&signed, &roles, &Method::POST, "/accounts")
        .and_then(|()| require_scope_all(&signed))
    {
        return *res;
    }
    let spec = match kind_named(&state, &kind) {
        Ok(s) => s,
        Err(e) => return error_page(signed.visit.lang, &e),
    };
    render(&create_page(
        &state,
        &signed,
        &spec,
        None,
        &Errors::default(),
    ))
}

/// `POST /console/accounts/new/{kind}`: create the account (once per drawn form), then its
/// page.
pub async fn create(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(kind): Path<String>,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = allowed(&signed, &roles, &Method::POST, "/accounts")
        .and_then(|()| require_scope_all(&signed))
    {
        return *res;
    }
    let lang = signed.visit.lang;
    let given = match submitted(&signed, req).await {
        Ok(g) => g,
        Err(res) => return res,
    };
    let spec = match kind_named(&state, &kind) {
        Ok(s) => s,
        Err(e) => return error_page(lang, &e),
    };
    let form = KindForm::of(&spec).for_settings(None);
    let mut errors = Errors::default();
    let name = given.get("name").unwrap_or_default().trim().to_string();
    if name.is_empty() {
        errors.add("name", "请填写名称", "Type a name");
    }
    let settings = form.settings_body(&given, false, &mut errors);
    let refuse = |errors: &Errors| {
        super::web::render_with(
            axum::http::StatusCode::BAD_REQUEST,
            &create_page(&state, &signed, &spec, Some(&given), errors),
        )
    };
    if !errors.is_empty() {
        return refuse(&errors);
    }
    let sessions = SessionRepo::new(&*state.ports.records);
    match sessions
        .claim_form(
            given.get("form_id").unwrap_or_default(),
            state.ports.clock.now(),
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(kind = %kind, "account form sent again: not created twice");
            let mut e = Errors::default();
            e.add(
                "",
                "这张表单之前已提交过：没有再创建账户。请先查看账户列表；如果没有这个账户，请再提交一次。",
                "This form was sent before: no second account was created. Check the account list; if the account is not there, send the form again.",
            );
            return refuse(&e);
        }
        Err(e) => return error_page(lang, &e.into()),
    }
    let body = CreateAccount {
        kind: spec.facts.kind.as_str().to_string(),
        name,
        enabled: Some(true),
        settings: Value::Object(settings),
        credentials: form.credentials_body(&given).map(Value::Object),
    };
    let created =
        match create_account(State(state.clone()), signed.caller.clone(), ValidJson(body)).await {
            Ok(res) => answer_json(res.into_response()).await,
            Err(e) => Err(e),
        };
    match created {
        Ok(account) => {
            let id = account["id"].as_str().unwrap_or_default();
            see_other(&format!(
                "{BASE}/accounts/{}?created=1",
                view::path_segment(id)
            ))
        }
        Err(e) if e.status().is_client_error() && e.status().as_u16() != 403 => {
            refuse(&Errors::from_api(&e, &form))
        }
        Err(e) => error_page(lang, &e),
    }
}
