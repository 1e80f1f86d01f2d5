//! What the workers do with platform events: the accounts' policies.

pub mod alipay;
pub mod wechatpay;
pub mod wxmini;

use crate::complaints::{ComplaintRepo, derived_id};
use crate::notices::store_error;
use crate::state::AppState;
use crate::worker::JobError;
use crate::worker::JobRegistry;
use chrono::{DateTime, Duration, Utc};
use domain::complaint::{ActionKind, ActionLogEntry, ActionOutcome, ActionTrigger};
use std::sync::Arc;

/// Every job handler: platform events (events queue) and staff notifications (notify queue).
pub fn registry(state: &AppState) -> JobRegistry {
    let mut r = JobRegistry::new();
    wechatpay::register(&mut r, state);
    alipay::register(&mut r, state);
    wxmini::register(&mut r, state);
    crate::notifier::register(&mut r, state);
    r
}

/// Collects the action log of one run.
pub(crate) struct Actions<'a> {
    pub(crate) repo: ComplaintRepo<'a>,
    pub(crate) complaint_id: String,
    pub(crate) job_id: String,
    pub(crate) clock: Arc<dyn domain::ports::Clock>,
    pub(crate) now: DateTime<Utc>,
    pub(crate) failures: Vec<String>,
}

impl Actions<'_> {
    pub(crate) async fn log(
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
