//! An Alipay complaint as the policy reads it, from either family's detail (trade complaints,
//! RiskGO consumer complaints), and the budget and errors of the app's calls.

use crate::ratelimit::Operation;
use crate::state::Services;
use crate::worker::JobError;
use alipay::client::AlipayError;
use chrono::{DateTime, NaiveDateTime, Utc};
use domain::complaint::ComplaintStatus;
use domain::job::{JobKind, alipay as jobs};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Trade,
    Risk,
}

impl Family {
    pub(super) fn kind(self) -> JobKind<jobs::Message> {
        match self {
            Family::Trade => jobs::TRADE_COMPLAINT,
            Family::Risk => jobs::RISK_COMPLAINT,
        }
    }

    /// Its name in complaint records (`family`) and record ids.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Family::Trade => "trade",
            Family::Risk => "risk",
        }
    }

    /// The family of a record's `family`.
    pub(super) fn of(name: &str) -> Option<Family> {
        match name {
            "trade" => Some(Family::Trade),
            "risk" => Some(Family::Risk),
            _ => None,
        }
    }

    /// The message Alipay pushes for a complaint of this family.
    pub(super) fn msg_method(self) -> &'static str {
        match self {
            Family::Trade => "alipay.merchant.tradecomplain.changed",
            Family::Risk => "alipay.security.risk.complaints.merchants.notify",
        }
    }
}

/// Our record id of an app's complaint: the family is part of it (the two families' ids are
/// separate sequences).
pub(super) fn record_id(account_id: &str, family: Family, platform_id: &str) -> String {
    crate::complaints::complaint_id(
        domain::complaint::Platform::Alipay,
        account_id,
        &format!("{}:{platform_id}", family.as_str()),
    )
}

pub(super) fn api_error(e: AlipayError) -> JobError {
    if e.is_throttled() {
        JobError::throttled(e)
    } else if e.is_retryable() {
        JobError::retryable(e)
    } else {
        JobError::Permanent(e.to_string())
    }
}

/// Take one call of `operation` from the app's budget (the job is deferred when none is left).
pub(super) async fn take(
    state: &Services,
    operation: Operation,
    app_id: &str,
) -> Result<(), JobError> {
    Ok(state.limiter.acquire(operation, app_id).await?)
}

