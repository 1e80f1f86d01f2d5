//! Tencent Cloud SMS `SendSms` (API version 2021-01-11), signed with TC3.

use crate::SendError;
use crate::channel::{Channel, OK, Outgoing, Results};
use crate::message::truncate;
use async_trait::async_trait;
use serde_json::{Value, json};

pub const PRODUCTION: &str = "https://sms.tencentcloudapi.com/";
const SERVICE: &str = "sms";
const CONTENT_TYPE: &str = "application/json";

/// An SMS account and template.
#[derive(Clone)]
pub struct SmsConfig {
    pub base_url: url::Url,
    pub region: String,
    pub secret_id: String,
    pub secret_key: String,
    pub sdk_app_id: String,
    pub sign_name: String,
    pub template_id: String,
    /// The template's link variable, if it has one.
    pub link: Option<SmsLink>,
}

/// The most characters the link variable carries. Tencent counts every character of a message
/// (signature and variable values included) against 500 and bills a long one per 67; an
/// account verified as a person is held to 12 characters a variable, too few for any link
/// (leave the link variable out there). A longer link is left out, never cut into a broken one.
pub const LINK_MAX_CHARS: usize = 80;

/// A template variable that carries the link to the notice's page. Tencent refuses a URL in a
/// variable, so the template holds the fixed `https://your-host/` and the variable what follows
/// it (`console/complaints/cmp_…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsLink {
    /// The variable's position, 1-based, after the three fixed ones (4 to 10); the variables
    /// between the third and it are sent as `-` (Tencent wants a value for each).
    pub position: usize,
    /// The start of every link (the public base URL); the variable gets what follows it.
    pub base: Option<String>,
    /// What the variable carries when the message has no link of its own that fits (no public
    /// base URL, a link too long, several events folded into one message), first that fits:
    /// e.g. the inbox filtered to the audience, then the whole inbox.
    pub fallbacks: Vec<String>,
}

impl SmsLink {
    /// The variable's value for `notice` standing for `count` events.
    fn value(&self, notice: &domain::notification::NotificationSummary, count: usize) -> String {
        let own = (count == 1)
            .then(|| {
                let base = self.base.as_deref()?;
                notice.link.as_deref()?.strip_prefix(base)
            })
            .flatten()
            .filter(|p| !p.is_empty());
        if let Some(p) = own {
            if p.chars().count() <= LINK_MAX_CHARS {
                return p.to_string();
            }
            tracing::warn!(
                position = self.position,
                chars = p.chars().count(),
                max = LINK_MAX_CHARS,
                "the notice's link is too long for the SMS link variable; the inbox is linked instead"
            );
        }
        self.fallbacks
            .iter()
            .find(|f| !f.is_empty() && f.chars().count() <= LINK_MAX_CHARS)
            .cloned()
            .unwrap_or_else(|| "-".to_string())
    }
}

impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("base_url", &self.base_url.as_str())
            .field("region", &self.region)
            .field("secret_id", &self.secret_id)
            .field("sdk_app_id", &self.sdk_app_id)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

/// The result for one number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberResult {
    pub phone_number: String,
    /// `Ok` on success, else Tencent's code.
    pub code: String,
    pub message: String,
    pub serial_no: String,
}

impl NumberResult {
    pub fn ok(&self) -> bool {
        self.code == "Ok"
    }
}

/// Request-level error codes worth retrying (the rest are permanent: credentials, template,
/// signature, parameters).
fn retryable(code: &str) -> bool {
    code.starts_with("InternalError")
        || code.starts_with("RequestLimitExceeded")
        || code == "ResourceUnavailable"
        || code.starts_with("FailedOperation.TimeoutError")
}

