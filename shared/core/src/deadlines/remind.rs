//! What one deadline calls for at a time ([`due_step`]): nothing, the reminder of the latest
//! threshold passed, or the escalation once it passed unmet; and the notice that says so
//! ([`summary`]).
//!
//! Thresholds are each `remind_at_percent` of the window `starts_at..due_at` and each
//! `remind_before_minutes` before `due_at`; those before the window opened are dropped. Only
//! the latest threshold at or before now is sent: a sweep after downtime that crossed two
//! thresholds sends the second alone, and one that crossed the due time sends only the
//! escalation.

use chrono::{DateTime, Duration, Utc};
use domain::clock::china_offset;
use domain::complaint::Complaint;
use domain::deadline::{Deadline, DeadlineSettings, DeadlineSourceKind};
use domain::notification::{NotificationSummary, SummaryLine};

/// A deadline missed longer ago than this is not escalated any more: the staff heard of it
/// when it passed (or, for records that got their deadlines late, the list shows it). Kept
/// well below the inbox's dedupe retention, so an escalation is never sent twice.
pub const ESCALATE_WITHIN: Duration = Duration::days(7);

/// A point in a deadline's window at which the staff are reminded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    pub at: DateTime<Utc>,
    /// Stable within the settings: `p50` (50 % of the window), `m120` (120 minutes before).
    pub key: String,
    /// In words for staff.
    pub words: String,
}

/// What a deadline calls for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Remind(Threshold),
    Escalate,
}

/// The deadline's thresholds under `s`, earliest first (ties: by key).
pub fn thresholds(d: &Deadline, s: &DeadlineSettings) -> Vec<Threshold> {
    let window = d.due_at - d.starts_at;
    let mut v = Vec::new();
    if window > Duration::zero() {
        for p in &s.remind_at_percent {
            if (1..=99).contains(p) {
                v.push(Threshold {
                    at: d.starts_at + window * i32::from(*p) / 100,
                    key: format!("p{p}"),
                    words: format!("期限已过去 {p}%"),
                });
            }
        }
    }
    for m in &s.remind_before_minutes {
        let at = d.due_at - Duration::minutes(i64::from(*m));
        if *m > 0 && at >= d.starts_at {
            v.push(Threshold {
                at,
                key: format!("m{m}"),
                words: format!("到期前 {}", span(Duration::minutes(i64::from(*m)))),
            });
        }
    }
    v.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.key.cmp(&b.key)));
    v
}

/// What the deadline calls for at `now`: nothing once it is met; the escalation once it
/// passed (within [`ESCALATE_WITHIN`], when `escalate`); before that, the reminder of the
/// latest threshold at or before `now` (when `reminders`).
pub fn due_step(d: &Deadline, s: &DeadlineSettings, now: DateTime<Utc>) -> Option<Step> {
    if d.is_met() {
        return None;
    }
    if d.is_overdue(now) {
        return (s.escalate && now - d.due_at <= ESCALATE_WITHIN).then_some(Step::Escalate);
    }
    if !s.reminders {
        return None;
    }
    thresholds(d, s)
        .into_iter()
        .rev()
        .find(|t| t.at <= now)
        .map(Step::Remind)
}

/// The event key of a step: the complaint, the deadline (`what` and `due_at`: a deadline that
/// moves is a new one) and the threshold, or `missed`.
pub fn event_key(c: &Complaint, d: &Deadline, step: &Step) -> String {
    let which = match step {
        Step::Remind(t) => t.key.as_str(),
        Step::Escalate => "missed",
    };
    format!(
        "deadline:{}:{}:{}:{which}",
        c.id,
        d.what,
        d.due_at.timestamp()
    )
}

/// `1 天 2 小时 5 分钟` (whole minutes; at least a minute).
pub fn span(d: Duration) -> String {
    let minutes = d.num_minutes().max(1);
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days} 天"));
    }
    if hours > 0 {
        parts.push(format!("{hours} 小时"));
    }
    if mins > 0 {
        parts.push(format!("{mins} 分钟"));
    }
    parts.join(" ")
}

