//! `/console/accounts/{id}/sub-merchants/...`: a WeChat Pay provider's sub-merchants: add
//! one (once per drawn form), change its name, reply text and refund, enable or disable it.
//! A sub-merchant's refund is an explicit choice as well: none, up to its own cap, or under
//! the provider's cap (which may be none: the page says so).

use super::form::{Errors, Submitted};
use super::{allowed, submitted};
use crate::ApiError;
use crate::admin::accounts::get_account;
use crate::admin::path_ids::check_path_param;
use crate::admin::roles::Roles;
use crate::admin::sub_merchants::{
    CreateSubMerchant, PatchSubMerchant, create_sub_merchant, get_sub_merchant, patch_sub_merchant,
};
use crate::console::Lang;
use crate::console::forms::{parse_yuan, yuan};
use crate::console::view;
use crate::console::web::{BASE, Chrome, Signed, error_page, render_with, see_other};
use crate::extract::ApiPath;
use crate::http::ValidJson;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use desk_core::sessions::{SessionRepo, new_form_id};
use domain::account::{Patch, SubMerchant};
use domain::token::TokenScope;
use std::sync::Arc;

/// A sub-merchant's refund in words.
pub fn refund_words(lang: Lang, s: &SubMerchant) -> String {
    match (s.auto_refund, s.refund_cap_fen) {
        (false, _) => lang.t("不自动退款", "No automatic refund").into(),
        (true, Some(cap)) => match lang {
            Lang::Zh => format!("自动退款，每笔不超过 {} 元", yuan(cap)),
            Lang::En => format!("Automatic refund up to {} yuan", yuan(cap)),
        },
        (true, None) => lang
            .t(
                "自动退款，按服务商的上限",
                "Automatic refund under the provider's cap",
            )
            .into(),
    }
}

#[derive(Template)]
#[template(path = "console/account_sub.html")]
struct SubPage {
    c: Chrome,
    account_id: String,
    /// The provider's name, when the caller's scope covers the provider.
    provider: Option<String>,
    provider_cap: String,
    notice: Option<String>,
    /// None: a new sub-merchant.
    sub_mchid: Option<String>,
    form_id: String,
    sub_value: String,
    name: String,
    reply_text: String,
    enabled: bool,
    chosen: &'static str,
    cap: String,
    errors_sub: Option<String>,
    errors_name: Option<String>,
    errors_reply: Option<String>,
    errors_refund: Option<String>,
    error: Option<String>,
}

/// The refund choice: `none`, `cap` (with yuan), `provider`.
fn refund_of(given: &Submitted, errors: &mut Errors) -> Option<(bool, Option<u64>)> {
    match given.get("refund").unwrap_or_default() {
        "none" => Some((false, None)),
        "provider" => Some((true, None)),
        "cap" => match parse_yuan(given.get("refund_cap").unwrap_or_default().trim()) {
            Ok(fen) if fen > 0 => Some((true, Some(fen))),
            _ => {
                errors.add(
                    "refund",
                    "请填写大于 0 的上限（元），最多两位小数",
                    "Type a cap in yuan above 0, with at most two decimals",
                );
                None
            }
        },
        _ => {
            errors.add(
                "refund",
                "请选择是否自动退款（必选）",
                "Choose whether to refund automatically (required)",
            );
            None
        }
    }
}

struct Shown<'a> {
    notice: Option<String>,
    sub: Option<&'a SubMerchant>,
    typed: Option<&'a Submitted>,
    errors: &'a Errors,
}

