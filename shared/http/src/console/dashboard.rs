//! `/console/dashboard`: a merchant's numbers over the last 7, 30 or 90 Beijing days (30 by
//! default): complaints received per day by platform (a chart, [`super::dashboard_chart`],
//! with its values as a table), the first-response time (median and 90th percentile, overall
//! and per platform, and how many still wait for a reply), refunds (automatic and by staff, in
//! yuan) and the deadlines missed, each complaint linked.
//!
//! The complaints come from the admin API's own list ([`list_complaints`], received in the
//! range, newest first), called as the signed-in staff member, so the scope is the API's: a
//! token limited to one account sees only that account. At most [`MAX_COMPLAINTS`] are read;
//! the numbers are then those of the newest, and the page says so. The rest of the work
//! (action logs, refunds) is bounded in `desk_core::dashboard`.
//!
//! The figures are kept for [`CACHE_TTL_SECS`] per (caller's scope, account, range, day), a
//! bounded number of them ([`crate::dashboard_cache`]): staff reloading the page or switching
//! ranges do not read a thousand records each time. The page says how old they are.

use super::dashboard_chart::{self, COLOURS, Chart};
use super::lang::Lang;
use super::view;
use super::web::{BASE, Chrome, Signed, UrlQuery, error_page, render};
use crate::ApiError;
use crate::admin::complaints::{ComplaintQuery, list_complaints};
use crate::admin::page::PAGE_LIMIT_MAX;
use crate::admin::path_ids::is_id_byte;
use crate::admin::roles::Roles;
use crate::dashboard_cache::{CACHE_TTL_SECS, CacheKey, Figures};
use crate::extract::ApiQuery;
use crate::state::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use desk_core::dashboard::{Days, Refunds, Spread, Summary, summarise};
use domain::complaint::{Complaint, Platform};
use serde::Deserialize;
use std::sync::Arc;

/// The ranges offered, in days.
pub const RANGES: [u32; 3] = [7, 30, 90];
/// The range without `days`.
pub const DEFAULT_DAYS: u32 = 30;
/// Complaints one page reads at most (the newest received in the range).
pub const MAX_COMPLAINTS: usize = 2000;

#[derive(Debug, Default, Deserialize)]
pub struct DashboardQuery {
    /// One of [`RANGES`].
    #[serde(default)]
    days: Option<u32>,
    /// Our account id (empty: every account the caller sees).
    #[serde(default)]
    account: String,
}

/// A range link.
pub struct Range {
    pub days: u32,
    pub href: String,
    pub active: bool,
}

/// An account of the filter's select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// A platform in the chart's legend and the table's columns.
pub struct Series {
    pub label: &'static str,
    pub colour: &'static str,
    pub total: usize,
}

/// A row of the table of values (one day).
pub struct DayRow {
    pub day: String,
    pub counts: Vec<usize>,
    pub total: usize,
}

/// A first-response line (overall or one platform).
pub struct ResponseRow {
    pub label: String,
    pub count: usize,
    pub median: String,
    pub p90: String,
}

/// A refund line.
pub struct RefundRow {
    pub label: &'static str,
    pub count: usize,
    pub yuan: String,
}

/// A complaint with deadlines missed.
pub struct MissedRow {
    pub href: String,
    pub platform: &'static str,
    pub platform_complaint_id: String,
    pub account_id: String,
    /// Each missed deadline in words: what, when due, met late or not yet.
    pub deadlines: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    c: Chrome,
    days: u32,
    ranges: Vec<Range>,
    account: String,
    accounts: Vec<Choice>,
    /// The range in words (`2026-10-29 至 2026-11-27`).
    period: String,
    received: usize,
    series: Vec<Series>,
    chart: Option<Chart>,
    /// What the chart shows, in one sentence (its accessible name).
    summary: String,
    rows: Vec<DayRow>,
    responses: Vec<ResponseRow>,
    awaiting_reply: usize,
    replied_elsewhere: usize,
    refunds: Vec<RefundRow>,
    missed_deadlines: usize,
    missed_complaints: usize,
    missed: Vec<MissedRow>,
    /// Set when a bound was reached: what the numbers cover, in words.
    capped: Vec<String>,
    /// How old the figures are, in words.
    computed: String,
}