/// `yyyy-MM-dd HH:mm:ss` in China time.
fn china_time(s: &str) -> Option<DateTime<Utc>> {
    let t = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    t.and_local_timezone(chrono::FixedOffset::east_opt(8 * 3600)?)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

fn fen(v: &Value) -> Option<u64> {
    v.as_str().and_then(|s| alipay::money::yuan_to_fen(s).ok())
}

/// What the policy needs from either family's complaint.
pub(super) struct Facts {
    pub(super) platform_id: String,
    pub(super) raw_status: String,
    pub(super) status: ComplaintStatus,
    pub(super) waiting_for_merchant: bool,
    pub(super) trade_no: String,
    pub(super) out_trade_no: Option<String>,
    pub(super) amount_fen: Option<u64>,
    pub(super) description: Option<String>,
    pub(super) complained_at: Option<DateTime<Utc>>,
    /// A due time the platform carries (RiskGO `gmt_overdue`); none for trade complaints.
    pub(super) due_at: Option<DateTime<Utc>>,
    pub(super) replied: bool,
    pub(super) finished: bool,
    /// Entries of the conversation not written by the merchant (buyer, platform).
    pub(super) others_wrote: usize,
}

impl Facts {
    /// Still as the buyer filed it: in its first status (trade `MERCHANT_PROCESSING`, RiskGO
    /// `WAIT_PROCESS`), or moved from it only by the merchant ([`Facts::told_status`]), and
    /// nobody but the merchant has written. Any other status (a RiskGO complaint turning
    /// `OVERDUE`, the platform taking a trade complaint over) is its own event.
    pub(super) fn is_new(&self) -> bool {
        self.others_wrote == 0
            && matches!(self.told_status(), "MERCHANT_PROCESSING" | "WAIT_PROCESS")
    }

    /// The status staff are told about. The merchant's own finishing (trade feedback →
    /// `MERCHANT_FEEDBACKED`; RiskGO `process.finish` → `PROCESSED`, late →
    /// `OVERDUE_PROCESSED`) tells them nothing new: it counts as the status it finished
    /// from, so a message that arrives after our own feedback (a late push, the platform's
    /// message about our action) gives the notice key they were already told.
    pub(super) fn told_status(&self) -> &str {
        match self.raw_status.as_str() {
            "MERCHANT_FEEDBACKED" => "MERCHANT_PROCESSING",
            "PROCESSED" => "WAIT_PROCESS",
            "OVERDUE_PROCESSED" => "OVERDUE",
            s => s,
        }
    }
}

pub(super) fn trade_facts(d: &Value) -> Facts {
    let status = d["status"].as_str().unwrap_or_default().to_string();
    Facts {
        platform_id: d["complain_event_id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        status: match status.as_str() {
            "MERCHANT_PROCESSING" => ComplaintStatus::Pending,
            "MERCHANT_FEEDBACKED" | "PLATFORM_PROCESSING" => ComplaintStatus::AwaitingPlatform,
            "FINISHED" | "PLATFORM_FINISH" => ComplaintStatus::Resolved,
            "CANCELLED" | "CLOSED" => ComplaintStatus::Closed,
            _ => ComplaintStatus::AwaitingPlatform,
        },
        waiting_for_merchant: status == "MERCHANT_PROCESSING",
        finished: status != "MERCHANT_PROCESSING",
        raw_status: status,
        trade_no: d["trade_no"].as_str().unwrap_or_default().to_string(),
        out_trade_no: d["merchant_order_no"].as_str().map(String::from),
        amount_fen: fen(&d["trade_amount"]),
        description: d["content"].as_str().map(String::from),
        complained_at: d["gmt_create"].as_str().and_then(china_time),
        due_at: None,
        replied: d["reply_detail_infos"]
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["replier_role"] == "MERCHANT")),
        others_wrote: d["reply_detail_infos"].as_array().map_or(0, |a| {
            a.iter().filter(|r| r["replier_role"] != "MERCHANT").count()
        }),
    }
}

pub(super) fn risk_facts(d: &Value) -> Facts {
    let status = d["status"].as_str().unwrap_or_default().to_string();
    let trade = d["complaint_trade_info_list"]
        .get(0)
        .cloned()
        .unwrap_or(Value::Null);
    Facts {
        platform_id: d["id"].as_i64().map(|i| i.to_string()).unwrap_or_default(),
        status: match status.as_str() {
            "WAIT_PROCESS" | "OVERDUE" | "PART_OVERDUE" => ComplaintStatus::Pending,
            "PROCESSING" => ComplaintStatus::Processing,
            "PROCESSED" | "OVERDUE_PROCESSED" => ComplaintStatus::Resolved,
            s if s.starts_with("DROP") => ComplaintStatus::Closed,
            _ => ComplaintStatus::AwaitingPlatform,
        },
        waiting_for_merchant: matches!(
            status.as_str(),
            "WAIT_PROCESS" | "PROCESSING" | "OVERDUE" | "PART_OVERDUE"
        ),
        finished: status.contains("PROCESSED") || status.starts_with("DROP"),
        raw_status: status,
        trade_no: trade["trade_no"]
            .as_str()
            .or(d["trade_no"].as_str())
            .unwrap_or_default()
            .to_string(),
        out_trade_no: trade["out_no"].as_str().map(String::from),
        amount_fen: fen(&trade["amount"]).or_else(|| fen(&d["complain_amount"])),
        description: d["complain_content"].as_str().map(String::from),
        complained_at: d["gmt_complain"].as_str().and_then(china_time),
        due_at: d["gmt_overdue"].as_str().and_then(china_time),
        replied: false,
        others_wrote: 0,
    }
}
