//! The records of an account's reconciliation: the pass state (`RECON#{account}` /
//! `STATE`) and what a pass reports about itself.

use super::reconciler::UrlCheck;
use crate::repo::{RepoError, decode};
use chrono::{DateTime, Utc};
use domain::ports::{Item, RecordStore, StoreError};
use serde::{Deserialize, Serialize};

/// The partition of an account's reconciliation records.
pub fn recon_pk(account_id: &str) -> String {
    format!("RECON#{account_id}")
}

/// How a pass (or its part) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ReconciliationOutcome)]
pub enum Outcome {
    /// Everything was listed and re-read.
    Complete,
    /// Out of time: the rest was queued.
    Continues,
    /// The platform (or our limiter) said "too many": the rest was queued for later.
    Throttled,
    /// A platform error: the rest was queued for later (or, after too many, left for the next
    /// pass: see `error`).
    Failed,
    /// Nothing was done: another pass is under way, this part was superseded, the account
    /// does not exist, or its platform does not reconcile.
    Skipped,
}

/// Counts of a pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ReconciliationCounts)]
#[serde(default)]
pub struct Tally {
    /// Complaints the platform's list showed.
    pub listed: usize,
    /// Open complaints whose detail was read again.
    pub reread: usize,
    /// Complaints as we have them (no difference a push would have told).
    pub unchanged: usize,
    /// Differences younger than the grace: left for a later pass (a push may be on its way).
    pub waiting: usize,
    /// Differences queued through the push's own job: found by reconciliation.
    pub found: usize,
    /// Differences an earlier pass had already queued.
    pub already_queued: usize,
    /// Open complaints the platform does not know.
    pub unknown_on_platform: usize,
    /// Platform errors met.
    pub errors: usize,
    /// Throttling answers met.
    pub throttled: usize,
    /// Differences older than the account (created or changed before it was added here, so no
    /// push could have reached us): queued through the push's job, not counted as found.
    pub before_account: usize,
    /// Changes the platform shows as the merchant's own, made outside the desk: queued to
    /// refresh our record, not counted as found.
    pub merchant_acted: usize,
}

/// The last finished pass, for the account's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = LastReconciliation)]
pub struct LastPass {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `complete`, or `failed` (given up until the next pass, see `error`).
    pub outcome: Outcome,
    #[serde(flatten)]
    pub tally: Tally,
    pub error: Option<String>,
}

/// Where the re-reads stand: the list (0: by deadline; with nothing due, 1: waiting on the
/// platform, 2: processing, 3: pending), its cursor, and how many of the page at that cursor
/// were done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RereadPos {
    pub part: u8,
    pub cursor: Option<String>,
    pub skip: usize,
}

/// The pass under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub started_at: DateTime<Utc>,
    /// Which part of it may run (each continuation is the next part).
    pub part: u32,
    /// The schedule slot of a scheduled pass (its first part retried by the worker is the same
    /// pass, not another one under way).
    #[serde(default)]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Staff asked for it (`POST /accounts/{id}/reconcile`).
    #[serde(default)]
    pub by_staff: bool,
}

impl Current {
    /// Part `part` of the pass started at `started_at`.
    pub fn part_of(started_at: DateTime<Utc>, part: u32) -> Self {
        Self {
            started_at,
            part,
            scheduled_at: None,
            by_staff: false,
        }
    }

    /// The same part of the same pass.
    pub fn is(&self, other: &Current) -> bool {
        self.started_at == other.started_at && self.part == other.part
    }
}

/// Whether the pass state's current part is `this` one.
pub fn is_current(current: Option<&Current>, this: &Current) -> bool {
    current.is_some_and(|c| c.is(this))
}

/// An account's reconciliation state (`RECON#{account}` / `STATE`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Listing is complete for complaints created before this.
    #[serde(default)]
    pub watermark: Option<DateTime<Utc>>,
    /// Where the next pass's re-reads start (None: from the nearest deadline).
    #[serde(default)]
    pub reread_from: Option<RereadPos>,
    #[serde(default)]
    pub current: Option<Current>,
    #[serde(default)]
    pub last: Option<LastPass>,
    #[serde(default)]
    pub urls: Vec<UrlCheck>,
    #[serde(default)]
    pub urls_checked_at: Option<DateTime<Utc>>,
    /// When staff last asked for a pass (they may once a minute).
    #[serde(default)]
    pub staff_pass_at: Option<DateTime<Utc>>,
}

impl State {
    fn key(account_id: &str) -> (String, String) {
        (recon_pk(account_id), "STATE".into())
    }

    /// The account's state and its version (None: never written).
    pub async fn read(
        records: &dyn RecordStore,
        account_id: &str,
    ) -> Result<(State, Option<u64>), RepoError> {
        let (pk, sk) = Self::key(account_id);
        match records.get(&pk, &sk).await? {
            Some(item) => {
                let (s, v) = decode::<State>(item)?;
                Ok((s, Some(v)))
            }
            None => Ok((State::default(), None)),
        }
    }

    /// Change the state with `f` (compare-and-set, read again on a conflict); `f` answers
    /// false to write nothing. The state as written (or as read, when nothing was).
    pub(crate) async fn modify(
        records: &dyn RecordStore,
        account_id: &str,
        mut f: impl FnMut(&mut State) -> bool,
    ) -> Result<(State, bool), RepoError> {
        let (pk, sk) = Self::key(account_id);
        for _ in 0..16 {
            let (mut s, version) = Self::read(records, account_id).await?;
            if !f(&mut s) {
                return Ok((s, false));
            }
            let item = Item::new(
                pk.clone(),
                sk.clone(),
                serde_json::to_value(&s).map_err(RepoError::Serialise)?,
            );
            let written = match version {
                Some(v) => records.update(item, v).await,
                None => records.create(item).await,
            };
            match written {
                Ok(_) => return Ok((s, true)),
                Err(StoreError::VersionConflict { .. } | StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(RepoError::Store(StoreError::VersionConflict {
            pk,
            sk,
            expected: 0,
        }))
    }
}
