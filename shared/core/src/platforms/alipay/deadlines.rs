//! Alipay's deadlines, one per family.
//!
//! - RiskGO consumer complaints (`risk`): `finish` 处理完结, due at the platform's own
//!   `gmt_overdue` (过期时间, `yyyy-MM-dd HH:mm:ss` Beijing time, kept in
//!   `Complaint::platform_due_at`; no `gmt_overdue`: no deadline, the window is not published).
//!   Met once finished (our finish sent, `PROCESSED`, or `OVERDUE_PROCESSED` when finished
//!   late: met late);
//!   `OVERDUE` / `PART_OVERDUE` (time ran out, still waiting for the merchant) keep it unmet, so
//!   it shows as overdue and is escalated.
//! - Trade complaints (`trade`): `feedback` 商家反馈, due `gmt_create` + 72 h. An **estimate**:
//!   the 72 h come from a press report, not from Alipay's documentation, and the deadline says
//!   so wherever it is shown (its label too). Met once the merchant replied or gave its
//!   feedback (`MERCHANT_FEEDBACKED`); a "merchant timed out" state (its code is unconfirmed; the sibling
//!   API's `MERCHANT_FEEDBACK_OVERTIME`) keeps it unmet.
//!
//! Any other state (the platform took the complaint over, the buyer withdrew, it closed) leaves
//! nothing due but what was met (see [`crate::platforms::due`]).

use crate::platforms::due::{Due, Standing, settle};
use chrono::Duration;
use domain::complaint::Complaint;
use domain::deadline::{Deadline, DeadlineSourceKind};

pub const FINISH: &str = "finish";
pub const FEEDBACK: &str = "feedback";

/// The press report's window for trade complaints (unconfirmed).
const TRADE_HOURS: i64 = 72;

/// The complaint's deadlines in its stored state.
pub fn deadlines(c: &Complaint) -> Vec<Deadline> {
    let found = match c.family.as_deref() {
        Some("risk") => risk(c),
        Some("trade") => trade(c),
        _ => None,
    };
    settle(c, found.into_iter().collect())
}

fn risk(c: &Complaint) -> Option<Deadline> {
    let s = c.raw_status.as_str();
    let standing = match s {
        // Our finish went out (`completed`) and the platform's state was not read since.
        "WAIT_PROCESS" | "PROCESSING" | "OVERDUE" | "PART_OVERDUE" | "" if c.completed => {
            Standing::Met
        }
        "WAIT_PROCESS" | "PROCESSING" | "OVERDUE" | "PART_OVERDUE" | "" => Standing::Open,
        _ if s.ends_with("PROCESSED") => Standing::Met,
        _ => return None,
    };
    let due_at = c.platform_due_at?;
    Some(
        Due {
            what: FINISH,
            label: "处理完结",
            consequence: "逾期未处理：投诉转为 OVERDUE（超时未处理），之后完结记为 OVERDUE_PROCESSED（超时处理完成）；其他处罚未公布（未经证实）",
            kind: DeadlineSourceKind::PlatformField,
            detail: "平台字段 gmt_overdue（RiskGO 投诉过期时间，北京时间），每次查询重新读取".into(),
            starts_at: c.complained_at.filter(|t| *t < due_at).unwrap_or(c.received_at.min(due_at)),
            due_at,
        }
        .stands(c, standing),
    )
}

