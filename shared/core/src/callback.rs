//! Platform callbacks with no web framework: what a platform's callback endpoint receives
//! ([`CallbackRequest`]), what it answers ([`CallbackResponse`], each platform's exact bytes),
//! where it is mounted ([`CallbackRoute`]) and the code behind it ([`CallbackHandler`]). A
//! platform lists its routes in [`crate::platform::Platform::callbacks`]; the HTTP layer mounts
//! the routes of the registered platforms, reads each request (its body within the callback
//! body limit) and writes the answer as given. Nothing here names a platform.
//!
//! The one step every callback shares, accepting a notification durably, is [`accept`].

use crate::metrics::CallbackOutcome;
use crate::state::Services;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::job::JobEnvelope;
use domain::ports::{Accepted, InboxError};
use std::sync::Arc;

/// The HTTP method of a callback route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One callback request, as read by the HTTP layer.
#[derive(Debug, Clone)]
pub struct CallbackRequest {
    pub method: Method,
    /// The route's path parameters by name (`app_id` of `/callbacks/alipay/{app_id}`),
    /// percent-decoded.
    pub params: Vec<(String, String)>,
    /// The raw query string (without `?`), if the URL had one.
    pub query: Option<String>,
    /// The headers whose values are visible ASCII, names in lower case, in the order they
    /// came (a header whose value is not text is left out, as if it were absent).
    pub headers: Vec<(String, String)>,
    /// The body (empty for a `GET`), at most the callback body limit.
    pub body: Vec<u8>,
    /// When the request was received (the services' clock).
    pub received_at: DateTime<Utc>,
}

impl CallbackRequest {
    /// The path parameter `name` (`""` when the route has none of that name).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The first header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A callback's answer, written to the platform exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackResponse {
    /// The HTTP status (`204`).
    pub status: u16,
    /// The `Content-Type` header, when the answer has one.
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    /// How the request is counted in the metrics (`callbacks_total`); None: as its status
    /// says ([`CallbackOutcome::from_status`]).
    pub outcome: Option<CallbackOutcome>,
}

/// The content type of plain-text answers (`success`, `fail`, an echoed `echostr`).
pub const TEXT: &str = "text/plain;charset=utf-8";

impl CallbackResponse {
    pub fn new(status: u16, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            content_type,
            body: body.into(),
            outcome: None,
        }
    }

    /// Counted as `outcome` (where the status alone does not say it: a duplicate, a
    /// disabled account, a bad signature answered 400).
    pub fn counted_as(mut self, outcome: CallbackOutcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// How the answer is counted: as its handler said, else as its status says.
    pub fn outcome(&self) -> CallbackOutcome {
        self.outcome
            .unwrap_or_else(|| CallbackOutcome::from_status(self.status))
    }

    /// A status and nothing else (`204`).
    pub fn empty(status: u16) -> Self {
        Self::new(status, None, Vec::new())
    }

    /// A plain-text answer ([`TEXT`]).
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, Some(TEXT), body)
    }

    /// A JSON answer (`application/json`).
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::new(status, Some("application/json"), body.to_string())
    }
}

/// Settings of the callback endpoints (from the environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackSettings {
    /// How far (seconds, either way) a plaintext push's timestamp may be from now, where a
    /// platform accepts unencrypted pushes whose signature covers no body
    /// (`PLAINTEXT_PUSH_WINDOW_SECS`).
    pub plaintext_push_window_secs: i64,
}

/// The default of [`CallbackSettings::plaintext_push_window_secs`]: 15 minutes.
pub const PLAINTEXT_PUSH_WINDOW_SECS: i64 = 900;

impl Default for CallbackSettings {
    fn default() -> Self {
        Self {
            plaintext_push_window_secs: PLAINTEXT_PUSH_WINDOW_SECS,
        }
    }
}

/// What a callback handler works with.
#[derive(Clone, Copy)]
pub struct CallbackContext<'a> {
    pub services: &'a Services,
    pub settings: CallbackSettings,
}

impl std::ops::Deref for CallbackContext<'_> {
    type Target = Services;
    fn deref(&self) -> &Services {
        self.services
    }
}

/// The code behind one callback route: verify, decrypt, accept durably, answer. It never
/// fails: every outcome is an answer the platform understands.
#[async_trait]
pub trait CallbackHandler: Send + Sync + 'static {
    async fn handle(&self, ctx: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse;
}

