//! `POST /console/tokens?form=...`: the create form, checked, sent once, and answered with the
//! page that shows the new token once.

use super::{Created, FormState, Shown, page, parse_scope};
use crate::ApiError;
use crate::admin::roles::Roles;
use crate::admin::tokens::{CreateToken, create_token};
use crate::console::lang::Lang;
use crate::console::sign_in::signed_form;
use crate::console::web::UrlQuery;
use crate::console::web::{Signed, error_page};
use crate::http::ValidJson;
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use desk_core::sessions::SessionRepo;
use domain::token::Role;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    scope: String,
    /// Days, or empty for never.
    #[serde(default)]
    expires: String,
    /// A date (`YYYY-MM-DD`, Beijing): the token works until the end of that day.
    #[serde(default)]
    expires_on: String,
}

/// The end of a Beijing calendar day, in UTC.
fn end_of_beijing_day(d: NaiveDate) -> Option<DateTime<Utc>> {
    let next = d.succ_opt()?.and_hms_opt(0, 0, 0)?;
    Some(DateTime::<Utc>::from_naive_utc_and_offset(next, Utc) - chrono::Duration::hours(8))
}

/// The form's expiry: `Ok(None)` for never; the field's error in words otherwise.
fn expiry(lang: Lang, now: DateTime<Utc>, f: &CreateForm) -> Result<Option<DateTime<Utc>>, String> {
    let on = f.expires_on.trim();
    if !on.is_empty() {
        return NaiveDate::parse_from_str(on, "%Y-%m-%d")
            .ok()
            .and_then(end_of_beijing_day)
            .map(Some)
            .ok_or_else(|| {
                lang.t(
                    "日期格式应为 年-月-日，例如 2027-01-31。",
                    "Type the date as year-month-day, e.g. 2027-01-31.",
                )
                .to_string()
            });
    }
    match f.expires.trim() {
        "" => Ok(None),
        days => days
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .map(|d| Some(now + chrono::Duration::days(i64::from(d))))
            .ok_or_else(|| {
                lang.t("请选择有效期。", "Choose how long the token works.")
                    .to_string()
            }),
    }
}

/// `POST /console/tokens?form=...`: create a token; the answer shows it once.
pub async fn create(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    UrlQuery(q): UrlQuery<super::ListQuery>,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = signed.require_settings() {
        return *res;
    }
    if let Err(res) = signed.require(&roles, &Method::POST, "/tokens") {
        return *res;
    }
    let lang = signed.visit.lang;
    let f: CreateForm = match signed_form(&signed, req, |f: &CreateForm| &f.csrf).await {
        Ok(f) => f,
        Err(res) => return *res,
    };
    let mut form = FormState {
        name: f.name.clone(),
        expires_on: f.expires_on.clone(),
        ..FormState::default()
    };
    let chosen = (f.role.clone(), f.scope.clone(), f.expires.clone());
    let refuse = |form: FormState, status: StatusCode| {
        page(
            &state,
            &roles,
            &signed,
            Shown {
                form,
                chosen: chosen.clone(),
                status,
                ..Shown::list(None)
            },
        )
    };
    let now = state.ports.clock.now();
    let role = match f.role.as_str() {
        "viewer" => Some(Role::Viewer),
        "agent" => Some(Role::Agent),
        "admin" => Some(Role::Admin),
        _ => None,
    };
    let scope = parse_scope(&f.scope);
    let expires_at = expiry(lang, now, &f);
    if role.is_none() {
        form.error_role = Some(lang.t("请选择角色。", "Choose a role.").into());
    }
    if scope.is_none() {
        form.error_scope = Some(lang.t("请选择范围。", "Choose what the token sees.").into());
    }
    if f.name.trim().is_empty() {
        form.error_name = Some(
            lang.t(
                "请填写名称：谁或哪个程序持有这个令牌。",
                "Type a name: who or what holds this token.",
            )
            .into(),
        );
    }
    if let Err(e) = &expires_at {
        form.error_expires = Some(e.clone());
    }
    let (Some(role), Some(scope), Ok(expires_at)) = (role, scope, expires_at) else {
        return refuse(form, StatusCode::BAD_REQUEST).await;
    };
    if f.name.trim().is_empty() {
        return refuse(form, StatusCode::BAD_REQUEST).await;
    }
    // The form's one-time id: a double tap or a resubmission creates one token.
    match SessionRepo::new(&*state.ports.records)
        .claim_form(q.form.as_deref().unwrap_or_default(), now)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(token_id = %signed.caller.token_id, "console token form sent again: not acted on");
            form.error = Some(
                lang.t(
                    "这张表单之前已提交过，这次没有创建令牌（新令牌只显示一次）。请查看下方列表；如果没有，请重新填写。",
                    "This form was sent before: no token was made this time (a new token is shown only once). Check the list below; if it is missing, fill the form in again.",
                )
                .into(),
            );
            return refuse(form, StatusCode::CONFLICT).await;
        }
        Err(e) => return error_page(lang, &e.into()),
    }
    let body = CreateToken {
        name: f.name.clone(),
        scope,
        role: Some(role),
        expires_at,
    };
    match create_token(State(state.clone()), signed.caller.clone(), ValidJson(body)).await {
        Ok(created) => {
            let created = axum::response::IntoResponse::into_response(created);
            let bytes = match axum::body::to_bytes(created.into_body(), 64 * 1024).await {
                Ok(b) => b,
                Err(_) => return error_page(lang, &ApiError::Internal("token body".into())),
            };
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let shown = Created {
                name: v["name"].as_str().unwrap_or_default().to_string(),
                token: v["token"].as_str().unwrap_or_default().to_string(),
            };
            tracing::info!(by = %signed.caller.token_id, "console token created");
            let shown = Shown {
                created: Some(shown),
                ..Shown::list(None)
            };
            page(&state, &roles, &signed, shown).await
        }
        Err(e) => {
            e.log_cause();
            let said = e.message();
            let at = |words: &str| Some(format!("{words} ({said})"));
            match e.field_name() {
                Some("name") => {
                    form.error_name = at(lang.t(
                        "名称需为 1 到 100 个字符，不能含控制字符。",
                        "The name must be 1 to 100 characters, without control characters.",
                    ))
                }
                Some("role") => {
                    form.error_role = at(lang.t(
                        "不能创建比您自己的令牌权限更高的令牌。",
                        "You cannot make a token with a higher role than your own.",
                    ))
                }
                Some("expires_at") => {
                    form.error_expires = at(lang.t(
                        "有效期须在将来，且不能晚于您自己令牌的到期时间。",
                        "The expiry must be in the future and no later than your own token's.",
                    ))
                }
                _ if matches!(e, ApiError::Forbidden(_) | ApiError::NotFound(_)) => {
                    form.error_scope = at(lang.t(
                        "您只能创建范围不超过自己的令牌（同一账户或其子商户）。",
                        "You can only make tokens within your own scope (your account or its sub-merchants).",
                    ))
                }
                _ => form.error = Some(said),
            }
            refuse(form, e.status()).await
        }
    }
}
