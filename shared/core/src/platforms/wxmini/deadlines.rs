//! Mini-program deadlines, from the platform's own field `expireTime` (detail) /
//! `expire_time` (push): unix seconds, `0` = none, re-read on every push and detail and kept
//! in `Complaint::platform_due_at`. It is the expiry of the complaint's **current state**, so
//! it means a merchant deadline only in the states that wait for the merchant:
//!
//! | state | what | met when | time ran out |
//! |---|---|---|---|
//! | 201 待处理 | `respond` 回应投诉 | we responded (`replied`), or 203 / 204 已回应,待用户确认 | 202 商家超时未回应 |
//! | 206 平台已判定为商责,待上传处理凭证 | `refund_evidence` 上传处理凭证 | 207 平台客服核实凭证中 | 208 超时未上传凭证 |
//! | 106 待商家补充凭证, 108 待双方补充凭证 | `supplement_proof` 补充凭证 | (no state shows it: unconfirmed) | (unconfirmed) |
//!
//! When time ran out (202, 208) the deadline stays as it was stored, unmet, so it shows as
//! overdue and is escalated (a complaint first seen in 202 gets its `respond` deadline from
//! `createTime` + the published 48 h). Any other state leaves nothing due but what was met
//! (see [`crate::platforms::due`]). The window starts when the state began if we know it (201:
//! `createTime`), else at `expireTime − 48 h` (the published window since 2024-03-25; for
//! 106 / 108 no window is published). State labels: the full list in the Yeepay mirror of the
//! detail's `status` enum; which state follows a timeout is inferred.

use crate::platforms::due::{Due, Standing, settle, stored_now_met, stored_unmet};
use chrono::Duration;
use domain::complaint::Complaint;
use domain::deadline::{Deadline, DeadlineSourceKind};

pub const RESPOND: &str = "respond";
pub const REFUND_EVIDENCE: &str = "refund_evidence";
pub const SUPPLEMENT_PROOF: &str = "supplement_proof";

/// The published window of 201 and 206 (48 h since 2024-03-25; 72 h before).
const WINDOW_HOURS: i64 = 48;

const FIELD: &str =
    "平台字段 expireTime（投诉单详情）/ expire_time（推送），每次推送和详情都重新读取";

/// The complaint's deadlines in its stored state.
pub fn deadlines(c: &Complaint) -> Vec<Deadline> {
    let status: i64 = c.raw_status.parse().unwrap_or_default();
    let mut found = Vec::new();
    let respond = match status {
        201 => open(c, RESPOND).map(|d| {
            let standing = if c.replied {
                Standing::Met
            } else {
                Standing::Open
            };
            d.stands(c, standing)
        }),
        202 if !c.replied => stored_unmet(c, RESPOND).or_else(|| late_respond(c)),
        _ if c.replied || matches!(status, 203 | 204) => stored_now_met(c, RESPOND),
        _ => None,
    };
    found.extend(respond);
    found.extend(match status {
        206 => open(c, REFUND_EVIDENCE).map(|d| d.stands(c, Standing::Open)),
        207 => stored_now_met(c, REFUND_EVIDENCE),
        208 => stored_unmet(c, REFUND_EVIDENCE),
        _ => None,
    });
    if matches!(status, 106 | 108) {
        found.extend(open(c, SUPPLEMENT_PROOF).map(|d| d.stands(c, Standing::Open)));
    }
    settle(c, found)
}

/// The deadline `what` of the state the complaint is in, due at its `expireTime` (none when
/// the platform gave none).
fn open(c: &Complaint, what: &'static str) -> Option<Due> {
    let due_at = c.platform_due_at?;
    // Checked: the times are the platform's (a far-off value must not panic).
    let window_start = due_at.checked_sub_signed(Duration::hours(WINDOW_HOURS))?;
    let began = if what == RESPOND {
        c.complained_at.filter(|t| *t < due_at)
    } else {
        None
    };
    let (starts_at, detail) = match began {
        Some(t) => (t, format!("{FIELD}；窗口起点为投诉创建时间 createTime")),
        None if what == SUPPLEMENT_PROOF => (
            window_start,
            format!(
                "{FIELD}；此状态的时限未公布（未经证实），窗口起点按 48 小时推算为 expireTime − 48 小时"
            ),
        ),
        None => (
            window_start,
            format!("{FIELD}；窗口起点按公布的 48 小时时限推算为 expireTime − 48 小时"),
        ),
    };
    let (label, consequence) = match what {
        RESPOND => (
            "回应投诉",
            "超时未回应：投诉转为“商家超时未回应，待用户确认”（202，转换为推断），并影响交易体验分",
        ),
        REFUND_EVIDENCE => (
            "上传处理凭证",
            "超时未上传：转为“超时未上传凭证”（208，转换为推断），可能转为平台退款（312，关联未经证实），交易体验分扣分见违规记录",
        ),
        _ => ("补充凭证", "时限与后果均未公布（未经证实）"),
    };
    Some(Due {
        what,
        label,
        consequence,
        kind: DeadlineSourceKind::PlatformField,
        detail,
        starts_at,
        due_at,
    })
}

