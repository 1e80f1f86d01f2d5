//! The job envelope that flows between functions through the queues.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Queue names. Adapters map them to SQS queue URLs or embedded queue names.
pub mod queues {
    /// Platform events for the worker.
    pub const EVENTS: &str = "events";
    /// Notification jobs for the notifier.
    pub const NOTIFY: &str = "notify";
    pub const ALL: [&str; 2] = [EVENTS, NOTIFY];
}

/// A unit of work on a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEnvelope {
    /// Unique per job (idempotency of the job itself).
    pub id: String,
    /// Selects the handler, e.g. `wechatpay.complaint`.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The account the job belongs to (scopes dead-letter visibility).
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub sub_mchid: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Type-specific data. Ids and platform facts, never secrets.
    #[serde(default)]
    pub payload: serde_json::Value,
}

impl JobEnvelope {
    pub fn new(
        job_type: impl Into<String>,
        payload: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            job_type: job_type.into(),
            account_id: None,
            sub_mchid: None,
            created_at: now,
            payload,
        }
    }

    pub fn for_account(mut self, account_id: impl Into<String>, sub_mchid: Option<String>) -> Self {
        self.account_id = Some(account_id.into());
        self.sub_mchid = sub_mchid;
        self
    }
}
