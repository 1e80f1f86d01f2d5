//! WeChat Pay's deadlines, from the complaint's `complaint_time` and state.
//!
//! The published rule (交易投诉运营规范2.0) counts **calendar days in Beijing time**, not
//! rolling hours: with D the Beijing day of `complaint_time`,
//!
//! | what | due | met when |
//! |---|---|---|
//! | `first_reply` 首次回复 | 24:00 of D+1 (00:00 of D+2, +08:00) | replied, or no longer `PENDING` |
//! | `completion` 处理完成 | 24:00 of D+3 | completed, or `PROCESSED` (completed, refund arrived or rejected) |
//! | `immediate_service` 立即服务 (only when `need_immediate_service`) | at once (`complaint_time`) | as `first_reply` |
//! | `user_message` 回复用户新留言 (`incoming_user_response` after the first reply) | 24:00 of the day after we first saw the message | the flag clears |
//!
//! The last two are **estimates**: WeChat Pay publishes no time for either (for immediate
//! service the facts say "escalate at once", so it is due when the complaint is made and the
//! sweep escalates it at its next pass unless the reply went out first; a new user message is
//! treated like a first reply, from when our record first showed the flag, as the message's own
//! time is in the negotiation history, not on the record). WeChat Pay has no "timed out" state:
//! a deadline not met stays unmet in `PENDING` / `PROCESSING` and shows as overdue. See
//! [`crate::platforms::due`] for what happens once met or finished.
//!
//! The time zone is fixed (UTC+8); the process's own zone is never read.

use crate::platforms::due::{Due, Standing, settle, stored_now_met, stored_unmet};
use chrono::{DateTime, Days, NaiveTime, Utc};
use domain::clock::china_offset;
use domain::complaint::Complaint;
use domain::deadline::{Deadline, DeadlineSourceKind};

pub const FIRST_REPLY: &str = "first_reply";
pub const COMPLETION: &str = "completion";
pub const IMMEDIATE_SERVICE: &str = "immediate_service";
pub const USER_MESSAGE: &str = "user_message";

/// The record's tag for WeChat Pay's `incoming_user_response` flag.
pub(super) const INCOMING_USER_RESPONSE: &str = "incoming_user_response";

const SCORE: &str = "逾期计入交易投诉处理时效（商户服务质量评分），可导致警告、功能限制、向付款人风险提示乃至限制收款（交易投诉运营规范2.0）";

