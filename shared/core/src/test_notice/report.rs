//! What a test notice did: per channel and recipient, delivered or why not, in words.

use chrono::{DateTime, Utc};
use domain::notification::{Audience, Channel};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A test notice's deliveries have job ids starting with this.
pub const TEST_JOB_PREFIX: &str = "test_";

/// A sentence in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Words {
    pub zh: String,
    pub en: String,
}

impl Words {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Words {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

/// One recipient's result: an address, an openid, a phone number, or a bot's id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecipientResult {
    pub recipient: String,
    pub delivered: bool,
    /// Why not, in words; absent when delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Words>,
}

/// One channel's result.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelResult {
    pub channel: Channel,
    /// The bot's id (bots only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    /// Every recipient got it.
    pub delivered: bool,
    /// Why the channel failed as a whole (nothing was sent), in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Words>,
    pub recipients: Vec<RecipientResult>,
    /// The delivery in the delivery log.
    pub delivery_id: String,
}

/// What a test notice did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TestNoticeReport {
    pub audience: Audience,
    pub sent_at: DateTime<Utc>,
    /// Every channel delivered to every recipient.
    pub all_delivered: bool,
    pub channels: Vec<ChannelResult>,
    /// Something to know besides (the audience is disabled: real notices are off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<Words>,
}

/// Whose staff, by what name the test message names them, and whether the audience is
/// disabled.
#[derive(Debug, Clone)]
pub struct TestAudience {
    pub audience: Audience,
    pub name: String,
    pub disabled: bool,
}
