//! Complaint deadlines over time. The deadline sweep: one job per account (`deadlines.sweep`,
//! enqueued by the scheduler onto the events queue) that reminds the staff of each deadline not met as its thresholds pass
//! and escalates a deadline that passed unmet ([`sweep`], [`remind`]). Generic: it reads each
//! complaint's own `deadlines` (which the platforms' rules compute on every write) and never
//! names a platform or an account kind.
//!
//! Each notice goes through [`crate::notices::send`] with an event key naming the complaint,
//! the deadline (`what` and its `due_at`: a deadline that moves is a new one) and the
//! threshold (or `missed`), so the inbox's dedupe makes it once however often the sweep runs.
//!
//! Once a day, at the account's digest time, the sweep also runs the daily pass ([`daily`]):
//! the platform's daily work (a mini program's trade-score snapshot) and the digest
//! ([`digest`]).

pub mod daily;
pub mod digest;
pub mod remind;
pub mod sweep;

use crate::platform::Platforms;
use crate::state::Services;
use crate::worker::JobRegistry;
use std::sync::Arc;

/// Register the sweep's handler (the platforms give each account's daily work).
pub fn register(registry: &mut JobRegistry, state: &Services, platforms: &Platforms) {
    registry.register(
        domain::job::deadlines::SWEEP.name(),
        Arc::new(sweep::SweepJob::new(state.clone(), platforms.clone())),
    );
}
