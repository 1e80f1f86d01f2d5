//! What a platform hands the automatic handling: the complaint as it shows it ([`Snapshot`]),
//! its operations on that complaint ([`AutoOps`]), and what each of them reports back. The operations only talk to the platform (and take their
//! call budget); deciding, the action log, the refund claim and the records are
//! [`super::handle`]'s.

use crate::worker::JobError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::complaint::{ActionKind, Complaint, ComplaintStatus, HistoryEntry};
use domain::notification::Audience;

/// What a platform write (reply, a step before the refund, completion) came to. A failure worth
/// retrying is not one of these: the operation returns it as a [`JobError`], and the job runs
/// again later (reading the platform's state first, so nothing is sent twice blindly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Done now; the action log's detail.
    Done(String),
    /// The platform says it was done before (the action log's detail).
    AlreadyDone(String),
    /// The platform refused.
    Refused(Refusal),
}

/// A platform's refusal of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: String,
    /// The platform answered and refused outright, so nothing happened (a claimed refund no
    /// longer counts). False when it is not known (the answer could not be read): the money
    /// may have left.
    pub outright: bool,
}

impl Refusal {
    pub fn new(error: impl std::fmt::Display, outright: bool) -> Self {
        Self {
            error: error.to_string(),
            outright,
        }
    }
}

/// Why a complaint gets no automatic refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRefund {
    /// Logged as a skipped refund, with why (left to staff).
    Skipped(String),
    /// Logged as a failed refund (the job dead-letters with it).
    Failed(String),
    /// Nothing to log (there is nothing to refund, and nothing unusual about it).
    Silent,
}

/// The refund the account's policy would make on a complaint, as the platform names it.
#[derive(Debug, Clone)]
pub struct RefundTarget<O> {
    /// The platform's own data about the order (what its refund call needs).
    pub order: O,
    /// The account that pays (refund numbers are unique per paying account).
    pub payer: String,
    /// The automatic refund's request number: deterministic from the complaint and the order,
    /// so a retry finds it and never asks twice.
    pub number: String,
    /// The order, in our refund records.
    pub transaction_id: Option<String>,
    /// Count only the refunds of this order (same `transaction_id`) against it; otherwise
    /// every refund of the complaint counts (one order per complaint).
    pub per_order: bool,
    /// The order's amount.
    pub total: u64,
    /// The account's cap on automatic refunds.
    pub cap: Option<u64>,
    /// What the platform's state asks to refund, at most (decided only once no earlier refund
    /// was found by its number: a refund made before a crash is always found and completed).
    pub wanted: Result<u64, NoRefund>,
}

/// A refund the platform has under our number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// The platform's refund id, once it has one.
    pub refund_id: Option<String>,
    /// The platform's status, raw (`PROCESSING`, `SUCCESS`, ...).
    pub status: String,
    /// The amount the platform reports (else the amount asked for).
    pub amount: Option<u64>,
}

/// Looking a refund up by its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Made(Made),
    NotFound,
    /// The platform refused the query (logged as a failed refund; nothing is asked).
    Refused(String),
}

/// The platform's operations on one complaint, for its automatic handling (built by the
/// platform's job handler with its client, settings and the detail it fetched). Each one takes
/// its own call budget from the rate limiter.
#[async_trait]
pub trait AutoOps: Send + Sync {
    /// The platform's data about the order a refund needs.
    type Order: Send + Sync;

    /// Send the account's reply, if it has one to send now (asked only while the record shows
    /// no reply); `None`: nothing to send.
    async fn reply(&self, record: &Complaint) -> Result<Option<Sent>, JobError>;

    /// The refund the account's policy would make, or why there is none.
    async fn refund_target(
        &self,
        record: &Complaint,
    ) -> Result<Result<RefundTarget<Self::Order>, NoRefund>, JobError>;

    /// The refund the platform has under `target.number`, if any.
    async fn find_refund(&self, target: &RefundTarget<Self::Order>) -> Result<Found, JobError>;

    /// A step the platform needs before the refund (its action kind and what it came to);
    /// `None`: none.
    async fn before_refund(
        &self,
        _target: &RefundTarget<Self::Order>,
        _amount: u64,
    ) -> Result<Option<(ActionKind, Sent)>, JobError> {
        Ok(None)
    }

    /// Ask for the refund of `amount` under `target.number`.
    async fn refund(
        &self,
        target: &RefundTarget<Self::Order>,
        amount: u64,
    ) -> Result<Result<Made, Refusal>, JobError>;

    /// Complete the complaint after its refund of `refunded` (asked only while the record
    /// shows it not completed); `None`: nothing to send.
    async fn complete(&self, record: &Complaint, refunded: u64) -> Result<Option<Sent>, JobError>;

    /// After a refused write of `action`: does the platform now show it done anyway?
    async fn platform_shows(&self, _action: ActionKind) -> Result<bool, JobError> {
        Ok(false)
    }

    /// The complaint as the platform shows it after the automatic steps (recorded); `None`
    /// when the platform cannot tell or the record needs nothing more.
    async fn refresh(&self) -> Option<Shown<'static>> {
        None
    }

    /// The action kind of [`AutoOps::complete`] in the action log.
    fn completion(&self) -> ActionKind {
        ActionKind::Complete
    }

    /// The record after a reply was sent (or found sent).
    fn mark_replied(&self, c: &mut Complaint) {
        c.replied = true;
    }

    /// The record after completion (or found completed).
    fn mark_completed(&self, c: &mut Complaint) {
        c.completed = true;
        c.status = ComplaintStatus::Resolved;
    }
}

/// A complaint's history entries as the platform shows them, given the stored record.
pub type HistoryOf<'a> = Box<dyn Fn(&Complaint) -> Vec<HistoryEntry> + Send + Sync + 'a>;

/// A complaint as the platform shows it.
pub struct Shown<'a> {
    /// The record to create when there is none yet.
    pub new: Complaint,
    /// Bring a record (new or stored) up to what the platform shows.
    pub fill: Box<dyn Fn(&mut Complaint) + Send + Sync + 'a>,
    /// Its history entries, given the stored record.
    pub history: HistoryOf<'a>,
    /// When the platform was read.
    pub now: DateTime<Utc>,
}

/// What staff are told about an event of a complaint.
pub struct StaffNotice {
    /// What happened to the complaint, never the push's own id (with the audience, the
    /// notice's dedupe key: the same change pushed again is told once).
    pub event_key: String,
    /// A short name of what happened (`new complaint`).
    pub event: String,
    /// The merchant's name as staff know it.
    pub merchant: String,
    /// What the buyer wrote (cut to 200 characters).
    pub user_text: Option<String>,
    pub audiences: Vec<Audience>,
}

/// What a platform's job handler hands over after fetching a complaint.
pub struct Snapshot<'a, O> {
    pub shown: Shown<'a>,
    /// `None`: this event is not told to staff (the merchant's own action).
    pub notice: Option<StaffNotice>,
    /// The complaint's operations when the account acts on it now (enabled, and the complaint
    /// waits for the merchant); `None`: recorded and told, nothing sent.
    pub ops: Option<O>,
}
