//! `/console/notifications`: staff notification settings, for administrators. The list of
//! every audience (each account, and under a provider each sub-merchant) with its channels in
//! one line; each audience's settings form ([`form`]), saved through the admin API's
//! `put_*_notifications`; and "send a test notice" (the admin API's
//! `POST .../notifications/test`), whose results page says per channel and recipient whether
//! it was delivered and, if not, why in words.
//!
//! The test's form carries a one-time id: sent twice (a double tap, a resubmission) it sends
//! once, and both land on the same results page. The results are kept a day under that id
//! (`NOTIFYTESTRESULT#{form}`), for the page after the redirect.

pub mod form;

use super::sign_in::signed_form;
use super::view;
use super::web::{BASE, Chrome, Signed, error_page, render, render_with, see_other};
use crate::ApiError;
use crate::admin::accounts::{AccountFilter, list_accounts};
use crate::admin::notifications::{
    NotificationsView, get_account_notifications, get_sub_merchant_notifications,
    put_account_notifications, put_sub_merchant_notifications,
};
use crate::admin::page::PageParams;
use crate::admin::roles::Roles;
use crate::admin::sub_merchants::list_sub_merchants;
use crate::console::web::UrlQuery;
use crate::extract::{ApiPath, ApiQuery};
use crate::http::ValidJson;
use crate::state::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use desk_core::repo::NotificationRepo;
use desk_core::test_notice::TestNoticeReport;
use domain::account::NotificationSettings;
use domain::notification::Channel;
use domain::ports::Item;
use form::Values;
use serde::Deserialize;
use std::sync::Arc;

/// The audience a page is about: an account, or one of its sub-merchants.
#[derive(Clone)]
pub struct Target {
    pub account_id: String,
    pub sub_mchid: Option<String>,
}

impl Target {
    /// The admin route (after `/admin/v1`) of its settings.
    fn route(&self) -> &'static str {
        match self.sub_mchid {
            None => "/accounts/{id}/notifications",
            Some(_) => "/accounts/{id}/sub-merchants/{sub_mchid}/notifications",
        }
    }

    /// Its settings page.
    pub fn page(&self) -> String {
        let mut p = format!("{BASE}/accounts/{}", view::path_segment(&self.account_id));
        if let Some(s) = &self.sub_mchid {
            p.push_str(&format!("/sub-merchants/{}", view::path_segment(s)));
        }
        p.push_str("/notifications");
        p
    }
}

/// One audience in the list.
pub struct AudienceRow {
    pub name: String,
    pub id: String,
    pub sub: bool,
    pub enabled: bool,
    pub summary: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "console/notifications.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<AudienceRow>,
}

/// The channels of some settings in one line.
fn summary(lang: super::Lang, s: &NotificationSettings) -> String {
    let mut parts = Vec::new();
    if let Some(e) = &s.email {
        parts.push(format!(
            "{} {}",
            lang.t("邮件", "e-mail"),
            e.recipients.len()
        ));
    }
    if let Some(o) = &s.oa_template {
        parts.push(format!(
            "{} {}",
            lang.t("模板消息", "template message"),
            o.openids.len()
        ));
    }
    if let Some(m) = &s.sms {
        parts.push(format!(
            "{} {}",
            lang.t("短信", "SMS"),
            m.phone_numbers.len()
        ));
    }
    if !s.bots.is_empty() {
        parts.push(format!("{} {}", lang.t("群机器人", "bots"), s.bots.len()));
    }
    if parts.is_empty() {
        lang.t("未设置通知", "No notices set up").to_string()
    } else {
        parts.join(" · ")
    }
}

