//! Alipay messages: the callback verifies them, the worker handles them.

use super::JobKind;
use serde::{Deserialize, Serialize};

/// `alipay.merchant.tradecomplain.changed`: a trade complaint.
pub const TRADE_COMPLAINT: JobKind<Message> = JobKind::new("alipay.trade_complaint");
/// `alipay.security.risk.complaints.merchants.notify`: a RiskGO consumer complaint.
pub const RISK_COMPLAINT: JobKind<Message> = JobKind::new("alipay.risk_complaint");

/// A verified message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The app in the callback path.
    #[serde(default)]
    pub app_id: String,
    /// Alipay's message id (the callback's dedupe key).
    #[serde(default)]
    pub notify_id: String,
    /// The message method (`msg_method`, or `notify_type` in older messages).
    #[serde(default)]
    pub msg_method: String,
    /// The parsed `biz_content`: Alipay's JSON, kept as it is.
    #[serde(default)]
    pub biz: serde_json::Value,
}
