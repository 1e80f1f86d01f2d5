//! One rate limiter for every call we make to a platform: per (platform, merchant,
//! operation), at most N calls in any 60-second window, shared by every worker and, on AWS,
//! every function instance, through a counter record in the record store.
//!
//! # How "any 60 s window" is kept
//! The counter of one (platform, merchant, operation) is one record holding the number of
//! calls granted in each 5-second slot (slot = the 5 s of wall time the call was granted in).
//! A call at time `t` is granted only if the calls of every slot that overlaps `(t - 60 s, t]`
//! add up to less than N; the slot that only partly overlaps counts in full. Every granted
//! call lies in some slot, so any 60 s window ending at a granted call holds at most N calls,
//! and so does any 60 s window at all (look at the one ending at its last call). Counting the
//! oldest slot in full makes the limiter at most one slot (5 s) more careful than the
//! platform. A burst may use the whole budget at once.
//!
//! The record is read, changed and written back with compare-and-set on its version (created
//! with a conditional create), so two workers or two Lambda instances never both take the
//! last call: the loser reads again. Slots are placed and aged by the clock of whoever
//! reads the record, so the guarantee holds up to the clock difference between instances
//! (NTP-synchronised machines and Lambda: milliseconds; the embedded binary has one clock):
//! an instance whose clock is behind by `d` can make its calls count `d` less long. The
//! record expires (TTL) a little after its newest slot leaves the window. A counter so
//! contended that a caller loses every compare-and-set round answers "no budget now" with
//! a short random delay (the job is deferred, not failed).
//!
//! # What a caller does
//! [`RateLimiter::check`] takes one call from the budget or says how long until one is free;
//! [`RateLimiter::acquire`] waits for that (up to a bound), else fails with
//! [`LimitError::OverBudget`], which a job turns into a deferral (`JobError::Deferred`):
//! the job goes back on its queue to run when the budget allows, never spinning.
//!
//! Staff actions of the admin API take their calls from the same budgets, with the same
//! merchant keys, through [`RateLimiter::check`]: they do not wait, and answer 429 with
//! `Retry-After` when the budget is used up (`admin::budget`).
//!
//! # The table
//! Each platform states the budgets of the operations it calls in its own folder
//! (`platforms/<name>/limits.rs`, with where its figures come from): one [`Operation`]
//! constant per operation, with its calls allowed per merchant in any 60 s window, or `None`
//! for an operation it leaves unlimited (a throttling answer still backs off, see
//! `JobError::Throttled`). A platform that publishes no limits budgets its reads and writes
//! with [`DEFAULT_READS_PER_MINUTE`] and [`DEFAULT_WRITES_PER_MINUTE`]. This module knows no
//! platform: it counts whatever operation it is given.

use crate::worker::JobError;
use chrono::{DateTime, Utc};
use domain::complaint::Platform;
use domain::ports::{Clock, Item, RecordStore, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The window the budgets are per.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The counting granularity (see the module documentation).
pub const SLOT: Duration = Duration::from_secs(5);
/// How long [`RateLimiter::acquire`] waits in-process by default before it defers.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5);
/// Compare-and-set rounds before giving up on a very contended counter.
const MAX_ROUNDS: u32 = 64;

/// One platform operation and its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operation {
    pub platform: Platform,
    /// A short, stable name (part of the counter's key).
    pub name: &'static str,
    /// Calls allowed per merchant in any 60 s window; `None`: not limited.
    pub per_minute: Option<u32>,
}

impl Operation {
    pub const fn new(platform: Platform, name: &'static str, per_minute: Option<u32>) -> Self {
        Self {
            platform,
            name,
            per_minute,
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.platform.as_str(), self.name)
    }
}

/// Budget of a read (per merchant and operation) for a platform that publishes no limit:
/// well under what such APIs have been seen to allow.
pub const DEFAULT_READS_PER_MINUTE: u32 = 120;
/// Budget of a write (per merchant and operation) for a platform that publishes no limit.
pub const DEFAULT_WRITES_PER_MINUTE: u32 = 60;