fn trade(c: &Complaint) -> Option<Deadline> {
    let s = c.raw_status.as_str();
    // `completed` while still `MERCHANT_PROCESSING`: our finishing feedback went out and the
    // platform's state was not read since.
    let ours = c.completed && s == "MERCHANT_PROCESSING";
    let standing = if c.replied || ours || s == "MERCHANT_FEEDBACKED" {
        Standing::Met
    } else if s == "MERCHANT_PROCESSING" || s.contains("OVERTIME") || s.is_empty() {
        Standing::Open
    } else {
        return None;
    };
    let at = c.complained_at?;
    // Checked: the time is the platform's (a far-off value must not panic).
    let due_at = at.checked_add_signed(Duration::hours(TRADE_HOURS))?;
    Some(
        Due {
            what: FEEDBACK,
            label: "商家反馈（估算时限）",
            consequence: "逾期未反馈：投诉或转为“商家处理超时”（状态码未经证实），其他后果未公布",
            kind: DeadlineSourceKind::Estimate,
            detail: "估算，未经证实：gmt_create 后 72 小时，出自媒体报道（支付宝开放平台升级用户保障），并非支付宝文档".into(),
            starts_at: at,
            due_at,
        }
        .stands(c, standing),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use domain::complaint::{ComplaintStatus, Platform};

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 1, 12, 0)
            .single()
            .expect("time")
            + Duration::hours(h)
    }

    fn complaint(family: &str, status: &str) -> Complaint {
        let mut c = Complaint::new(
            "cmp_1".into(),
            Platform::Alipay,
            Some(family.into()),
            "acc".into(),
            "1".into(),
            at(0),
        );
        c.raw_status = status.into();
        c.complained_at = Some(at(0));
        c
    }

    #[test]
    fn riskgo_finish_is_due_at_gmt_overdue() {
        let mut c = complaint("risk", "WAIT_PROCESS");
        c.platform_due_at = Some(at(72));
        let d = deadlines(&c);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].what, FINISH);
        assert_eq!((d[0].starts_at, d[0].due_at), (at(0), at(72)));
        assert_eq!(d[0].source.kind, DeadlineSourceKind::PlatformField);
        assert!(d[0].source.detail.contains("gmt_overdue"));
        c.platform_due_at = None;
        assert!(deadlines(&c).is_empty(), "no gmt_overdue, no deadline");
    }

    #[test]
    fn riskgo_overdue_stays_unmet_and_a_late_finish_meets_it_late() {
        let mut c = complaint("risk", "OVERDUE");
        c.platform_due_at = Some(at(72));
        c.updated_at = at(80);
        c.deadlines = deadlines(&c);
        assert!(c.deadlines[0].is_overdue(at(80)));
        // Staff finished it: met at once, before the platform's state is read again.
        let mut ours = c.clone();
        ours.completed = true;
        ours.status = ComplaintStatus::Resolved;
        ours.updated_at = at(85);
        assert_eq!(deadlines(&ours)[0].met_at, Some(at(85)));
        c.raw_status = "OVERDUE_PROCESSED".into();
        c.status = ComplaintStatus::Resolved;
        c.updated_at = at(90);
        let d = deadlines(&c);
        assert_eq!(d[0].met_at, Some(at(90)));
    }

    #[test]
    fn a_withdrawn_riskgo_complaint_has_nothing_due() {
        let mut c = complaint("risk", "WAIT_PROCESS");
        c.platform_due_at = Some(at(72));
        c.deadlines = deadlines(&c);
        c.raw_status = "DROP_COMPLAIN".into();
        c.status = ComplaintStatus::Closed;
        assert!(deadlines(&c).is_empty());
    }

    #[test]
    fn a_trade_complaint_has_an_estimated_72_hours_until_feedback() {
        let mut c = complaint("trade", "MERCHANT_PROCESSING");
        let d = deadlines(&c);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].what, FEEDBACK);
        assert_eq!(d[0].due_at, at(72));
        assert_eq!(d[0].source.kind, DeadlineSourceKind::Estimate);
        assert!(d[0].source.detail.contains("未经证实"));
        assert!(d[0].label.contains("估算"), "shown as an estimate");
        c.raw_status = "MERCHANT_FEEDBACKED".into();
        c.updated_at = at(5);
        assert_eq!(deadlines(&c)[0].met_at, Some(at(5)));
        let mut replied = complaint("trade", "MERCHANT_PROCESSING");
        replied.replied = true;
        assert!(deadlines(&replied)[0].is_met());
        let mut finished = complaint("trade", "MERCHANT_PROCESSING");
        finished.completed = true;
        assert!(deadlines(&finished)[0].is_met(), "our feedback went out");
    }

    #[test]
    fn a_trade_complaint_the_platform_took_over_has_nothing_due() {
        let mut c = complaint("trade", "MERCHANT_PROCESSING");
        c.deadlines = deadlines(&c);
        c.raw_status = "PLATFORM_PROCESSING".into();
        c.status = ComplaintStatus::AwaitingPlatform;
        assert!(deadlines(&c).is_empty());
        c.raw_status = "MERCHANT_FEEDBACK_OVERTIME".into();
        assert!(!deadlines(&c)[0].is_met(), "timed out: stays unmet");
    }
}
