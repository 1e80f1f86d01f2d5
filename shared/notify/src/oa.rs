//! WeChat official-account template messages (the access token comes from the `wechat`
//! crate's token cache).

use crate::SendError;
use serde_json::{Value, json};

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
    mapping: &std::collections::BTreeMap<String, String>,
    notice: &crate::Notice,
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
