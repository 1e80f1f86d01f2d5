//! `/console/deliveries` (administrators only): every staff notice's delivery on each channel,
//! newest first, with filters (result, channel, account or sub-merchant, complaint) and pages.
//! The admin API's list (`GET /deliveries`) reads one index partition per token scope and
//! status: an account filter asks it as a caller narrowed to that account (never wider than
//! the staff member's own scope), so the page is still one query; the channel filter is applied
//! to the pages read (up to a few per page shown).

use super::super::lang::Lang;
use super::super::view;
use super::super::web::{BASE, Chrome, Signed, error_page, render_with};
use super::{Names, names};
use crate::ApiError;
use crate::admin::complaints::{DeliveryQuery, list_deliveries};
use crate::admin::roles::Roles;
use crate::caller::Caller;
use crate::console::web::UrlQuery;
use crate::extract::ApiQuery;
use crate::state::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use domain::notification::{Channel, Delivery, DeliveryStatus, NotificationSubject};
use domain::token::TokenScope;
use serde::Deserialize;
use std::sync::Arc;

/// Rows a page shows (at most).
const PAGE_ROWS: usize = 50;
/// API pages read for one page shown when the channel filter leaves rows out.
const MAX_READS: usize = 5;

#[derive(Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    channel: String,
    /// `{account}` or `{account}:{sub_mchid}`.
    #[serde(default)]
    account: String,
    #[serde(default)]
    complaint: String,
    #[serde(default)]
    cursor: String,
}

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct Row {
    pub at: String,
    pub audience: String,
    pub channel: &'static str,
    pub recipients: String,
    /// The subject in words, and our complaint id when it is a complaint (linked).
    pub subject: String,
    pub complaint: Option<String>,
    pub result: String,
    pub result_class: &'static str,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "console/deliveries.html")]
struct DeliveriesPage {
    c: Chrome,
    statuses: Vec<Opt>,
    channels: Vec<Opt>,
    accounts: Vec<Opt>,
    complaint: String,
    filtered: bool,
    rows: Vec<Row>,
    /// The next page's address.
    next: Option<String>,
    error_account: Option<String>,
    error_complaint: Option<String>,
}

pub fn channel_label(lang: Lang, c: Channel) -> &'static str {
    match c {
        Channel::Email => lang.t("邮件", "e-mail"),
        Channel::OaTemplate => lang.t("公众号模板消息", "OA template message"),
        Channel::Sms => lang.t("短信", "SMS"),
        Channel::Bot => lang.t("群机器人", "group bot"),
    }
}

fn channel_value(c: Channel) -> &'static str {
    match c {
        Channel::Email => "email",
        Channel::OaTemplate => "oa_template",
        Channel::Sms => "sms",
        Channel::Bot => "bot",
    }
}

const CHANNELS: [Channel; 4] = [
    Channel::Email,
    Channel::OaTemplate,
    Channel::Sms,
    Channel::Bot,
];

fn result_of(lang: Lang, d: &Delivery) -> (String, &'static str) {
    // A test notice is sent once and never retried (fixnotif).
    let test = d
        .job_id
        .starts_with(desk_core::test_notice::TEST_JOB_PREFIX);
    match d.status {
        DeliveryStatus::Failed if test => (
            lang.t(
                "测试未送达（测试通知不重试）",
                "test not delivered (tests are not retried)",
            )
            .into(),
            "bad",
        ),
        DeliveryStatus::Sent => (lang.t("已送达", "delivered").into(), "ok"),
        DeliveryStatus::Failed => (
            match lang {
                Lang::Zh => format!("失败：已尝试 {} 次，不再重试", d.attempts),
                Lang::En => format!("failed after {} attempts, given up", d.attempts),
            },
            "bad",
        ),
        DeliveryStatus::Retrying => (
            match lang {
                Lang::Zh => format!("暂未送达，稍后重试（已尝试 {} 次）", d.attempts),
                Lang::En => format!(
                    "not yet delivered, will retry (attempts so far: {})",
                    d.attempts
                ),
            },
            "muted",
        ),
        DeliveryStatus::Pending => (lang.t("等待发送", "waiting to be sent").into(), "muted"),
    }
}

