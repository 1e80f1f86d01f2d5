//! `/console/accounts/{id}`: one account (its forms: `edits.rs`): its settings (the
//! creation form's inputs, filled in), enable / disable, write-only credentials (status and
//! fingerprints; "replace" inputs start empty, empty keeps), the callback URLs, WeChat Pay's
//! callback registration, a third-party platform's one-click authorisation link, health, and
//! sub-merchants.

use super::form::{Errors, KindForm, Refund, Submitted};
use super::inputs::{self, DefaultRefundView, InputView, RefundView};
use super::routes::{RegistrationView, account_route, base_missing, has_route, registration_view};
use super::{CallbackView, allowed, callbacks, credentials_words, guide, health};
use crate::ApiError;
use crate::admin::accounts::get_account;
use crate::admin::roles::Roles;
use crate::admin::sub_merchants::list_sub_merchants;
use crate::console::view;
use crate::console::web::UrlQuery;
use crate::console::web::{Chrome, Signed, error_page, render_with};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use desk_core::account_actions::Method as RouteMethod;
use desk_core::accounts::AccountKindSpec;
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
    refund_needs_payment: bool,
    refund: RefundView,
    refund_words: String,
    default_refunds: bool,
    default_refund: DefaultRefundView,
    credentials: Vec<InputView>,
    /// A mini program joined by one-click authorisation (no credentials of its own).
    authorised: bool,
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
pub(super) enum Refused<'a> {
    None,
    Settings(&'a Submitted, Errors),
    Credentials(&'a Submitted, Errors),
}

/// The guarded settings (top-level names) the caller may not change: all of them unless its
/// scope is everything.
pub(super) fn locked_settings(signed: &Signed, spec: &AccountKindSpec) -> Vec<&'static str> {
    if signed.caller.scope.is_all() {
        return Vec::new();
    }
    spec.guarded
        .iter()
        .map(|g| g.path.split('.').next().unwrap_or(g.path))
        .collect()
}

pub(super) async fn load(state: &AppState, signed: &Signed, id: &str) -> Result<Account, ApiError> {
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
pub(super) async fn page(
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
    let stored = account.settings.settings_value().unwrap_or(Value::Null);
    let form = KindForm::of(&spec).for_settings(Some(&stored));
    let g = guide::of(&spec.facts);
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
            None if account.credentials.complete && base_missing(state, lang).is_none() => {
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
        Some(match base_missing(state, lang) {
            Some(why) => RegistrationView {
                lines: Vec::new(),
                error: Some(why),
            },
            None => registration_view(lang, answer),
        })
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
    let authorised = stored["mode"] == "authorised";
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
            callbacks: callbacks(state, &spec, lang, Some(account.platform_id()), false),
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
                &locked_settings(signed, &spec),
            ),
            settings_error: settings_errors.of("", lang),
            refunds: form.refunds,
            refund_needs_payment: form.refund_needs_payment,
            refund: RefundView::new(Some(current), typed_settings, settings_errors, lang),
            refund_words: current.words(lang),
            default_refunds: form.default_refunds,
            default_refund: DefaultRefundView::new(
                Some(&stored),
                typed_settings,
                settings_errors,
                lang,
            ),
            // An authorised mini program is reached through its third-party platform's
            // credentials: it has none of its own to replace (the admin API refuses them).
            credentials: if authorised {
                Vec::new()
            } else {
                inputs::credential_inputs(
                    &form,
                    lang,
                    typed_creds,
                    Some(&account.credentials),
                    cred_errors,
                )
            },
            authorised,
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
    UrlQuery(q): UrlQuery<Shown>,
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