/// The answer of [`RateLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The call was taken from the budget: make it now.
    Granted,
    /// No budget left; one call becomes free after this long.
    Denied { retry_after: Duration },
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("rate limit of {operation} for {merchant} reached; a call is free in {retry_after:?}")]
    OverBudget {
        operation: String,
        merchant: String,
        retry_after: Duration,
    },
    /// The counter could not be read or written.
    #[error("rate limit counter unavailable")]
    Store(#[source] StoreError),
}

impl From<LimitError> for JobError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::OverBudget { retry_after, .. } => JobError::Deferred {
                retry_after,
                reason: e.to_string(),
            },
            LimitError::Store(s) => JobError::retryable(s),
        }
    }
}

/// The counter record's data: calls per slot, by the slot's start (unix milliseconds).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Counter {
    #[serde(default)]
    slots: Vec<(i64, u32)>,
}

/// The shared limiter. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    records: Arc<dyn RecordStore>,
    clock: Arc<dyn Clock>,
    max_wait: Duration,
}

impl RateLimiter {
    pub fn new(records: Arc<dyn RecordStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            records,
            clock,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }

    /// How long [`RateLimiter::acquire`] may wait in-process (zero: never wait).
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The counter record's key.
    pub fn key(operation: Operation, merchant: &str) -> (String, String) {
        (
            format!(
                "RATE#{}#{}#{merchant}",
                operation.platform.as_str(),
                operation.name
            ),
            "WINDOW".to_string(),
        )
    }

