//! The forms of an account's page: its settings (a merge patch), enable / disable, the
//! credentials (what was typed replaces, empty keeps), WeChat Pay's callback registration and
//! a third-party platform's authorisation link. A refused form draws the page again with the
//! error at its input.

use super::form::{Errors, KindForm};
use super::page::{Refused, load, page};
use super::routes::account_route;
use super::{allowed, submitted};
use crate::ApiError;
use crate::admin::accounts::{PatchAccount, patch_account, put_credentials};
use crate::admin::roles::Roles;
use crate::console::view;
use crate::console::web::{BASE, Signed, error_page, see_other};
use crate::extract::ApiPath;
use crate::http::ValidJson;
use crate::state::AppState;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use desk_core::account_actions::Method as RouteMethod;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

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
    let stored = account.settings.settings_value().unwrap_or_default();
    let form = KindForm::of(&spec).for_settings(Some(&stored));
    let mut errors = Errors::default();
    let name = given.get("name").unwrap_or_default().trim().to_string();
    if name.is_empty() {
        errors.add("name", "请填写名称", "Type a name");
    }
    let mut settings = form.settings_body(&given, true, &mut errors);
    // Guarded settings the caller may not change are drawn read-only (a disabled box or list
    // is not sent): left out, they keep what is stored; sent, a change is refused below.
    for name in super::page::locked_settings(&signed, &spec) {
        if given
            .get(&format!("{}{name}", super::form::SETTING))
            .is_none()
            && settings.contains_key(name)
        {
            settings.insert(name.to_string(), stored[name].clone());
        }
    }
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
    // The path's id is checked (and the account read in the caller's scope) first.
    if let Err(e) = load(&state, &signed, &id).await {
        return error_page(signed.visit.lang, &e);
    }
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return error_page(
                signed.visit.lang,
                &ApiError::Invalid {
                    field: Some("enabled".into()),
                    message: signed
                        .visit
                        .lang
                        .t(
                            "表单没有说明要启用还是停用账户：没有改动。请回到账户页再按一次按钮。",
                            "The form did not say whether to enable or disable the account: nothing changed. Go back to the account's page and press the button again.",
                        )
                        .into(),
                },
            );
        }
    };
    let patch = PatchAccount {
        name: None,
        enabled: Some(enabled),
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
    if let Err(res) = crate::console::sign_in::csrf_only(&signed, req).await {
        return *res;
    }
    let lang = signed.visit.lang;
    let account = match load(&state, &signed, &id).await {
        Ok(a) => a,
        Err(e) => return error_page(lang, &e),
    };
    if let Some(why) = super::routes::base_missing(&state, lang) {
        return error_page(lang, &ApiError::Conflict(why));
    }
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
    if let Err(res) = crate::console::sign_in::csrf_only(&signed, req).await {
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
