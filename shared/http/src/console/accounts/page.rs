//! `/console/accounts/{id}`: one account: its settings (the creation form's inputs, filled
//! in), enable / disable, write-only credentials (status and fingerprints; "replace" inputs
//! start empty, empty keeps), the callback URLs, WeChat Pay's callback registration, a
//! third-party platform's one-click authorisation link, health, and sub-merchants.

use super::form::{Errors, KindForm, Refund, Submitted};
use super::inputs::{self, InputView, RefundView};
use super::routes::{RegistrationView, account_route, has_route, registration_view};
use super::{CallbackView, allowed, callbacks, credentials_words, guide, health, submitted};
use crate::ApiError;
use crate::admin::accounts::{PatchAccount, get_account, patch_account, put_credentials};
use crate::admin::roles::Roles;
use crate::admin::sub_merchants::list_sub_merchants;
use crate::console::view;
use crate::console::web::{BASE, Chrome, Signed, error_page, render_with, see_other};
use crate::extract::{ApiPath, ApiQuery};
use crate::http::ValidJson;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use desk_core::account_actions::Method as RouteMethod;
use domain::account::Account;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

pub struct SubRow {
    pub sub_mchid: String,
    pub name: String,
    pub enabled: bool,
    pub refund: String,
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    c: Chrome,
    account_id: String,
    name: String,
    name_value: String,
    name_error: Option<String>,
    platform: &'static str,
    platform_id: String,
    kind_title: &'static str,
    notice: Option<String>,
    enabled: bool,
    has_score: bool,
    health: Vec<String>,
    callbacks: Vec<CallbackView>,
    public_base: bool,
    registration: Option<RegistrationView>,
    authorization_offered: bool,
    authorization_link: Option<String>,
    settings: Vec<InputView>,
    settings_error: Option<String>,
    refunds: bool,
    refund: RefundView,
    refund_words: String,
    credentials: Vec<InputView>,
    credentials_ok: bool,
    credentials_state: String,
    credentials_error: Option<String>,
    has_sub_merchants: bool,
    subs: Vec<SubRow>,
}

#[derive(Deserialize, Default)]
pub struct Shown {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    registered: Option<String>,
}

