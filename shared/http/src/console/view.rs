//! How the console shows things: platforms, statuses, money, Beijing times, deadlines with
//! their countdown.

use super::lang::Lang;
use chrono::{DateTime, FixedOffset, Utc};
use domain::complaint::{Complaint, ComplaintStatus, Platform};

/// Every normalised status, in the order a complaint moves through them.
pub const STATUSES: [ComplaintStatus; 5] = [
    ComplaintStatus::Pending,
    ComplaintStatus::Processing,
    ComplaintStatus::AwaitingPlatform,
    ComplaintStatus::Resolved,
    ComplaintStatus::Closed,
];

pub fn status_label(lang: Lang, s: ComplaintStatus) -> &'static str {
    match s {
        ComplaintStatus::Pending => lang.t("待处理", "Pending"),
        ComplaintStatus::Processing => lang.t("处理中", "Processing"),
        ComplaintStatus::AwaitingPlatform => lang.t("等待平台", "Awaiting platform"),
        ComplaintStatus::Resolved => lang.t("已解决", "Resolved"),
        ComplaintStatus::Closed => lang.t("已关闭", "Closed"),
    }
}

/// The status's CSS class (`status-pending`, ...).
pub fn status_class(s: ComplaintStatus) -> &'static str {
    match s {
        ComplaintStatus::Pending => "status-pending",
        ComplaintStatus::Processing => "status-processing",
        ComplaintStatus::AwaitingPlatform => "status-awaiting",
        ComplaintStatus::Resolved => "status-resolved",
        ComplaintStatus::Closed => "status-closed",
    }
}

pub fn platform_label(lang: Lang, p: Platform) -> &'static str {
    match p.as_str() {
        "wechatpay" => lang.t("微信支付", "WeChat Pay"),
        "alipay" => lang.t("支付宝", "Alipay"),
        "wxmini" => lang.t("微信小程序", "Mini program"),
        // A platform added later shows its name until it has a label here.
        other => other,
    }
}

/// Fen as yuan: `1250` → `12.50`.
pub use super::forms::yuan;

/// At most `chars` characters of `text` on one line, with `…` when cut.
pub fn excerpt(text: &str, chars: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out: String = one_line.chars().take(chars).collect();
    if one_line.chars().count() > chars {
        out.push('…');
    }
    out
}

fn beijing_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero"))
}

/// A time as the platforms' back offices show it: Beijing time, `2026-11-27 09:30`.
pub fn beijing(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A percent-encoded path segment (our ids are safe already; this keeps it so).
pub fn path_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A deadline as the pages show it.
pub struct DueView {
    /// What is due, in words.
    pub label: String,
    /// RFC 3339 (the page's script counts down from it).
    pub iso: String,
    /// Beijing time.
    pub at: String,
    /// `剩 3小时20分` / `3 h 20 min left`, or how long ago it passed.
    pub countdown: String,
    pub overdue: bool,
    /// Less than 4 hours left.
    pub urgent: bool,
}

/// How long `d` is, in words: `2天3小时` / `2 d 3 h`, `3小时20分` / `3 h 20 min`, `5分` /
/// `5 min`.
pub fn span(lang: Lang, d: chrono::Duration) -> String {
    let mins = d.num_minutes().max(0);
    let (days, hours, minutes) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    match lang {
        Lang::Zh if days > 0 => format!("{days}天{hours}小时"),
        Lang::Zh if hours > 0 => format!("{hours}小时{minutes}分"),
        Lang::Zh => format!("{minutes}分钟"),
        Lang::En if days > 0 => format!("{days} d {hours} h"),
        Lang::En if hours > 0 => format!("{hours} h {minutes} min"),
        Lang::En => format!("{minutes} min"),
    }
}

/// A countdown to `due` from `now`.
pub fn countdown(lang: Lang, now: DateTime<Utc>, due: DateTime<Utc>) -> String {
    if due < now {
        match lang {
            Lang::Zh => format!("已逾期 {}", span(lang, now - due)),
            Lang::En => format!("{} overdue", span(lang, now - due)),
        }
    } else {
        match lang {
            Lang::Zh => format!("剩 {}", span(lang, due - now)),
            Lang::En => format!("{} left", span(lang, due - now)),
        }
    }
}

/// A deadline due at `due`, labelled.
pub fn due_view(lang: Lang, now: DateTime<Utc>, label: String, due: DateTime<Utc>) -> DueView {
    DueView {
        label,
        iso: due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        at: beijing(due),
        countdown: countdown(lang, now, due),
        overdue: due < now,
        urgent: due >= now && due - now < chrono::Duration::hours(4),
    }
}

/// The complaint's next deadline not met, if any.
pub fn next_due(lang: Lang, now: DateTime<Utc>, c: &Complaint) -> Option<DueView> {
    let due = c.next_due_at?;
    let label = c
        .deadlines
        .iter()
        .filter(|d| !d.is_met())
        .min_by_key(|d| d.due_at)
        .map(|d| d.label.clone())
        .unwrap_or_default();
    Some(due_view(lang, now, label, due))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn money_times_and_countdowns_read_as_staff_expect() {
        assert_eq!(yuan(1250), "12.50");
        assert_eq!(yuan(5), "0.05");
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 1, 30, 0).unwrap();
        assert_eq!(beijing(t), "2026-11-27 09:30");
        let due = t + chrono::Duration::minutes(200);
        assert_eq!(countdown(Lang::Zh, t, due), "剩 3小时20分");
        assert_eq!(countdown(Lang::En, due, t), "3 h 20 min overdue");
        assert_eq!(excerpt("a\nb<c>", 3), "a b…");
    }
}
