//! `/console/try`: the sandbox accounts of an instance started with `--sandbox` (one per
//! platform, against the built-in simulators), and a form that pushes a realistic test
//! complaint for one of them through this server's own signed callback route. A new user sees
//! push → automatic reply and refund → staff notice → manual actions within a minute. Reads and
//! pushes go through the admin API's own handlers (`/admin/v1/sandbox/...`), so scope and role
//! are the API's.

use super::forms::yuan;
use super::sign_in::signed_form;
use super::view;
use super::web::{BASE, Chrome, Signed, error_page, render, see_other};
use crate::ApiError;
use crate::admin::roles::Roles;
use crate::admin::sandbox::{PushTestComplaint, list_sandbox_accounts, push_sandbox_complaint};
use crate::console::web::UrlQuery;
use crate::http::ValidJson;
use crate::state::AppState;
use crate::try_it::{DEFAULT_AMOUNT_FEN, DEFAULT_TEXT, MAX_TEXT_CHARS};
use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;

/// A sandbox account as the page shows it.
pub struct Row {
    pub account_id: String,
    pub platform: &'static str,
    pub name: String,
    pub cap: String,
}

#[derive(Template)]
#[template(path = "console/try.html")]
struct TryPage {
    c: Chrome,
    rows: Vec<Row>,
    can_push: bool,
    amount: String,
    text: &'static str,
    max_text: usize,
    pushed: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct TryQuery {
    /// Our id of the complaint just pushed.
    #[serde(default)]
    pushed: Option<String>,
}

/// `GET /console/try`.
pub async fn show(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    UrlQuery(q): UrlQuery<TryQuery>,
) -> Response {
    let lang = signed.visit.lang;
    let accounts = match list_sandbox_accounts(State(state.clone()), signed.caller.clone()).await {
        Ok(a) => a.0.items,
        Err(e) => return error_page(lang, &e),
    };
    let rows = accounts
        .into_iter()
        .map(|a| Row {
            platform: state
                .platforms()
                .named(&a.platform)
                .map(|p| view::platform_label(lang, p))
                .unwrap_or("?"),
            account_id: a.account_id,
            name: a.name,
            cap: yuan(a.refund_cap_fen),
        })
        .collect();
    let can_push = signed.caller.role
        >= roles.of(
            &Method::POST,
            &format!("{}/sandbox/push", crate::http::ADMIN_BASE),
        );
    render(&TryPage {
        c: signed.chrome(
            &state,
            lang.t("试用：沙箱账户", "Try it: sandbox accounts").into(),
        ),
        rows,
        can_push,
        amount: yuan(DEFAULT_AMOUNT_FEN),
        text: DEFAULT_TEXT,
        max_text: MAX_TEXT_CHARS,
        pushed: q
            .pushed
            .filter(|id| id.len() <= 200 && id.bytes().all(crate::admin::path_ids::is_id_byte)),
    })
}

#[derive(Deserialize)]
pub struct PushForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account_id: String,
    /// Yuan, as typed.
    #[serde(default)]
    amount: String,
    #[serde(default)]
    text: String,
}

/// `POST /console/try`: push one test complaint.
pub async fn push(
    State(state): State<AppState>,
    signed: Signed,
    req: axum::extract::Request,
) -> Response {
    let lang = signed.visit.lang;
    let form: PushForm = match signed_form(&signed, req, |f: &PushForm| &f.csrf).await {
        Ok(f) => f,
        Err(res) => return *res,
    };
    let amount_fen = match super::forms::parse_yuan(form.amount.trim()) {
        Ok(f) => f,
        Err(_) => {
            return error_page(
                lang,
                &ApiError::field(
                    "amount",
                    lang.t(
                        "金额请填写元，最多两位小数，例如 1.00",
                        "Type the amount in yuan with at most two decimals, e.g. 1.00",
                    ),
                ),
            );
        }
    };
    // The push route needs role agent: check it as the admin API's layer would.
    if let Err(e) = signed.caller.require_role(
        domain::token::Role::Agent,
        &format!("POST {}/sandbox/push", crate::http::ADMIN_BASE),
    ) {
        return error_page(lang, &e);
    }
    let text = form.text.replace("\r\n", "\n");
    let body = PushTestComplaint {
        account_id: Some(form.account_id).filter(|a| !a.is_empty()),
        platform: None,
        amount_fen: Some(amount_fen),
        text: Some(text).filter(|t| !t.trim().is_empty()),
    };
    match push_sandbox_complaint(State(state), signed.caller.clone(), ValidJson(body)).await {
        Ok((_, pushed)) => {
            let id = pushed.0.complaint_id.clone().unwrap_or_default();
            see_other(&format!("{BASE}/try?pushed={}", view::path_segment(&id)))
        }
        Err(e) => error_page(lang, &e),
    }
}