/// 24:00 Beijing time of the day `days` after the Beijing day of `t` (00:00 of the day after
/// that); None only past the calendar's end.
pub fn end_of_china_day(t: DateTime<Utc>, days: u64) -> Option<DateTime<Utc>> {
    let day = t.with_timezone(&china_offset()).date_naive();
    day.checked_add_days(Days::new(days.checked_add(1)?))?
        .and_time(NaiveTime::MIN)
        .and_local_timezone(china_offset())
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// The complaint's deadlines in its stored state.
pub fn deadlines(c: &Complaint) -> Vec<Deadline> {
    let Some(at) = c.complained_at else {
        return settle(c, Vec::new());
    };
    let pending = c.raw_status == "PENDING" || c.raw_status.is_empty();
    let answered = if c.replied || !pending {
        Standing::Met
    } else {
        Standing::Open
    };
    let done = if c.completed || c.raw_status == "PROCESSED" {
        Standing::Met
    } else {
        Standing::Open
    };
    let mut found = Vec::new();
    if let Some(due) = end_of_china_day(at, 1) {
        found.push(
            Due {
                what: FIRST_REPLY,
                label: "首次回复",
                consequence: SCORE,
                kind: DeadlineSourceKind::PublishedRule,
                detail: "交易投诉运营规范2.0：投诉日（北京时间）次日 24:00 前首次回复（按日历日，不是滚动 24 小时）".into(),
                starts_at: at,
                due_at: due,
            }
            .stands(c, answered),
        );
    }
    if let Some(due) = end_of_china_day(at, 3) {
        found.push(
            Due {
                what: COMPLETION,
                label: "处理完成",
                consequence: "逾期未处理完成计入处理时效并可能推高重复投诉率，后果同首次回复逾期；平台是否代商户退款：未经证实",
                kind: DeadlineSourceKind::PublishedRule,
                detail: "交易投诉运营规范2.0：投诉日（北京时间）后第 3 天 24:00 前处理完成（回复并反馈处理完成，或退款到账 / 拒绝退款）".into(),
                starts_at: at,
                due_at: due,
            }
            .stands(c, done),
        );
    }
    if c.need_immediate_service {
        found.push(
            Due {
                what: IMMEDIATE_SERVICE,
                label: "立即服务：尽快回复",
                consequence: "时限与后果均未公布（未经证实）；按首次回复逾期对待",
                kind: DeadlineSourceKind::Estimate,
                detail:
                    "估算，未经证实：微信支付未公布立即服务的时限，按“立即升级”处理，投诉时即到期"
                        .into(),
                starts_at: at,
                due_at: at,
            }
            .stands(c, answered),
        );
    }
    found.extend(user_message(c));
    settle(c, found)
}

/// A new message from the buyer after the first reply (WeChat Pay's `incoming_user_response`).
fn user_message(c: &Complaint) -> Option<Deadline> {
    let waiting =
        c.raw_status == "PROCESSING" && c.tags.iter().any(|t| t == INCOMING_USER_RESPONSE);
    if !waiting {
        // The flag cleared (the merchant answered) or the complaint moved on.
        return stored_now_met(c, USER_MESSAGE);
    }
    if let Some(open) = stored_unmet(c, USER_MESSAGE) {
        return Some(open);
    }
    let due = end_of_china_day(c.updated_at, 1)?;
    Some(
        Due {
            what: USER_MESSAGE,
            label: "回复用户新留言",
            consequence: "时限与后果均未公布（未经证实）；按首次回复对待",
            kind: DeadlineSourceKind::Estimate,
            detail: "估算，未经证实：用户新留言的回复时限未公布，按首次回复规则计——首次看到留言的北京时间次日 24:00".into(),
            starts_at: c.updated_at,
            due_at: due,
        }
        .stands(c, Standing::Open),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone};
    use domain::complaint::{ComplaintStatus, Platform};

    fn beijing(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        FixedOffset::east_opt(8 * 3600)
            .and_then(|o| o.with_ymd_and_hms(y, m, d, h, min, 0).single())
            .map(|t| t.with_timezone(&Utc))
            .expect("valid time")
    }

    fn complaint(at: DateTime<Utc>) -> Complaint {
        let mut c = Complaint::new(
            "cmp_1".into(),
            Platform::Wechatpay,
            None,
            "acc".into(),
            "200201".into(),
            at,
        );
        c.raw_status = "PENDING".into();
        c.complained_at = Some(at);
        c
    }

    fn due_of(c: &Complaint, what: &str) -> DateTime<Utc> {
        deadlines(c)
            .into_iter()
            .find(|d| d.what == what)
            .map(|d| d.due_at)
            .expect("deadline")
    }

    #[test]
    fn first_reply_is_due_at_the_end_of_the_next_beijing_day_across_midnight() {
        // 23:50 on 20 March: due 24:00 on 21 March, not 23:50 on 21 March.
        let c = complaint(beijing(2026, 3, 20, 23, 50));
        assert_eq!(due_of(&c, FIRST_REPLY), beijing(2026, 3, 22, 0, 0));
        assert_eq!(due_of(&c, COMPLETION), beijing(2026, 3, 24, 0, 0));
        // Ten minutes later it is another Beijing day: a day more.
        let c = complaint(beijing(2026, 3, 21, 0, 0));
        assert_eq!(due_of(&c, FIRST_REPLY), beijing(2026, 3, 23, 0, 0));
    }

    #[test]
    fn the_beijing_day_decides_not_the_utc_day() {
        // 16:30 UTC on 20 March is already 21 March in Beijing.
        let at = Utc
            .with_ymd_and_hms(2026, 3, 20, 16, 30, 0)
            .single()
            .expect("time");
        let c = complaint(at);
        assert_eq!(due_of(&c, FIRST_REPLY), beijing(2026, 3, 23, 0, 0));
        assert_eq!(
            due_of(&c, FIRST_REPLY),
            Utc.with_ymd_and_hms(2026, 3, 22, 16, 0, 0)
                .single()
                .expect("time")
        );
    }

    #[test]
    fn month_year_and_leap_day_ends() {
        let c = complaint(beijing(2026, 4, 30, 12, 0));
        assert_eq!(due_of(&c, FIRST_REPLY), beijing(2026, 5, 2, 0, 0));
        assert_eq!(due_of(&c, COMPLETION), beijing(2026, 5, 4, 0, 0));
        let c = complaint(beijing(2026, 12, 31, 23, 59));
        assert_eq!(due_of(&c, FIRST_REPLY), beijing(2027, 1, 2, 0, 0));
        assert_eq!(due_of(&c, COMPLETION), beijing(2027, 1, 4, 0, 0));
        let c = complaint(beijing(2028, 2, 28, 9, 0));
        assert_eq!(
            due_of(&c, FIRST_REPLY),
            beijing(2028, 3, 1, 0, 0),
            "2028-02-29 exists"
        );
        assert_eq!(due_of(&c, COMPLETION), beijing(2028, 3, 3, 0, 0));
        let c = complaint(beijing(2027, 2, 28, 9, 0));
        assert_eq!(
            due_of(&c, FIRST_REPLY),
            beijing(2027, 3, 2, 0, 0),
            "2027 has no 29 February"
        );
    }

    #[test]
    fn the_source_is_the_published_rule() {
        let c = complaint(beijing(2026, 3, 20, 10, 0));
        for d in deadlines(&c) {
            assert_eq!(
                d.source.kind,
                DeadlineSourceKind::PublishedRule,
                "{}",
                d.what
            );
            assert!(d.source.detail.contains("交易投诉运营规范2.0"));
            assert!(!d.label.is_empty() && !d.consequence.is_empty());
            assert!(!d.is_met());
        }
    }

    #[test]
    fn a_reply_meets_the_first_reply_and_completion_meets_both() {
        let mut c = complaint(beijing(2026, 3, 20, 10, 0));
        c.updated_at = beijing(2026, 3, 20, 11, 0);
        c.raw_status = "PROCESSING".into();
        c.status = ComplaintStatus::Processing;
        let d = deadlines(&c);
        let first = d.iter().find(|d| d.what == FIRST_REPLY).expect("first");
        assert_eq!(first.met_at, Some(c.updated_at));
        assert!(
            !d.iter()
                .find(|d| d.what == COMPLETION)
                .expect("completion")
                .is_met()
        );
        c.raw_status = "PROCESSED".into();
        c.status = ComplaintStatus::Resolved;
        assert!(deadlines(&c).iter().all(Deadline::is_met));
    }

    #[test]
    fn a_missed_reply_stays_unmet_while_pending() {
        let mut c = complaint(beijing(2026, 3, 20, 10, 0));
        c.updated_at = beijing(2026, 3, 25, 10, 0);
        let first = deadlines(&c)
            .into_iter()
            .find(|d| d.what == FIRST_REPLY)
            .expect("first");
        assert!(first.is_overdue(c.updated_at));
    }

    #[test]
    fn immediate_service_is_an_estimate_due_at_once() {
        let at = beijing(2026, 3, 20, 10, 0);
        let mut c = complaint(at);
        c.need_immediate_service = true;
        let d = deadlines(&c);
        let i = d
            .iter()
            .find(|d| d.what == IMMEDIATE_SERVICE)
            .expect("immediate");
        assert_eq!(i.due_at, at);
        assert_eq!(i.source.kind, DeadlineSourceKind::Estimate);
        assert!(i.source.detail.contains("未经证实"));
        c.replied = true;
        assert!(
            deadlines(&c)
                .iter()
                .find(|d| d.what == IMMEDIATE_SERVICE)
                .expect("i")
                .is_met()
        );
    }

    #[test]
    fn a_new_user_message_after_the_reply_is_due_like_a_first_reply_until_answered() {
        let mut c = complaint(beijing(2026, 3, 20, 10, 0));
        c.raw_status = "PROCESSING".into();
        c.replied = true;
        c.tags = vec![INCOMING_USER_RESPONSE.into()];
        c.updated_at = beijing(2026, 3, 22, 23, 0);
        c.deadlines = deadlines(&c);
        let m = c
            .deadlines
            .iter()
            .find(|d| d.what == USER_MESSAGE)
            .expect("message");
        assert_eq!(m.due_at, beijing(2026, 3, 24, 0, 0));
        assert_eq!(m.source.kind, DeadlineSourceKind::Estimate);
        // A later write keeps the first sighting's clock.
        c.updated_at = beijing(2026, 3, 23, 9, 0);
        c.deadlines = deadlines(&c);
        let m = c
            .deadlines
            .iter()
            .find(|d| d.what == USER_MESSAGE)
            .expect("message");
        assert_eq!(m.starts_at, beijing(2026, 3, 22, 23, 0));
        // Answered: the flag clears.
        c.tags.clear();
        c.updated_at = beijing(2026, 3, 23, 10, 0);
        c.deadlines = deadlines(&c);
        let m = c
            .deadlines
            .iter()
            .find(|d| d.what == USER_MESSAGE)
            .expect("message");
        assert_eq!(m.met_at, Some(c.updated_at));
        // Pending complaints have only the first reply for it.
        let mut p = complaint(beijing(2026, 3, 20, 10, 0));
        p.tags = vec![INCOMING_USER_RESPONSE.into()];
        assert!(deadlines(&p).iter().all(|d| d.what != USER_MESSAGE));
    }
}
