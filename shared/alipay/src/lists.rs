//! The complaint lists: `alipay.merchant.tradecomplain.batchquery` (trade complaints) and
//! `alipay.security.risk.complaint.info.batchquery` (RiskGO consumer complaints), with their
//! parameters and checked answers.
//!
//! Rules of the trade list: pages from 1, at most [`MAX_PAGE_SIZE`] a page, one `status` per
//! call, `begin_time`/`end_time` on the creation time (`gmt_create`) as `yyyy-MM-dd HH:mm:ss`
//! in Beijing time, a span of at most a year. RiskGO: `current_page_num` from 1,
//! `gmt_complaint_start/end` on `gmt_complain`, `status_list[]`; its page-size maximum is not
//! published, so it is asked for the trade list's. Alipay leaves empty members out of its
//! answers: a page with no complaints may have no list at all.

use crate::client::{AlipayError, Client};
use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde_json::{Value, json};

/// The most complaints a page may hold (trade list; what we ask RiskGO for too).
pub const MAX_PAGE_SIZE: u32 = 20;

const TRADE_METHOD: &str = "alipay.merchant.tradecomplain.batchquery";
const RISK_METHOD: &str = "alipay.security.risk.complaint.info.batchquery";

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// An instant as Alipay writes times: `yyyy-MM-dd HH:mm:ss` in Beijing time (seconds only).
pub fn china_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A `yyyy-MM-dd HH:mm:ss` Beijing time; None when it is not one.
pub fn parse_china_time(s: &str) -> Option<DateTime<Utc>> {
    let t = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    t.and_local_timezone(beijing())
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// One page of the trade complaints created in `[begin, end]`, in `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeComplainQuery<'a> {
    pub begin: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// One status (`MERCHANT_PROCESSING`, ...); None: the platform's default (all).
    pub status: Option<&'a str>,
    /// From 1 (0 is sent as 1).
    pub page_num: u32,
    /// 1 to [`MAX_PAGE_SIZE`] (sent within those bounds).
    pub page_size: u32,
}

/// A trade complaint as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeComplainSummary {
    pub complain_event_id: String,
    pub status: String,
    /// When the buyer complained.
    pub gmt_create: Option<DateTime<Utc>>,
    /// When the complaint last changed.
    pub gmt_modified: Option<DateTime<Utc>>,
    pub trade_no: Option<String>,
}

/// One page of the trade list.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeComplainPage {
    pub page_num: u64,
    pub page_size: u64,
    pub total_num: u64,
    pub total_page_num: u64,
    pub items: Vec<TradeComplainSummary>,
}

impl TradeComplainPage {
    /// There is a page after this one.
    pub fn has_next(&self) -> bool {
        !self.items.is_empty() && self.page_num < self.total_page_num
    }
}

/// One page of the RiskGO complaints made in `[start, end]`, in one of `statuses`.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskComplaintQuery<'a> {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `status_list`; empty: not sent (all).
    pub statuses: &'a [&'a str],
    /// From 1 (0 is sent as 1).
    pub page: u32,
    /// 1 to [`MAX_PAGE_SIZE`] (sent within those bounds).
    pub page_size: u32,
}

/// A RiskGO complaint as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskComplaintSummary {
    /// The id the detail query and `process.finish` take.
    pub id: i64,
    /// The complaint number shown to people.
    pub task_id: Option<String>,
    pub status: String,
    pub gmt_complain: Option<DateTime<Utc>>,
    pub gmt_process: Option<DateTime<Utc>>,
    pub gmt_overdue: Option<DateTime<Utc>>,
    pub trade_no: Option<String>,
}

/// One page of the RiskGO list.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskComplaintPage {
    pub current_page: u64,
    pub page_size: u64,
    pub total_size: u64,
    pub items: Vec<RiskComplaintSummary>,
}

impl RiskComplaintPage {
    /// There is a page after this one.
    pub fn has_next(&self) -> bool {
        !self.items.is_empty()
            && self.current_page.saturating_mul(self.page_size.max(1)) < self.total_size
    }
}

fn bounded(n: u32, max: u32) -> u32 {
    n.clamp(1, max)
}

/// A count Alipay writes as a number or a numeric string.
fn count(v: &Value, key: &str) -> Result<Option<u64>, AlipayError> {
    match &v[key] {
        Value::Null => Ok(None),
        x => x
            .as_u64()
            .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| AlipayError::Decode(format!("{key} is not a count"))),
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().filter(|s| !s.is_empty()).map(String::from)
}

fn required(v: &Value, key: &str, what: &str) -> Result<String, AlipayError> {
    text(v, key).ok_or_else(|| AlipayError::Decode(format!("{what} without {key}")))
}

fn time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v[key].as_str().and_then(parse_china_time)
}

/// The members of a list (absent: none).
fn members<'v>(v: &'v Value, key: &str) -> Result<&'v [Value], AlipayError> {
    match &v[key] {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        _ => Err(AlipayError::Decode(format!("{key} is not a list"))),
    }
}

