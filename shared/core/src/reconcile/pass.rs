//! One account's reconciliation pass (see the module documentation of [`super`]).

use crate::platform::Platforms;
use crate::state::Services;
use crate::worker::{JobError, JobHandler};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::job::JobEnvelope;
use domain::job::reconcile::{PASS, Pass};
use std::time::Duration;

/// The handler of [`PASS`].
pub struct PassJob {
    state: Services,
    platforms: Platforms,
}

impl PassJob {
    pub fn new(state: Services, platforms: Platforms) -> Self {
        Self { state, platforms }
    }
}

/// How long a pass run by the worker works before it queues its continuation.
pub const WORKER_BUDGET: Duration = Duration::from_secs(20);

#[async_trait]
impl JobHandler for PassJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let p = PASS.payload(job)?;
        run(&self.state, &self.platforms, &p, WORKER_BUDGET)
            .await
            .map(|_| ())
    }
}

/// How a pass (or its part) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything was listed and re-read.
    Complete,
    /// Out of time: the rest was queued.
    Continues,
    /// The platform (or our limiter) said "too many": the rest was queued for later.
    Throttled,
    /// A platform error stopped it; the rest was queued for later.
    Failed,
    /// Nothing to do (no such account, or its platform does not reconcile).
    Skipped,
}

/// What a pass (or its part) did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub account_id: String,
    pub outcome: Outcome,
    /// Everything is done (false: the rest was queued).
    pub complete: bool,
    pub started_at: DateTime<Utc>,
}

/// Run (or continue) one account's pass for at most `budget`.
pub async fn run(
    state: &Services,
    platforms: &Platforms,
    p: &Pass,
    budget: Duration,
) -> Result<Report, JobError> {
    let _ = (state, platforms, budget);
    Ok(Report {
        account_id: p.account_id.clone(),
        outcome: Outcome::Skipped,
        complete: true,
        started_at: p.scheduled_at,
    })
}