/// `GET /console/dashboard`.
pub async fn show(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    UrlQuery(q): UrlQuery<DashboardQuery>,
) -> Response {
    let lang = signed.visit.lang;
    if let Err(res) = signed.require(&roles, &Method::GET, "/complaints") {
        return *res;
    }
    match page(&state, &signed, q).await {
        Ok(p) => render(&p),
        Err(e) => error_page(lang, &e),
    }
}

/// The query's values, checked: the range's days and the account (None: every account).
fn checked(lang: Lang, q: &DashboardQuery) -> Result<(u32, Option<String>), ApiError> {
    let days = match q.days {
        None => DEFAULT_DAYS,
        Some(d) if RANGES.contains(&d) => d,
        Some(d) => {
            let words = match lang {
                Lang::Zh => format!("时间范围只能是 7、30 或 90 天（收到的是 {d}）。"),
                Lang::En => format!("The range must be 7, 30 or 90 days (not {d})."),
            };
            return Err(ApiError::field("days", words));
        }
    };
    let account = q.account.trim();
    if account.is_empty() {
        return Ok((days, None));
    }
    if account.len() > 200 || !account.bytes().all(is_id_byte) {
        return Err(ApiError::field(
            "account",
            lang.t(
                "账户编号不对：请从页面的选择框中选择账户。",
                "That cannot be an account id: choose the account from the page's list.",
            ),
        ));
    }
    Ok((days, Some(account.to_string())))
}

/// The complaints received since `since` that the caller sees (of `account`), newest first,
/// at most [`MAX_COMPLAINTS`]; whether there were more.
async fn read(
    state: &AppState,
    signed: &Signed,
    account: Option<String>,
    since: DateTime<Utc>,
) -> Result<(Vec<Complaint>, bool), ApiError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let query = ComplaintQuery {
            platform: None,
            account: account.clone(),
            sub_mchid: None,
            status: None,
            since: Some(since.to_rfc3339_opts(SecondsFormat::Millis, true)),
            until: None,
            overdue: None,
            due_before: None,
            sort: Some("received".into()),
            limit: Some(PAGE_LIMIT_MAX),
            cursor,
        };
        let page = list_complaints(State(state.clone()), signed.caller.clone(), ApiQuery(query))
            .await?
            .0;
        out.extend(page.items);
        if out.len() >= MAX_COMPLAINTS {
            out.truncate(MAX_COMPLAINTS);
            return Ok((out, page.next_cursor.is_some()));
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok((out, false)),
        }
    }
}

