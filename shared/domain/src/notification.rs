//! Notification jobs (what to tell whom) and deliveries (one per channel and recipient set).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whose staff are told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Audience {
    pub account_id: String,
    /// A sub-merchant's own staff; None: the account's staff.
    pub sub_mchid: Option<String>,
}

/// What the notice is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotificationSubject {
    Complaint {
        complaint_id: String,
    },
    Violation {
        violation_id: String,
    },
    /// An account's (or a sub-merchant's) daily digest of one Beijing calendar day
    /// (`YYYY-MM-DD`).
    Digest {
        account_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sub_mchid: Option<String>,
        day: String,
    },
    /// An account's own operation: pushes are not arriving (`topic` `push_silence`), a
    /// callback URL registered on the platform is not ours (`callback_url`).
    Account {
        account_id: String,
        topic: String,
    },
}

/// The `event` of a daily digest's summary: the renderings lay a digest out as one (its
/// `reference` is the day, its `user_text` a one-line count, its list in `extra_lines`).
pub const DIGEST_EVENT: &str = "每日投诉摘要";

/// Everything a notifier needs to write the message, without reading anything else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationSummary {
    /// `wechatpay`, `alipay`, `wxmini`.
    pub platform: String,
    /// What happened, e.g. `new complaint`, `user replied`, `VIOLATION.INTERCEPT`.
    pub event: String,
    /// The merchant or sub-merchant's name.
    pub merchant: String,
    /// The platform's complaint (or record) id.
    pub reference: String,
    pub at: DateTime<Utc>,
    pub amount_fen: Option<u64>,
    /// The buyer's words, trimmed.
    pub user_text: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    /// Link to the notice's page in the staff console (a complaint's page, or the inbox with
    /// the filters of an account, a sub-merchant, overdue or due soon), under
    /// `CONSOLE_BASE_URL` (by default `PUBLIC_BASE_URL`); None without either, or with `off`.
    pub link: Option<String>,
    /// More (label, value) lines, shown after the fixed ones in the order given (a reminder's
    /// deadline and its source, a digest's list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_lines: Vec<SummaryLine>,
}

/// One more line of a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SummaryLine {
    pub label: String,
    pub value: String,
}

/// A notification job: created by the worker, delivered by the notifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationJob {
    pub id: String,
    /// The event this notice is for; with the channel and recipients it makes the delivery
    /// idempotency key.
    pub event_key: String,
    pub audience: Audience,
    pub subject: NotificationSubject,
    pub summary: NotificationSummary,
    pub created_at: DateTime<Utc>,
    /// Recipients added to the audience's own on the channels the audience has configured
    /// (an escalation's extra recipients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_recipients: Option<crate::deadline::EscalationRecipients>,
    /// Only these channels (None: every channel the audience configured); a digest leaves out
    /// SMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_channels: Option<Vec<Channel>>,
}

/// Delivery channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    OaTemplate,
    Sms,
    Bot,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Retrying,
    Sent,
    Failed,
}

/// One delivery: a channel and a recipient set for one notification job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub id: String,
    pub job_id: String,
    pub channel: Channel,
    /// Recipient labels (addresses, openids, masked phone numbers, bot ids).
    pub recipients: Vec<String>,
    /// (event, channel, recipients): the same event is never delivered twice on a channel.
    pub idempotency_key: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The platform's or server's message on the last failure.
    pub last_error: Option<String>,
    /// Per recipient: `ok` or the service's code and message (SMS numbers, openids).
    #[serde(default)]
    pub results: std::collections::BTreeMap<String, String>,
    /// The complaint or violation it is about, and whose staff.
    #[serde(default)]
    pub subject: Option<NotificationSubject>,
    #[serde(default)]
    pub audience: Option<Audience>,
    /// Other deliveries folded into this one (SMS within the folding window).
    #[serde(default)]
    pub folded: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
