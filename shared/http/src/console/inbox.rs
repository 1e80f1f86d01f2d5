//! The inbox (`/console/`): every platform's complaints in one list, filtered (platform,
//! account, sub-merchant, status, due soon, overdue), by the nearest deadline first with a
//! countdown, and how many complaints each quick filter holds. It reads through the admin
//! API's own list ([`crate::admin::complaints::list_complaints`]), so the caller's scope
//! applies exactly as there.
//!
//! A deadline list has no partition per status: the status is applied to the entries read
//! (see `desk_core::complaints::list`), so a status over the deadline order can match few of
//! them. A page of the inbox therefore reads on until it has [`PAGE_SIZE`] rows, the list
//! ends, or it has read [`READ_BOUND`] entries; a page that found none by then says so and
//! links on ("more may follow"), never "no complaints match". The quick filters count where
//! the count is exact: a status over the received order (its own partition), a deadline view
//! over the deadline order (a key range), each up to [`COUNT_CAP`].

use super::lang::Lang;
use super::view::{self, DueView};
use super::web::{BASE, Chrome, Signed, error_page, render};
use crate::ApiError;
use crate::admin::complaints::{ComplaintQuery, list_complaints};
use crate::admin::page::{ListPage, PAGE_LIMIT_MAX};
use crate::console::web::UrlQuery;
use crate::extract::ApiQuery;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use desk_core::console_links::DUE_SOON;
use domain::complaint::{Complaint, ComplaintStatus};
use serde::Deserialize;

/// Complaints a page of the inbox shows.
pub const PAGE_SIZE: u32 = 50;
/// A quick filter's count stops here ("200+").
pub const COUNT_CAP: u32 = 200;
/// List entries one page of the inbox reads at most while it looks for [`PAGE_SIZE`] rows
/// (its first read of [`PAGE_SIZE`], then reads of the admin API's largest page).
pub const READ_BOUND: u32 = 2000;

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
    /// The status filter, checked as the admin API checks it.
    fn status(&self) -> Result<Option<ComplaintStatus>, ApiError> {
        let s = self.status.trim();
        if s.is_empty() {
            return Ok(None);
        }
        view::STATUSES
            .iter()
            .copied()
            .find(|x| x.as_str() == s)
            .map(Some)
            .ok_or_else(|| ApiError::field("status", format!("unknown value {s:?}")))
    }

    /// The admin API's list query for these filters. `sort` is `deadline` or `received` (only
    /// without a deadline filter); `with_status: false` leaves the status out (the caller
    /// applies it to what it reads).
    fn list_query(
        &self,
        now: DateTime<Utc>,
        sort: &str,
        with_status: bool,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<ComplaintQuery, ApiError> {
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
            status: if with_status {
                some(&self.status)
            } else {
                None
            },
            since: None,
            until: None,
            overdue,
            due_before,
            sort: Some(sort.into()),
            limit: Some(limit),
            cursor,
        })
    }

    /// The query that counts a quick filter exactly (up to `limit`): a deadline view by
    /// deadline (a key range of its partition), anything else by time received (a status has
    /// a partition of its own there; over the deadline order it is applied to the entries
    /// read, and a count of one read would miss what lies beyond).
    fn count_query(&self, now: DateTime<Utc>, limit: u32) -> Result<ComplaintQuery, ApiError> {
        let sort = if self.due.is_empty() {
            "received"
        } else {
            "deadline"
        };
        self.list_query(now, sort, true, limit, None)
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
    /// Set when this page found no row but the list goes on: what it read, in words.
    none_yet: Option<String>,
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
    UrlQuery(q): UrlQuery<InboxQuery>,
) -> Response {
    let lang = signed.visit.lang;
    match page(&state, &signed, q).await {
        Ok(p) => render(&p),
        Err(e) => error_page(lang, &e),
    }
}

/// One call of the admin API's list as the signed-in caller.
async fn list(
    state: &AppState,
    signed: &Signed,
    query: ComplaintQuery,
) -> Result<ListPage<Complaint>, ApiError> {
    Ok(
        list_complaints(State(state.clone()), signed.caller.clone(), ApiQuery(query))
            .await?
            .0,
    )
}