    /// Take one call of `operation` for `merchant` from the budget, or say when one is free.
    /// Unlimited operations are granted without touching the store.
    pub async fn check(
        &self,
        operation: Operation,
        merchant: &str,
    ) -> Result<Decision, StoreError> {
        let Some(limit) = operation.per_minute else {
            return Ok(Decision::Granted);
        };
        let (pk, sk) = Self::key(operation, merchant);
        for round in 0..MAX_ROUNDS {
            let now = self.clock.now();
            let stored = self.records.get(&pk, &sk).await?;
            let (mut counter, version) = match &stored {
                // An expired record counts as empty but is replaced on its version.
                Some(item) if item.is_expired(now) => (Counter::default(), Some(item.version)),
                Some(item) => (
                    serde_json::from_value(item.data.clone()).unwrap_or_else(|e| {
                        tracing::warn!(%pk, error = %e, "unreadable rate counter; starting afresh");
                        Counter::default()
                    }),
                    Some(item.version),
                ),
                None => (Counter::default(), None),
            };
            let now_ms = now.timestamp_millis();
            counter.slots.retain(|(start, _)| counts_at(*start, now_ms));
            counter.slots.sort_unstable();
            let used: u64 = counter.slots.iter().map(|(_, n)| u64::from(*n)).sum();
            if used >= u64::from(limit) {
                return Ok(Decision::Denied {
                    retry_after: free_after(&counter.slots, used, limit, now_ms),
                });
            }
            let slot = slot_start(now_ms);
            match counter.slots.iter_mut().find(|(s, _)| *s == slot) {
                Some((_, n)) => *n = n.saturating_add(1),
                None => counter.slots.push((slot, 1)),
            }
            let item = Item::new(
                pk.clone(),
                sk.clone(),
                serde_json::to_value(&counter)
                    .map_err(|e| StoreError::Invalid(format!("rate counter: {e}")))?,
            )
            .expiring_at(expiry(&counter.slots, now));
            let written = match version {
                None => self.records.create(item).await.map(|_| ()),
                Some(v) => self.records.update(item, v).await.map(|_| ()),
            };
            match written {
                Ok(()) => return Ok(Decision::Granted),
                Err(StoreError::AlreadyExists { .. } | StoreError::VersionConflict { .. }) => {
                    // Another caller took a call meanwhile: read again, after a short random
                    // pause that grows with the rounds so contenders spread out.
                    let pause = Duration::from_micros(
                        rand::random::<u64>() % (200 * u64::from(round.min(20) + 1)),
                    );
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        }
        // Every round lost to other callers: as busy as the budget is, treat it as spent for
        // a moment (a deferral, not a failure that uses up a job's attempts).
        tracing::warn!(%pk, rounds = MAX_ROUNDS, "rate counter stayed contended; deferring");
        Ok(Decision::Denied {
            retry_after: SLOT / 10 + jitter(SLOT),
        })
    }

    /// Take one call from the budget, waiting (sleeping, never spinning) while a call frees up
    /// within the limiter's maximum wait; otherwise [`LimitError::OverBudget`] with the time
    /// until one is free.
    pub async fn acquire(&self, operation: Operation, merchant: &str) -> Result<(), LimitError> {
        let deadline = tokio::time::Instant::now() + self.max_wait;
        loop {
            match self
                .check(operation, merchant)
                .await
                .map_err(LimitError::Store)?
            {
                Decision::Granted => return Ok(()),
                Decision::Denied { retry_after } => {
                    // Jitter so the waiters do not all come back at once: a little for an
                    // in-process wait, up to one slot for a deferred job (the jobs denied in
                    // one slot would otherwise all return at the same moment).
                    let nap = retry_after + jitter(Duration::from_millis(50));
                    if tokio::time::Instant::now() + nap > deadline {
                        return Err(LimitError::OverBudget {
                            operation: operation.to_string(),
                            merchant: merchant.to_string(),
                            retry_after: retry_after + jitter(SLOT),
                        });
                    }
                    tracing::debug!(%operation, merchant, wait_ms = nap.as_millis() as u64, "rate limit: waiting");
                    tokio::time::sleep(nap).await;
                }
            }
        }
    }
}

/// A random duration below `max`.
fn jitter(max: Duration) -> Duration {
    let max_ms = (max.as_millis() as u64).max(1);
    Duration::from_millis(rand::random::<u64>() % max_ms)
}

fn slot_ms() -> i64 {
    SLOT.as_millis() as i64
}

fn window_ms() -> i64 {
    WINDOW.as_millis() as i64
}

/// The start of the slot `t_ms` falls in.
fn slot_start(t_ms: i64) -> i64 {
    t_ms.div_euclid(slot_ms()) * slot_ms()
}

/// Does the slot starting at `start` overlap the window `(now - 60 s, now]`? (Slots from a
/// clock ahead of ours count too.)
fn counts_at(start: i64, now_ms: i64) -> bool {
    start + slot_ms() > now_ms - window_ms()
}

/// How long until `used` drops below `limit`: the oldest slots leave the window first.
fn free_after(sorted: &[(i64, u32)], used: u64, limit: u32, now_ms: i64) -> Duration {
    let must_leave = used + 1 - u64::from(limit);
    let mut left = 0u64;
    for (start, n) in sorted {
        left += u64::from(*n);
        if left >= must_leave {
            // The slot stops counting once now - 60 s reaches its end.
            let ms = (start + slot_ms() + window_ms() - now_ms).max(1);
            return Duration::from_millis(ms as u64);
        }
    }
    WINDOW
}

/// When the record may go: a slot after its newest slot left the window.
fn expiry(slots: &[(i64, u32)], now: DateTime<Utc>) -> i64 {
    let newest = slots
        .iter()
        .map(|(s, _)| *s)
        .max()
        .unwrap_or(now.timestamp_millis());
    (newest + 2 * slot_ms() + window_ms()).div_euclid(1000) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_counts_while_any_part_of_it_is_in_the_window() {
        // Slot [0, 5 s) counts until now - 60 s reaches 5 s.
        assert!(counts_at(0, 64_999));
        assert!(!counts_at(0, 65_000));
        assert!(
            counts_at(70_000, 10_000),
            "a slot from a clock ahead counts"
        );
    }

    #[test]
    fn free_after_waits_for_enough_old_slots_to_leave() {
        let slots = [(0, 2), (5_000, 1), (10_000, 3)];
        // 6 used, limit 5: the 2 calls of the first slot must leave (at 65 s).
        assert_eq!(
            free_after(&slots, 6, 5, 30_000),
            Duration::from_millis(35_000)
        );
        // limit 3: four calls must leave, which takes the third slot too (at 75 s).
        assert_eq!(
            free_after(&slots, 6, 3, 30_000),
            Duration::from_millis(45_000)
        );
    }

    #[test]
    fn slots_are_aligned() {
        assert_eq!(slot_start(4_999), 0);
        assert_eq!(slot_start(5_000), 5_000);
        assert_eq!(slot_start(-1), -5_000);
    }
}
