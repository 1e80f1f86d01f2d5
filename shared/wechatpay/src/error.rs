//! Typed platform errors.

/// What went wrong talking to WeChat Pay. Messages never carry secrets or URLs with tokens.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// WeChat Pay answered with an error body: `code` and `message` are the platform's.
    #[error("WeChat Pay answered {status}: {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// The request did not complete (connect, timeout, TLS).
    #[error("cannot reach WeChat Pay")]
    Transport(#[source] reqwest::Error),
    /// The response's signature did not verify: never trust its content.
    #[error("the response signature does not verify")]
    Verify(#[source] crate::verify::VerifyError),
    /// The response is not what the API documents.
    #[error("unexpected response: {0}")]
    Decode(String),
    #[error(transparent)]
    Decrypt(#[from] crate::aead::AeadError),
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl PlatformError {
    /// Worth retrying later: transport failures, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            PlatformError::Transport(_) => true,
            PlatformError::Api { .. } if self.is_throttled() => true,
            PlatformError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// WeChat Pay said "too many requests" (HTTP 429, or the code `FREQUENCY_LIMITED` with
    /// any status): back off with jitter before trying again. Every retry is a new request,
    /// signed again with a fresh timestamp and nonce.
    pub fn is_throttled(&self) -> bool {
        match self {
            PlatformError::Api { status, code, .. } => {
                *status == 429 || code == "FREQUENCY_LIMITED"
            }
            _ => false,
        }
    }

    /// The platform's error code, if it answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            PlatformError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for PlatformError {
    fn from(e: reqwest::Error) -> Self {
        PlatformError::Transport(e.without_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> PlatformError {
        PlatformError::Api {
            status,
            code: code.into(),
            message: String::new(),
        }
    }

    #[test]
    fn frequency_limited_is_throttling_and_retryable() {
        for e in [
            api(429, "FREQUENCY_LIMITED"),
            api(429, ""),
            api(403, "FREQUENCY_LIMITED"),
        ] {
            assert!(e.is_throttled(), "{e}");
            assert!(e.is_retryable(), "{e}");
        }
        assert!(!api(500, "SYSTEM_ERROR").is_throttled());
        assert!(api(500, "SYSTEM_ERROR").is_retryable());
        assert!(!api(400, "PARAM_ERROR").is_throttled());
        assert!(!api(400, "PARAM_ERROR").is_retryable());
    }
}
