//! Clock-driven jobs on the events queue: the scheduler (an EventBridge schedule on AWS, an
//! in-process interval in the all-in-one binary) enqueues one sweep per account; the worker
//! sends the account's deadline reminders and escalations, and once a day its digest and
//! snapshots.

use super::JobKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One account's deadline sweep.
pub const SWEEP: JobKind<Sweep> = JobKind::new("deadlines.sweep");

/// Sweep one account's open complaints' deadlines as of `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sweep {
    pub account_id: String,
    /// When the schedule fired (the sweep's "now" is the worker's clock; this is for logs
    /// and for keying the sweep's job id per schedule slot).
    pub scheduled_at: DateTime<Utc>,
}
