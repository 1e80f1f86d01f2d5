//! The inbox (`/console/`): every platform's complaints in one list, filtered (platform,
//! account, sub-merchant, status, due soon, overdue), by the nearest deadline first with a
//! countdown, and how many complaints each quick filter holds. It reads through the admin
//! API's own list ([`crate::admin::complaints::list_complaints`]), so the caller's scope
//! applies exactly as there.

use super::lang::Lang;
use super::view::{self, DueView};
use super::web::{BASE, Chrome, Signed, error_page, render};
use crate::ApiError;
use crate::admin::complaints::{ComplaintQuery, list_complaints};
use crate::extract::ApiQuery;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use domain::complaint::Complaint;
use serde::Deserialize;

/// Complaints a page of the inbox shows.
pub const PAGE_SIZE: u32 = 50;
/// A quick filter's count stops here ("200+").
pub const COUNT_CAP: u32 = 200;
/// "Due soon": a deadline within this long.
pub const DUE_SOON: Duration = Duration::hours(24);

/// The inbox's filters, as the page's form sends them (empty means "any").
#[derive(Debug, Default, Clone, Deserialize)]
pub struct InboxQuery {
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub sub_mchid: String,
    #[serde(default)]
    pub status: String,
    /// `soon` (due within 24 hours, not yet overdue) or `overdue`.
    #[serde(default)]
    pub due: String,
    #[serde(default)]
    pub cursor: String,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

impl InboxQuery {
    /// The admin API's list query for these filters, by deadline.
    fn list_query(&self, now: DateTime<Utc>, limit: u32) -> Result<ComplaintQuery, ApiError> {
        let (overdue, due_before) = match self.due.as_str() {
            "" => (None, None),
            "overdue" => (Some("true".to_string()), None),
            "soon" => (
                Some("false".to_string()),
                Some((now + DUE_SOON).to_rfc3339_opts(SecondsFormat::Millis, true)),
            ),
            other => {
                return Err(ApiError::field(
                    "due",
                    format!("unknown value {other:?}; use soon or overdue"),
                ));
            }
        };
        Ok(ComplaintQuery {
            platform: some(&self.platform),
            account: some(&self.account),
            sub_mchid: some(&self.sub_mchid),
            status: some(&self.status),
            since: None,
            until: None,
            overdue,
            due_before,
            sort: Some("deadline".into()),
            limit: Some(limit),
            cursor: some(&self.cursor),
        })
    }

    /// These filters with `key` set to `value` (and no cursor): a quick filter's link.
    pub fn with(&self, key: &str, value: &str) -> String {
        let mut q = self.clone();
        q.cursor.clear();
        match key {
            "status" => q.status = value.into(),
            "due" => q.due = value.into(),
            _ => {}
        }
        q.href()
    }