/// `GET /console/notifications`: every audience and its channels.
pub async fn list(State(state): State<AppState>, signed: Signed) -> Response {
    let lang = signed.visit.lang;
    if let Err(r) = signed.require_settings() {
        return *r;
    }
    let page = || {
        ApiQuery(PageParams {
            limit: Some(200),
            cursor: None,
        })
    };
    let accounts = match list_accounts(
        State(state.clone()),
        signed.caller.clone(),
        ApiQuery(AccountFilter { kind: None }),
        page(),
    )
    .await
    {
        Ok(a) => a.0.items,
        Err(e) => return error_page(lang, &e),
    };
    let repo = NotificationRepo::new(&*state.ports.records);
    let mut rows = Vec::new();
    for a in accounts {
        let settings = repo
            .get(&a.id, None)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let has_subs = a.kind().facts().is_some_and(|f| f.has_sub_merchants);
        let target = Target {
            account_id: a.id.clone(),
            sub_mchid: None,
        };
        rows.push(AudienceRow {
            summary: summary(lang, &settings),
            href: target.page(),
            name: a.name,
            id: a.id.clone(),
            sub: false,
            enabled: a.enabled,
        });
        if !has_subs {
            continue;
        }
        let subs = list_sub_merchants(
            State(state.clone()),
            signed.caller.clone(),
            ApiPath(a.id.clone()),
            page(),
        )
        .await
        .map(|p| p.0.items)
        .unwrap_or_default();
        for s in subs {
            let settings = repo
                .get(&a.id, Some(&s.sub_mchid))
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            let target = Target {
                account_id: a.id.clone(),
                sub_mchid: Some(s.sub_mchid.clone()),
            };
            rows.push(AudienceRow {
                summary: summary(lang, &settings),
                href: target.page(),
                name: s.name,
                id: s.sub_mchid,
                sub: true,
                enabled: s.enabled,
            });
        }
    }
    render(&ListPage {
        c: signed.chrome(&state, lang.t("员工通知", "Staff notifications").into()),
        rows,
    })
}

#[derive(Template)]
#[template(path = "console/notifications_form.html")]
struct FormPage {
    c: Chrome,
    post_to: String,
    test_to: String,
    sections: Vec<form::Section>,
    bots: Vec<form::BotRow>,
    bot_count: usize,
    /// The refusal in words, above the form.
    refusal: Option<String>,
    saved: bool,
    can_test: bool,
    sub: bool,
}

async fn read(
    state: &AppState,
    signed: &Signed,
    t: &Target,
) -> Result<NotificationsView, ApiError> {
    let caller = signed.caller.clone();
    Ok(match &t.sub_mchid {
        None => {
            get_account_notifications(State(state.clone()), caller, ApiPath(t.account_id.clone()))
                .await?
                .0
        }
        Some(s) => {
            get_sub_merchant_notifications(
                State(state.clone()),
                caller,
                ApiPath((t.account_id.clone(), s.clone())),
            )
            .await?
            .0
        }
    })
}

fn statuses(
    lang: super::Lang,
    view: &NotificationsView,
    values: &Values,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let unset = domain::account::SecretStatus::unset();
    let mut put = |k: String, s: &domain::account::SecretStatus| {
        out.insert(k, form::status_words(lang, s));
    };
    put(
        "email_auth_code".into(),
        view.email.as_ref().map_or(&unset, |e| &e.auth_code),
    );
    put(
        "oa_secret".into(),
        view.oa_template.as_ref().map_or(&unset, |o| &o.secret),
    );
    put(
        "sms_secret_key".into(),
        view.sms.as_ref().map_or(&unset, |s| &s.secret_key),
    );
    for n in 0..form::bot_rows(values) {
        let id = values
            .get(&format!("bot_id_{n}"))
            .cloned()
            .unwrap_or_default();
        let bot = view.bots.iter().find(|b| b.channel.id == id);
        put(
            format!("bot_webhook_url_{n}"),
            bot.map_or(&unset, |b| &b.webhook_url),
        );
        put(
            format!("bot_signing_secret_{n}"),
            bot.map_or(&unset, |b| &b.signing_secret),
        );
    }
    out
}

