//! Reconciliation passes on the events queue: the scheduler enqueues one pass per account (and
//! `POST /accounts/{id}/reconcile` runs one at once); a pass that runs out of time or is
//! throttled puts its own continuation back on the queue with where it stopped.

use super::JobKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One account's reconciliation pass (or the continuation of one).
pub const PASS: JobKind<Pass> = JobKind::new("reconcile.pass");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pass {
    pub account_id: String,
    /// When the schedule fired (or staff asked): for logs and the job id per slot.
    pub scheduled_at: DateTime<Utc>,
    /// Where an earlier part of the same pass stopped (the engine's own progress record,
    /// opaque here); None: a new pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<serde_json::Value>,
}