fn subject_of(lang: Lang, s: Option<&NotificationSubject>) -> (String, Option<String>) {
    match s {
        Some(NotificationSubject::Complaint { complaint_id }) => (
            format!("{}{complaint_id}", lang.t("投诉 ", "complaint ")),
            Some(complaint_id.clone()),
        ),
        Some(NotificationSubject::Violation { violation_id }) => (
            format!("{}{violation_id}", lang.t("违规 ", "violation ")),
            None,
        ),
        Some(NotificationSubject::Digest { day, .. }) => (
            format!("{}{day}", lang.t("每日摘要 ", "daily digest ")),
            None,
        ),
        Some(NotificationSubject::Account { topic, .. }) => (
            match topic.as_str() {
                "push_silence" => {
                    lang.t("账户：平台推送停止了", "account: pushes stopped arriving")
                }
                "callback_url" => lang.t(
                    "账户：回调地址不是本系统",
                    "account: the callback URL is not ours",
                ),
                "test" => lang.t("测试通知", "test notice"),
                _ => lang.t("账户通知", "account notice"),
            }
            .to_string(),
            None,
        ),
        None => (String::new(), None),
    }
}

/// The scope the account filter asks for, within the caller's own; `None` for no filter.
fn narrowed(caller: &Caller, account: &str) -> Result<Option<TokenScope>, ()> {
    if account.is_empty() {
        return Ok(None);
    }
    let scope = match account.split_once(':') {
        Some((a, s)) => TokenScope::SubMerchant {
            account_id: a.into(),
            sub_mchid: s.into(),
        },
        None => TokenScope::Account {
            account_id: account.into(),
        },
    };
    if caller.scope.contains(&scope) {
        Ok(Some(scope))
    } else {
        Err(())
    }
}

fn account_options(lang: Lang, names: &Names, chosen: &str) -> Vec<Opt> {
    let mut out = vec![Opt {
        value: String::new(),
        label: lang.t("全部", "all").into(),
        selected: chosen.is_empty(),
    }];
    for id in names.accounts.keys() {
        out.push(Opt {
            selected: chosen == id,
            label: names.account(id),
            value: id.clone(),
        });
    }
    for (id, sub) in names.subs.keys() {
        let value = format!("{id}:{sub}");
        out.push(Opt {
            selected: chosen == value,
            label: names.whose(id, Some(sub)),
            value,
        });
    }
    out
}

