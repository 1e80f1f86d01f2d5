//! WeChat official-account template messages. The access token comes from outside, through
//! [`AccessTokens`] (the application's one token cache).

use crate::SendError;
use crate::channel::{Channel, OK, Outgoing, Results};
use crate::message::Render;
use async_trait::async_trait;
use domain::notification::NotificationSummary;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const PRODUCTION: &str = "https://api.weixin.qq.com/";

/// Errors that mean "this access token is no good": refresh once and retry.
pub fn is_token_error(e: &SendError) -> bool {
    matches!(e.code(), Some("40001" | "42001" | "40014"))
}

fn wechat_error(v: &Value) -> Option<SendError> {
    let code = v["errcode"].as_i64()?;
    if code == 0 {
        return None;
    }
    Some(SendError::Refused {
        service: "WeChat",
        code: code.to_string(),
        message: v["errmsg"].as_str().unwrap_or_default().to_string(),
        // -1: system busy; 45009: daily quota (later); token errors are handled by the caller.
        retryable: code == -1 || code == 45009,
    })
}

/// `POST /cgi-bin/message/template/send`; the message id.
pub async fn send_template(
    http: &reqwest::Client,
    base: &url::Url,
    access_token: &str,
    message: &Value,
) -> Result<i64, SendError> {
    let mut url = base
        .join("cgi-bin/message/template/send")
        .map_err(|e| SendError::Invalid(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("access_token", access_token);
    let v: Value = http
        .post(url)
        .json(message)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| SendError::transport("WeChat", e))?
        .json()
        .await
        .map_err(|e| SendError::transport("WeChat", e))?;
    if let Some(e) = wechat_error(&v) {
        return Err(e);
    }
    Ok(v["msgid"].as_i64().unwrap_or_default())
}

/// The template message for one openid: each template key gets the mapped field, trimmed to
/// the platform's limits by the key's type (`thing` 20 characters, `character_string` 32,
/// `phrase` 5, others 20).
pub fn template_message(
    openid: &str,
    template_id: &str,
    mapping: &BTreeMap<String, String>,
    notice: &NotificationSummary,
    client_msg_id: &str,
) -> Value {
    let mut data = serde_json::Map::new();
    for (key, field) in mapping {
        let value = notice.field(field).unwrap_or_else(|| "-".into());
        let limit = if key.starts_with("character_string") {
            32
        } else if key.starts_with("phrase") {
            5
        } else if key.starts_with("amount") || key.starts_with("time") {
            32
        } else {
            20
        };
        data.insert(
            key.clone(),
            json!({"value": crate::message::truncate(&value, limit)}),
        );
    }
    let mut m = json!({"touser": openid, "template_id": template_id, "data": data, "client_msg_id": client_msg_id});
    if let Some(l) = &notice.link
        && l.starts_with("https://")
    {
        m["url"] = json!(l);
    }
    m
}

/// Where the template channel gets an official account's access token: the application's
/// token cache, keyed by the credentials that obtained it.
#[async_trait]
pub trait AccessTokens: Send + Sync {
    /// A valid token; `rejected`: the token WeChat just refused (expired or revoked), to be
    /// replaced by a fresh one.
    async fn access_token(&self, rejected: Option<&str>) -> Result<String, SendError>;
}

/// The template-message channel: one message per openid, each with its own result. A token
/// error is answered by refreshing the token once and trying that openid once more.
pub struct TemplateChannel<'a> {
    pub http: &'a reqwest::Client,
    /// The API base ([`PRODUCTION`], or a simulator).
    pub base: url::Url,
    pub template_id: String,
    /// Template key → notice field ([`Render::field`]).
    pub field_mapping: BTreeMap<String, String>,
    pub tokens: Box<dyn AccessTokens + 'a>,
}

impl std::fmt::Debug for TemplateChannel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateChannel")
            .field("base", &self.base.as_str())
            .field("template_id", &self.template_id)
            .finish_non_exhaustive()
    }
}

impl TemplateChannel<'_> {
    /// Send to one openid: refresh the token once, then retry once, if WeChat rejects it.
    /// The outer error: no token could be had (it fails the whole delivery, as any error of
    /// the token cache does); the inner one: WeChat's answer for this openid.
    async fn send_one(&self, msg: &Value) -> Result<Result<i64, SendError>, SendError> {
        let token = self.tokens.access_token(None).await?;
        Ok(
            match send_template(self.http, &self.base, &token, msg).await {
                Err(e) if is_token_error(&e) => {
                    let token = self.tokens.access_token(Some(&token)).await?;
                    send_template(self.http, &self.base, &token, msg).await
                }
                other => other,
            },
        )
    }
}

#[async_trait]
impl Channel for TemplateChannel<'_> {
    /// A token that cannot be had, or a retryable failure, stops the delivery (for a retry if
    /// retryable); a permanent failure is that openid's result. Permanent failures for every
    /// openid fail it.
    async fn send(&self, message: &Outgoing<'_>) -> Result<Results, SendError> {
        let mut results = Results::new();
        for openid in message.recipients {
            let msg = template_message(
                openid,
                &self.template_id,
                &self.field_mapping,
                message.notice,
                &format!("{}-{openid}", message.id),
            );
            match self.send_one(&msg).await? {
                Ok(_) => results.insert(openid.clone(), OK.into()),
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => results.insert(openid.clone(), e.to_string()),
            };
        }
        if results.values().all(|r| r != OK) {
            return Err(SendError::EveryRecipient {
                service: crate::error::services::WECHAT,
                results,
            });
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_in_a_template_message_is_the_short_count_and_the_link() {
        let n = crate::message::tests::long_digest();
        let mapping: std::collections::BTreeMap<String, String> = [
            ("thing1", "merchant"),
            ("character_string2", "complaint_id"),
            ("time3", "time"),
            ("thing4", "user_text"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let m = template_message("o_1", "TPL", &mapping, &n, "id");
        assert_eq!(m["data"]["character_string2"]["value"], "2026-11-27");
        assert_eq!(m["data"]["thing4"]["value"], "未结45 逾期3 昨日新4");
        assert_eq!(m["data"]["time3"]["value"], "2026-11-27 09:00");
        assert_eq!(m["url"], "https://desk.example.com/console/?account=acc_1");
    }
}