/// What a refused form of the page brings back: which form, what was typed, its errors.
enum Refused<'a> {
    None,
    Settings(&'a Submitted, Errors),
    Credentials(&'a Submitted, Errors),
}

async fn load(state: &AppState, signed: &Signed, id: &str) -> Result<Account, ApiError> {
    if id.is_empty() || id.len() > 200 || !id.bytes().all(crate::admin::path_ids::is_id_byte) {
        return Err(ApiError::not_found(format!("account {id} not found")));
    }
    get_account(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath(id.to_string()),
    )
    .await
    .map(|Json(a)| a)
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    signed: &Signed,
    roles: &Roles,
    account: Account,
    notice: Option<String>,
    refused: Refused<'_>,
    authorization_link: Option<String>,
    registration: Option<Result<Option<Value>, ApiError>>,
) -> Response {
    let lang = signed.visit.lang;
    let Some(spec) = state.platforms().account_kind(account.kind()).copied() else {
        return error_page(
            lang,
            &ApiError::Conflict(format!("{} is not served by this desk", account.kind())),
        );
    };
    let form = KindForm::of(&spec);
    let g = guide::of(&spec.facts);
    let stored = account.settings.settings_value().unwrap_or(Value::Null);
    let empty = Errors::default();
    let (typed_settings, settings_errors, typed_creds, cred_errors) = match &refused {
        Refused::None => (None, &empty, None, &empty),
        Refused::Settings(t, e) => (Some(*t), e, None, &empty),
        Refused::Credentials(t, e) => (None, &empty, Some(*t), e),
    };
    let values = match typed_settings {
        Some(t) => inputs::values_typed(&form, t),
        None => inputs::values_of(&stored),
    };
    let registration = if has_route(state, &account, "callback-registration") {
        let answer = match registration {
            Some(a) => a,
            None if account.credentials.complete => {
                account_route(
                    state,
                    signed,
                    roles,
                    &account,
                    "callback-registration",
                    RouteMethod::Get,
                )
                .await
            }
            None => Ok(None),
        };
        Some(registration_view(lang, answer))
    } else {
        None
    };
    let health = match health::read(state, signed, &account.id).await {
        Ok(h) => health::words(lang, &h),
        Err(why) => vec![why],
    };
    let has_sub_merchants = spec.facts.has_sub_merchants;
    let subs = if has_sub_merchants {
        sub_rows(state, signed, &account.id).await
    } else {
        Vec::new()
    };
    let current = Refund::of(&stored);
    render_with(
        if matches!(refused, Refused::None) {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        },
        &AccountPage {
            c: signed.chrome(state, account.name.clone()),
            name_value: typed_settings
                .and_then(|t| t.get("name"))
                .map(str::to_string)
                .unwrap_or_else(|| account.name.clone()),
            name_error: settings_errors.of("name", lang),
            platform: view::platform_label(lang, spec.facts.platform),
            platform_id: account.platform_id().to_string(),
            kind_title: lang.t(g.title.0, g.title.1),
            notice,
            enabled: account.enabled,
            has_score: has_route(state, &account, "trade-score"),
            health,
            callbacks: callbacks(state, &spec, lang, Some(account.platform_id())),
            public_base: state.public_base_url.is_some(),
            registration,
            authorization_offered: has_route(state, &account, "authorization-link"),
            authorization_link,
            settings: inputs::settings_inputs(
                &form,
                lang,
                &values,
                settings_errors,
                Some(spec.facts.platform_id_field),
            ),
            settings_error: settings_errors.of("", lang),
            refunds: form.refunds,
            refund: RefundView::new(Some(current), typed_settings, settings_errors, lang),
            refund_words: current.words(lang),
            credentials: inputs::credential_inputs(
                &form,
                lang,
                typed_creds,
                Some(&account.credentials),
                cred_errors,
            ),
            credentials_ok: account.credentials.complete,
            credentials_state: credentials_words(lang, &account.credentials),
            credentials_error: cred_errors.of("", lang),
            has_sub_merchants,
            subs,
            account_id: account.id,
            name: account.name,
        },
    )
}

async fn sub_rows(state: &AppState, signed: &Signed, id: &str) -> Vec<SubRow> {
    let lang = signed.visit.lang;
    let page = crate::admin::page::PageParams {
        limit: Some(200),
        cursor: None,
    };
    match list_sub_merchants(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath(id.to_string()),
        ApiQuery(page),
    )
    .await
    {
        Ok(Json(p)) => p
            .items
            .into_iter()
            .map(|s| SubRow {
                refund: super::subs::refund_words(lang, &s),
                sub_mchid: s.sub_mchid,
                name: s.name,
                enabled: s.enabled,
            })
            .collect(),
        Err(e) => {
            e.log_cause();
            Vec::new()
        }
    }
}

/// `GET /console/accounts/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<Shown>,
) -> Response {
    if let Err(res) = allowed(&signed, &roles, &Method::GET, "/accounts/{id}") {
        return *res;
    }
    let lang = signed.visit.lang;
    let account = match load(&state, &signed, &id).await {
        Ok(a) => a,
        Err(e) => return error_page(lang, &e),
    };
    let notice = if q.created.is_some() {
        Some(
            lang.t("账户已创建。", "The account was created.")
                .to_string(),
        )
    } else if q.registered.is_some() {
        Some(
            lang.t(
                "已向微信支付登记回调地址。",
                "The callback URLs are registered with WeChat Pay.",
            )
            .to_string(),
        )
    } else if q.saved.is_some() {
        Some(lang.t("已保存。", "Saved.").to_string())
    } else {
        None
    };
    page(
        &state,
        &signed,
        &roles,
        account,
        notice,
        Refused::None,
        None,
        None,
    )
    .await
}

fn back(id: &str) -> Response {
    see_other(&format!(
        "{BASE}/accounts/{}?saved=1",
        view::path_segment(id)
    ))
}

/// `POST /console/accounts/{id}/settings`: the settings as a merge patch.
pub async fn save_settings(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = allowed(&signed, &roles, &Method::PATCH, "/accounts/{id}") {
        return *res;
    }
    let lang = signed.visit.lang;
    let given = match submitted(&signed, req).await {
        Ok(g) => g,
        Err(res) => return res,
    };
    let account = match load(&state, &signed, &id).await {
        Ok(a) => a,
        Err(e) => return error_page(lang, &e),
    };
    let Some(spec) = state.platforms().account_kind(account.kind()).copied() else {
        return error_page(lang, &ApiError::Conflict("kind not served".into()));
    };
    let form = KindForm::of(&spec);
    let mut errors = Errors::default();
    let name = given.get("name").unwrap_or_default().trim().to_string();
    if name.is_empty() {
        errors.add("name", "请填写名称", "Type a name");
    }
    let mut settings = form.settings_body(&given, true, &mut errors);
    // The platform id cannot change: the stored one is sent.
    settings.insert(
        spec.facts.platform_id_field.to_string(),
        Value::String(account.platform_id().to_string()),
    );
    if !errors.is_empty() {
        return page(
            &state,
            &signed,
            &roles,
            account,
            None,
            Refused::Settings(&given, errors),
            None,
            None,
        )
        .await;
    }
    let patch = PatchAccount {
        name: Some(name),
        enabled: None,
        settings: Some(Value::Object(settings)),
    };
    match patch_account(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath(id.clone()),
        ValidJson(patch),
    )
    .await
    {
        Ok(_) => back(&id),
        Err(e) if e.status().is_client_error() => {
            let errors = Errors::from_api(&e, &form);
            page(
                &state,
                &signed,
                &roles,
                account,
                None,
                Refused::Settings(&given, errors),
                None,
                None,
            )
            .await
        }
        Err(e) => error_page(lang, &e),
    }
}