/// Send one template SMS to several numbers; per-number results.
pub async fn send(
    http: &reqwest::Client,
    cfg: &SmsConfig,
    phone_numbers: &[String],
    template_params: &[String],
    session_context: &str,
    timestamp: i64,
) -> Result<Vec<NumberResult>, SendError> {
    if phone_numbers.is_empty() {
        return Err(SendError::Invalid("no phone numbers".into()));
    }
    let body = json!({
        "PhoneNumberSet": phone_numbers,
        "SmsSdkAppId": cfg.sdk_app_id,
        "SignName": cfg.sign_name,
        "TemplateId": cfg.template_id,
        "TemplateParamSet": template_params,
        "SessionContext": session_context,
    })
    .to_string();
    let host = match (cfg.base_url.host_str(), cfg.base_url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return Err(SendError::Invalid("SMS base URL has no host".into())),
    };
    let auth = crate::tc3::authorization(
        &cfg.secret_id,
        &cfg.secret_key,
        &crate::tc3::Request {
            service: SERVICE,
            host: &host,
            content_type: CONTENT_TYPE,
            payload: body.as_bytes(),
            timestamp,
        },
    );
    let res = http
        .post(cfg.base_url.clone())
        .header("Authorization", auth)
        .header("Content-Type", CONTENT_TYPE)
        .header("Host", &host)
        .header("X-TC-Action", "SendSms")
        .header("X-TC-Version", "2021-01-11")
        .header("X-TC-Region", &cfg.region)
        .header("X-TC-Timestamp", timestamp.to_string())
        .body(body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| SendError::transport("Tencent Cloud SMS", e))?;
    let status = res.status();
    let v: Value = res
        .json()
        .await
        .map_err(|e| SendError::transport("Tencent Cloud SMS", e))?;
    if let Some(err) = v["Response"]["Error"].as_object() {
        let code = err
            .get("Code")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        return Err(SendError::Refused {
            service: "Tencent Cloud SMS",
            retryable: retryable(&code),
            message: err
                .get("Message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            code,
        });
    }
    if !status.is_success() {
        return Err(SendError::Transport {
            service: "Tencent Cloud SMS",
            detail: format!("HTTP {status}"),
        });
    }
    let set = v["Response"]["SendStatusSet"]
        .as_array()
        .ok_or_else(|| SendError::Transport {
            service: "Tencent Cloud SMS",
            detail: "answer without SendStatusSet".into(),
        })?;
    Ok(set
        .iter()
        .map(|r| NumberResult {
            phone_number: r["PhoneNumber"].as_str().unwrap_or_default().into(),
            code: r["Code"].as_str().unwrap_or_default().into(),
            message: r["Message"].as_str().unwrap_or_default().into(),
            serial_no: r["SerialNo"].as_str().unwrap_or_default().into(),
        })
        .collect())
}

/// The SMS channel: one template SMS to every number of the delivery, with the template's
/// three parameters: what happened (`N条: event` when N events were folded into one message),
/// the merchant and the reference, each trimmed to the template's limits; and the link
/// variable when the template has one ([`SmsLink`]).
pub struct SmsChannel<'a> {
    pub http: &'a reqwest::Client,
    pub config: SmsConfig,
}

impl std::fmt::Debug for SmsChannel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsChannel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The template parameters for a message standing for `count` events: the three fixed ones,
/// then, with a link variable, `-` up to it and the link.
pub fn template_params(
    notice: &domain::notification::NotificationSummary,
    count: usize,
    link: Option<&SmsLink>,
) -> Vec<String> {
    let what = if count > 1 {
        format!("{count}条: {}", notice.event)
    } else {
        notice.event.clone()
    };
    let mut params = vec![
        truncate(&what, 12),
        truncate(&notice.merchant, 12),
        truncate(&notice.reference, 32),
    ];
    if let Some(l) = link.filter(|l| l.position > params.len()) {
        params.resize(l.position - 1, "-".to_string());
        params.push(l.value(notice, count));
    }
    params
}