async fn count(
    state: &AppState,
    signed: &Signed,
    q: &InboxQuery,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let page = list(state, signed, q.count_query(now, COUNT_CAP)?).await?;
    Ok(if page.next_cursor.is_some() {
        format!("{}+", page.items.len())
    } else {
        page.items.len().to_string()
    })
}

/// A page of the inbox as read: its rows, the cursor after the last one, and how many list
/// entries it read.
struct Filled {
    items: Vec<Complaint>,
    next_cursor: Option<String>,
    read: u32,
}

/// Read a page of the inbox in deadline order: up to [`PAGE_SIZE`] complaints of the filters,
/// reading on while a read leaves the page short and the list goes on, at most
/// [`READ_BOUND`] entries. It reads the deadline list without the status and applies the
/// status itself, so it knows where each row lies among the entries read: when a read holds
/// more rows than the page has room for, it reads that stretch again up to the row that fills
/// the page, and the cursor continues right after the last row shown.
async fn fill(
    state: &AppState,
    signed: &Signed,
    q: &InboxQuery,
    now: DateTime<Utc>,
) -> Result<Filled, ApiError> {
    let status = q.status()?;
    let wanted = |c: &Complaint| status.is_none_or(|s| c.status == s);
    let page_size = PAGE_SIZE as usize;
    let mut items: Vec<Complaint> = Vec::new();
    let mut cursor = some(&q.cursor);
    let mut read = 0;
    let mut limit = PAGE_SIZE;
    loop {
        let got = list(
            state,
            signed,
            q.list_query(now, "deadline", false, limit, cursor.clone())?,
        )
        .await?;
        let room = page_size - items.len();
        let (mut rows, mut next, mut taken) = (got.items, got.next_cursor, limit);
        // More rows than room: read that stretch again up to the last row that fits (again
        // if entries moved into it meanwhile; each time shorter, so this ends).
        while let Some(upto) = end_of_room(&rows, room, wanted) {
            let again = list(
                state,
                signed,
                q.list_query(now, "deadline", false, upto, cursor.clone())?,
            )
            .await?;
            (rows, next, taken) = (again.items, again.next_cursor, upto);
        }
        items.extend(rows.into_iter().filter(|c| wanted(c)));
        read += taken;
        cursor = next;
        if items.len() >= page_size || cursor.is_none() || read >= READ_BOUND {
            return Ok(Filled {
                items,
                next_cursor: cursor,
                read,
            });
        }
        limit = PAGE_LIMIT_MAX.min(READ_BOUND - read);
    }
}

/// When `rows` (entries read, in order) hold more wanted ones than `room`: how many entries
/// hold exactly `room` of them.
fn end_of_room(
    rows: &[Complaint],
    room: usize,
    wanted: impl Fn(&Complaint) -> bool,
) -> Option<u32> {
    let mut hits = rows.iter().enumerate().filter(|(_, c)| wanted(c));
    let last = hits.nth(room.checked_sub(1)?)?.0;
    hits.next()?;
    u32::try_from(last + 1).ok()
}

async fn page(state: &AppState, signed: &Signed, q: InboxQuery) -> Result<InboxPage, ApiError> {
    let lang = signed.visit.lang;
    let now = state.ports.clock.now();
    let listed = fill(state, signed, &q, now).await?;
    let rows = listed
        .items
        .iter()
        .map(|c| row(lang, now, c))
        .collect::<Vec<_>>();
    let none_yet = (rows.is_empty() && listed.next_cursor.is_some()).then(|| {
        let n = listed.read;
        match (lang.is_en(), q.cursor.is_empty()) {
            (false, true) => format!("按期限读取的前 {n} 件中没有符合条件的投诉；后面可能还有。"),
            (false, false) => format!("接着读取的 {n} 件中没有符合条件的投诉；后面可能还有。"),
            (true, true) => format!("None in the first {n} read by deadline; more may follow."),
            (true, false) => format!("None in the next {n} read by deadline; more may follow."),
        }
    });
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
        none_yet,
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
