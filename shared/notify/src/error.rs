//! Why a send failed, and whether trying again later can help.

/// A failed send. Messages carry the service's own code and message, never a secret or URL.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The service answered with an error.
    #[error("{service} refused: {code}: {message}")]
    Refused {
        service: &'static str,
        code: String,
        message: String,
        retryable: bool,
    },
    /// The request did not complete (connect, timeout, TLS, 5xx without a body).
    #[error("cannot reach {service}: {detail}")]
    Transport {
        service: &'static str,
        detail: String,
    },
    /// Our input cannot be sent (bad address, missing setting).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The channel's settings do not work with this server (authentication refused, no
    /// authentication offered, certificate not trusted): trying again cannot help until
    /// someone changes them. `reason` names the cause and what to change.
    #[error("{reason}")]
    Misconfigured {
        reason: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl SendError {
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Refused { retryable, .. } => *retryable,
            SendError::Transport { .. } => true,
            SendError::Invalid(_) | SendError::Misconfigured { .. } => false,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            SendError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn transport(service: &'static str, e: reqwest::Error) -> Self {
        // Without the URL: webhook URLs and WeChat URLs carry tokens.
        let e = e.without_url();
        SendError::Transport {
            service,
            detail: if e.is_timeout() {
                "timed out".into()
            } else if e.is_connect() {
                "connection failed".into()
            } else {
                e.to_string()
            },
        }
    }
}
