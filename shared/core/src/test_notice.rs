//! "Send a test notice": one short message, now, through every channel an audience's staff
//! notification settings configure (e-mail, official-account template message, SMS, each
//! group bot), by the very senders and stored secrets real notices use, with each channel's
//! and recipient's result in words (Chinese and English).
//!
//! - **A disabled audience** still gets the test (an administrator asked for it explicitly);
//!   the report says real notices are off while it is disabled.
//! - **Cost**: at most one test per audience per [`WINDOW`], durable across processes and
//!   Lambda instances: a record `NOTIFYTEST#{account}#{sub}` / `META` claimed by conditional
//!   create or compare-and-set ([`claim`]); a second test within the window is
//!   [`crate::Error::RateLimited`] with the time left. An audience with no channel is
//!   [`crate::Error::Conflict`] and takes nothing from the window.
//! - **The delivery log** gets one delivery per channel, as real notices do, with a job id
//!   starting `test_` ([`TEST_JOB_PREFIX`]) and no subject: the log lists them, marked a test.
//!
//! Secrets never appear in a report: a bot is named by its id, and the services' messages
//! carry no secret ([`notify::SendError`]).

use crate::Error;
use chrono::{DateTime, Utc};
use domain::notification::{Audience, Channel};
use domain::ports::{Item, RecordStore, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[cfg(feature = "notifier")]
mod send;

/// At most one test per audience within this window.
pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(30);

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

fn guard_pk(a: &Audience) -> String {
    format!(
        "NOTIFYTEST#{}#{}",
        a.account_id,
        a.sub_mchid.as_deref().unwrap_or("-")
    )
}

fn too_soon(left: std::time::Duration) -> Error {
    Error::RateLimited {
        message: format!(
            "a test notice was sent to this audience less than {} seconds ago: wait {} seconds",
            WINDOW.as_secs(),
            left.as_secs().max(1)
        ),
        retry_after: left,
    }
}

/// Take this audience's test window: `Ok` when no test was sent within [`WINDOW`], else
/// [`Error::RateLimited`] with the time left. Durable and shared: conditional create, or
/// compare-and-set on an older record (of two concurrent claims one wins).
pub async fn claim(
    records: &dyn RecordStore,
    audience: &Audience,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let pk = guard_pk(audience);
    let window = chrono::Duration::from_std(WINDOW).unwrap_or_default();
    let item = Item::new(
        &pk,
        "META",
        serde_json::json!({"at": now.timestamp_millis()}),
    )
    .expiring_at((now + window).timestamp() + 60);
    let current = records.get(&pk, "META").await?;
    let written = match &current {
        None => records.create(item).await.map(|_| ()),
        Some(old) => {
            let at = old.data["at"]
                .as_i64()
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .unwrap_or(DateTime::UNIX_EPOCH);
            let elapsed = now - at;
            if elapsed < window && elapsed >= chrono::Duration::zero() {
                return Err(too_soon((window - elapsed).to_std().unwrap_or(WINDOW)));
            }
            records.update(item, old.version).await.map(|_| ())
        }
    };
    match written {
        Ok(()) => Ok(()),
        Err(StoreError::AlreadyExists { .. } | StoreError::VersionConflict { .. }) => {
            Err(too_soon(WINDOW))
        }
        Err(e) => Err(e.into()),
    }
}

/// Send a test notice to `to` now (see the module documentation). Without the notifier in
/// this build: unavailable.
pub async fn send_test_notice(
    state: &crate::state::Services,
    to: &TestAudience,
) -> Result<TestNoticeReport, Error> {
    #[cfg(feature = "notifier")]
    {
        send::send(state, to).await
    }
    #[cfg(not(feature = "notifier"))]
    {
        let _ = (state, to);
        Err(Error::Unavailable(
            "this build has no notifier: test notices are sent by the admin API".into(),
        ))
    }
}