async fn draw(
    state: &AppState,
    signed: &Signed,
    id: &str,
    shown: Shown<'_>,
    status: StatusCode,
) -> Response {
    let lang = signed.visit.lang;
    // A sub-merchant's own administrator cannot read the provider: its name and cap are left
    // out, and the page says the cap is not known here.
    let covers_provider = match &signed.caller.scope {
        TokenScope::All => true,
        TokenScope::Account { account_id } => account_id == id,
        TokenScope::SubMerchant { .. } => false,
    };
    let provider = if covers_provider {
        match get_account(
            State(state.clone()),
            signed.caller.clone(),
            ApiPath(id.to_string()),
        )
        .await
        {
            Ok(Json(a)) => Some(a),
            Err(e) => return error_page(lang, &e),
        }
    } else {
        None
    };
    let provider_cap = match &provider {
        Some(p) => {
            let settings = p.settings.settings_value().unwrap_or_default();
            match settings["refund_cap_fen"].as_u64() {
                Some(cap) => match lang {
                    Lang::Zh => format!("服务商的上限现在是 {} 元。", yuan(cap)),
                    Lang::En => format!("The provider's cap is now {} yuan.", yuan(cap)),
                },
                None => lang
                    .t(
                        "注意：服务商现在没有上限，选这一项即任何金额都会自动退款。",
                        "Careful: the provider has no cap now, so this refunds any amount automatically.",
                    )
                    .into(),
            }
        }
        None => lang
            .t(
                "您的令牌只管理这个子商户，这里看不到服务商的上限：选这一项时按服务商账户的上限退款；服务商没有设上限时，任何金额都会自动退款。要确定金额，请选「每笔不超过」并填写上限。",
                "Your token manages only this sub-merchant, so the provider's cap is not known here: this choice refunds under the provider account's cap, and any amount when the provider has none. To be sure of the amount, choose \"up to\" and type a cap.",
            )
            .into(),
    };
    let typed = |name: &str| shown.typed.and_then(|t| t.get(name)).map(str::to_string);
    let (chosen, cap) = match (typed("refund").as_deref(), shown.sub) {
        (Some("none"), _) => ("none", String::new()),
        (Some("cap"), _) => ("cap", typed("refund_cap").unwrap_or_default()),
        (Some("provider"), _) => ("provider", String::new()),
        (_, Some(s)) => match (s.auto_refund, s.refund_cap_fen) {
            (false, _) => ("none", String::new()),
            (true, Some(c)) => ("cap", yuan(c)),
            (true, None) => ("provider", String::new()),
        },
        _ => ("", String::new()),
    };
    let title = match shown.sub {
        Some(s) => s.name.clone(),
        None => lang.t("添加子商户", "Add a sub-merchant").to_string(),
    };
    render_with(
        status,
        &SubPage {
            c: signed.chrome(state, title),
            account_id: id.to_string(),
            provider: provider.map(|p| p.name),
            provider_cap,
            notice: shown.notice,
            sub_mchid: shown.sub.map(|s| s.sub_mchid.clone()),
            form_id: new_form_id(),
            sub_value: typed("sub_mchid").unwrap_or_default(),
            name: typed("name")
                .or_else(|| shown.sub.map(|s| s.name.clone()))
                .unwrap_or_default(),
            reply_text: typed("reply_text")
                .or_else(|| shown.sub.and_then(|s| s.reply_text.clone()))
                .unwrap_or_default(),
            enabled: shown.sub.is_none_or(|s| s.enabled),
            chosen,
            cap,
            errors_sub: shown.errors.of("sub_mchid", lang),
            errors_name: shown.errors.of("name", lang),
            errors_reply: shown.errors.of("reply_text", lang),
            errors_refund: shown.errors.of("refund", lang),
            error: shown.errors.of("", lang),
        },
    )
}

/// The ids in the path checked as the admin API checks them, before anything is read.
fn check_ids(lang: Lang, id: &str, sub_mchid: Option<&str>) -> Result<(), Box<Response>> {
    let ok = check_path_param("id", id).is_ok()
        && sub_mchid.is_none_or(|s| check_path_param("sub_mchid", s).is_ok());
    if ok {
        return Ok(());
    }
    Err(Box::new(error_page(
        lang,
        &ApiError::not_found(lang.t(
            "找不到：地址里的账户编号或子商户号不对。",
            "Not found: the account id or sub-merchant number in the address is not valid.",
        )),
    )))
}