/// One callback endpoint of a platform.
#[derive(Clone)]
pub struct CallbackRoute {
    pub method: Method,
    /// An axum-style path pattern: `/callbacks/alipay/{app_id}`.
    pub path: &'static str,
    /// The endpoint family the route belongs to: each callback function serves one family
    /// (the mini-program platform has two: `wxmini` and `wxopen`). By default, the path's
    /// segment after `/callbacks/`.
    pub family: &'static str,
    /// The answer to a body over the callback body limit (or one that could not be read),
    /// given before the handler runs: the platform's "malformed" answer. `None`: the HTTP
    /// layer's own (413 for a body too large).
    pub body_refused: Option<CallbackResponse>,
    pub handler: Arc<dyn CallbackHandler>,
}

impl CallbackRoute {
    pub fn new(method: Method, path: &'static str, handler: impl CallbackHandler) -> Self {
        let family = path
            .strip_prefix("/callbacks/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or(path);
        Self {
            method,
            path,
            family,
            body_refused: None,
            handler: Arc::new(handler),
        }
    }

    pub fn get(path: &'static str, handler: impl CallbackHandler) -> Self {
        Self::new(Method::Get, path, handler)
    }

    pub fn post(path: &'static str, handler: impl CallbackHandler) -> Self {
        Self::new(Method::Post, path, handler)
    }

    /// Answer a refused body with `answer` (instead of the HTTP layer's own).
    pub fn body_refused(mut self, answer: CallbackResponse) -> Self {
        self.body_refused = Some(answer);
        self
    }

    /// Put the route in another endpoint family.
    pub fn family(mut self, family: &'static str) -> Self {
        self.family = family;
        self
    }
}

impl std::fmt::Debug for CallbackRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackRoute")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

/// Why a notification was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAccepted {
    /// It cannot be queued at all (its job does not serialise, or the inbox refused it):
    /// answer 500.
    Refused,
    /// The store or the queue is unavailable: answer 503, the platform retries.
    Unavailable,
}

/// Accept a notification durably: remember it under `dedupe_key` with `record` and queue `job`
/// on the events queue, as one step (see [`domain::ports::Inbox`]). Failures are logged here.
pub async fn accept(
    services: &Services,
    dedupe_key: &str,
    record: serde_json::Value,
    job: &JobEnvelope,
) -> Result<Accepted, NotAccepted> {
    let job = JobEnvelope {
        origin: Some(domain::job::Origin::Push),
        ..job.clone()
    };
    let Ok(text) = serde_json::to_string(&job) else {
        tracing::error!(job_type = %job.job_type, "the job does not serialise");
        return Err(NotAccepted::Refused);
    };
    match services
        .ports
        .inbox
        .accept(dedupe_key, record, domain::job::queues::EVENTS, &text)
        .await
    {
        Ok(a) => Ok(a),
        Err(InboxError::Invalid(m)) => {
            tracing::error!(%m, "inbox refused the notification");
            Err(NotAccepted::Refused)
        }
        Err(e) => {
            tracing::error!(error = %crate::error::chain(&e), "inbox unavailable");
            Err(NotAccepted::Unavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    #[async_trait]
    impl CallbackHandler for Nothing {
        async fn handle(&self, _: CallbackContext<'_>, _: CallbackRequest) -> CallbackResponse {
            CallbackResponse::empty(204)
        }
    }

    #[test]
    fn a_route_is_in_the_family_its_path_names() {
        assert_eq!(
            CallbackRoute::post("/callbacks/alipay/{app_id}", Nothing).family,
            "alipay"
        );
        assert_eq!(
            CallbackRoute::post("/callbacks/wxopen/{c}/events", Nothing).family,
            "wxopen"
        );
        assert_eq!(
            CallbackRoute::post("/callbacks/wxopen/{c}/events", Nothing)
                .family("other")
                .family,
            "other"
        );
    }

    #[test]
    fn headers_are_found_in_any_case_and_params_by_name() {
        let req = CallbackRequest {
            method: Method::Post,
            params: vec![("mchid".into(), "1900".into())],
            query: None,
            headers: vec![
                ("wechatpay-serial".into(), "A".into()),
                ("wechatpay-serial".into(), "B".into()),
            ],
            body: Vec::new(),
            received_at: Utc::now(),
        };
        assert_eq!(req.header("Wechatpay-Serial"), Some("A"));
        assert_eq!(req.header("wechatpay-nonce"), None);
        assert_eq!(req.param("mchid"), "1900");
        assert_eq!(req.param("kind"), "");
    }
}