#[derive(Deserialize)]
pub struct EnabledForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: String,
}

/// `POST /console/accounts/{id}/enabled`.
pub async fn set_enabled(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = allowed(&signed, &roles, &Method::PATCH, "/accounts/{id}") {
        return *res;
    }
    let form: EnabledForm =
        match crate::console::sign_in::signed_form(&signed, req, |f: &EnabledForm| &f.csrf).await {
            Ok(f) => f,
            Err(res) => return *res,
        };
    let patch = PatchAccount {
        name: None,
        enabled: Some(form.enabled == "true"),
        settings: None,
    };
    match patch_account(
        State(state),
        signed.caller.clone(),
        ApiPath(id.clone()),
        ValidJson(patch),
    )
    .await
    {
        Ok(_) => back(&id),
        Err(e) => error_page(signed.visit.lang, &e),
    }
}

/// `POST /console/accounts/{id}/credentials`: what was typed replaces; empty keeps.
pub async fn save_credentials(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = allowed(&signed, &roles, &Method::PUT, "/accounts/{id}/credentials") {
        return *res;
    }
    let lang = signed.visit.lang;
    let given = match submitted(&signed, req).await {
        Ok(g) => g,
        Err(res) => return res,
    };
    let account = match load(&state, &signed, &id).await {
        Ok(a) => a,
        Err(e) => return error_page(lang, &e),
    };
    let Some(spec) = state.platforms().account_kind(account.kind()).copied() else {
        return error_page(lang, &ApiError::Conflict("kind not served".into()));
    };
    let form = KindForm::of(&spec);
    let Some(body) = form.credentials_body(&given) else {
        let mut errors = Errors::default();
        errors.add(
            "",
            "没有填写任何凭证：没有改动。",
            "Nothing was typed: nothing changed.",
        );
        return page(
            &state,
            &signed,
            &roles,
            account,
            None,
            Refused::Credentials(&given, errors),
            None,
            None,
        )
        .await;
    };
    match put_credentials(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath(id.clone()),
        ValidJson(Value::Object(body)),
    )
    .await
    {
        Ok(_) => back(&id),
        Err(e) if e.status().is_client_error() => {
            // Credential errors name their field without a prefix.
            let e = match e {
                ApiError::Invalid {
                    field: Some(f),
                    message,
                } => ApiError::Invalid {
                    field: Some(format!("credentials.{f}")),
                    message,
                },
                other => other,
            };
            let errors = Errors::from_api(&e, &form);
            page(
                &state,
                &signed,
                &roles,
                account,
                None,
                Refused::Credentials(&given, errors),
                None,
                None,
            )
            .await
        }
        Err(e) => error_page(lang, &e),
    }
}

/// A form with only the CSRF value.
#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/accounts/{id}/callback-registration`: register our URLs with WeChat Pay;
/// the page then shows what it holds.
pub async fn register(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = signed.require_settings() {
        return *res;
    }
    if let Err(res) =
        crate::console::sign_in::signed_form(&signed, req, |f: &CsrfOnly| &f.csrf).await
    {
        return *res;
    }
    let lang = signed.visit.lang;
    let account = match load(&state, &signed, &id).await {
        Ok(a) => a,
        Err(e) => return error_page(lang, &e),
    };
    match account_route(
        &state,
        &signed,
        &roles,
        &account,
        "callback-registration",
        RouteMethod::Post,
    )
    .await
    {
        Ok(_) => see_other(&format!(
            "{BASE}/accounts/{}?registered=1",
            view::path_segment(&id)
        )),
        Err(e) => error_page(lang, &e),
    }
}

/// `POST /console/accounts/{id}/authorization-link`: a fresh link, shown on the account's
/// page (it is not put in an address: it opens the authorisation for 10 minutes).
pub async fn authorization_link(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = signed.require_settings() {
        return *res;
    }
    if let Err(res) =
        crate::console::sign_in::signed_form(&signed, req, |f: &CsrfOnly| &f.csrf).await
    {
        return *res;
    }
    let lang = signed.visit.lang;
    let account = match load(&state, &signed, &id).await {
        Ok(a) => a,
        Err(e) => return error_page(lang, &e),
    };
    match account_route(
        &state,
        &signed,
        &roles,
        &account,
        "authorization-link",
        RouteMethod::Post,
    )
    .await
    {
        Ok(answer) => {
            let link = answer.and_then(|v| v["url"].as_str().map(str::to_string));
            let notice = Some(
                lang.t(
                    "授权链接已生成，10 分钟内有效：复制后发给小程序管理员。",
                    "The link is ready and works for 10 minutes: copy it and send it to the mini program's administrator.",
                )
                .to_string(),
            );
            page(
                &state,
                &signed,
                &roles,
                account,
                notice,
                Refused::None,
                link,
                None,
            )
            .await
        }
        Err(e) => error_page(lang, &e),
    }
}
