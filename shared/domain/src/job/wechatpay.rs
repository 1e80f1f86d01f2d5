//! WeChat Pay notifications: the callback verifies and decrypts them, the worker handles them.

use super::JobKind;
use serde::{Deserialize, Serialize};

/// A complaint notification (`COMPLAINT.*`).
pub const COMPLAINT: JobKind<Notification> = JobKind::new("wechatpay.complaint");
/// A violation notice to a service provider (`VIOLATION.*`).
pub const VIOLATION: JobKind<Notification> = JobKind::new("wechatpay.violation");
/// A refund result (`REFUND.*`).
pub const REFUND: JobKind<Notification> = JobKind::new("wechatpay.refund");

/// A verified notification with its decrypted resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The mchid in the callback path (the merchant, or the provider for its sub-merchants).
    #[serde(default)]
    pub mchid: String,
    /// WeChat Pay's notification id (the callback's dedupe key).
    pub notification_id: String,
    /// E.g. `COMPLAINT.CREATE`, `VIOLATION.INTERCEPT`, `REFUND.SUCCESS`.
    pub event_type: String,
    /// Kept as sent (a sample in the violation docs is not RFC 3339).
    #[serde(default)]
    pub create_time: Option<String>,
    /// The decrypted `resource`: WeChat Pay's JSON, kept as it is.
    pub resource: serde_json::Value,
}
