//! What staff are told, rendered for each channel: the domain's notice
//! ([`NotificationSummary`], the summary a notification job carries) through [`Render`].

use chrono::{DateTime, FixedOffset, Utc};
use domain::notification::{DIGEST_EVENT, NotificationSummary};

/// The most bytes of a bot's markdown (WeCom refuses more than 4096; the rest of a long
/// notice, such as a digest's list, is behind its link).
pub const MARKDOWN_MAX_BYTES: usize = 3800;

fn is_digest(n: &NotificationSummary) -> bool {
    n.event == DIGEST_EVENT
}

/// Whether a line's value is one of our own links (a digest's overdue view): an address on
/// the host of the notice's own link, shown as a link where the channel has them. Anything
/// else stays text, so a buyer's words that look like an address never become a link.
fn is_own_link(n: &NotificationSummary, v: &str) -> bool {
    let Some(link) = n.link.as_deref() else {
        return false;
    };
    let Some((scheme, rest)) = link.split_once("://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    !host.is_empty()
        && v.strip_prefix(&format!("{scheme}://{host}/")).is_some()
        && !v.contains(char::is_whitespace)
        && !v.contains(['"', '<', '>', '(', ')', '[', ']'])
}

fn china(t: DateTime<Utc>) -> String {
    let tz = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

fn platform_name(p: &str) -> &str {
    match p {
        "wechatpay" => "微信支付",
        "alipay" => "支付宝",
        "wxmini" => "微信小程序",
        other => other,
    }
}

/// Characters, not bytes: platforms count characters.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The notice rendered for a channel. Implemented for the domain's notice; a channel calls
/// these, it never builds a notice type of its own.
pub trait Render {
    /// The amount in yuan (`9.90 元`), if any.
    fn amount(&self) -> Option<String>;
    /// `[platform] event: merchant`.
    fn title(&self) -> String;
    /// (label, value) lines in the order staff read them.
    fn lines(&self) -> Vec<(String, String)>;
    /// Plain text: the title, the lines and the link.
    fn text(&self) -> String;
    /// HTML (escaped): the title, a table of the lines and the link.
    fn html(&self) -> String;
    /// Markdown for group bots.
    fn markdown(&self) -> String;
    /// A named field for template messages: `platform`, `merchant`, `complaint_id`, `time`,
    /// `amount`, `user_text`, `deadline`, `event`.
    fn field(&self, name: &str) -> Option<String>;
}

impl Render for NotificationSummary {
    fn amount(&self) -> Option<String> {
        self.amount_fen
            .map(|f| format!("{}.{:02} 元", f / 100, f % 100))
    }

    fn title(&self) -> String {
        format!(
            "[{}] {}: {}",
            platform_name(&self.platform),
            self.event,
            self.merchant
        )
    }

    fn lines(&self) -> Vec<(String, String)> {
        if is_digest(self) {
            // A digest: its day, its one-line count, then its own lines.
            let mut v = vec![
                (
                    "平台".to_string(),
                    platform_name(&self.platform).to_string(),
                ),
                ("商户".to_string(), self.merchant.clone()),
                ("日期".to_string(), self.reference.clone()),
            ];
            if let Some(t) = &self.user_text {
                v.push(("概要".to_string(), t.clone()));
            }
            for l in &self.extra_lines {
                v.push((l.label.clone(), l.value.clone()));
            }
            return v;
        }
        let mut v = vec![
            (
                "平台".to_string(),
                platform_name(&self.platform).to_string(),
            ),
            ("事件".to_string(), self.event.clone()),
            ("商户".to_string(), self.merchant.clone()),
            ("单号".to_string(), self.reference.clone()),
            ("时间".to_string(), china(self.at)),
        ];
        if let Some(a) = self.amount() {
            v.push(("金额".to_string(), a));
        }
        if let Some(t) = &self.user_text {
            v.push(("用户描述".to_string(), t.clone()));
        }
        if let Some(d) = self.deadline {
            v.push(("处理期限".to_string(), china(d)));
        }
        for l in &self.extra_lines {
            v.push((l.label.clone(), l.value.clone()));
        }
        v
    }

    fn text(&self) -> String {
        let mut s = self.title();
        s.push_str("\n\n");
        for (k, v) in self.lines() {
            s.push_str(&format!("{k}: {v}\n"));
        }
        if let Some(l) = &self.link {
            s.push_str(&format!("\n{l}\n"));
        }
        s
    }

    fn html(&self) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let mut s = format!("<h3>{}</h3><table>", esc(&self.title()));
        for (k, v) in self.lines() {
            let v = if is_own_link(self, &v) {
                format!("<a href=\"{0}\">{0}</a>", esc(&v))
            } else {
                esc(&v)
            };
            s.push_str(&format!(
                "<tr><th align=\"left\">{}</th><td>{v}</td></tr>",
                esc(&k)
            ));
        }
        s.push_str("</table>");
        if let Some(l) = &self.link {
            s.push_str(&format!("<p><a href=\"{0}\">{0}</a></p>", esc(l)));
        }
        s
    }

    fn markdown(&self) -> String {
        let mut s = format!("### {}\n", self.title());
        let link = self
            .link
            .as_ref()
            .map(|l| format!("\n[详情]({l})\n"))
            .unwrap_or_default();
        let cut = "> …（更多见详情）\n";
        let lines = self.lines();
        let total = lines.len();
        for (i, (k, v)) in lines.into_iter().enumerate() {
            let line = if is_own_link(self, &v) {
                format!("> **{k}**: [查看]({v})\n")
            } else {
                format!("> **{k}**: {v}\n")
            };
            // Keep room for the cut marker (unless this is the last line) and the link.
            let room = if i + 1 == total { 0 } else { cut.len() };
            if s.len() + line.len() + room + link.len() > MARKDOWN_MAX_BYTES {
                s.push_str(cut);
                break;
            }
            s.push_str(&line);
        }
        s.push_str(&link);
        s
    }

    fn field(&self, name: &str) -> Option<String> {
        Some(match name {
            "platform" => platform_name(&self.platform).to_string(),
            "merchant" => self.merchant.clone(),
            "complaint_id" | "reference" => self.reference.clone(),
            "time" => china(self.at),
            "amount" => self.amount()?,
            "user_text" => self.user_text.clone()?,
            "deadline" => china(self.deadline?),
            "event" => self.event.clone(),
            _ => return None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use domain::notification::SummaryLine;

    /// A digest of 30 complaint lines and a "more" line, as the daily pass writes it.
    pub(crate) fn long_digest() -> NotificationSummary {
        let mut extra_lines = vec![SummaryLine {
            label: "未结投诉".into(),
            value: "45 件，其中逾期 3 件".into(),
        }];
        for i in 0..30 {
            extra_lines.push(SummaryLine {
                label: format!("20020182026112508007661{i:04}"),
                value: "已逾期：首次回复（24:00 前回复用户），截止 11-26 24:00；99.00 元".into(),
            });
        }
        extra_lines.push(SummaryLine {
            label: "…".into(),
            value: "另有 15 件未列出（见链接）".into(),
        });
        NotificationSummary {
            platform: "wechatpay".into(),
            event: DIGEST_EVENT.into(),
            merchant: "某某旗舰店".into(),
            reference: "2026-11-27".into(),
            at: Utc
                .with_ymd_and_hms(2026, 11, 27, 1, 0, 0)
                .single()
                .expect("time"),
            amount_fen: None,
            user_text: Some("未结45 逾期3 昨日新4".into()),
            deadline: None,
            link: Some("https://desk.example.com/console/?account=acc_1".into()),
            extra_lines,
        }
    }

    #[test]
    fn a_long_digest_fits_a_bot_message_and_keeps_its_link() {
        let n = long_digest();
        let md = n.markdown();
        assert!(md.len() <= MARKDOWN_MAX_BYTES, "{} bytes", md.len());
        assert!(md.contains("> …（更多见详情）"), "{md}");
        assert!(md.ends_with("[详情](https://desk.example.com/console/?account=acc_1)\n"));
        assert!(
            md.contains("**未结投诉**: 45 件"),
            "the counts come first: {md}"
        );
        // E-mail keeps every line.
        let text = n.text();
        assert!(text.contains("另有 15 件未列出"), "{text}");
        assert_eq!(text.matches("已逾期").count(), 30);
        assert!(
            !text.contains("单号"),
            "a digest has no complaint number: {text}"
        );
        // A short notice is not cut.
        let mut short = long_digest();
        short.extra_lines.truncate(3);
        assert!(!short.markdown().contains("更多见详情"));
    }

    #[test]
    fn a_line_holding_a_link_is_a_link_where_the_channel_has_links() {
        let mut n = long_digest();
        n.extra_lines.insert(
            1,
            SummaryLine {
                label: "逾期投诉 / overdue".into(),
                value: "https://desk.example.com/console/?account=acc_1&due=overdue".into(),
            },
        );
        n.extra_lines.push(SummaryLine {
            label: "<b>x</b>".into(),
            value: "http://not a link".into(),
        });
        n.user_text = Some("https://evil.example/pay".into());
        let md = n.markdown();
        assert!(
            md.contains(
                "> **逾期投诉 / overdue**: [查看](https://desk.example.com/console/?account=acc_1&due=overdue)\n"
            ),
            "{md}"
        );
        let html = n.html();
        assert!(
            html.contains(
                "<td><a href=\"https://desk.example.com/console/?account=acc_1&amp;due=overdue\">"
            ),
            "{html}"
        );
        assert!(
            html.contains("<th align=\"left\">&lt;b&gt;x&lt;/b&gt;</th><td>http://not a link</td>"),
            "labels are escaped, a value with a space is no link: {html}"
        );
        assert!(
            !html.contains("href=\"https://evil.example") && !md.contains("(https://evil.example"),
            "an address on another host (the buyer's words) stays text: {html}"
        );
        assert!(n.text().contains(
            "逾期投诉 / overdue: https://desk.example.com/console/?account=acc_1&due=overdue\n"
        ));
    }
}