/// Beijing time, `2026-03-21 23:59` (a deadline at 24:00 shows as the next day's 00:00).
pub fn beijing(t: DateTime<Utc>) -> String {
    t.with_timezone(&china_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Where the time comes from, in words; an estimate says it is unconfirmed.
pub fn source_words(d: &Deadline) -> String {
    let kind = match d.source.kind {
        DeadlineSourceKind::PlatformField => "平台字段",
        DeadlineSourceKind::PublishedRule => "平台规则",
        DeadlineSourceKind::Estimate => "预估（平台未公布）",
    };
    if d.source.detail.trim().is_empty() {
        kind.to_string()
    } else {
        format!("{kind}：{}", d.source.detail.trim())
    }
}

/// The event of a step, short (an SMS template shows the first 12 characters).
pub fn event(step: &Step) -> &'static str {
    match step {
        Step::Remind(_) => "处理期限提醒",
        Step::Escalate => "处理期限已过",
    }
}

/// The notice of a step: what is due, by when (Beijing time) and how long from now, where the
/// time comes from, what happens if it is missed; the link to the complaint.
pub fn summary(
    c: &Complaint,
    d: &Deadline,
    step: &Step,
    merchant: String,
    link: Option<String>,
    now: DateTime<Utc>,
) -> NotificationSummary {
    let line = |label: &str, value: String| SummaryLine {
        label: label.into(),
        value,
    };
    let when = if d.due_at >= now {
        format!("{}（还剩 {}）", beijing(d.due_at), span(d.due_at - now))
    } else {
        format!("{}（已逾期 {}）", beijing(d.due_at), span(now - d.due_at))
    };
    let mut extra = vec![
        line("待办", d.label.clone()),
        line("截止（北京时间）", when),
        line("期限来源", source_words(d)),
    ];
    if !d.consequence.trim().is_empty() {
        extra.push(line("逾期后果", d.consequence.clone()));
    }
    match step {
        Step::Remind(t) => extra.push(line("提醒", t.words.clone())),
        Step::Escalate => extra.push(line("升级", "期限已过仍未处理，请尽快处理".into())),
    }
    NotificationSummary {
        platform: c.platform.as_str().into(),
        event: event(step).into(),
        merchant,
        reference: c.platform_complaint_id.clone(),
        at: now,
        amount_fen: c.complaint_amount_fen,
        user_text: None,
        deadline: Some(d.due_at),
        link,
        extra_lines: extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use domain::deadline::DeadlineSource;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 20, 0, 0, 0)
            .single()
            .expect("time")
            + Duration::hours(h)
    }

    fn deadline(hours: i64) -> Deadline {
        Deadline {
            what: "first_reply".into(),
            label: "首次回复".into(),
            starts_at: t(0),
            due_at: t(hours),
            source: DeadlineSource {
                kind: DeadlineSourceKind::Estimate,
                detail: "72 h".into(),
            },
            consequence: "影响服务质量评分".into(),
            met_at: None,
            counted: None,
        }
    }

    #[test]
    fn thresholds_are_the_percents_of_the_window_and_the_minutes_before() {
        let d = deadline(10);
        let s = DeadlineSettings::default();
        let at: Vec<_> = thresholds(&d, &s)
            .into_iter()
            .map(|x| (x.at, x.key))
            .collect();
        assert_eq!(
            at,
            vec![
                (t(5), "p50".to_string()),
                (t(8), "m120".to_string()),
                (t(8), "p80".to_string()),
            ]
        );
        // A window shorter than the minutes before: that threshold is dropped.
        assert_eq!(thresholds(&deadline(1), &s).len(), 2);
    }

    #[test]
    fn only_the_latest_threshold_passed_is_due_and_the_due_time_escalates() {
        let d = deadline(24);
        let s = DeadlineSettings::default();
        let key = |now| match due_step(&d, &s, now) {
            Some(Step::Remind(x)) => x.key,
            Some(Step::Escalate) => "missed".into(),
            None => "-".into(),
        };
        assert_eq!(key(t(11)), "-");
        assert_eq!(key(t(12)), "p50");
        assert_eq!(key(t(20)), "p80", "downtime past 50 % and 80 %: 80 % alone");
        assert_eq!(key(t(22)), "m120");
        assert_eq!(key(t(24)), "m120", "due now is not missed yet");
        assert_eq!(key(t(25)), "missed");
        assert_eq!(key(t(24) + ESCALATE_WITHIN + Duration::hours(1)), "-");
        let mut met = d.clone();
        met.met_at = Some(t(13));
        assert_eq!(due_step(&met, &s, t(22)), None);
        assert_eq!(due_step(&met, &s, t(30)), None);
        let off = DeadlineSettings {
            reminders: false,
            escalate: false,
            ..s
        };
        assert_eq!(due_step(&d, &off, t(22)), None);
        assert_eq!(due_step(&d, &off, t(30)), None);
    }

    #[test]
    fn the_notice_says_what_by_when_from_where_and_the_consequence() {
        let d = deadline(24);
        let c = Complaint::new(
            "c1".into(),
            domain::complaint::Platform::new("toy"),
            None,
            "acc".into(),
            "P-1".into(),
            t(0),
        );
        let step = Step::Remind(thresholds(&d, &DeadlineSettings::default())[0].clone());
        let s = summary(
            &c,
            &d,
            &step,
            "Shop".into(),
            Some("https://x/c1".into()),
            t(12),
        );
        let text: Vec<String> = s
            .extra_lines
            .iter()
            .map(|l| format!("{}: {}", l.label, l.value))
            .collect();
        assert_eq!(s.event, "处理期限提醒");
        assert_eq!(s.deadline, Some(t(24)));
        assert!(text.contains(&"待办: 首次回复".to_string()), "{text:?}");
        assert!(
            text.contains(&"截止（北京时间）: 2026-03-21 08:00（还剩 12 小时）".to_string()),
            "{text:?}"
        );
        assert!(
            text.contains(&"期限来源: 预估（平台未公布）：72 h".to_string()),
            "{text:?}"
        );
        assert!(text.contains(&"逾期后果: 影响服务质量评分".to_string()));
        assert_eq!(
            span(Duration::minutes(1440 + 2 * 60 + 5)),
            "1 天 2 小时 5 分钟"
        );
    }
}