fn api_errors(e: &ApiError) -> Errors {
    let mut out = Errors::default();
    let field = match e {
        ApiError::Invalid { field: Some(f), .. } => match f.as_str() {
            "sub_mchid" | "name" | "reply_text" => f.clone(),
            "refund_cap_fen" | "auto_refund" => "refund".into(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    out.add(&field, e.message(), e.message());
    out
}

/// `GET /console/accounts/{id}/sub-merchants/new`.
pub async fn new_form(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    if let Err(res) = allowed(
        &signed,
        &roles,
        &Method::POST,
        "/accounts/{id}/sub-merchants",
    ) {
        return *res;
    }
    if let Err(res) = check_ids(signed.visit.lang, &id, None) {
        return *res;
    }
    let shown = Shown {
        notice: None,
        sub: None,
        typed: None,
        errors: &Errors::default(),
    };
    draw(&state, &signed, &id, shown, StatusCode::OK).await
}

/// `POST /console/accounts/{id}/sub-merchants/new`: add it (once per drawn form).
pub async fn create(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = allowed(
        &signed,
        &roles,
        &Method::POST,
        "/accounts/{id}/sub-merchants",
    ) {
        return *res;
    }
    if let Err(res) = check_ids(signed.visit.lang, &id, None) {
        return *res;
    }
    let lang = signed.visit.lang;
    let given = match submitted(&signed, req).await {
        Ok(g) => g,
        Err(res) => return res,
    };
    let mut errors = Errors::default();
    let refund = refund_of(&given, &mut errors);
    let text = |n: &str| {
        given
            .get(n)
            .unwrap_or_default()
            .replace("\r\n", "\n")
            .trim()
            .to_string()
    };
    if !errors.is_empty() {
        let shown = Shown {
            notice: None,
            sub: None,
            typed: Some(&given),
            errors: &errors,
        };
        return draw(&state, &signed, &id, shown, StatusCode::BAD_REQUEST).await;
    }
    match SessionRepo::new(&*state.ports.records)
        .claim_form(
            given.get("form_id").unwrap_or_default(),
            state.ports.clock.now(),
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let mut e = Errors::default();
            e.add(
                "",
                "这张表单之前已提交过：没有再添加。请先查看服务商账户页的子商户列表。",
                "This form was sent before: nothing was added again. Check the provider's sub-merchant list.",
            );
            let shown = Shown {
                notice: None,
                sub: None,
                typed: Some(&given),
                errors: &e,
            };
            return draw(&state, &signed, &id, shown, StatusCode::CONFLICT).await;
        }
        Err(e) => return error_page(lang, &e.into()),
    }
    let (auto_refund, refund_cap_fen) = refund.unwrap_or((false, None));
    let body = CreateSubMerchant {
        sub_mchid: text("sub_mchid"),
        name: text("name"),
        reply_text: Some(text("reply_text")).filter(|t| !t.is_empty()),
        auto_refund,
        refund_cap_fen,
        enabled: Some(true),
        deadlines: None,
    };
    let sub_mchid = body.sub_mchid.clone();
    match create_sub_merchant(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath(id.clone()),
        ValidJson(body),
    )
    .await
    {
        Ok(_) => see_other(&format!(
            "{BASE}/accounts/{}/sub-merchants/{}",
            view::path_segment(&id),
            view::path_segment(&sub_mchid)
        )),
        Err(e) if e.status().is_client_error() && e.status() != StatusCode::FORBIDDEN => {
            let errors = api_errors(&e);
            let shown = Shown {
                notice: None,
                sub: None,
                typed: Some(&given),
                errors: &errors,
            };
            draw(&state, &signed, &id, shown, e.status()).await
        }
        Err(e) => error_page(lang, &e),
    }
}

#[derive(serde::Deserialize)]
pub struct ShowQuery {
    saved: Option<String>,
}

/// `GET /console/accounts/{id}/sub-merchants/{sub_mchid}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path((id, sub_mchid)): Path<(String, String)>,
    Query(q): Query<ShowQuery>,
) -> Response {
    if let Err(res) = allowed(
        &signed,
        &roles,
        &Method::GET,
        "/accounts/{id}/sub-merchants/{sub_mchid}",
    ) {
        return *res;
    }
    if let Err(res) = check_ids(signed.visit.lang, &id, Some(&sub_mchid)) {
        return *res;
    }
    let sub = match get_sub_merchant(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath((id.clone(), sub_mchid)),
    )
    .await
    {
        Ok(Json(s)) => s,
        Err(e) => return error_page(signed.visit.lang, &e),
    };
    let shown = Shown {
        notice: q
            .saved
            .is_some()
            .then(|| signed.visit.lang.t("已保存。", "Saved.").to_string()),
        sub: Some(&sub),
        typed: None,
        errors: &Errors::default(),
    };
    draw(&state, &signed, &id, shown, StatusCode::OK).await
}

/// `POST /console/accounts/{id}/sub-merchants/{sub_mchid}`: name, reply, refund, enabled.
pub async fn save(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path((id, sub_mchid)): Path<(String, String)>,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = allowed(
        &signed,
        &roles,
        &Method::PATCH,
        "/accounts/{id}/sub-merchants/{sub_mchid}",
    ) {
        return *res;
    }
    if let Err(res) = check_ids(signed.visit.lang, &id, Some(&sub_mchid)) {
        return *res;
    }
    let lang = signed.visit.lang;
    let given = match submitted(&signed, req).await {
        Ok(g) => g,
        Err(res) => return res,
    };
    let sub = match get_sub_merchant(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath((id.clone(), sub_mchid.clone())),
    )
    .await
    {
        Ok(Json(s)) => s,
        Err(e) => return error_page(lang, &e),
    };
    let mut errors = Errors::default();
    let refund = refund_of(&given, &mut errors);
    let text = |n: &str| {
        given
            .get(n)
            .unwrap_or_default()
            .replace("\r\n", "\n")
            .trim()
            .to_string()
    };
    if !errors.is_empty() {
        let shown = Shown {
            notice: None,
            sub: Some(&sub),
            typed: Some(&given),
            errors: &errors,
        };
        return draw(&state, &signed, &id, shown, StatusCode::BAD_REQUEST).await;
    }
    let (auto_refund, cap) = refund.unwrap_or((false, None));
    let reply = text("reply_text");
    let patch = PatchSubMerchant {
        name: Some(text("name")),
        reply_text: if reply.is_empty() {
            Patch::Clear
        } else {
            Patch::Set(reply)
        },
        auto_refund: Some(auto_refund),
        refund_cap_fen: match cap {
            Some(c) => Patch::Set(c),
            None => Patch::Clear,
        },
        enabled: Some(given.get("enabled") == Some("true")),
        deadlines: Patch::Keep,
    };
    match patch_sub_merchant(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath((id.clone(), sub_mchid.clone())),
        ValidJson(patch),
    )
    .await
    {
        Ok(_) => see_other(&format!(
            "{BASE}/accounts/{}/sub-merchants/{}?saved=1",
            view::path_segment(&id),
            view::path_segment(&sub_mchid)
        )),
        Err(e) if e.status().is_client_error() && e.status() != StatusCode::FORBIDDEN => {
            let errors = api_errors(&e);
            let shown = Shown {
                notice: None,
                sub: Some(&sub),
                typed: Some(&given),
                errors: &errors,
            };
            draw(&state, &signed, &id, shown, e.status()).await
        }
        Err(e) => error_page(lang, &e),
    }
}
