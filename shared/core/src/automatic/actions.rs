//! The account a job names, and the action log of one run under the complaint's policy lease.

use crate::complaints::{ComplaintRepo, derived_id};
use crate::notices::store_error;
use crate::state::Services;
use crate::worker::JobError;
use chrono::{DateTime, Duration, Utc};
use domain::complaint::{ActionKind, ActionLogEntry, ActionOutcome, ActionTrigger};
use std::sync::Arc;

/// The account a job names (a permanent failure if it is gone).
pub async fn job_account(
    state: &Services,
    job: &domain::job::JobEnvelope,
) -> Result<domain::account::Account, JobError> {
    let id = job
        .account_id
        .as_deref()
        .ok_or_else(|| JobError::Permanent("job names no account".into()))?;
    match crate::repo::AccountRepo::new(&*state.ports.records)
        .get(id)
        .await
    {
        Ok(Some((a, _))) => Ok(a),
        Ok(None) => Err(JobError::Permanent(format!(
            "account {id} no longer exists"
        ))),
        Err(e) => Err(store_error(e)),
    }
}

/// Collects the action log of one run.
pub struct Actions<'a> {
    pub repo: ComplaintRepo<'a>,
    pub complaint_id: String,
    pub job_id: String,
    pub clock: Arc<dyn domain::ports::Clock>,
    pub now: DateTime<Utc>,
    pub failures: Vec<String>,
}

impl<'a> Actions<'a> {
    /// Take the complaint's policy lease (one worker acts on a complaint at a time; another
    /// one retries in 5 s) and start this run's action log.
    pub async fn begin(
        state: &'a Services,
        complaint_id: &str,
        job_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Actions<'a>, JobError> {
        let repo = ComplaintRepo::of(&state.ports);
        if !repo
            .lease(complaint_id, "policy", job_id, now, 120)
            .await
            .map_err(store_error)?
        {
            return Err(JobError::Retryable {
                source: "another worker is acting on this complaint".into(),
                retry_after: Some(std::time::Duration::from_secs(5)),
            });
        }
        Ok(Actions {
            repo,
            complaint_id: complaint_id.to_string(),
            job_id: job_id.to_string(),
            clock: state.ports.clock.clone(),
            now,
            failures: Vec::new(),
        })
    }

    /// Give the lease back (it also expires by itself).
    pub async fn release(&self, state: &Services) {
        let _ = state
            .ports
            .records
            .delete(
                &ComplaintRepo::complaint_owner(&self.complaint_id),
                "LEASE#policy",
                None,
            )
            .await;
    }

    /// The run's outcome: done, or the failed actions (the job dead-letters with them).
    pub fn outcome(&self) -> Result<(), JobError> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            Err(JobError::Permanent(self.failures.join("; ")))
        }
    }

    pub async fn log(
        &mut self,
        action: ActionKind,
        outcome: ActionOutcome,
        detail: String,
        request_no: Option<String>,
    ) -> Result<(), JobError> {
        let step = self.failures.len();
        // Each entry at the time it happened, so the log reads in order.
        self.now = self.clock.now().max(self.now + Duration::microseconds(1));
        let entry = ActionLogEntry {
            complaint_id: self.complaint_id.clone(),
            action_id: derived_id(
                "act_",
                &format!(
                    "{}|{:?}|{:?}|{step}|{}",
                    self.job_id, action, outcome, self.now
                ),
            ),
            action,
            trigger: ActionTrigger::Policy,
            outcome,
            detail: detail.clone(),
            request_no,
            at: self.now,
        };
        tracing::info!(complaint_id = %self.complaint_id, action = ?action, outcome = ?outcome, %detail, "action");
        if outcome == ActionOutcome::Failed {
            self.failures.push(format!("{action:?}: {detail}"));
        }
        self.repo.log_action(&entry).await.map_err(store_error)
    }
}
