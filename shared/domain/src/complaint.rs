//! Complaint records, their history and our action log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

crate::names::open_name!(
    /// Where a complaint came from: a platform's name (`wechatpay`, `alipay`, `wxmini`, or
    /// one a build registers). Open: a platform declares its own constant
    /// (`Platform::new("toy")`).
    Platform,
    "A platform's name, e.g. `wechatpay`, `alipay`, `wxmini`."
);

#[allow(non_upper_case_globals)]
impl Platform {
    /// WeChat Pay consumer complaints 2.0.
    pub const Wechatpay: Platform = Platform::new("wechatpay");
    /// Alipay trade complaints (`tradecomplain`) and RiskGO consumer complaints.
    pub const Alipay: Platform = Platform::new("alipay");
    /// WeChat Mini Program trade complaints.
    pub const Wxmini: Platform = Platform::new("wxmini");
}

/// Our normalised status. The platform's own value is kept verbatim in `raw_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintStatus {
    /// Waiting for the merchant.
    Pending,
    /// The merchant is handling it (replied, refund under way).
    Processing,
    /// Waiting for the platform or the buyer.
    AwaitingPlatform,
    /// Finished in the merchant's favour or settled.
    Resolved,
    /// Closed without settlement (withdrawn, expired, judged).
    Closed,
}

impl ComplaintStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintStatus::Pending => "pending",
            ComplaintStatus::Processing => "processing",
            ComplaintStatus::AwaitingPlatform => "awaiting_platform",
            ComplaintStatus::Resolved => "resolved",
            ComplaintStatus::Closed => "closed",
        }
    }
}

/// The order a complaint is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderRef {
    /// Platform trade/transaction number.
    pub transaction_id: Option<String>,
    /// Merchant order number.
    pub out_trade_no: Option<String>,
    /// Order amount in fen, from the platform's order data.
    pub amount_fen: Option<u64>,
}

/// A complaint record (ours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Complaint {
    /// Our stable id (`cmp_...`); platforms' ids can collide across platforms.
    pub id: String,
    pub platform: Platform,
    /// Sub-family within a platform (Alipay: `trade` or `risk`).
    pub family: Option<String>,
    pub account_id: String,
    /// Provider complaints: the sub-merchant.
    pub sub_mchid: Option<String>,
    /// The platform's complaint id.
    pub platform_complaint_id: String,
    /// The platform's status value, verbatim (open set, misspellings kept).
    pub raw_status: String,
    pub status: ComplaintStatus,
    pub orders: Vec<OrderRef>,
    /// Amount the buyer complains about, fen.
    pub complaint_amount_fen: Option<u64>,
    /// Refunded so far by us, fen.
    pub refunded_fen: u64,
    /// Problem type (raw), e.g. `REFUND`.
    pub problem_type: Option<String>,
    /// The buyer's words (no phone numbers).
    pub description: Option<String>,
    /// Whether the platform flagged it for immediate service.
    pub need_immediate_service: bool,
    /// When the merchant's next answer is due: the same as `next_due_at` (kept for clients
    /// written before `deadlines`).
    pub deadline: Option<DateTime<Utc>>,
    /// What the merchant must do by when in the complaint's state, each with its source
    /// (re-computed from the platform's fields on every write; see `domain::deadline`).
    #[serde(default)]
    pub deadlines: Vec<Deadline>,
    /// The earliest of `deadlines` not yet met; None when nothing is due.
    #[serde(default)]
    pub next_due_at: Option<DateTime<Utc>>,
    /// A due time the platform carried in its own record (mini program `expireTime`, Alipay
    /// RiskGO `gmt_overdue`), kept verbatim; the platform's deadline rules decide whether it
    /// applies in the complaint's state.
    #[serde(default)]
    pub platform_due_at: Option<DateTime<Utc>>,
    pub complained_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// We have replied (automatically or by hand).
    pub replied: bool,
    /// We have completed/finished it on the platform.
    pub completed: bool,
    /// The buyer's phone, masked (`138****5678`); the full number is never stored or logged.
    #[serde(default)]
    pub payer_phone_masked: Option<String>,
    /// Absolute URLs of the buyer's images (download them through the admin proxy).
    #[serde(default)]
    pub media: Vec<String>,
    /// The platform flags, raw (e.g. `TRUSTED`, `HIGH_RISK`, `in_platform_service`).
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Complaint {
    /// A new record with nothing known yet but who and what it is.
    pub fn new(
        id: String,
        platform: Platform,
        family: Option<String>,
        account_id: String,
        platform_complaint_id: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            platform,
            family,
            account_id,
            sub_mchid: None,
            platform_complaint_id,
            raw_status: String::new(),
            status: ComplaintStatus::Pending,
            orders: vec![],
            complaint_amount_fen: None,
            refunded_fen: 0,
            problem_type: None,
            description: None,
            need_immediate_service: false,
            deadline: None,
            deadlines: vec![],
            next_due_at: None,
            platform_due_at: None,
            complained_at: None,
            received_at: now,
            updated_at: now,
            replied: false,
            completed: false,
            payer_phone_masked: None,
            media: vec![],
            tags: vec![],
        }
    }
}