async fn page(
    state: &AppState,
    signed: &Signed,
    q: DashboardQuery,
) -> Result<DashboardPage, ApiError> {
    let lang = signed.visit.lang;
    let (days, account) = checked(lang, &q)?;
    let now = state.ports.clock.now();
    let range = Days::ending(domain::clock::china_date(now), days);
    let figures = figures(state, signed, account.clone(), days, range, now).await?;
    let (s, more) = (&*figures.summary, figures.more);
    let age = (now - figures.at).num_seconds().max(0);
    let computed = match lang {
        Lang::Zh => format!(
            "以下数字计算于 {age} 秒前（同样的范围每 {CACHE_TTL_SECS} 秒最多重新计算一次）。"
        ),
        Lang::En => format!(
            "These figures were computed {age} seconds ago (the same view is recomputed at most every {CACHE_TTL_SECS} seconds)."
        ),
    };
    let platforms: Vec<Platform> = s.per_platform.keys().copied().collect();
    let label = |p: Platform| view::platform_label(lang, p);
    let series = platforms
        .iter()
        .enumerate()
        .map(|(i, p)| Series {
            label: label(*p),
            colour: COLOURS[i % COLOURS.len()],
            total: s.per_platform.get(p).copied().unwrap_or(0),
        })
        .collect();
    let per_day: Vec<_> = s
        .per_day
        .iter()
        .map(|(d, counts)| {
            let parts = platforms
                .iter()
                .map(|p| (counts.get(p).copied().unwrap_or(0), label(*p).to_string()))
                .collect::<Vec<_>>();
            (*d, parts)
        })
        .collect();
    let chart = dashboard_chart::chart(&per_day);
    let rows = per_day
        .iter()
        .rev()
        .map(|(d, parts)| DayRow {
            day: d.to_string(),
            counts: parts.iter().map(|(n, _)| *n).collect(),
            total: parts.iter().map(|(n, _)| n).sum(),
        })
        .collect();
    let period = match lang {
        Lang::Zh => format!("{} 至 {}（北京时间）", range.first, range.last),
        Lang::En => format!("{} to {} (Beijing time)", range.first, range.last),
    };
    let summary = match lang {
        Lang::Zh => format!("{period}每天收到的投诉，按平台分色；共 {} 件", s.received),
        Lang::En => format!(
            "Complaints received per day from {period}, coloured by platform; {} in all",
            s.received
        ),
    };
    let mut capped = Vec::new();
    if more {
        capped.push(match lang {
            Lang::Zh => format!(
                "这段时间的投诉超过 {MAX_COMPLAINTS} 件：以下数字只统计最新收到的 {MAX_COMPLAINTS} 件。请缩短时间范围或选择一个账户。"
            ),
            Lang::En => format!(
                "More than {MAX_COMPLAINTS} complaints in this range: the numbers below count the newest {MAX_COMPLAINTS}. Choose a shorter range or one account."
            ),
        });
    }
    if s.details_capped {
        capped.push(
            lang.t(
                "投诉太多：首次回复时间和退款只统计了较新的投诉。",
                "Too many complaints to read every one's replies and refunds: the response times and refunds cover the newer ones.",
            )
            .to_string(),
        );
    }
    let href = |d: u32| {
        let mut h = format!("{BASE}/dashboard?days={d}");
        if let Some(a) = &account {
            h.push_str("&account=");
            h.push_str(&view::path_segment(a));
        }
        h
    };
    let ranges = RANGES
        .into_iter()
        .map(|d| Range {
            days: d,
            href: href(d),
            active: d == days,
        })
        .collect();
    Ok(DashboardPage {
        c: signed.chrome(state, lang.t("数据概览", "Dashboard").to_string()),
        days,
        ranges,
        accounts: account_choices(state, signed, account.as_deref()).await?,
        account: account.unwrap_or_default(),
        period,
        received: s.received,
        series,
        chart,
        summary,
        rows,
        responses: responses(lang, s),
        awaiting_reply: s.awaiting_reply,
        replied_elsewhere: s.replied_elsewhere,
        refunds: refunds(lang, &s.automatic_refunds, &s.staff_refunds),
        missed_deadlines: s.missed_deadlines,
        missed_complaints: s.missed_complaints,
        missed: missed(lang, s),
        capped,
        computed,
    })
}

/// The figures of (the caller's scope, `account`, `days`) at `now`: computed in the last
/// [`CACHE_TTL_SECS`], or now.
async fn figures(
    state: &AppState,
    signed: &Signed,
    account: Option<String>,
    days: u32,
    range: Days,
    now: DateTime<Utc>,
) -> Result<Figures, ApiError> {
    let scope =
        serde_json::to_string(&signed.caller.scope).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let key: CacheKey = (scope, account.clone(), days, range.last);
    if let Some(f) = state.dashboard.get(&key, now) {
        return Ok(f);
    }
    let (complaints, more) = read(state, signed, account, range.start()).await?;
    let summary = summarise(&*state.ports.records, &complaints, range, now).await?;
    let f = Figures {
        summary: Arc::new(summary),
        more,
        at: now,
    };
    state.dashboard.put(key, f.clone());
    Ok(f)
}

