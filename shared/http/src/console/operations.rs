//! Operations pages (administrators only): `/console/dead-letters` (jobs that failed every
//! retry: what they were, what they concern, why they failed, and a replay button that acts
//! once) and `/console/deliveries` ([`deliveries`]: the staff notices' delivery log with
//! filters). Also what these pages and the tokens page share: the names of the accounts and
//! sub-merchants the staff member sees ([`names`]). Every read and write goes through the admin
//! API's own handlers.

pub mod deliveries;

use super::lang::Lang;
use super::view;
use super::web::{BASE, Chrome, Signed, error_page, render, see_other};
use crate::ApiError;
use crate::admin::accounts::{AccountFilter, list_accounts};
use crate::admin::dead_letters::{DeadLetterFilter, list_dead_letters, replay_dead_letter};
use crate::admin::page::PageParams;
use crate::admin::roles::Roles;
use crate::admin::sub_merchants::list_sub_merchants;
use crate::caller::Caller;
use crate::console::web::UrlQuery;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use desk_core::sessions::{SessionRepo, new_form_id};
use domain::complaint::Platform;
use domain::token::TokenScope;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The names of the accounts and sub-merchants a staff member sees (the first pages: enough
/// for a merchant's desk; an id stands in for a name not among them).
#[derive(Default)]
pub struct Names {
    pub accounts: BTreeMap<String, String>,
    pub subs: BTreeMap<(String, String), String>,
}

impl Names {
    /// The account's name, or its id.
    pub fn account(&self, id: &str) -> String {
        self.accounts
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// The sub-merchant's name and number, or its number.
    pub fn sub(&self, account_id: &str, sub_mchid: &str) -> String {
        match self
            .subs
            .get(&(account_id.to_string(), sub_mchid.to_string()))
        {
            Some(name) if !name.is_empty() => format!("{name} ({sub_mchid})"),
            _ => sub_mchid.to_string(),
        }
    }

    /// Who an (account, sub-merchant) pair is, in words.
    pub fn whose(&self, account_id: &str, sub_mchid: Option<&str>) -> String {
        match sub_mchid {
            Some(s) => format!("{} / {}", self.account(account_id), self.sub(account_id, s)),
            None => self.account(account_id),
        }
    }
}

/// The accounts (and their sub-merchants) `caller` sees, by name.
pub async fn names(state: &AppState, caller: &Caller) -> Result<Names, ApiError> {
    let mut names = Names::default();
    let mut providers = Vec::new();
    let mut cursor = None;
    for _ in 0..5 {
        let page = list_accounts(
            State(state.clone()),
            caller.clone(),
            ApiQuery(AccountFilter { kind: None }),
            ApiQuery(PageParams {
                limit: Some(200),
                cursor,
            }),
        )
        .await?
        .0;
        for a in page.items {
            if state
                .platforms()
                .account_kind(a.kind())
                .is_some_and(|k| k.facts.has_sub_merchants)
            {
                providers.push(a.id.clone());
            }
            names.accounts.insert(a.id, a.name);
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    // A token of one sub-merchant sees no account, only its sub-merchant.
    if let TokenScope::SubMerchant { account_id, .. } = &caller.scope {
        providers.push(account_id.clone());
    }
    for id in providers {
        match list_sub_merchants(
            State(state.clone()),
            caller.clone(),
            ApiPath(id.clone()),
            ApiQuery(PageParams {
                limit: Some(200),
                cursor: None,
            }),
        )
        .await
        {
            Ok(page) => {
                for s in page.0.items {
                    names.subs.insert((id.clone(), s.sub_mchid), s.name);
                }
            }
            // Not a provider after all, or not visible: no names, ids stand in.
            Err(ApiError::NotFound(_) | ApiError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(names)
}

/// A job kind in words.
pub fn job_label(lang: Lang, job_type: &str) -> String {
    match job_type {
        "wechatpay.complaint" => lang.t("微信支付投诉通知", "WeChat Pay complaint push"),
        "wechatpay.violation" => lang.t("微信支付违规通知", "WeChat Pay violation push"),
        "wechatpay.refund" => lang.t("微信支付退款通知", "WeChat Pay refund push"),
        "alipay.trade_complaint" => lang.t("支付宝交易投诉通知", "Alipay trade complaint push"),
        "alipay.risk_complaint" => lang.t("支付宝风险投诉通知", "Alipay RiskGO complaint push"),
        "wxmini.complaint" => lang.t("小程序投诉通知", "Mini-program complaint push"),
        "wxopen.authorization" => lang.t("小程序授权通知", "Mini-program authorisation"),
        "notify.staff" => lang.t("员工通知", "Staff notice"),
        "notify.delivery" => lang.t("员工通知的一次投递", "Delivery of a staff notice"),
        "reconcile.pass" => lang.t("对账（补漏）", "Reconciliation pass"),
        "deadlines.sweep" => lang.t("期限检查与提醒", "Deadline sweep and reminders"),
        "" => lang.t("无法识别的任务", "Unreadable job"),
        other => return format!("{} ({other})", lang.t("其他任务", "Other job")),
    }
    .to_string()
}

/// Our id of the complaint a job concerns, when it names one: a staff notice's subject, or a
/// platform push's complaint (ours derived from the platform's id and the account).
fn complaint_of(
    job_type: &str,
    account: Option<&str>,
    payload: &serde_json::Value,
) -> Option<String> {
    if let Some(id) = payload["subject"]["complaint_id"]
        .as_str()
        .or(payload["complaint_id"]
            .as_str()
            .filter(|id| id.starts_with("cmp_")))
    {
        return Some(id.to_string());
    }
    let account = account?;
    let (platform, id) = match job_type {
        "wechatpay.complaint" => (
            Platform::Wechatpay,
            payload["resource"]["complaint_id"].as_str(),
        ),
        "wxmini.complaint" => (Platform::Wxmini, payload["complaint_order_id"].as_str()),
        _ => return None,
    };
    Some(desk_core::complaints::complaint_id(platform, account, id?))
}

pub struct LetterRow {
    pub id: String,
    pub form_action: String,
    pub kind: String,
    pub whose: Option<String>,
    /// Our complaint id, when the complaint is recorded (the page links to it).
    pub complaint: Option<String>,
    pub failed_at: String,
    pub first_at: String,
    pub attempts: u32,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "console/dead_letters.html")]
struct LettersPage {
    c: Chrome,
    queue: &'static str,
    rows: Vec<LetterRow>,
    next: Option<String>,
    can_replay: bool,
    replayed: bool,
    again: bool,
}

#[derive(Deserialize, Default)]
pub struct LettersQuery {
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    /// A letter was just replayed (`1`), or the form was sent before (`again`).
    #[serde(default)]
    replayed: Option<String>,
    /// The replay form's one-time id.
    #[serde(default)]
    form: Option<String>,
}

fn queue_of(q: Option<&str>) -> &'static str {
    match q {
        Some("notify") => domain::job::queues::NOTIFY,
        _ => domain::job::queues::EVENTS,
    }
}

/// `GET /console/dead-letters?queue=events|notify`.
pub async fn dead_letters(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    UrlQuery(q): UrlQuery<LettersQuery>,
) -> Response {
    if let Err(res) = signed.require_settings() {
        return *res;
    }
    if let Err(res) = signed.require(&roles, &Method::GET, "/dead-letters") {
        return *res;
    }
    let lang = signed.visit.lang;
    let queue = queue_of(q.queue.as_deref());
    let page = match list_dead_letters(
        State(state.clone()),
        signed.caller.clone(),
        ApiQuery(DeadLetterFilter {
            queue: Some(queue.to_string()),
        }),
        ApiQuery(PageParams {
            limit: Some(50),
            cursor: q.cursor.filter(|c| !c.is_empty()),
        }),
    )
    .await
    {
        Ok(p) => p.0,
        Err(e) => return error_page(lang, &e),
    };
    let names = match names(&state, &signed.caller).await {
        Ok(n) => n,
        Err(e) => return error_page(lang, &e),
    };
    let complaints = desk_core::complaints::ComplaintRepo::new(&*state.ports.records);
    let mut rows = Vec::with_capacity(page.items.len());
    for d in page.items {
        let job_type = d.job_type.clone().unwrap_or_default();
        let complaint = match complaint_of(&job_type, d.account_id.as_deref(), &d.payload) {
            Some(id) => match complaints.get(&id).await {
                Ok(Some(_)) => Some(id),
                Ok(None) => None,
                Err(e) => return error_page(lang, &ApiError::from(e)),
            },
            None => None,
        };
        rows.push(LetterRow {
            form_action: format!(
                "{BASE}/dead-letters/{}/replay?form={}",
                view::path_segment(&d.id),
                new_form_id()
            ),
            kind: job_label(lang, &job_type),
            whose: d
                .account_id
                .as_deref()
                .map(|a| names.whose(a, d.sub_mchid.as_deref())),
            complaint,
            failed_at: view::beijing(d.dead_lettered_at),
            first_at: view::beijing(d.sent_at),
            attempts: d.receive_count,
            reason: d.reason,
            id: d.id,
        });
    }
    render(&LettersPage {
        c: signed.chrome(&state, lang.t("失败任务", "Dead letters").into()),
        queue,
        rows,
        next: page.next_cursor.map(|n| {
            format!(
                "{BASE}/dead-letters?queue={queue}&cursor={}",
                view::path_segment(&n)
            )
        }),
        can_replay: signed.may(&roles, &Method::POST, "/dead-letters/{id}/replay"),
        replayed: q.replayed.as_deref() == Some("1"),
        again: q.replayed.as_deref() == Some("again"),
    })
}

/// `POST /console/dead-letters/{id}/replay?form=...`: put the job back on its queue, once.
pub async fn replay(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    UrlQuery(q): UrlQuery<LettersQuery>,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = signed.require_settings() {
        return *res;
    }
    if let Err(res) = signed.require(&roles, &Method::POST, "/dead-letters/{id}/replay") {
        return *res;
    }
    if let Err(res) = super::sign_in::csrf_only(&signed, req).await {
        return *res;
    }
    let lang = signed.visit.lang;
    let queue = if id.starts_with("notify:") {
        "notify"
    } else {
        "events"
    };
    let back = |flag: &str| {
        see_other(&format!(
            "{BASE}/dead-letters?queue={queue}&replayed={flag}"
        ))
    };
    match SessionRepo::new(&*state.ports.records)
        .claim_form(
            q.form.as_deref().unwrap_or_default(),
            state.ports.clock.now(),
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(dead_letter = %id, "console replay form sent again: not acted on");
            return back("again");
        }
        Err(e) => return error_page(lang, &e.into()),
    }
    match replay_dead_letter(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath(id.clone()),
    )
    .await
    {
        Ok(_) => {
            tracing::info!(by = %signed.caller.token_id, dead_letter = %id, "console replayed a dead letter");
            back("1")
        }
        Err(ApiError::NotFound(_)) => back("again"),
        Err(e) => error_page(lang, &e),
    }
}
