//! What staff are told, rendered for each channel: the domain's notice
//! ([`NotificationSummary`], the summary a notification job carries) through [`Render`].

use chrono::{DateTime, FixedOffset, Utc};
use domain::notification::NotificationSummary;

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
            s.push_str(&format!(
                "<tr><th align=\"left\">{k}</th><td>{}</td></tr>",
                esc(&v)
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
        for (k, v) in self.lines() {
            s.push_str(&format!("> **{k}**: {v}\n"));
        }
        if let Some(l) = &self.link {
            s.push_str(&format!("\n[详情]({l})\n"));
        }
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