    /// This page of the inbox as a link.
    pub fn href(&self) -> String {
        let pairs = [
            ("platform", &self.platform),
            ("account", &self.account),
            ("sub_mchid", &self.sub_mchid),
            ("status", &self.status),
            ("due", &self.due),
            ("cursor", &self.cursor),
        ];
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
            .finish();
        if query.is_empty() {
            format!("{BASE}/")
        } else {
            format!("{BASE}/?{query}")
        }
    }
}

/// One complaint of the list.
pub struct Row {
    pub href: String,
    pub platform: &'static str,
    pub account_id: String,
    pub sub_mchid: Option<String>,
    pub status_class: &'static str,
    pub status_label: &'static str,
    pub raw_status: String,
    pub amount: Option<String>,
    pub text: String,
    pub received: String,
    pub due: Option<DueView>,
}

/// A quick filter with its count.
pub struct Quick {
    pub label: &'static str,
    pub href: String,
    pub count: String,
    pub active: bool,
    pub alarm: bool,
}

/// An option of a filter's select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "console/inbox.html")]
struct InboxPage {
    c: Chrome,
    q: InboxQuery,
    rows: Vec<Row>,
    quick: Vec<Quick>,
    platforms: Vec<Choice>,
    accounts: Vec<Choice>,
    statuses: Vec<Choice>,
    dues: Vec<Choice>,
    next_href: Option<String>,
    filtered: bool,
}

fn choices(options: Vec<(String, String)>, current: &str) -> Vec<Choice> {
    options
        .into_iter()
        .map(|(value, label)| Choice {
            selected: value == current,
            value,
            label,
        })
        .collect()
}

/// `GET /console/`.
pub async fn inbox(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<InboxQuery>,
) -> Response {
    let lang = signed.visit.lang;
    match page(&state, &signed, q).await {
        Ok(p) => render(&p),
        Err(e) => error_page(lang, &e),
    }
}

async fn count(
    state: &AppState,
    signed: &Signed,
    q: &InboxQuery,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let page = list_complaints(
        State(state.clone()),
        signed.caller.clone(),
        ApiQuery(q.list_query(now, COUNT_CAP)?),
    )
    .await?
    .0;
    Ok(if page.next_cursor.is_some() {
        format!("{}+", page.items.len())
    } else {
        page.items.len().to_string()
    })
}

async fn page(state: &AppState, signed: &Signed, q: InboxQuery) -> Result<InboxPage, ApiError> {
    let lang = signed.visit.lang;
    let now = state.ports.clock.now();
    let listed = list_complaints(
        State(state.clone()),
        signed.caller.clone(),
        ApiQuery(q.list_query(now, PAGE_SIZE)?),
    )
    .await?
    .0;
    let rows = listed
        .items
        .iter()
        .map(|c| row(lang, now, c))
        .collect::<Vec<_>>();
    let next_href = listed.next_cursor.map(|cursor| {
        InboxQuery {
            cursor,
            ..q.clone()
        }
        .href()
    });
    // The quick filters keep platform, account and sub-merchant, and count within them.
    let base = InboxQuery {
        status: String::new(),
        due: String::new(),
        cursor: String::new(),
        ..q.clone()
    };
    let quick_specs: [(&'static str, &str, &str, bool); 5] = [
        (lang.t("已逾期", "Overdue"), "due", "overdue", true),
        (
            lang.t("24 小时内到期", "Due within 24 h"),
            "due",
            "soon",
            true,
        ),
        (lang.t("待处理", "Pending"), "status", "pending", false),
        (
            lang.t("处理中", "Processing"),
            "status",
            "processing",
            false,
        ),
        (
            lang.t("等待平台", "Awaiting platform"),
            "status",
            "awaiting_platform",
            false,
        ),
    ];
    let mut quick = Vec::new();
    for (label, key, value, alarm) in quick_specs {
        let qq = InboxQuery {
            status: if key == "status" {
                value.into()
            } else {
                String::new()
            },
            due: if key == "due" {
                value.into()
            } else {
                String::new()
            },
            ..base.clone()
        };
        let n = count(state, signed, &qq, now).await?;
        quick.push(Quick {
            label,
            active: (key == "status" && q.status == value && q.due.is_empty())
                || (key == "due" && q.due == value && q.status.is_empty()),
            alarm: alarm && n != "0",
            href: base.with(key, value),
            count: n,
        });
    }
    let platforms = choices(
        std::iter::once((
            String::new(),
            lang.t("全部平台", "All platforms").to_string(),
        ))
        .chain(state.platforms().names().into_iter().filter_map(|n| {
            state
                .platforms()
                .named(n)
                .map(|p| (n.to_string(), view::platform_label(lang, p).to_string()))
        }))
        .collect(),
        &q.platform,
    );
    let accounts = crate::admin::accounts::list_accounts(
        State(state.clone()),
        signed.caller.clone(),
        ApiQuery(crate::admin::accounts::AccountFilter { kind: None }),
        ApiQuery(crate::admin::page::PageParams {
            limit: Some(crate::admin::page::PAGE_LIMIT_MAX),
            cursor: None,
        }),
    )
    .await?
    .0
    .items;
    let mut account_options = vec![(
        String::new(),
        lang.t("全部账户", "All accounts").to_string(),
    )];
    account_options.extend(
        accounts
            .into_iter()
            .map(|a| (a.id.clone(), format!("{} ({})", a.name, a.id))),
    );
    // An account the filter names that the list did not (a scoped token): keep it selectable.
    if !q.account.is_empty() && !account_options.iter().any(|(v, _)| *v == q.account) {
        account_options.push((q.account.clone(), q.account.clone()));
    }
    let statuses = choices(
        std::iter::once((String::new(), lang.t("全部状态", "Any status").to_string()))
            .chain(view::STATUSES.iter().map(|s| {
                (
                    s.as_str().to_string(),
                    view::status_label(lang, *s).to_string(),
                )
            }))
            .collect(),
        &q.status,
    );
    let dues = choices(
        vec![
            (
                String::new(),
                lang.t("全部期限", "Any deadline").to_string(),
            ),
            (
                "soon".into(),
                lang.t("24 小时内到期", "Due within 24 h").to_string(),
            ),
            ("overdue".into(), lang.t("已逾期", "Overdue").to_string()),
        ],
        &q.due,
    );
    let filtered = !(q.platform.is_empty()
        && q.account.is_empty()
        && q.sub_mchid.is_empty()
        && q.status.is_empty()
        && q.due.is_empty());
    Ok(InboxPage {
        c: signed.chrome(state, lang.t("收件箱", "Inbox").to_string()),
        q,
        rows,
        quick,
        platforms,
        accounts: choices(account_options, ""),
        statuses,
        dues,
        next_href,
        filtered,
    }
    .with_account_selected())
}

impl InboxPage {
    fn with_account_selected(mut self) -> Self {
        for a in &mut self.accounts {
            a.selected = a.value == self.q.account;
        }
        self
    }
}

fn row(lang: Lang, now: DateTime<Utc>, c: &Complaint) -> Row {
    Row {
        href: format!("{BASE}/complaints/{}", view::path_segment(&c.id)),
        platform: view::platform_label(lang, c.platform),
        account_id: c.account_id.clone(),
        sub_mchid: c.sub_mchid.clone(),
        status_class: view::status_class(c.status),
        status_label: view::status_label(lang, c.status),
        raw_status: c.raw_status.clone(),
        amount: c.complaint_amount_fen.map(view::yuan),
        text: view::excerpt(c.description.as_deref().unwrap_or_default(), 80),
        received: view::beijing(c.received_at),
        due: view::next_due(lang, now, c),
    }
}
