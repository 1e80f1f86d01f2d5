//! `/console/accounts/{id}/score`: a mini program's trade experience score (交易体验分): the
//! score now and the penalties the platform lists (the account route `trade-score`, read from
//! the platform), and the score's history as a chart ([`super::score_chart`]) from the daily
//! snapshots (the account route `trade-score/history`, filled by the account's daily pass).
//! Both are the admin API's own account routes, called as the signed-in caller, so scope and
//! role are the API's; an account whose kind has no such route is a 404 in words.

use super::lang::Lang;
use super::score_chart::{self, Chart, Day};
use super::view;
use super::web::{BASE, Chrome, Signed, error_page, render};
use crate::ApiError;
use crate::admin::accounts::visible_account;
use crate::admin::actions::account_act;
use crate::admin::path_ids::is_id_byte;
use crate::admin::roles::Roles;
use crate::console::web::UrlQuery;
use crate::state::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use desk_core::account_actions::Method as RouteMethod;
use domain::account::Account;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// The account route of the score now.
pub const SCORE_ROUTE: &str = "trade-score";
/// The account route of the daily snapshots.
pub const HISTORY_ROUTE: &str = "trade-score/history";
/// The ranges offered, in days (the first is the default).
pub const RANGES: [i64; 3] = [30, 90, 365];
/// The most a route's answer may be (bytes) before it is read.
const ANSWER_LIMIT: usize = 4 << 20;

/// `GET /accounts/{id}/trade-score`'s answer, the fields shown.
#[derive(Debug, Deserialize)]
struct Live {
    current_score: Option<i64>,
    #[serde(default)]
    penalties: Vec<Value>,
    fetched_at: DateTime<Utc>,
}

/// `GET /accounts/{id}/trade-score/history`'s answer.
#[derive(Debug, Deserialize)]
struct History {
    from: String,
    to: String,
    items: Vec<Snapshot>,
}

#[derive(Debug, Deserialize)]
struct Snapshot {
    day: String,
    score: Option<i64>,
    penalties: Option<i64>,
}

/// A penalty as the page shows it.
pub struct Penalty {
    pub wording: String,
    pub minus: Option<i64>,
    pub status: String,
    pub when: Option<String>,
    pub complaint: Option<String>,
    pub order: Option<String>,
}

/// A row of the table of snapshots.
pub struct Row {
    pub day: String,
    pub score: String,
    pub penalties: String,
}

/// A range link.
pub struct Range {
    pub days: i64,
    pub href: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "console/score.html")]
