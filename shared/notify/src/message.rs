//! What staff are told, rendered for each channel.

use chrono::{DateTime, FixedOffset, Utc};

/// The essentials of one event for staff.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// `wechatpay`, `alipay`, `wxmini`.
    pub platform: String,
    /// What happened (`new complaint`, `VIOLATION.INTERCEPT`, ...).
    pub event: String,
    /// The merchant or sub-merchant.
    pub merchant: String,
    /// The platform's complaint or record id.
    pub reference: String,
    pub at: DateTime<Utc>,
    pub amount_fen: Option<u64>,
    pub user_text: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    /// Our detail page or admin API link.
    pub link: Option<String>,
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

impl Notice {
    pub fn amount(&self) -> Option<String> {
        self.amount_fen
            .map(|f| format!("{}.{:02} 元", f / 100, f % 100))
    }

    pub fn title(&self) -> String {
        format!(
            "[{}] {}: {}",
            platform_name(&self.platform),
            self.event,
            self.merchant
        )
    }

    /// (label, value) lines in the order staff read them.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("平台", platform_name(&self.platform).to_string()),
            ("事件", self.event.clone()),
            ("商户", self.merchant.clone()),
            ("单号", self.reference.clone()),
            ("时间", china(self.at)),
        ];
        if let Some(a) = self.amount() {
            v.push(("金额", a));
        }
        if let Some(t) = &self.user_text {
            v.push(("用户描述", t.clone()));
        }
        if let Some(d) = self.deadline {
            v.push(("处理期限", china(d)));
        }
        v
    }

    pub fn text(&self) -> String {
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

    pub fn html(&self) -> String {
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

    pub fn markdown(&self) -> String {
        let mut s = format!("### {}\n", self.title());
        for (k, v) in self.lines() {
            s.push_str(&format!("> **{k}**: {v}\n"));
        }
        if let Some(l) = &self.link {
            s.push_str(&format!("\n[详情]({l})\n"));
        }
        s
    }

    /// A named field for template messages: `platform`, `merchant`, `complaint_id`, `time`,
    /// `amount`, `user_text`, `deadline`, `event`.
    pub fn field(&self, name: &str) -> Option<String> {
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
