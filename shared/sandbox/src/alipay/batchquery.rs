//! The two list APIs of the Alipay simulator, with the platform's paging rules:
//! - `alipay.merchant.tradecomplain.batchquery`: `page_num` from 1, `page_size` at most 20
//!   (default 10), one `status` per call, `begin_time`/`end_time` (`yyyy-MM-dd HH:mm:ss`,
//!   Beijing; default the last 30 days, span at most a year) on `gmt_create`; answers
//!   `page_num`, `page_size`, `total_num`, `total_page_num`, `trade_complain_infos`.
//! - `alipay.security.risk.complaint.info.batchquery` (RiskGO): `current_page_num` from 1,
//!   `page_size` (default 10), `gmt_complaint_start/end` on `gmt_complain`,
//!   `gmt_process_start/end` on `gmt_process`, `status_list[]`, `trade_no`, `task_id`,
//!   `task_id_list[]`; answers `total_size`, `current_page`, `page_size`, `complaint_list`.
//!
//! A parameter out of its rules is answered `40002 Invalid Arguments` with `sub_code
//! isv.invalid-parameter` (参数无效), Alipay's common code for a business parameter that fails
//! its checks (the gateway's own refusals, such as a bad signature, are 40002 as well but with
//! their own sub codes). Lists are newest first (then by id), so a page is stable while the
//! list does not change.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The most complaints a page may hold (both lists; RiskGO publishes no maximum, and the
/// simulator holds it to the trade query's).
pub const MAX_PAGE_SIZE: u64 = 20;
/// The default page size of both lists.
const DEFAULT_PAGE_SIZE: u64 = 10;
/// Trade complaint statuses (`status` takes exactly one of them).
pub const TRADE_STATUSES: [&str; 7] = [
    "MERCHANT_PROCESSING",
    "MERCHANT_FEEDBACKED",
    "FINISHED",
    "CANCELLED",
    "PLATFORM_PROCESSING",
    "PLATFORM_FINISH",
    "CLOSED",
];

/// A parameter that breaks the list's rules: the `sub_msg` of the `isv.invalid-parameter`
/// answer.
#[derive(Debug)]
pub struct Invalid(pub String);

fn invalid(what: impl Into<String>) -> Invalid {
    Invalid(what.into())
}

/// A page number from 1 (absent: 1).
fn page_number(biz: &Value, key: &str) -> Result<u64, Invalid> {
    match &biz[key] {
        Value::Null => Ok(1),
        v => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| *n >= 1)
            .ok_or_else(|| invalid(format!("{key} 必须为大于0的整数"))),
    }
}

fn page_size(biz: &Value) -> Result<u64, Invalid> {
    match &biz["page_size"] {
        Value::Null => Ok(DEFAULT_PAGE_SIZE),
        v => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| invalid(format!("page_size 取值范围为1到{MAX_PAGE_SIZE}"))),
    }
}

/// An optional `yyyy-MM-dd HH:mm:ss` (Beijing) time parameter.
fn time(biz: &Value, key: &str) -> Result<Option<DateTime<Utc>>, Invalid> {
    match &biz[key] {
        Value::Null => Ok(None),
        Value::String(s) => parse_china_time(s)
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} 格式应为 yyyy-MM-dd HH:mm:ss"))),
        _ => Err(invalid(format!("{key} 格式应为 yyyy-MM-dd HH:mm:ss"))),
    }
}

