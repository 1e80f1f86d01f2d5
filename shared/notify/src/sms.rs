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
}

impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("base_url", &self.base_url.as_str())
            .field("region", &self.region)
            .field("secret_id", &self.secret_id)
            .field("sdk_app_id", &self.sdk_app_id)
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
/// the merchant and the reference, each trimmed to the template's limits.
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

/// The template parameters for a message standing for `count` events.
pub fn template_params(
    notice: &domain::notification::NotificationSummary,
    count: usize,
) -> Vec<String> {
    let what = if count > 1 {
        format!("{count}条: {}", notice.event)
    } else {
        notice.event.clone()
    };
    vec![
        truncate(&what, 12),
        truncate(&notice.merchant, 12),
        truncate(&notice.reference, 32),
    ]
}

#[async_trait]
impl Channel for SmsChannel<'_> {
    async fn send(&self, message: &Outgoing<'_>) -> Result<Results, SendError> {
        let out = send(
            self.http,
            &self.config,
            message.recipients,
            &template_params(message.notice, message.count),
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
            template_params(&notice("新投诉"), 1),
            [
                "新投诉",
                "一家名字很长很长很长的…",
                "2002018202611260000000000123456…"
            ]
        );
        assert_eq!(template_params(&notice("新投诉"), 3)[0], "3条: 新投诉");
        assert_eq!(
            template_params(&notice("VIOLATION.INTERCEPT"), 12)[0],
            "12条: VIOLAT…"
        );
    }
}