/// The form page: `values` as given, errors next to their inputs.
#[allow(clippy::too_many_arguments)]
fn form_page(
    state: &AppState,
    signed: &Signed,
    roles: &Roles,
    t: Target,
    view: &NotificationsView,
    values: Values,
    errors: std::collections::BTreeMap<String, String>,
    refusal: Option<String>,
    saved: bool,
) -> FormPage {
    let lang = signed.visit.lang;
    let test_route = format!("{}/test", t.route());
    let statuses = statuses(lang, view, &values);
    let fill = form::Fill {
        lang,
        values: &values,
        statuses: &statuses,
        errors: &errors,
    };
    FormPage {
        c: signed.chrome(state, lang.t("通知设置", "Notification settings").into()),
        post_to: t.page(),
        test_to: format!(
            "{}/test?form={}",
            t.page(),
            desk_core::sessions::new_form_id()
        ),
        sections: form::sections(&fill, signed.caller.scope.is_all()),
        bots: form::bots(&fill),
        bot_count: form::bot_rows(&values),
        refusal,
        saved,
        can_test: signed.may(roles, &Method::POST, &test_route),
        sub: t.sub_mchid.is_some(),
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    saved: Option<String>,
}

async fn show(
    state: AppState,
    roles: Arc<Roles>,
    signed: Signed,
    t: Target,
    q: ShowQuery,
) -> Response {
    let lang = signed.visit.lang;
    if let Err(r) = signed.require_settings() {
        return *r;
    }
    if let Err(r) = signed.require(&roles, &Method::GET, t.route()) {
        return *r;
    }
    let view = match read(&state, &signed, &t).await {
        Ok(v) => v,
        Err(e) => return error_page(lang, &e),
    };
    let values = form::from_view(&view);
    render(&form_page(
        &state,
        &signed,
        &roles,
        t,
        &view,
        values,
        Default::default(),
        None,
        q.saved.is_some(),
    ))
}

/// `GET /console/accounts/{id}/notifications`.
pub async fn show_account(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    UrlQuery(q): UrlQuery<ShowQuery>,
) -> Response {
    show(
        state,
        roles,
        signed,
        Target {
            account_id: id,
            sub_mchid: None,
        },
        q,
    )
    .await
}

/// `GET /console/accounts/{id}/sub-merchants/{sub}/notifications`.
pub async fn show_sub_merchant(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path((id, sub)): Path<(String, String)>,
    UrlQuery(q): UrlQuery<ShowQuery>,
) -> Response {
    show(
        state,
        roles,
        signed,
        Target {
            account_id: id,
            sub_mchid: Some(sub),
        },
        q,
    )
    .await
}

async fn save(
    state: AppState,
    roles: Arc<Roles>,
    signed: Signed,
    t: Target,
    req: axum::extract::Request,
) -> Response {
    let lang = signed.visit.lang;
    let values: Values = match signed_form(&signed, req, |f: &Values| {
        f.get("csrf").map(String::as_str).unwrap_or_default()
    })
    .await
    {
        Ok(f) => f,
        Err(res) => return *res,
    };
    if let Err(r) = signed.require_settings() {
        return *r;
    }
    if let Err(r) = signed.require(&roles, &Method::PUT, t.route()) {
        return *r;
    }
    let view = match read(&state, &signed, &t).await {
        Ok(v) => v,
        Err(e) => return error_page(lang, &e),
    };
    let written = match form::input(&values, &view, signed.caller.scope.is_all()) {
        Ok((input, rows)) => {
            let caller = signed.caller.clone();
            let result = match &t.sub_mchid {
                None => put_account_notifications(
                    State(state.clone()),
                    caller,
                    ApiPath(t.account_id.clone()),
                    ValidJson(input),
                )
                .await
                .map(|_| ()),
                Some(s) => put_sub_merchant_notifications(
                    State(state.clone()),
                    caller,
                    ApiPath((t.account_id.clone(), s.clone())),
                    ValidJson(input),
                )
                .await
                .map(|_| ()),
            };
            result.map_err(|e| (e, rows))
        }
        Err(e) => Err((e, Vec::new())),
    };
    match written {
        Ok(()) => see_other(&format!("{}?saved=1", t.page())),
        Err((e, rows)) => {
            if !matches!(e.status().as_u16(), 400 | 403 | 409 | 422) {
                return error_page(lang, &e);
            }
            let mut errors = std::collections::BTreeMap::new();
            if let Some(f) = e.field_name() {
                errors.insert(form::input_name(f, &rows), e.message());
            }
            let refusal = Some(format!(
                "{}{}",
                lang.t("没有保存：", "Not saved: "),
                e.message()
            ));
            let status = e.status();
            let page = form_page(
                &state,
                &signed,
                &roles,
                t,
                &view,
                form::typed(values),
                errors,
                refusal,
                false,
            );
            render_with(status, &page)
        }
    }
}

/// `POST /console/accounts/{id}/notifications`: save.
pub async fn save_account(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    save(
        state,
        roles,
        signed,
        Target {
            account_id: id,
            sub_mchid: None,
        },
        req,
    )
    .await
}

/// `POST /console/accounts/{id}/sub-merchants/{sub}/notifications`: save.
pub async fn save_sub_merchant(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path((id, sub)): Path<(String, String)>,
    req: axum::extract::Request,
) -> Response {
    save(
        state,
        roles,
        signed,
        Target {
            account_id: id,
            sub_mchid: Some(sub),
        },
        req,
    )
    .await
}

#[derive(Deserialize)]
pub struct TestForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize, Default)]
pub struct TestQuery {
    #[serde(default)]
    form: Option<String>,
}