fn within(
    t: Option<DateTime<Utc>>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> bool {
    match t {
        Some(t) => from.is_none_or(|f| t >= f) && to.is_none_or(|e| t <= e),
        None => from.is_none() && to.is_none(),
    }
}

/// Newest first by `time_key`, then by `id_key`; one page of it.
fn page_of(
    mut all: Vec<Value>,
    time_key: &str,
    id_key: &str,
    page: u64,
    size: u64,
) -> (usize, Vec<Value>) {
    let when = |v: &Value| v[time_key].as_str().and_then(parse_china_time);
    all.sort_by(|a, b| {
        when(b)
            .cmp(&when(a))
            .then_with(|| a[id_key].to_string().cmp(&b[id_key].to_string()))
    });
    let total = all.len();
    let skip = usize::try_from((page - 1).saturating_mul(size)).unwrap_or(usize::MAX);
    let items = all
        .into_iter()
        .skip(skip)
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .collect();
    (total, items)
}

/// `alipay.merchant.tradecomplain.batchquery` over the trade complaints, at `now`.
pub fn trade(complaints: Vec<Value>, biz: &Value, now: DateTime<Utc>) -> Result<Value, Invalid> {
    let page = page_number(biz, "page_num")?;
    let size = page_size(biz)?;
    let status = match &biz["status"] {
        Value::Null => None,
        Value::String(s) if TRADE_STATUSES.contains(&s.as_str()) => Some(s.clone()),
        _ => {
            return Err(invalid(
                "status 只能为一个投诉单状态 (MERCHANT_PROCESSING, MERCHANT_FEEDBACKED, ...)",
            ));
        }
    };
    let end = time(biz, "end_time")?.unwrap_or(now);
    let begin = time(biz, "begin_time")?.unwrap_or(end - chrono::Duration::days(30));
    if begin > end {
        return Err(invalid("begin_time 不能晚于 end_time"));
    }
    if end - begin > chrono::Duration::days(366) {
        return Err(invalid("查询时间跨度不能超过一年"));
    }
    let matching: Vec<Value> = complaints
        .into_iter()
        .filter(|c| status.as_deref().is_none_or(|s| c["status"] == s))
        .filter(|c| {
            within(
                c["gmt_create"].as_str().and_then(parse_china_time),
                Some(begin),
                Some(end),
            )
        })
        .collect();
    let (total, items) = page_of(matching, "gmt_create", "complain_event_id", page, size);
    Ok(
        json!({"page_num": page, "page_size": size, "total_num": total,
              "total_page_num": (total as u64).div_ceil(size), "trade_complain_infos": items}),
    )
}

/// `alipay.security.risk.complaint.info.batchquery` over the RiskGO complaints.
pub fn risk(complaints: Vec<Value>, biz: &Value) -> Result<Value, Invalid> {
    let page = page_number(biz, "current_page_num")?;
    let size = page_size(biz)?;
    let statuses: Option<Vec<String>> = match &biz["status_list"] {
        Value::Null => None,
        Value::Array(a) => Some(
            a.iter()
                .map(|s| s.as_str().map(String::from))
                .collect::<Option<_>>()
                .ok_or_else(|| invalid("status_list 应为字符串数组"))?,
        ),
        _ => return Err(invalid("status_list 应为字符串数组")),
    };
    let (from, to) = (
        time(biz, "gmt_complaint_start")?,
        time(biz, "gmt_complaint_end")?,
    );
    let (process_from, process_to) = (
        time(biz, "gmt_process_start")?,
        time(biz, "gmt_process_end")?,
    );
    let task_ids: Option<Vec<Value>> = biz["task_id_list"].as_array().cloned();
    let matching: Vec<Value> = complaints
        .into_iter()
        .filter(|c| {
            statuses
                .as_ref()
                .is_none_or(|l| l.iter().any(|s| c["status"] == s.as_str()))
        })
        .filter(|c| {
            within(
                c["gmt_complain"].as_str().and_then(parse_china_time),
                from,
                to,
            )
        })
        .filter(|c| {
            within(
                c["gmt_process"].as_str().and_then(parse_china_time),
                process_from,
                process_to,
            )
        })
        .filter(|c| biz["trade_no"].is_null() || c["trade_no"] == biz["trade_no"])
        .filter(|c| biz["task_id"].is_null() || c["task_id"] == biz["task_id"])
        .filter(|c| task_ids.as_ref().is_none_or(|l| l.contains(&c["task_id"])))
        .collect();
    let (total, items) = page_of(matching, "gmt_complain", "id", page, size);
    Ok(
        json!({"total_size": total, "current_page": page, "page_size": size, "complaint_list": items}),
    )
}

/// A `yyyy-MM-dd HH:mm:ss` Beijing time, as Alipay writes times.
pub(super) fn parse_china_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok()?;
    t.and_local_timezone(chrono::FixedOffset::east_opt(8 * 3600)?)
        .single()
        .map(|t| t.with_timezone(&chrono::Utc))
}