/// The accounts the caller sees, for the filter (a scoped token's own account only).
async fn account_choices(
    state: &AppState,
    signed: &Signed,
    current: Option<&str>,
) -> Result<Vec<Choice>, ApiError> {
    let lang = signed.visit.lang;
    let accounts = crate::admin::accounts::list_accounts(
        State(state.clone()),
        signed.caller.clone(),
        ApiQuery(crate::admin::accounts::AccountFilter { kind: None }),
        ApiQuery(crate::admin::page::PageParams {
            limit: Some(PAGE_LIMIT_MAX),
            cursor: None,
        }),
    )
    .await?
    .0
    .items;
    let mut out = vec![Choice {
        value: String::new(),
        label: lang.t("全部账户", "All accounts").to_string(),
        selected: current.is_none(),
    }];
    out.extend(accounts.into_iter().map(|a| Choice {
        selected: current == Some(a.id.as_str()),
        label: format!("{} ({})", a.name, a.id),
        value: a.id,
    }));
    if let Some(c) = current
        && !out.iter().any(|o| o.value == c)
    {
        out.push(Choice {
            value: c.to_string(),
            label: c.to_string(),
            selected: true,
        });
    }
    Ok(out)
}

/// A duration as a busy merchant reads it: minutes, hours and minutes, days and hours.
pub fn duration_words(lang: Lang, secs: i64) -> String {
    if secs < 60 {
        return lang.t("不到 1 分钟", "under a minute").to_string();
    }
    view::span(lang, chrono::Duration::seconds(secs))
}

fn response_row(label: String, lang: Lang, sp: &Spread) -> ResponseRow {
    ResponseRow {
        label,
        count: sp.count,
        median: duration_words(lang, sp.median_secs),
        p90: duration_words(lang, sp.p90_secs),
    }
}

fn responses(lang: Lang, s: &Summary) -> Vec<ResponseRow> {
    let mut rows = Vec::new();
    if let Some(all) = &s.first_response {
        rows.push(response_row(
            lang.t("全部平台", "All platforms").to_string(),
            lang,
            all,
        ));
        for (p, sp) in &s.first_response_by_platform {
            rows.push(response_row(
                view::platform_label(lang, *p).to_string(),
                lang,
                sp,
            ));
        }
    }
    rows
}

fn refunds(lang: Lang, auto: &Refunds, staff: &Refunds) -> Vec<RefundRow> {
    let total = Refunds {
        count: auto.count + staff.count,
        fen: auto.fen.saturating_add(staff.fen),
    };
    [
        (lang.t("自动退款", "Automatic"), auto),
        (lang.t("客服手动退款", "By staff"), staff),
        (lang.t("合计", "Total"), &total),
    ]
    .into_iter()
    .map(|(label, r)| RefundRow {
        label,
        count: r.count,
        yuan: view::yuan(r.fen),
    })
    .collect()
}

fn missed(lang: Lang, s: &Summary) -> Vec<MissedRow> {
    s.missed
        .iter()
        .map(|m| MissedRow {
            href: format!("{BASE}/complaints/{}", view::path_segment(&m.complaint_id)),
            platform: view::platform_label(lang, m.platform),
            platform_complaint_id: m.platform_complaint_id.clone(),
            account_id: m.account_id.clone(),
            deadlines: m
                .deadlines
                .iter()
                .map(|d| {
                    let late = match d.met_at {
                        Some(at) => match lang {
                            Lang::Zh => format!("晚了 {}", view::span(lang, at - d.due_at)),
                            Lang::En => format!("met {} late", view::span(lang, at - d.due_at)),
                        },
                        None => lang.t("仍未完成", "still not met").to_string(),
                    };
                    let (what, due) = (&d.label, view::beijing(d.due_at));
                    match lang {
                        Lang::Zh => format!("{what}：截止 {due}，{late}"),
                        Lang::En => format!("{what}: due {due}, {late}"),
                    }
                })
                .collect(),
        })
        .collect()
}