#[async_trait]
impl Channel for SmsChannel<'_> {
    async fn send(&self, message: &Outgoing<'_>) -> Result<Results, SendError> {
        let out = send(
            self.http,
            &self.config,
            message.recipients,
            &template_params(message.notice, message.count, self.config.link.as_ref()),
            message.id,
            message.now.timestamp(),
        )
        .await?;
        Ok(out
            .into_iter()
            .map(|r| {
                let result = if r.ok() {
                    OK.to_string()
                } else {
                    format!("{}: {}", r.code, r.message)
                };
                (r.phone_number, result)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(event: &str) -> domain::notification::NotificationSummary {
        domain::notification::NotificationSummary {
            platform: "wechatpay".into(),
            event: event.into(),
            merchant: "一家名字很长很长很长的门店有限公司".into(),
            reference: "200201820261126000000000012345678901".into(),
            at: chrono::DateTime::UNIX_EPOCH,
            amount_fen: None,
            user_text: None,
            deadline: None,
            link: None,
            extra_lines: vec![],
        }
    }

    #[test]
    fn folded_messages_count_their_events_and_parameters_are_trimmed() {
        assert_eq!(
            template_params(&notice("新投诉"), 1, None),
            [
                "新投诉",
                "一家名字很长很长很长的…",
                "2002018202611260000000000123456…"
            ]
        );
        assert_eq!(
            template_params(&notice("新投诉"), 3, None)[0],
            "3条: 新投诉"
        );
        assert_eq!(
            template_params(&notice("VIOLATION.INTERCEPT"), 12, None)[0],
            "12条: VIOLAT…"
        );
    }

    fn link(position: usize) -> SmsLink {
        SmsLink {
            position,
            base: Some("https://desk.example.com/".into()),
            fallbacks: vec!["console/?account=acc_1".into(), "console/".into()],
        }
    }

    fn linked(path: &str) -> domain::notification::NotificationSummary {
        domain::notification::NotificationSummary {
            link: Some(format!("https://desk.example.com/{path}")),
            ..notice("新投诉")
        }
    }

    #[test]
    fn the_link_variable_gets_the_path_after_the_base() {
        let n = linked("console/complaints/cmp_0123456789abcdef01234567");
        let p = template_params(&n, 1, Some(&link(4)));
        assert_eq!(p.len(), 4);
        assert_eq!(p[3], "console/complaints/cmp_0123456789abcdef01234567");
        // A later position: the variables between are sent as `-`.
        let p = template_params(&n, 1, Some(&link(6)));
        assert_eq!(
            p[3..],
            ["-", "-", "console/complaints/cmp_0123456789abcdef01234567"]
        );
        // No link variable: the three only.
        assert_eq!(template_params(&n, 1, None).len(), 3);
    }

    #[test]
    fn a_link_that_does_not_fit_is_replaced_by_the_inbox_never_cut() {
        let long = format!("console/complaints/{}", "x".repeat(LINK_MAX_CHARS));
        let p = template_params(&linked(&long), 1, Some(&link(4)));
        assert_eq!(p[3], "console/?account=acc_1");
        // Several events folded into one message: the inbox.
        let p = template_params(&linked("console/complaints/cmp_1"), 2, Some(&link(4)));
        assert_eq!(p[3], "console/?account=acc_1");
        // No link (no public base URL) or one under another base: the inbox.
        assert_eq!(
            template_params(&notice("新投诉"), 1, Some(&link(4)))[3],
            "console/?account=acc_1"
        );
        let mut other = linked("console/complaints/cmp_1");
        other.link = Some("https://old.example.com/console/complaints/cmp_1".into());
        assert_eq!(
            template_params(&other, 1, Some(&link(4)))[3],
            "console/?account=acc_1"
        );
        // A fallback too long itself gives way to the next one.
        let mut l = link(4);
        l.fallbacks[0] = format!("console/?account={}", "a".repeat(LINK_MAX_CHARS));
        assert_eq!(
            template_params(&notice("新投诉"), 1, Some(&l))[3],
            "console/"
        );
    }
}