/// A complaint first seen after the merchant's response timed out (202): its `respond`
/// deadline from `createTime` and the published 48 h (the 201 state's `expireTime` was never
/// seen).
fn late_respond(c: &Complaint) -> Option<Deadline> {
    let at = c.complained_at?;
    let due_at = at.checked_add_signed(Duration::hours(WINDOW_HOURS))?;
    Some(
        Due {
            what: RESPOND,
            label: "回应投诉",
            consequence: "已超时未回应：投诉转为“商家超时未回应，待用户确认”（202），并影响交易体验分",
            kind: DeadlineSourceKind::PublishedRule,
            detail: "小程序交易投诉待商家处理时限 48 小时（2024-03-25 起），自投诉创建时间 createTime 起算；未见到该状态的 expireTime".into(),
            starts_at: at,
            due_at,
        }
        .stands(c, Standing::Open),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use domain::complaint::{ComplaintStatus, Platform};

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0)
            .single()
            .expect("time")
            + Duration::hours(h)
    }

    /// The complaint as a write would store it: state, expiry and time of the write; its
    /// deadlines re-computed from the previous ones.
    fn write(c: &mut Complaint, status: i64, expires: Option<DateTime<Utc>>, now: DateTime<Utc>) {
        c.raw_status = status.to_string();
        c.status = crate::platforms::wxmini::events::normalise(status);
        c.platform_due_at = expires;
        c.updated_at = now;
        c.deadlines = deadlines(c);
    }

    fn complaint() -> Complaint {
        let mut c = Complaint::new(
            "cmp_1".into(),
            Platform::Wxmini,
            None,
            "acc".into(),
            "800001".into(),
            at(0),
        );
        c.complained_at = Some(at(0));
        c
    }

    fn get<'a>(c: &'a Complaint, what: &str) -> &'a Deadline {
        c.deadlines
            .iter()
            .find(|d| d.what == what)
            .unwrap_or_else(|| panic!("no {what} in {:?}", c.deadlines))
    }

    #[test]
    fn the_deadline_follows_expire_time_from_201_to_206_and_is_met_when_the_merchant_acts() {
        let mut c = complaint();
        write(&mut c, 201, Some(at(48)), at(0));
        let r = get(&c, RESPOND);
        assert_eq!((r.starts_at, r.due_at), (at(0), at(48)));
        assert_eq!(r.source.kind, DeadlineSourceKind::PlatformField);
        assert!(r.source.detail.contains("expireTime"));
        // The platform moves the expiry: the deadline follows.
        write(&mut c, 201, Some(at(40)), at(1));
        assert_eq!(get(&c, RESPOND).due_at, at(40));
        // Responded: 203 carries the buyer's expiry, which is not the merchant's deadline.
        write(&mut c, 203, Some(at(100)), at(2));
        assert_eq!(get(&c, RESPOND).met_at, Some(at(2)));
        assert_eq!(get(&c, RESPOND).due_at, at(40));
        assert_eq!(domain::deadline::next_due(&c.deadlines), None);
        // The platform finds the merchant responsible: a new 48 h for the evidence.
        write(&mut c, 206, Some(at(150)), at(102));
        let e = get(&c, REFUND_EVIDENCE);
        assert_eq!((e.starts_at, e.due_at), (at(102), at(150)));
        assert!(get(&c, RESPOND).is_met(), "met stays met");
        assert_eq!(domain::deadline::next_due(&c.deadlines), Some(at(150)));
        write(&mut c, 207, None, at(120));
        assert_eq!(get(&c, REFUND_EVIDENCE).met_at, Some(at(120)));
        assert_eq!(domain::deadline::next_due(&c.deadlines), None);
    }

    #[test]
    fn our_response_meets_it_before_the_platform_changes_state() {
        let mut c = complaint();
        write(&mut c, 201, Some(at(48)), at(0));
        c.replied = true;
        write(&mut c, 201, Some(at(48)), at(1));
        assert_eq!(get(&c, RESPOND).met_at, Some(at(1)));
    }

    #[test]
    fn a_timeout_keeps_the_deadline_unmet_so_it_shows_overdue() {
        let mut c = complaint();
        write(&mut c, 201, Some(at(48)), at(0));
        write(&mut c, 202, Some(at(120)), at(49));
        let r = get(&c, RESPOND);
        assert_eq!(r.due_at, at(48), "the 201 expiry, not the buyer's");
        assert!(r.is_overdue(at(49)));
        let mut c = complaint();
        write(&mut c, 206, Some(at(48)), at(0));
        write(&mut c, 208, None, at(49));
        assert!(get(&c, REFUND_EVIDENCE).is_overdue(at(49)));
    }

    #[test]
    fn first_seen_after_the_timeout_it_is_due_48_hours_after_creation() {
        let mut c = complaint();
        write(&mut c, 202, Some(at(200)), at(60));
        let r = get(&c, RESPOND);
        assert_eq!(r.due_at, at(48));
        assert_eq!(r.source.kind, DeadlineSourceKind::PublishedRule);
    }

    #[test]
    fn nothing_is_due_once_the_complaint_is_finished_or_without_an_expiry() {
        let mut c = complaint();
        write(&mut c, 201, Some(at(48)), at(0));
        write(&mut c, 202, None, at(49));
        for done in [205, 209, 102, 112] {
            let mut d = c.clone();
            write(&mut d, done, None, at(60));
            assert!(
                matches!(
                    d.status,
                    ComplaintStatus::Resolved | ComplaintStatus::Closed
                ),
                "{done}"
            );
            assert!(d.deadlines.is_empty(), "{done}: {:?}", d.deadlines);
        }
        let mut c = complaint();
        write(&mut c, 201, None, at(0));
        assert!(c.deadlines.is_empty(), "expireTime 0: no deadline");
    }

    #[test]
    fn supplementing_proof_is_due_at_expire_time_with_an_unconfirmed_window() {
        for status in [106, 108] {
            let mut c = complaint();
            write(&mut c, status, Some(at(72)), at(10));
            let p = get(&c, SUPPLEMENT_PROOF);
            assert_eq!((p.starts_at, p.due_at), (at(24), at(72)));
            assert!(p.source.detail.contains("未经证实"));
        }
    }
}