/// One entry of the platform's negotiation history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    pub complaint_id: String,
    /// The platform's id of the entry (or a position), for dedupe.
    pub entry_id: String,
    /// Who acted (`USER`, `MERCHANT`, `PLATFORM`, ... raw).
    pub operator: Option<String>,
    /// The platform's operation type, raw.
    pub operation: String,
    pub content: Option<String>,
    /// Media ids/URLs the platform attached.
    pub media: Vec<String>,
    pub at: DateTime<Utc>,
}

/// What we did on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Reply,
    Complete,
    Refund,
    RefundProgress,
    Feedback,
    Supplement,
    RefundEvidence,
    Appeal,
    Notify,
}

/// Who started an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum ActionTrigger {
    /// The account's policy, from a platform event.
    Policy,
    /// An admin API call with this token (its id, and its name when the action was taken;
    /// entries written before names were recorded have none).
    Admin {
        token_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_name: Option<String>,
    },
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    Succeeded,
    /// The platform said it was already done; counted as done.
    AlreadyDone,
    Failed,
    /// Decided not to act (disabled, over the cap, already replied...).
    Skipped,
}

/// One line of our action log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActionLogEntry {
    pub complaint_id: String,
    pub action_id: String,
    pub action: ActionKind,
    pub trigger: ActionTrigger,
    pub outcome: ActionOutcome,
    /// Why (skipped, failed) or what (amount, text length), never a secret or a phone number.
    pub detail: String,
    /// Refund request number or other business key used, if any.
    pub request_no: Option<String>,
    pub at: DateTime<Utc>,
}

/// A WeChat Pay violation notice or a mini-program violation record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Violation {
    pub id: String,
    pub account_id: String,
    pub sub_mchid: Option<String>,
    /// `VIOLATION.PUNISH`, `VIOLATION.INTERCEPT`, `VIOLATION.APPEAL`, or the mini program's
    /// record type; raw.
    pub event_type: String,
    /// The platform's record id.
    pub record_id: String,
    /// A short description of what happened.
    pub summary: String,
    /// The platform's fields, verbatim.
    pub details: serde_json::Value,
    pub occurred_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
}

// Deadlines (their rules and re-computation: `crate::deadline`, which imports this module).

/// Where a deadline's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineSourceKind {
    /// A field of the platform's own record (`expireTime`, `gmt_overdue`): the platform's word.
    PlatformField,
    /// A rule the platform publishes (WeChat Pay: 24:00 Beijing time of a day after the
    /// complaint), applied by us to the platform's times.
    PublishedRule,
    /// Our estimate: no rule or field is confirmed (Alipay trade complaints' 72 h). Shown as
    /// such wherever the deadline is shown.
    Estimate,
}

impl DeadlineSourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineSourceKind::PlatformField => "platform_field",
            DeadlineSourceKind::PublishedRule => "published_rule",
            DeadlineSourceKind::Estimate => "estimate",
        }
    }
}

/// A deadline's source: its kind and, in words, the field or rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeadlineSource {
    pub kind: DeadlineSourceKind,
    /// The platform field (`expireTime`) or the rule, in words (`交易投诉运营规范2.0: 24:00
    /// Beijing time of the day after the complaint`; an estimate says it is unconfirmed).
    pub detail: String,
}

/// One thing the merchant must do by a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Deadline {
    /// What is due, a stable name within the platform (`first_reply`, `completion`,
    /// `respond`, `refund_evidence`, `feedback`, `finish`, ...): with the complaint it names
    /// the deadline (reminders are sent once per complaint, deadline and threshold).
    pub what: String,
    /// What is due, in words for staff (Chinese: the people who handle complaints read it).
    pub label: String,
    /// When the window opened (the complaint, or the state that started this clock).
    pub starts_at: DateTime<Utc>,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    pub source: DeadlineSource,
    /// What the platform does when it is missed, in words.
    pub consequence: String,
    /// When we first saw it met (None: not met yet).
    #[serde(default)]
    pub met_at: Option<DateTime<Utc>>,
    /// How the metrics counted it (`deadlines_total`), once: None until then. Set by the write
    /// that counted it: `met` when a write first finds it met in time, `missed` when a write
    /// first finds it met late or the deadline sweep finds it passed unmet. Only deadlines the
    /// metrics count carry it (one that leaves time to meet it, on a record written at least
    /// once after it was created); a record created already met is never counted. Kept by
    /// `what` when the platform's time moves (once counted met, never counted again; counted
    /// missed, counted again only when the deadline is extended:
    /// [`crate::deadline::EXTENSION`]). Records from before it read as None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted: Option<Counted>,
}

/// How the metrics counted a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Counted {
    Met,
    Missed,
}

impl Deadline {
    pub fn is_met(&self) -> bool {
        self.met_at.is_some()
    }

    /// Missed: not met and due before `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.is_met() && self.due_at < now
    }

    /// Met after it was due.
    pub fn is_met_late(&self) -> bool {
        self.met_at.is_some_and(|m| m > self.due_at)
    }
}