/// A page of the trade list, checked.
pub fn trade_page(v: &Value) -> Result<TradeComplainPage, AlipayError> {
    let items = members(v, "trade_complain_infos")?
        .iter()
        .map(|c| {
            Ok(TradeComplainSummary {
                complain_event_id: required(c, "complain_event_id", "a trade complaint")?,
                status: required(c, "status", "a trade complaint")?,
                gmt_create: time(c, "gmt_create"),
                gmt_modified: time(c, "gmt_modified"),
                trade_no: text(c, "trade_no"),
            })
        })
        .collect::<Result<Vec<_>, AlipayError>>()?;
    let page_size = count(v, "page_size")?
        .unwrap_or(MAX_PAGE_SIZE.into())
        .max(1);
    let total_num = count(v, "total_num")?
        .ok_or_else(|| AlipayError::Decode("the trade list has no total_num".into()))?;
    Ok(TradeComplainPage {
        page_num: count(v, "page_num")?.unwrap_or(1),
        page_size,
        total_num,
        total_page_num: count(v, "total_page_num")?.unwrap_or(total_num.div_ceil(page_size)),
        items,
    })
}

fn id(c: &Value) -> Result<i64, AlipayError> {
    c["id"]
        .as_i64()
        .or_else(|| c["id"].as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| AlipayError::Decode("a consumer complaint without a numeric id".into()))
}

/// A page of the RiskGO list, checked.
pub fn risk_page(v: &Value) -> Result<RiskComplaintPage, AlipayError> {
    let items = members(v, "complaint_list")?
        .iter()
        .map(|c| {
            Ok(RiskComplaintSummary {
                id: id(c)?,
                task_id: text(c, "task_id"),
                status: required(c, "status", "a consumer complaint")?,
                gmt_complain: time(c, "gmt_complain"),
                gmt_process: time(c, "gmt_process"),
                gmt_overdue: time(c, "gmt_overdue"),
                trade_no: text(c, "trade_no"),
            })
        })
        .collect::<Result<Vec<_>, AlipayError>>()?;
    Ok(RiskComplaintPage {
        current_page: count(v, "current_page")?.unwrap_or(1),
        page_size: count(v, "page_size")?.unwrap_or(MAX_PAGE_SIZE.into()),
        total_size: count(v, "total_size")?
            .ok_or_else(|| AlipayError::Decode("the consumer list has no total_size".into()))?,
        items,
    })
}

impl Client {
    /// One page of trade complaints (`alipay.merchant.tradecomplain.batchquery`).
    pub async fn tradecomplain_batchquery(
        &self,
        q: &TradeComplainQuery<'_>,
    ) -> Result<TradeComplainPage, AlipayError> {
        let mut biz = json!({
            "begin_time": china_time(q.begin),
            "end_time": china_time(q.end),
            "page_num": q.page_num.max(1),
            "page_size": bounded(q.page_size, MAX_PAGE_SIZE),
        });
        if let Some(s) = q.status {
            biz["status"] = s.into();
        }
        trade_page(&self.call(TRADE_METHOD, &biz).await?)
    }

    /// One page of RiskGO consumer complaints
    /// (`alipay.security.risk.complaint.info.batchquery`).
    pub async fn risk_complaint_batchquery(
        &self,
        q: &RiskComplaintQuery<'_>,
    ) -> Result<RiskComplaintPage, AlipayError> {
        let mut biz = json!({
            "gmt_complaint_start": china_time(q.start),
            "gmt_complaint_end": china_time(q.end),
            "current_page_num": q.page.max(1),
            "page_size": bounded(q.page_size, MAX_PAGE_SIZE),
        });
        if !q.statuses.is_empty() {
            biz["status_list"] = q.statuses.into();
        }
        risk_page(&self.call(RISK_METHOD, &biz).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_beijing_seconds() {
        let t = parse_china_time("2026-11-26 08:00:00").expect("time");
        assert_eq!(t.to_rfc3339(), "2026-11-26T00:00:00+00:00");
        assert_eq!(china_time(t), "2026-11-26 08:00:00");
        assert_eq!(parse_china_time("2026-11-26T08:00:00+08:00"), None);
    }

    #[test]
    fn pages_are_checked() {
        let p = trade_page(
            &json!({"code": "10000", "page_num": "2", "page_size": 20, "total_num": 45,
            "trade_complain_infos": [{"complain_event_id": "1", "status": "MERCHANT_PROCESSING",
                                      "gmt_create": "2026-11-25 21:03:11"}]}),
        )
        .expect("page");
        assert_eq!((p.page_num, p.total_page_num), (2, 3));
        assert!(p.has_next());
        // An empty page leaves its list out.
        let empty = trade_page(&json!({"code": "10000", "total_num": 0})).expect("empty");
        assert!(empty.items.is_empty() && !empty.has_next());
        for bad in [
            json!({"total_num": 1, "trade_complain_infos": [{"status": "MERCHANT_PROCESSING"}]}),
            json!({"total_num": 1, "trade_complain_infos": {"complain_event_id": "1"}}),
            json!({"trade_complain_infos": []}),
            json!({"total_num": "many"}),
        ] {
            assert!(
                matches!(trade_page(&bad), Err(AlipayError::Decode(_))),
                "{bad}"
            );
        }
        let r = risk_page(
            &json!({"total_size": 21, "current_page": 1, "page_size": 20,
            "complaint_list": [{"id": "2026112612345", "status": "WAIT_PROCESS"}]}),
        )
        .expect("risk page");
        assert_eq!(r.items[0].id, 2026112612345);
        assert!(r.has_next());
        assert!(matches!(
            risk_page(
                &json!({"total_size": 1, "complaint_list": [{"id": "x1", "status": "WAIT_PROCESS"}]})
            ),
            Err(AlipayError::Decode(_))
        ));
    }
}