struct ScorePage {
    c: Chrome,
    name: String,
    account_id: String,
    violations_href: String,
    score: Option<String>,
    fetched: Option<String>,
    /// The score could not be read now: why, in words.
    live_failed: Option<String>,
    penalties: Vec<Penalty>,
    chart: Option<Chart>,
    /// What the chart shows, in one sentence (its accessible name).
    summary: String,
    rows: Vec<Row>,
    ranges: Vec<Range>,
    /// When there is no snapshot: when the first is taken, in words.
    empty: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ScoreQuery {
    /// One of [`RANGES`].
    #[serde(default)]
    days: Option<i64>,
}

/// `GET /console/accounts/{id}/score`.
pub async fn show(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    UrlQuery(q): UrlQuery<ScoreQuery>,
) -> Response {
    let lang = signed.visit.lang;
    for route in [SCORE_ROUTE, HISTORY_ROUTE] {
        if let Err(res) = signed.require(&roles, &Method::GET, &format!("/accounts/{{id}}/{route}"))
        {
            return *res;
        }
    }
    match page(&state, &signed, id, q).await {
        Ok(p) => render(&p),
        Err(e) => error_page(lang, &e),
    }
}

/// Whether the account's kind offers the route `GET /accounts/{id}/trade-score`.
pub fn has_score(state: &AppState, account: &Account) -> bool {
    let kind = account.kind();
    let platforms = state.platforms();
    platforms
        .account_kind(kind)
        .and_then(|k| platforms.get(k.facts.platform))
        .is_some_and(|p| {
            p.account_actions()
                .actions()
                .iter()
                .any(|a| a.name == SCORE_ROUTE && a.method == RouteMethod::Get && a.serves(kind))
        })
}

fn no_account(lang: Lang) -> ApiError {
    ApiError::not_found(lang.t(
        "找不到这个账户，或者您的令牌看不到它。",
        "There is no such account, or your token cannot see it.",
    ))
}

/// Call the account route `name` (GET) as the signed-in caller and read its JSON answer.
async fn call<T: serde::de::DeserializeOwned>(
    state: &AppState,
    signed: &Signed,
    id: &str,
    name: &'static str,
    query: Option<String>,
) -> Result<T, ApiError> {
    let res = account_act(
        state.clone(),
        signed.caller.clone(),
        id.to_string(),
        (name, RouteMethod::Get),
        Err(ApiError::InvalidJson("no body".into())),
        query,
    )
    .await?;
    let bytes = axum::body::to_bytes(res.into_body(), ANSWER_LIMIT)
        .await
        .map_err(ApiError::internal)?;
    serde_json::from_slice(&bytes).map_err(ApiError::internal)
}

async fn page(
    state: &AppState,
    signed: &Signed,
    id: String,
    q: ScoreQuery,
) -> Result<ScorePage, ApiError> {
    let lang = signed.visit.lang;
    if id.is_empty() || id.len() > 200 || !id.bytes().all(is_id_byte) {
        return Err(no_account(lang));
    }
    let account = match visible_account(state, &signed.caller, &id).await {
        Ok((a, _)) => a,
        Err(e) if e.status().as_u16() == 404 => return Err(no_account(lang)),
        Err(e) => return Err(e),
    };
    if !has_score(state, &account) {
        return Err(ApiError::not_found(lang.t(
            "这个账户没有交易体验分：只有微信小程序账户有。",
            "This account has no trade experience score: only mini program accounts have one.",
        )));
    }
    let days = q.days.filter(|d| RANGES.contains(d)).unwrap_or(RANGES[0]);
    let now = state.ports.clock.now();
    let today = domain::clock::china_date(now);
    let from = today - chrono::Duration::days(days - 1);
    let history: History = call(
        state,
        signed,
        &id,
        HISTORY_ROUTE,
        Some(format!("from={from}&to={today}")),
    )
    .await?;
    // The score now: read from the platform; when it cannot be read, the history still shows.
    let (score, fetched, penalties, live_failed) =
        match call::<Live>(state, signed, &id, SCORE_ROUTE, None).await {
            Ok(live) => (
                live.current_score.map(|s| s.to_string()),
                Some(view::beijing(live.fetched_at)),
                live.penalties.iter().map(|p| penalty(lang, p)).collect(),
                None,
            ),
            Err(e) => {
                e.log_cause();
                let why = match lang {
                    Lang::Zh => format!("暂时无法从平台读取当前分数：{}", e.message()),
                    Lang::En => format!(
                        "The score cannot be read from the platform now: {}",
                        e.message()
                    ),
                };
                (None, None, Vec::new(), Some(why))
            }
        };
    let parse = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let (from, to) = (
        parse(&history.from).unwrap_or(from),
        parse(&history.to).unwrap_or(today),
    );
    let drawn: Vec<Day> = history
        .items
        .iter()
        .filter_map(|s| {
            Some(Day {
                day: parse(&s.day)?,
                score: s.score?,
            })
        })
        .collect();
    let chart = score_chart::chart(&drawn, from, to);
    let summary = summary(lang, &drawn);
    let rows = history
        .items
        .iter()
        .rev()
        .map(|s| Row {
            day: s.day.clone(),
            score: s.score.map_or_else(|| "—".into(), |v| v.to_string()),
            penalties: s.penalties.map_or_else(|| "—".into(), |v| v.to_string()),
        })
        .collect();
    let href = format!("{BASE}/accounts/{}/score", view::path_segment(&id));
    let ranges = RANGES
        .iter()
        .map(|d| Range {
            days: *d,
            href: format!("{href}?days={d}"),
            active: *d == days,
        })
        .collect();
    Ok(ScorePage {
        c: signed.chrome(
            state,
            lang.t("交易体验分", "Trade experience score").to_string(),
        ),
        name: account.name.clone(),
        account_id: account.id.clone(),
        violations_href: format!(
            "{BASE}/violations?account={}",
            view::path_segment(&account.id)
        ),
        score,
        fetched,
        live_failed,
        penalties,
        chart,
        summary,
        rows,
        ranges,
        empty: first_snapshot(lang, &account, now),
    })
}

/// The chart in one sentence: its range, the latest score and the lowest.
fn summary(lang: Lang, days: &[Day]) -> String {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return lang.t("还没有每日记录", "No daily snapshot yet").into();
    };
    let low = days.iter().map(|d| d.score).min().unwrap_or(last.score);
    match lang {
        Lang::Zh => format!(
            "交易体验分，{} 至 {}，共 {} 天有记录；最新 {} 分，最低 {} 分",
            first.day,
            last.day,
            days.len(),
            last.score,
            low
        ),
        Lang::En => format!(
            "Trade experience score from {} to {}, {} daily snapshots; latest {}, lowest {}",
            first.day,
            last.day,
            days.len(),
            last.score,
            low
        ),
    }
}

