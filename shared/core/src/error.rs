//! The core's own error: what a use-case reports to whoever called it (an admin route maps it
//! to an HTTP answer, a job handler to a retry or a dead letter). No web framework here.

use domain::ports::{SecretError, StoreError};

/// Why a use-case did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's input is wrong, naming the field (as a dotted path) when there is one.
    #[error("{}", match field { Some(f) => format!("{f}: {message}"), None => message.clone() })]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// The stored state does not allow it (another account uses this id, ...).
    #[error("{0}")]
    Conflict(String),
    /// Not there, or outside the caller's scope (the two answer alike).
    #[error("{0}")]
    NotFound(String),
    /// A platform call this needs is over its rate-limit budget (ours, shared with the workers,
    /// or the platform's own "too many requests"): nothing was sent. Retry after `retry_after`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: std::time::Duration,
    },
    /// The platform refused or failed.
    #[error("platform: {0}")]
    Platform(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A dependency is unavailable; retrying may help.
    #[error("unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// Our own fault (a stored record that cannot be read, ...).
    #[error("internal: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Internal(Box::new(e))
    }
}

/// An error and its sources, `: `-joined (for logs and dead-letter reasons).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Deserialize a JSON value that sits at `prefix` in the caller's input (e.g. `settings`).
pub fn from_value_at<T: serde::de::DeserializeOwned>(
    prefix: &str,
    value: serde_json::Value,
) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner_path = e.path().to_string();
        let path = if inner_path == "." {
            prefix.to_string()
        } else if prefix.is_empty() {
            inner_path
        } else {
            format!("{prefix}.{inner_path}")
        };
        data_error(&path, &e.into_inner().to_string())
    })
}

/// A deserialization error at `path` (serde's message), naming the field.
pub fn data_error(path: &str, message: &str) -> Error {
    // serde reports a missing or unknown field at its parent; name the field itself.
    let named = |marker: &str| {
        message.strip_prefix(marker).and_then(|rest| {
            let end = rest.find('`')?;
            Some(rest[..end].to_string())
        })
    };
    let base = if path == "." { "" } else { path };
    let join = |f: String| {
        if base.is_empty() {
            f
        } else {
            format!("{base}.{f}")
        }
    };
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_string();
    if let Some(f) = named("missing field `").or_else(|| named("duplicate field `")) {
        return Error::field(join(f), message);
    }
    if named("unknown field `").is_some() {
        // serde_path_to_error already ends the path with the unknown field.
        return Error::Invalid {
            field: (!base.is_empty()).then(|| base.to_string()),
            message,
        };
    }
    Error::Invalid {
        field: if base.is_empty() {
            None
        } else {
            Some(base.to_string())
        },
        message,
    }
}