fn result_pk(form_id: &str) -> String {
    format!("NOTIFYTESTRESULT#{form_id}")
}

fn valid_form_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn test(
    state: AppState,
    roles: Arc<Roles>,
    signed: Signed,
    t: Target,
    q: TestQuery,
    req: axum::extract::Request,
) -> Response {
    let lang = signed.visit.lang;
    if let Err(res) = signed_form(&signed, req, |f: &TestForm| &f.csrf).await {
        return *res;
    }
    if let Err(r) = signed.require_settings() {
        return *r;
    }
    if let Err(r) = signed.require(&roles, &Method::POST, &format!("{}/test", t.route())) {
        return *r;
    }
    let form_id = q.form.unwrap_or_default();
    if !valid_form_id(&form_id) {
        return error_page(
            lang,
            &ApiError::field(
                "form",
                lang.t(
                    "表单已过期，请刷新页面后重试。",
                    "The form is out of date: reload the page and try again.",
                ),
            ),
        );
    }
    let results_page = format!("{}/test/{form_id}", t.page());
    let sessions = desk_core::sessions::SessionRepo::new(&*state.ports.records);
    match sessions.claim_form(&form_id, state.ports.clock.now()).await {
        Ok(true) => {}
        // Sent before: its results page (the first one's).
        Ok(false) => return see_other(&results_page),
        Err(e) => return error_page(lang, &e.into()),
    }
    let report = match crate::admin::test_notice::send_to(
        &state,
        &signed.caller,
        &t.account_id,
        t.sub_mchid.as_deref(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return error_page(lang, &test_refusal_in_words(lang, e)),
    };
    let now = state.ports.clock.now();
    let data = match serde_json::to_value(&report) {
        Ok(d) => d,
        Err(e) => return error_page(lang, &ApiError::internal(e)),
    };
    let item =
        Item::new(result_pk(&form_id), "META", data).expiring_at(now.timestamp() + 24 * 3600);
    if let Err(e) = state.ports.records.put(item).await {
        return error_page(lang, &ApiError::from(e));
    }
    see_other(&results_page)
}

/// The test's refusals in the page's language (the API's JSON says them in English): too
/// soon after the last test (429), no channel set up (409).
fn test_refusal_in_words(lang: super::Lang, e: ApiError) -> ApiError {
    match e {
        ApiError::RateLimited { retry_after, .. } => {
            let secs = retry_after.as_secs().max(1);
            let window = desk_core::test_notice::WINDOW.as_secs();
            ApiError::RateLimited {
                message: if lang.is_en() {
                    format!(
                        "A test notice was sent here less than {window} seconds ago: wait {secs} seconds and try again."
                    )
                } else {
                    format!("{window} 秒内已经发过一次测试通知：请等 {secs} 秒后再试。")
                },
                retry_after,
            }
        }
        ApiError::Conflict(_) => ApiError::Conflict(
            lang.t(
                "还没有设置任何通知渠道：请先设置邮件、模板消息、短信或群机器人，再发送测试通知。",
                "No notification channel is set up yet: set up e-mail, a template message, SMS or a group bot first, then send a test.",
            )
            .into(),
        ),
        other => other,
    }
}

/// `POST /console/accounts/{id}/notifications/test?form=…`.
pub async fn test_account(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    UrlQuery(q): UrlQuery<TestQuery>,
    req: axum::extract::Request,
) -> Response {
    test(
        state,
        roles,
        signed,
        Target {
            account_id: id,
            sub_mchid: None,
        },
        q,
        req,
    )
    .await
}

/// `POST /console/accounts/{id}/sub-merchants/{sub}/notifications/test?form=…`.
pub async fn test_sub_merchant(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path((id, sub)): Path<(String, String)>,
    UrlQuery(q): UrlQuery<TestQuery>,
    req: axum::extract::Request,
) -> Response {
    test(
        state,
        roles,
        signed,
        Target {
            account_id: id,
            sub_mchid: Some(sub),
        },
        q,
        req,
    )
    .await
}

/// One channel's result as the page shows it.
pub struct ChannelLine {
    pub name: String,
    pub delivered: bool,
    pub reason: Option<String>,
    /// (recipient, delivered, why).
    pub recipients: Vec<(String, bool, Option<String>)>,
}

#[derive(Template)]
#[template(path = "console/notifications_test.html")]
struct ResultsPage {
    c: Chrome,
    back: String,
    /// None: not finished (or not kept).
    lines: Option<Vec<ChannelLine>>,
    all_delivered: bool,
    note: Option<String>,
}

fn channel_name(lang: super::Lang, c: Channel, bot: Option<&str>) -> String {
    match c {
        Channel::Email => lang.t("邮件", "E-mail").into(),
        Channel::OaTemplate => lang
            .t("公众号模板消息", "Official-account template message")
            .into(),
        Channel::Sms => lang.t("短信", "SMS").into(),
        Channel::Bot => format!(
            "{}{}",
            lang.t("群机器人 ", "Group bot "),
            bot.unwrap_or_default()
        ),
    }
}

async fn results(state: AppState, signed: Signed, t: Target, form_id: String) -> Response {
    let lang = signed.visit.lang;
    if let Err(r) = signed.require_settings() {
        return *r;
    }
    // The audience must be one this staff member sees.
    let visible = match &t.sub_mchid {
        None => crate::admin::accounts::visible_account(&state, &signed.caller, &t.account_id)
            .await
            .map(|_| ()),
        Some(s) => crate::admin::sub_merchants::visible_sub_merchant(
            &state,
            &signed.caller,
            &t.account_id,
            s,
        )
        .await
        .map(|_| ()),
    };
    if let Err(e) = visible {
        return error_page(lang, &e);
    }
    let stored = if valid_form_id(&form_id) {
        match state.ports.records.get(&result_pk(&form_id), "META").await {
            Ok(i) => i,
            Err(e) => return error_page(lang, &ApiError::from(e)),
        }
    } else {
        None
    };
    let report: Option<TestNoticeReport> = stored.and_then(|i| serde_json::from_value(i.data).ok());
    let report = report
        .filter(|r| r.audience.account_id == t.account_id && r.audience.sub_mchid == t.sub_mchid);
    let words = |w: &desk_core::test_notice::Words| {
        if lang.is_en() {
            w.en.clone()
        } else {
            w.zh.clone()
        }
    };
    let page = ResultsPage {
        c: signed.chrome(&state, lang.t("测试通知结果", "Test notice results").into()),
        back: t.page(),
        all_delivered: report.as_ref().is_some_and(|r| r.all_delivered),
        note: report.as_ref().and_then(|r| r.note.as_ref()).map(words),
        lines: report.map(|r| {
            r.channels
                .iter()
                .map(|c| ChannelLine {
                    name: channel_name(lang, c.channel, c.bot_id.as_deref()),
                    delivered: c.delivered,
                    reason: c.reason.as_ref().map(words),
                    recipients: if c.channel == Channel::Bot {
                        vec![]
                    } else {
                        c.recipients
                            .iter()
                            .map(|r| {
                                (
                                    r.recipient.clone(),
                                    r.delivered,
                                    r.reason.as_ref().map(words),
                                )
                            })
                            .collect()
                    },
                })
                .collect()
        }),
    };
    let status = if page.lines.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    render_with(status, &page)
}

/// `GET /console/accounts/{id}/notifications/test/{form}`: a test's results.
pub async fn results_account(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, form_id)): Path<(String, String)>,
) -> Response {
    results(
        state,
        signed,
        Target {
            account_id: id,
            sub_mchid: None,
        },
        form_id,
    )
    .await
}

/// `GET /console/accounts/{id}/sub-merchants/{sub}/notifications/test/{form}`.
pub async fn results_sub_merchant(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, sub, form_id)): Path<(String, String, String)>,
) -> Response {
    results(
        state,
        signed,
        Target {
            account_id: id,
            sub_mchid: Some(sub),
        },
        form_id,
    )
    .await
}