/// `GET /console/deliveries`.
pub async fn show(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    UrlQuery(f): UrlQuery<Filters>,
) -> Response {
    if let Err(res) = signed.require_settings() {
        return *res;
    }
    if let Err(res) = signed.require(&roles, &Method::GET, "/deliveries") {
        return *res;
    }
    let lang = signed.visit.lang;
    let names = match names(&state, &signed.caller).await {
        Ok(n) => n,
        Err(e) => return error_page(lang, &e),
    };
    let status = match f.status.as_str() {
        "" | "sent" | "failed" | "retrying" | "pending" => f.status.clone(),
        _ => String::new(),
    };
    let channel = CHANNELS
        .into_iter()
        .find(|c| channel_value(*c) == f.channel);
    let complaint = f.complaint.trim().to_string();
    let mut error_account = None;
    let mut error_complaint = None;
    let mut caller = signed.caller.clone();
    let accounts = account_options(lang, &names, &f.account);
    // Only an account or sub-merchant the filter offers (one this staff member sees); the
    // narrowed scope is checked against the staff member's own besides.
    let offered = accounts.iter().any(|o| o.value == f.account);
    let wanted = if offered {
        narrowed(&signed.caller, &f.account)
    } else {
        Err(())
    };
    match wanted {
        Ok(Some(scope)) => caller.scope = scope,
        Ok(None) => {}
        Err(()) => {
            error_account = Some(
                lang.t(
                    "找不到这个账户或子商户。",
                    "No such account or sub-merchant.",
                )
                .to_string(),
            )
        }
    }
    let mut rows = Vec::new();
    let mut next = None;
    let mut http_status = StatusCode::OK;
    if error_account.is_none() {
        let mut cursor = Some(f.cursor.clone()).filter(|c| !c.is_empty());
        for _ in 0..MAX_READS {
            let got = list_deliveries(
                State(state.clone()),
                caller.clone(),
                ApiQuery(DeliveryQuery {
                    complaint: Some(complaint.clone()).filter(|c| !c.is_empty()),
                    status: Some(status.clone()).filter(|s| !s.is_empty()),
                    limit: Some(PAGE_ROWS as u32),
                    cursor: cursor.clone(),
                }),
            )
            .await;
            let page = match got {
                Ok(p) => p.0,
                Err(e @ (ApiError::NotFound(_) | ApiError::Invalid { .. }))
                    if !complaint.is_empty() =>
                {
                    e.log_cause();
                    http_status = e.status();
                    error_complaint = Some(
                        lang.t(
                            "找不到这条投诉。请填写投诉页地址中的编号（cmp_ 开头）。",
                            "No such complaint. Type the id from its page's address (it starts with cmp_).",
                        )
                        .to_string(),
                    );
                    break;
                }
                Err(e) => return error_page(lang, &e),
            };
            rows.extend(
                page.items
                    .into_iter()
                    .filter(|d| channel.is_none_or(|c| d.channel == c))
                    .map(|d| row(lang, &names, d)),
            );
            cursor = page.next_cursor;
            if cursor.is_none() || rows.len() >= PAGE_ROWS / 2 {
                break;
            }
        }
        next = cursor.map(|c| {
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("status", &status)
                .append_pair("channel", &f.channel)
                .append_pair("account", &f.account)
                .append_pair("complaint", &complaint)
                .append_pair("cursor", &c)
                .finish();
            format!("{BASE}/deliveries?{q}")
        });
    } else {
        http_status = StatusCode::NOT_FOUND;
    }
    let opts = |values: &[(&str, &str)], chosen: &str| -> Vec<Opt> {
        values
            .iter()
            .map(|(v, l)| Opt {
                value: v.to_string(),
                label: l.to_string(),
                selected: *v == chosen,
            })
            .collect()
    };
    let statuses = opts(
        &[
            ("", lang.t("全部", "all")),
            ("sent", lang.t("已送达", "delivered")),
            ("failed", lang.t("失败", "failed")),
            ("retrying", lang.t("重试中", "retrying")),
            ("pending", lang.t("等待发送", "pending")),
        ],
        &status,
    );
    let mut channels = opts(&[("", lang.t("全部", "all"))], &f.channel);
    channels.extend(CHANNELS.into_iter().map(|c| Opt {
        value: channel_value(c).into(),
        label: channel_label(lang, c).into(),
        selected: channel == Some(c),
    }));
    render_with(
        http_status,
        &DeliveriesPage {
            c: signed.chrome(&state, lang.t("通知投递记录", "Delivery log").into()),
            statuses,
            channels,
            accounts,
            filtered: !(status.is_empty()
                && channel.is_none()
                && f.account.is_empty()
                && complaint.is_empty()),
            complaint,
            rows,
            next,
            error_account,
            error_complaint,
        },
    )
}

fn row(lang: Lang, names: &Names, d: Delivery) -> Row {
    let (result, result_class) = result_of(lang, &d);
    let (subject, complaint) = subject_of(lang, d.subject.as_ref());
    let detail = if d.status == DeliveryStatus::Sent {
        String::new()
    } else {
        let mut parts: Vec<String> = d
            .results
            .iter()
            .filter(|(_, r)| r.as_str() != "ok")
            .map(|(who, r)| format!("{who}: {r}"))
            .collect();
        if parts.is_empty()
            && let Some(e) = &d.last_error
        {
            parts.push(e.clone());
        }
        parts.join("; ")
    };
    Row {
        at: view::beijing(d.created_at),
        audience: d
            .audience
            .as_ref()
            .map(|a| names.whose(&a.account_id, a.sub_mchid.as_deref()))
            .unwrap_or_default(),
        channel: channel_label(lang, d.channel),
        recipients: d.recipients.join(", "),
        subject,
        complaint,
        result,
        result_class,
        detail,
    }
}