/// When the first snapshot comes, in words true to the daily pass: once per Beijing day, at
/// or after the account's daily digest time, on the deadline sweep that follows (every few
/// minutes); never for a disabled account.
fn first_snapshot(lang: Lang, account: &domain::account::Account, now: DateTime<Utc>) -> String {
    if !account.enabled {
        return lang
            .t(
                "这个账户已停用：停用期间不记录每日分数。启用后，每天记录一次。",
                "This account is disabled: no daily score is recorded while it is. Once enabled, the score is recorded once a day.",
            )
            .into();
    }
    let time = desk_core::deadlines::daily::digest_settings(account).local_time;
    let today = domain::clock::china_date(now);
    let due = desk_core::deadlines::daily::due_at(today, &time);
    match (lang, now >= due) {
        (Lang::Zh, false) => format!(
            "每天北京时间 {time}（这个账户的每日摘要时间）之后记录一次分数。第一条记录在今天 {time} 之后出现。"
        ),
        (Lang::Zh, true) => format!(
            "每天北京时间 {time}（这个账户的每日摘要时间）之后记录一次分数。今天的记录几分钟内出现；如果一直没有，请检查账户健康，否则明天 {time} 之后再看。"
        ),
        (Lang::En, false) => format!(
            "The score is recorded once a day after {time} Beijing time (this account's daily digest time). The first snapshot appears today after {time}."
        ),
        (Lang::En, true) => format!(
            "The score is recorded once a day after {time} Beijing time (this account's daily digest time). Today's should appear within minutes; if it does not, check the account's health, or look again tomorrow after {time}."
        ),
    }
}

/// A penalty's `status` in words (`get_penalty_list`: 2 approved, 4 appealing, 5 appeal
/// rejected, 6 appeal succeeded).
fn penalty_status(lang: Lang, status: Option<i64>) -> String {
    match status {
        Some(2) => lang.t("已扣分", "Points deducted").into(),
        Some(4) => lang.t("申诉中", "Appeal in progress").into(),
        Some(5) => lang.t("申诉被驳回", "Appeal rejected").into(),
        Some(6) => lang
            .t(
                "申诉成功（分数已恢复）",
                "Appeal succeeded (points restored)",
            )
            .into(),
        Some(other) => match lang {
            Lang::Zh => format!("状态 {other}"),
            Lang::En => format!("State {other}"),
        },
        None => String::new(),
    }
}

fn penalty(lang: Lang, p: &Value) -> Penalty {
    let text = |k: &str| match p.get(k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Penalty {
        wording: text("illegalWording").unwrap_or_else(|| {
            lang.t("（平台没有给出说明）", "(the platform gave no wording)")
                .into()
        }),
        minus: p.get("minusScore").and_then(Value::as_i64),
        status: penalty_status(lang, p.get("status").and_then(Value::as_i64)),
        when: p
            .get("illegalTime")
            .and_then(Value::as_i64)
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map(view::beijing),
        complaint: text("complaintOrderId"),
        order: text("orderId").or_else(|| text("illegalOrderId")),
    }
}
