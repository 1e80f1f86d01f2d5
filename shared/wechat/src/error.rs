//! One error type for every WeChat server API call.

/// What went wrong talking to WeChat. Never carries a URL (WeChat URLs hold `access_token`).
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// No answer, or an answer we could not read.
    #[error("WeChat unreachable or unreadable: {0}")]
    Transport(String),
    /// WeChat answered with a non-zero `errcode`.
    #[error("WeChat refused ({code}): {message}")]
    Api { code: i64, message: String },
    /// We could not make the request (bad input, missing credential).
    #[error("{0}")]
    Invalid(String),
    /// The token cache failed.
    #[error("token cache: {0}")]
    Cache(String),
    /// Not possible yet, but soon (no `component_verify_ticket` received so far).
    #[error("{0}")]
    NotReady(String),
}

impl WechatError {
    pub fn transport(e: reqwest::Error) -> Self {
        WechatError::Transport(e.without_url().to_string())
    }

    pub fn code(&self) -> Option<i64> {
        match self {
            WechatError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The access token is no good: refresh once and retry.
    pub fn is_token_error(&self) -> bool {
        matches!(self.code(), Some(40001 | 42001 | 40014))
    }

    /// `309`: the complaint already moved to another state; the action counts as done.
    pub fn is_already_moved_on(&self) -> bool {
        self.code() == Some(309)
    }

    /// WeChat throttled the call: `45009` (the API's daily quota is used up) or `45011` (its
    /// per-minute quota). Back off with jitter; a daily quota only comes back the next day
    /// (or when the quota is reset in the console), so such jobs end in the dead letters
    /// after their attempts, to be replayed.
    pub fn is_throttled(&self) -> bool {
        matches!(self.code(), Some(45009 | 45011))
    }

    /// Worth retrying later: transport trouble, `-1` (system busy), throttling (`45009`,
    /// `45011`), cache trouble, no ticket yet.
    pub fn is_retryable(&self) -> bool {
        match self {
            WechatError::Transport(_) | WechatError::Cache(_) | WechatError::NotReady(_) => true,
            WechatError::Api { .. } if self.is_throttled() => true,
            WechatError::Api { code, .. } => *code == -1,
            WechatError::Invalid(_) => false,
        }
    }
}

/// Send a request and read its JSON answer, `errcode` checked.
pub async fn send_json(req: reqwest::RequestBuilder) -> Result<serde_json::Value, WechatError> {
    let v: serde_json::Value = req
        .send()
        .await
        .map_err(WechatError::transport)?
        .json()
        .await
        .map_err(WechatError::transport)?;
    check(&v)?;
    Ok(v)
}

/// The `errcode` of an answer as an error (0 or absent is success).
pub fn check(v: &serde_json::Value) -> Result<(), WechatError> {
    match v["errcode"].as_i64() {
        None | Some(0) => Ok(()),
        Some(code) => Err(WechatError::Api {
            code,
            message: v["errmsg"].as_str().unwrap_or_default().to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::WechatError;

    #[test]
    fn quota_answers_are_throttling() {
        for code in [45009, 45011] {
            let e = WechatError::Api {
                code,
                message: String::new(),
            };
            assert!(e.is_throttled(), "{code}");
            assert!(e.is_retryable(), "{code}");
        }
        let bad = WechatError::Api {
            code: 40003,
            message: String::new(),
        };
        assert!(!bad.is_throttled() && !bad.is_retryable());
    }
}
