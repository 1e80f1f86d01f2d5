//! The one error type at the HTTP edge.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// `{"error": {"code", "message", "field"?, "request_id"?}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `invalid_request`, `invalid_json`, `unauthorized`,
    /// `forbidden`, `not_found`, `method_not_allowed`, `conflict`, `unsupported_media_type`, `payload_too_large`, `request_timeout`,
    /// `rate_limited`, `platform_error`, `internal`, `unavailable`.
    pub code: &'static str,
    pub message: String,
    /// The offending field, as a dotted path (`settings.app_id`, `recipients[1]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Quote it when you report a 5xx; the logs carry the cause under this id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An admin API error. 4xx carry a specific, safe message; 5xx log the cause chain and answer
/// a generic message.
#[derive(Debug)]
pub enum ApiError {
    /// 400, naming the field.
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// 400 for a body that is not JSON at all.
    InvalidJson(String),
    Unauthorized(&'static str),
    Forbidden(String),
    /// 403 naming the field the caller may not write (an address a stored secret is sent to).
    ForbiddenField {
        field: String,
        message: String,
    },
    /// 404; also for anything outside the caller's scope.
    NotFound(String),
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    Conflict(String),
    /// 409 naming the field whose value the stored state requires (a secret to send again).
    ConflictField {
        field: String,
        message: String,
    },
    UnsupportedMediaType(String),
    PayloadTooLarge,
    /// 408: the request body did not arrive in time.
    RequestTimeout,
    /// 429: the platform call this request needs is over its budget (ours, shared with the
    /// workers, or the platform said "too many requests"); nothing was done. Answered with
    /// `Retry-After` in whole seconds.
    RateLimited {
        message: String,
        retry_after: std::time::Duration,
    },
    /// 502: the platform refused or failed; its own code and message are passed on.
    Platform(String),
    /// 503: the server itself is at a limit (memory for request bodies, a connection being
    /// closed); retrying soon helps. Not an error of ours: not logged as one.
    Busy(&'static str),
    /// 503: a dependency (store, queue, secrets) is unavailable; retrying may help.
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// 500.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// 403 naming `field`.
    pub fn forbidden_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::ForbiddenField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// 409 naming `field`.
    pub fn conflict_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::ConflictField {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound(what.into())
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(e))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } | ApiError::InvalidJson(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::ForbiddenField { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) | ApiError::ConflictField { .. } => StatusCode::CONFLICT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Platform(_) => StatusCode::BAD_GATEWAY,
            ApiError::Busy(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

pub use desk_core::error::chain;

tokio::task_local! {
    /// The current request's id (set by the router's middleware), for 5xx bodies.
    pub static REQUEST_ID: String;
}

impl ApiError {
    /// The error's code in the envelope (`invalid_request`, `not_found`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid { .. } => "invalid_request",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) | ApiError::ForbiddenField { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) | ApiError::ConflictField { .. } => "conflict",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Platform(_) => "platform_error",
            ApiError::Busy(_) | ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// What the caller is told: specific for 4xx and a platform's refusal, generic for our
    /// own 5xx (their cause is logged, never shown).
    pub fn message(&self) -> String {
        match self {
            ApiError::Invalid { message, .. }
            | ApiError::ForbiddenField { message, .. }
            | ApiError::ConflictField { message, .. } => message.clone(),
            ApiError::InvalidJson(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::UnsupportedMediaType(m)
            | ApiError::Platform(m) => m.clone(),
            ApiError::RateLimited { message, .. } => message.clone(),
            ApiError::Unauthorized(m) | ApiError::Busy(m) => m.to_string(),
            ApiError::MethodNotAllowed => {
                "this route does not answer this method (see the Allow header)".to_string()
            }
            ApiError::PayloadTooLarge => {
                "the request body is larger than the limit (1 MiB; evidence images 2 MiB)"
                    .to_string()
            }
            ApiError::RequestTimeout => "the request body did not arrive in time".to_string(),
            ApiError::Unavailable(_) => "a dependency is unavailable; retry later".to_string(),
            ApiError::Internal(_) => "internal error".to_string(),
        }
    }

    /// Log the cause of our own 5xx (never shown to the caller).
    pub fn log_cause(&self) {
        match self {
            ApiError::Unavailable(e) => {
                tracing::error!(error = %chain(&**e), "dependency unavailable");
            }
            ApiError::Internal(e) => {
                tracing::error!(error = %chain(&**e), "internal error");
            }
            _ => {}
        }
    }

    /// The offending field, when the error names one.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            ApiError::Invalid { field, .. } => field.as_deref(),
            ApiError::ForbiddenField { field, .. } | ApiError::ConflictField { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let request_id = REQUEST_ID.try_with(|id| id.clone()).ok();
        let retry_after = match &self {
            ApiError::RateLimited { retry_after, .. } => Some(retry_after_secs(*retry_after)),
            _ => None,
        };
        self.log_cause();
        let (code, message, field) = (self.code(), self.message(), self.field_name());
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                field: field.map(str::to_string),
                request_id: if status.is_server_error() {
                    request_id
                } else {
                    None
                },
            },
        };
        let mut res = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// `Retry-After` in whole seconds: rounded up, at least 1 (0 would invite an immediate retry
/// that the budget refuses again).
pub fn retry_after_secs(d: std::time::Duration) -> u64 {
    desk_core::staff_actions::retry_after_secs(d)
}

impl From<desk_core::ratelimit::LimitError> for ApiError {
    fn from(e: desk_core::ratelimit::LimitError) -> Self {
        desk_core::Error::from(e).into()
    }
}

impl From<domain::ports::StoreError> for ApiError {
    fn from(e: domain::ports::StoreError) -> Self {
        use domain::ports::StoreError as S;
        match e {
            S::Unavailable(_) => ApiError::Unavailable(Box::new(e)),
            S::InvalidCursor => ApiError::Invalid {
                field: Some("cursor".into()),
                message: "is not a cursor from this list (pass next_cursor back unchanged)".into(),
            },
            S::VersionConflict { .. } | S::TransactionConflict { .. } | S::AlreadyExists { .. } => {
                ApiError::Conflict(
                    "the resource changed while this request was handled; retry".into(),
                )
            }
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<domain::ports::SecretError> for ApiError {
    fn from(e: domain::ports::SecretError) -> Self {
        match e {
            domain::ports::SecretError::Unavailable(_) => ApiError::Unavailable(Box::new(e)),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<domain::ports::QueueError> for ApiError {
    fn from(e: domain::ports::QueueError) -> Self {
        use domain::ports::QueueError as Q;
        match e {
            Q::Unavailable(_) => ApiError::Unavailable(Box::new(e)),
            Q::DeadLetterNotFound(id) => ApiError::NotFound(format!("dead letter {id} not found")),
            Q::Invalid(m) => ApiError::Invalid {
                field: Some("cursor".into()),
                message: m,
            },
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<desk_core::Error> for ApiError {
    fn from(e: desk_core::Error) -> Self {
        use desk_core::Error as E;
        match e {
            E::Invalid { field, message } => ApiError::Invalid { field, message },
            E::Conflict(m) => ApiError::Conflict(m),
            E::NotFound(m) => ApiError::NotFound(m),
            E::RateLimited {
                message,
                retry_after,
            } => ApiError::RateLimited {
                message,
                retry_after,
            },
            E::Platform(m) => ApiError::Platform(m),
            E::Store(s) => s.into(),
            E::Secret(s) => s.into(),
            E::Unavailable(e) => ApiError::Unavailable(e),
            E::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<desk_core::repo::RepoError> for ApiError {
    fn from(e: desk_core::repo::RepoError) -> Self {
        desk_core::Error::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(5)), 5);
        assert_eq!(retry_after_secs(Duration::from_millis(5_001)), 6);
    }
}
