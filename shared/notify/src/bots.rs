//! Group bots: WeCom (企业微信), DingTalk (钉钉, optional "加签" secret) and Feishu (飞书,
//! optional signature secret) webhook robots. The webhook URL carries the bot's token: it is a
//! secret and never appears in errors or logs.

use crate::SendError;
use crate::channel::{Channel, Outgoing, Results, all_ok};
use crate::message::Render;
use async_trait::async_trait;
use base64::Engine;
use domain::notification::NotificationSummary;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Wecom,
    Dingtalk,
    Feishu,
}

impl Kind {
    fn service(self) -> &'static str {
        match self {
            Kind::Wecom => crate::error::services::WECOM_BOT,
            Kind::Dingtalk => crate::error::services::DINGTALK_BOT,
            Kind::Feishu => crate::error::services::FEISHU_BOT,
        }
    }
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

/// DingTalk: `sign = base64(HMAC-SHA256(secret, "{timestamp_ms}\n{secret}"))`.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    hmac_b64(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    )
}

/// Feishu: `sign = base64(HMAC-SHA256(key = "{timestamp_s}\n{secret}", message = ""))`.
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    hmac_b64(format!("{timestamp_s}\n{secret}").as_bytes(), b"")
}

/// Codes that mean "too many messages, later": retry. Everything else is permanent.
fn retryable(kind: Kind, code: i64) -> bool {
    match kind {
        Kind::Wecom => code == 45009 || code == -1,
        Kind::Dingtalk => code == 130101 || code == -1,
        Kind::Feishu => code == 11232 || code == 9499,
    }
}

/// Post `notice` to a bot. `now_ms` is the current time in milliseconds (signatures).
pub async fn send(
    http: &reqwest::Client,
    kind: Kind,
    webhook_url: &str,
    signing_secret: Option<&str>,
    notice: &NotificationSummary,
    now_ms: i64,
) -> Result<(), SendError> {
    let mut url = url::Url::parse(webhook_url)
        .map_err(|_| SendError::Invalid("the webhook URL is not a URL".into()))?;
    let body = match kind {
        Kind::Wecom => json!({"msgtype": "markdown", "markdown": {"content": notice.markdown()}}),
        Kind::Dingtalk => {
            if let Some(secret) = signing_secret {
                url.query_pairs_mut()
                    .append_pair("timestamp", &now_ms.to_string())
                    .append_pair("sign", &dingtalk_sign(secret, now_ms));
            }
            json!({"msgtype": "markdown", "markdown": {"title": notice.title(), "text": notice.markdown()}})
        }
        Kind::Feishu => {
            let mut b = json!({"msg_type": "text", "content": {"text": notice.text()}});
            if let Some(secret) = signing_secret {
                let ts = now_ms / 1000;
                b["timestamp"] = json!(ts.to_string());
                b["sign"] = json!(feishu_sign(secret, ts));
            }
            b
        }
    };
    let res = http
        .post(url)
        .json(&body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| SendError::transport(kind.service(), e))?;
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    let code = v["errcode"]
        .as_i64()
        .or_else(|| v["code"].as_i64())
        .or_else(|| v["StatusCode"].as_i64());
    match code {
        Some(0) if status.is_success() => Ok(()),
        Some(c) => Err(SendError::Refused {
            service: kind.service(),
            code: c.to_string(),
            message: v["errmsg"]
                .as_str()
                .or_else(|| v["msg"].as_str())
                .unwrap_or_default()
                .to_string(),
            retryable: retryable(kind, c),
        }),
        None => Err(SendError::Transport {
            service: kind.service(),
            detail: format!("HTTP {status} without a result code"),
        }),
    }
}

/// A group bot as a channel: the message goes to the bot's webhook; the delivery's one
/// recipient is the bot's id.
pub struct BotChannel<'a> {
    pub http: &'a reqwest::Client,
    pub kind: Kind,
    /// A secret: it carries the bot's token.
    pub webhook_url: String,
    pub signing_secret: Option<String>,
}

impl std::fmt::Debug for BotChannel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotChannel")
            .field("kind", &self.kind)
            .field("signed", &self.signing_secret.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Channel for BotChannel<'_> {
    async fn send(&self, message: &Outgoing<'_>) -> Result<Results, SendError> {
        send(
            self.http,
            self.kind,
            &self.webhook_url,
            self.signing_secret.as_deref(),
            message.notice,
            message.now.timestamp_millis(),
        )
        .await?;
        Ok(all_ok(message.recipients))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_documented_recipes() {
        // Recomputed independently: python3 -c "import hmac,hashlib,base64;
        // print(base64.b64encode(hmac.new(b'SEC', b'1700000000000\nSEC', hashlib.sha256).digest()))"
        assert_eq!(
            dingtalk_sign("SEC", 1_700_000_000_000),
            "r+2we0q01lkZqz38LA5IPNbHN81U1leRf3Au4PSQb6Q="
        );
        assert_eq!(
            feishu_sign("SEC", 1_700_000_000),
            "yKzlnG5gJbbUvULgjP0QN/V99n1fNH31XG8Rrvl9pfk="
        );
    }
}
