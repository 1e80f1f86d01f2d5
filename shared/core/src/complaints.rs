//! Complaint, violation and media records. Key shapes (single table, see `repo`):
//!
//! | record | pk | sk | gsi1 | gsi2 |
//! |---|---|---|---|---|
//! | complaint | `COMPLAINT#{id}` | `META` | `COMPLAINTS#{account}` / `{received}#{id}` | `COMPLAINTS` / `{received}#{id}` (and gsi3..gsi15: see [`list`]) |
//! | platform history entry | `COMPLAINT#{id}` | `HISTORY#{at}#{entry_id}` | | |
//! | our action log | `COMPLAINT#{id}` | `ACTION#{at}#{action_id}` | | |
//! | notification job | `COMPLAINT#{id}` or `VIOLATION#{id}` | `NOTICE#{job_id}` | | |
//! | refund | `COMPLAINT#{id}` | `REFUND#{out_refund_no}` | | |
//! | refund number → complaint | `REFUNDNO#{account}#{out_refund_no}` | `COMPLAINT` | | |
//! | lease (one actor at a time) | `COMPLAINT#{id}` | `LEASE#{name}` (expires) | | |
//! | violation | `VIOLATION#{id}` | `META` | `VIOLATIONS#{account}` / `{received}#{id}` | `VIOLATIONS#{account}#SUB#{sub}` / `{received}#{id}` |
//! | uploaded media | `MEDIA#{id}` | `META` | | |
//!
//! Our complaint id is derived from (platform, account, platform id), so concurrent events for
//! one complaint meet on one record; a list is one query on the index partition of its
//! filters, newest first (see [`list`]).

pub mod list;

use crate::repo::{RepoError, decode, encode, ts};
use chrono::{DateTime, Utc};
use domain::clock::{Clock, SystemClock};
use domain::complaint::{ActionLogEntry, Complaint, HistoryEntry, Platform, Violation};
use domain::notification::NotificationJob;
use domain::ports::{Index, IndexKey, Item, Query, RecordStore, StoreError};
use list::ComplaintFilter;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

fn hash_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    format!("{prefix}{}", &hex::encode(h.finalize())[..24])
}

/// Our stable complaint id for a platform complaint of an account.
pub fn complaint_id(platform: Platform, account_id: &str, platform_complaint_id: &str) -> String {
    hash_id(
        "cmp_",
        &[platform.as_str(), account_id, platform_complaint_id],
    )
}

/// Our violation id for a violation event of an account (what happened to which record, not
/// the notification that told us: a repeated push is the same violation).
pub fn violation_id(account_id: &str, event: &str) -> String {
    hash_id("vio_", &[account_id, event])
}

/// A deterministic id (notification jobs, action ids) from a business key.
pub fn derived_id(prefix: &str, key: &str) -> String {
    hash_id(prefix, &[key])
}

fn complaint_pk(id: &str) -> String {
    format!("COMPLAINT#{id}")
}

fn violation_pk(id: &str) -> String {
    format!("VIOLATION#{id}")
}

/// A refund we asked a platform for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundRecord {
    pub complaint_id: String,
    /// Ours, deterministic from (complaint, order, sequence).
    pub out_refund_no: String,
    pub sequence: u32,
    pub transaction_id: Option<String>,
    pub amount_fen: u64,
    /// The platform's refund id once known.
    pub refund_id: Option<String>,
    /// The platform's status, raw (`PROCESSING`, `SUCCESS`, ...).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An evidence image uploaded through `POST /media`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Media {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    /// The account the uploader's token is limited to, if any (media of a scoped token is
    /// usable only within that scope).
    pub account_id: Option<String>,
    pub sub_mchid: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Media {
    /// May this image go to the platform for (account, sub-merchant), asked by `scope`? Media
    /// belongs to the scope it was uploaded under: an account's (or one of its sub-merchants')
    /// media is usable only for that account (that sub-merchant), and only by a token that
    /// covers it; media an administrator uploaded (no account) only by an administrator, or by
    /// the worker for an account an administrator configured.
    pub fn usable_for(
        &self,
        scope: &domain::token::TokenScope,
        account_id: &str,
        sub_mchid: Option<&str>,
    ) -> bool {
        let belongs = match self.account_id.as_deref() {
            None => true,
            Some(a) => {
                a == account_id
                    && (self.sub_mchid.is_none() || self.sub_mchid.as_deref() == sub_mchid)
            }
        };
        belongs && scope.covers(self.account_id.as_deref(), self.sub_mchid.as_deref())
    }
}

/// Everything we keep about one complaint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComplaintDetail {
    pub complaint: Complaint,
    pub history: Vec<HistoryEntry>,
    pub actions: Vec<ActionLogEntry>,
    pub notifications: Vec<NotificationJob>,
    /// Each notification's deliveries (channel, recipients, status, attempts, last error).
    pub deliveries: Vec<domain::notification::Delivery>,
    pub refunds: Vec<RefundRecord>,
}

pub struct ComplaintRepo<'a> {
    store: &'a dyn RecordStore,
    /// What the metrics time a write by (first response, completion): the services' clock.
    clock: &'a dyn Clock,
}

/// Whether a refund counts against what is left of its order: every refund but a `CLOSED` one
/// (`PROCESSING` may still pay out; `ABNORMAL` means the money already left). Every bound and
/// every `refunded_fen` uses this one rule.
pub fn counts_against_order(r: &RefundRecord) -> bool {
    r.status != "CLOSED"
}

/// What became of a refund claim ([`ComplaintRepo::claim_refund`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The number is ours and the order's bound holds with it.
    Made,
    /// Another request holds the number: read again and take the next one.
    NumberTaken,
    /// Another claim got in first and together they pass the order: ours is closed.
    Withdrawn,
}

/// The sequence of a complaint's automatic refund; refunds by hand take 1, 2, ... so the two
/// never share a request number.
pub const AUTO_REFUND_SEQUENCE: u32 = 0;

/// What an automatic refund of an order of `total` fen may ask for: `wanted`, at most what is
/// left after the recorded refunds of that order (`of_order`) that count, checked; or why
/// nothing can be refunded (for the action log).
pub fn auto_refund_amount(
    total: u64,
    refunds: &[RefundRecord],
    of_order: impl Fn(&RefundRecord) -> bool,
    wanted: u64,
) -> Result<u64, String> {
    let counted = || {
        refunds
            .iter()
            .filter(|r| of_order(r) && counts_against_order(r))
            .map(|r| r.amount_fen)
    };
    let left = domain::money::sum(counted())
        .map(|done| total.saturating_sub(done))
        .unwrap_or(0);
    let amount = wanted.min(left);
    domain::money::check_refund(total, counted(), amount)
        .map(|_| amount)
        .map_err(|e| format!("no automatic refund: the amount {e}"))
}

use list::MAX_EXAMINED;

/// An automatic refund's claim (see [`ComplaintRepo::claim_auto_refund`]).
pub struct AutoRefund<'r> {
    /// The account whose refund numbers these are (the one that pays).
    pub account_id: &'r str,
    pub number: &'r str,
    pub transaction_id: Option<String>,
    /// Only the refunds of this order (same `transaction_id`) count against it; otherwise
    /// every refund of the complaint does.
    pub per_order: bool,
    /// The order's amount.
    pub total: u64,
    pub now: DateTime<Utc>,
}

impl AutoRefund<'_> {
    /// Whether a recorded refund counts against this refund's order.
    fn of_order(&self, r: &RefundRecord) -> bool {
        !self.per_order || r.transaction_id == self.transaction_id
    }
}

impl<'a> ComplaintRepo<'a> {
    /// What an automatic refund may ask for: `wanted`, at most what is left of the order after
    /// the refunds recorded so far; or why nothing can be refunded (for the action log).
    pub async fn auto_refund_left(
        &self,
        complaint_id: &str,
        a: &AutoRefund<'_>,
        wanted: u64,
    ) -> Result<Result<u64, String>, RepoError> {
        let refunds = self.refunds(complaint_id).await?;
        Ok(auto_refund_amount(
            a.total,
            &refunds,
            |r| a.of_order(r),
            wanted,
        ))
    }

    /// Claim an automatic refund of `amount` under its number before the platform is asked
    /// (see [`ComplaintRepo::claim_refund`]); or why it was not claimed (for the action log).
    pub async fn claim_auto_refund(
        &self,
        complaint_id: &str,
        a: &AutoRefund<'_>,
        amount: u64,
    ) -> Result<Result<(), String>, RepoError> {
        let claim = RefundRecord {
            complaint_id: complaint_id.to_string(),
            out_refund_no: a.number.to_string(),
            sequence: AUTO_REFUND_SEQUENCE,
            transaction_id: a.transaction_id.clone(),
            amount_fen: amount,
            refund_id: None,
            status: "PROCESSING".into(),
            created_at: a.now,
            updated_at: a.now,
        };
        let number = a.number;
        Ok(
            match self
                .claim_refund(a.account_id, &claim, a.total, |r| a.of_order(r))
                .await?
            {
                Claim::Made => Ok(()),
                Claim::Withdrawn => Err(format!(
                    "a refund made meanwhile took what was left; automatic refund of {amount} fen withdrawn"
                )),
                Claim::NumberTaken => {
                    Err(format!("refund {number} is being asked for by another run"))
                }
            },
        )
    }

    /// The repository over `store`, its writes timed by the wall clock (reads, tests, tools);
    /// a use-case that writes takes [`ComplaintRepo::of`] so that its clock times them.
    pub fn new(store: &'a dyn RecordStore) -> Self {
        Self {
            store,
            clock: &SystemClock,
        }
    }

    /// The repository over the services' record store, its writes timed by their clock.
    pub fn of(ports: &'a crate::state::Ports) -> Self {
        Self {
            store: &*ports.records,
            clock: &*ports.clock,
        }
    }

    /// The stored item of a complaint: the record, in every list partition it belongs in.
    pub fn complaint_item(c: &Complaint) -> Result<Item, RepoError> {
        let mut item = Item::new(complaint_pk(&c.id), "META", encode(c)?);
        for (index, key) in list::complaint_keys(c) {
            item = item.with_index(index, key);
        }
        Ok(item)
    }

    pub async fn get(&self, id: &str) -> Result<Option<(Complaint, u64)>, RepoError> {
        match self.store.get(&complaint_pk(id), "META").await? {
            Some(i) => decode(i).map(Some),
            None => Ok(None),
        }
    }

    /// Create the record, or replace it if `expected_version` still matches (0: create).
    /// The deadlines, `next_due_at` and `deadline` written are re-computed from the record's
    /// state by its platform's rules ([`domain::deadline::refresh`]).
    pub async fn save(&self, c: &Complaint, expected_version: u64) -> Result<u64, RepoError> {
        let mut c = c.clone();
        domain::deadline::refresh(&mut c);
        let item = Self::complaint_item(&c)?;
        let stored = if expected_version == 0 {
            self.store.create(item).await?
        } else {
            self.store.update(item, expected_version).await?
        };
        Ok(stored.version)
    }

    /// Create up to 25 new records in one transaction (a bulk import, such as the benchmark's
    /// data set): the same items `save` writes, so every key and index entry is the app's own.
    /// Fails, writing none of them, if any already exists.
    pub async fn create_many(&self, complaints: &[Complaint]) -> Result<(), RepoError> {
        let writes = complaints
            .iter()
            .map(|c| {
                let mut c = c.clone();
                domain::deadline::refresh(&mut c);
                Self::complaint_item(&c).map(domain::ports::Write::Create)
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.store.transact(writes).await?;
        Ok(())
    }

    /// Read, change and write back with compare-and-set, retrying on a concurrent change.
    pub async fn modify(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Complaint),
    ) -> Result<Complaint, RepoError> {
        let (c, _) = self
            .change(id, |c| {
                change(c);
                true
            })
            .await?;
        Ok(c)
    }

    /// [`ComplaintRepo::modify`] where `change` says whether it changed anything: when it
    /// returns false (on the record as read at that attempt) nothing is written and None is
    /// returned.
    pub async fn modify_if(
        &self,
        id: &str,
        change: impl FnMut(&mut Complaint) -> bool,
    ) -> Result<Option<Complaint>, RepoError> {
        let (c, written) = self.change(id, change).await?;
        Ok(written.then_some(c))
    }

    /// The record after `change`, and whether it was written.
    async fn change(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Complaint) -> bool,
    ) -> Result<(Complaint, bool), RepoError> {
        for _ in 0..10 {
            let Some((mut c, v)) = self.get(id).await? else {
                return Err(RepoError::Store(StoreError::NotFound {
                    pk: complaint_pk(id),
                    sk: "META".into(),
                }));
            };
            let before = c.clone();
            if !change(&mut c) {
                return Ok((before, false));
            }
            domain::deadline::refresh(&mut c);
            let now = self.clock.now();
            let counted = crate::metrics::count_deadlines(Some(&before), &mut c, now);
            match self.save(&c, v).await {
                Ok(_) => {
                    crate::metrics::complaint_written(Some(&before), &c, now, &counted);
                    return Ok((c, true));
                }
                Err(RepoError::Store(StoreError::VersionConflict { .. })) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(RepoError::Store(StoreError::Unavailable(
            "complaint record kept changing; try again".into(),
        )))
    }

    /// Create the record from `new` (then `change`), or apply `change` to the stored one; a
    /// concurrent create by another event of the same complaint is met with `change`.
    pub async fn upsert(
        &self,
        new: Complaint,
        mut change: impl FnMut(&mut Complaint),
    ) -> Result<Complaint, RepoError> {
        let id = new.id.clone();
        if self.get(&id).await?.is_some() {
            return self.modify(&id, change).await;
        }
        let mut c = new;
        change(&mut c);
        domain::deadline::refresh(&mut c);
        match self.save(&c, 0).await {
            Ok(_) => {
                crate::metrics::complaint_written(None, &c, self.clock.now(), &[]);
                Ok(c)
            }
            Err(RepoError::Store(StoreError::AlreadyExists { .. })) => {
                self.modify(&id, change).await
            }
            Err(e) => Err(e),
        }
    }

    pub async fn put_history(&self, h: &HistoryEntry) -> Result<(), RepoError> {
        let sk = format!("HISTORY#{}#{}", ts(h.at), h.entry_id);
        self.store
            .put(Item::new(complaint_pk(&h.complaint_id), sk, encode(h)?))
            .await?;
        Ok(())
    }

    pub async fn log_action(&self, a: &ActionLogEntry) -> Result<(), RepoError> {
        let sk = format!("ACTION#{}#{}", ts(a.at), a.action_id);
        self.store
            .put(Item::new(complaint_pk(&a.complaint_id), sk, encode(a)?))
            .await?;
        Ok(())
    }

    /// Keep a notification job under its complaint or violation, once: the job id is derived
    /// from the event and is the whole key, so a job run again (after a crash, or the same
    /// event pushed again) finds the entry there and leaves it as it was.
    pub async fn put_notice(&self, owner_pk: &str, job: &NotificationJob) -> Result<(), RepoError> {
        let sk = format!("NOTICE#{}", job.id);
        match self
            .store
            .create(Item::new(owner_pk, sk, encode(job)?))
            .await
        {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn complaint_owner(id: &str) -> String {
        complaint_pk(id)
    }

    pub fn violation_owner(id: &str) -> String {
        violation_pk(id)
    }

    pub async fn refund(
        &self,
        complaint_id: &str,
        out_refund_no: &str,
    ) -> Result<Option<(RefundRecord, u64)>, RepoError> {
        match self
            .store
            .get(
                &complaint_pk(complaint_id),
                &format!("REFUND#{out_refund_no}"),
            )
            .await?
        {
            Some(i) => decode(i).map(Some),
            None => Ok(None),
        }
    }

    /// Store a refund record and the refund-number lookup (both idempotent).
    pub async fn put_refund(&self, account_id: &str, r: &RefundRecord) -> Result<(), RepoError> {
        self.store
            .put(Item::new(
                format!("REFUNDNO#{account_id}#{}", r.out_refund_no),
                "COMPLAINT",
                json!({"complaint_id": r.complaint_id}),
            ))
            .await?;
        self.store
            .put(Item::new(
                complaint_pk(&r.complaint_id),
                format!("REFUND#{}", r.out_refund_no),
                encode(r)?,
            ))
            .await?;
        Ok(())
    }

    /// Claim a refund's number before the platform is asked: create its `REFUND#` record
    /// (status `PROCESSING`, with the amount, so it counts against the order at once) only if
    /// no record has that number; then read the refunds again and withdraw the claim (mark it
    /// `CLOSED`) if the counted refunds of the order (`of_order`) now add up to more than
    /// `total` (another claim on another number got in between). Every claim is written before
    /// that read, so of two claims that together pass the order at least one sees the other.
    pub async fn claim_refund(
        &self,
        account_id: &str,
        r: &RefundRecord,
        total: u64,
        of_order: impl Fn(&RefundRecord) -> bool,
    ) -> Result<Claim, RepoError> {
        match self
            .store
            .create(Item::new(
                complaint_pk(&r.complaint_id),
                format!("REFUND#{}", r.out_refund_no),
                encode(r)?,
            ))
            .await
        {
            Ok(_) => {}
            Err(StoreError::AlreadyExists { .. }) => return Ok(Claim::NumberTaken),
            Err(e) => return Err(e.into()),
        }
        self.store
            .put(Item::new(
                format!("REFUNDNO#{account_id}#{}", r.out_refund_no),
                "COMPLAINT",
                json!({"complaint_id": r.complaint_id}),
            ))
            .await?;
        let refunds = self.refunds(&r.complaint_id).await?;
        let counted = domain::money::sum(
            refunds
                .iter()
                .filter(|x| of_order(x) && counts_against_order(x))
                .map(|x| x.amount_fen),
        );
        if counted.is_some_and(|sum| sum <= total) {
            return Ok(Claim::Made);
        }
        let withdrawn = RefundRecord {
            status: "CLOSED".into(),
            ..r.clone()
        };
        self.put_refund(account_id, &withdrawn).await?;
        Ok(Claim::Withdrawn)
    }

    /// After the platform refused a claimed refund outright (it answered, and not "try later"),
    /// close the claim so it no longer counts. Any other failure keeps it counted: the money
    /// may have left. A record the platform already confirmed (it has a refund id) is kept.
    pub async fn close_claim(
        &self,
        account_id: &str,
        complaint_id: &str,
        out_refund_no: &str,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        if let Some((r, _)) = self.refund(complaint_id, out_refund_no).await?
            && r.refund_id.is_none()
        {
            let closed = RefundRecord {
                status: "CLOSED".into(),
                updated_at: now,
                ..r
            };
            self.put_refund(account_id, &closed).await?;
        }
        Ok(())
    }

    /// The refunds asked for on a complaint.
    pub async fn refunds(&self, complaint_id: &str) -> Result<Vec<RefundRecord>, RepoError> {
        self.all_under(complaint_id, "REFUND#").await
    }

    /// A complaint's action log, oldest first.
    pub async fn actions(&self, complaint_id: &str) -> Result<Vec<ActionLogEntry>, RepoError> {
        self.all_under(complaint_id, "ACTION#").await
    }

    /// A complaint's platform history, oldest first.
    pub async fn history(&self, complaint_id: &str) -> Result<Vec<HistoryEntry>, RepoError> {
        self.all_under(complaint_id, "HISTORY#").await
    }

    /// Every record of one kind under a complaint (its sort keys start with `prefix`), in key
    /// order, page by page.
    async fn all_under<T: serde::de::DeserializeOwned>(
        &self,
        complaint_id: &str,
        prefix: &str,
    ) -> Result<Vec<T>, RepoError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(
                    &Query::partition(Index::Primary, complaint_pk(complaint_id))
                        .begins_with(prefix)
                        .limit(1000)
                        .after(cursor),
                )
                .await?;
            for item in page.items {
                out.push(decode(item)?.0);
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                return Ok(out);
            }
        }
    }

    /// Store a refund (idempotently) and bring the complaint's `refunded_fen` up to the sum
    /// of its refunds that were not closed. The sum is checked, and the stored total never
    /// goes down: a retry, a lost race or a closed refund cannot make it smaller.
    pub async fn record_refund(
        &self,
        account_id: &str,
        r: &RefundRecord,
    ) -> Result<Complaint, RepoError> {
        self.put_refund(account_id, r).await?;
        let refunds = self.refunds(&r.complaint_id).await?;
        let sum = domain::money::sum(
            refunds
                .iter()
                .filter(|x| counts_against_order(x))
                .map(|x| x.amount_fen),
        );
        self.modify(&r.complaint_id, |c| {
            if let Some(sum) = sum {
                c.refunded_fen = c.refunded_fen.max(sum);
            }
        })
        .await
    }

    /// The complaint a refund number of an account belongs to.
    pub async fn complaint_of_refund(
        &self,
        account_id: &str,
        out_refund_no: &str,
    ) -> Result<Option<String>, RepoError> {
        Ok(self
            .store
            .get(
                &format!("REFUNDNO#{account_id}#{out_refund_no}"),
                "COMPLAINT",
            )
            .await?
            .and_then(|i| i.data["complaint_id"].as_str().map(String::from)))
    }

    /// Take a named lease on a complaint for `seconds` (false: someone else holds it).
    pub async fn lease(
        &self,
        complaint_id: &str,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        seconds: i64,
    ) -> Result<bool, RepoError> {
        let pk = complaint_pk(complaint_id);
        let sk = format!("LEASE#{name}");
        let item =
            Item::new(&pk, &sk, json!({"holder": holder})).expiring_at(now.timestamp() + seconds);
        match self.store.get(&pk, &sk).await? {
            None => match self.store.create(item).await {
                Ok(_) => Ok(true),
                Err(StoreError::AlreadyExists { .. }) => Ok(false),
                Err(e) => Err(e.into()),
            },
            Some(old) if old.is_expired(now) || old.data["holder"] == holder => {
                match self.store.update(item, old.version).await {
                    Ok(_) => Ok(true),
                    Err(StoreError::VersionConflict { .. }) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
            Some(_) => Ok(false),
        }
    }

    /// The record with its history, action log, notification jobs and refunds.
    pub async fn detail(&self, id: &str) -> Result<Option<ComplaintDetail>, RepoError> {
        let Some((complaint, _)) = self.get(id).await? else {
            return Ok(None);
        };
        let mut history = Vec::new();
        let mut actions = Vec::new();
        let mut notifications = Vec::new();
        let mut refunds = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(
                    &Query::partition(Index::Primary, complaint_pk(id))
                        .limit(1000)
                        .after(cursor),
                )
                .await?;
            for item in page.items {
                let sk = item.sk.clone();
                if sk.starts_with("HISTORY#") {
                    history.push(decode(item)?.0);
                } else if sk.starts_with("ACTION#") {
                    actions.push(decode(item)?.0);
                } else if sk.starts_with("NOTICE#") {
                    notifications.push(decode(item)?.0);
                } else if sk.starts_with("REFUND#") {
                    refunds.push(decode(item)?.0);
                }
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        notifications
            .sort_by(|a: &NotificationJob, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let deliveries = crate::deliveries::deliveries_of(
            self.store,
            &domain::notification::NotificationSubject::Complaint {
                complaint_id: id.to_string(),
            },
        )
        .await?;
        Ok(Some(ComplaintDetail {
            complaint,
            history,
            actions,
            notifications,
            deliveries,
            refunds,
        }))
    }

    /// Complaints with filters, newest first (a deadline list: earliest `next_due_at` first,
    /// then those with nothing due); `visible` decides per record whether the caller may see
    /// it (token scope). The caller's scope must already be in the filter (its account and
    /// sub-merchant): `visible` is a defence on what was read, not a filter that reads more.
    /// One query on one index partition per call once the list keys are backfilled (before:
    /// the older filtered walk, bounded per call; see [`list`]).
    pub async fn list(
        &self,
        f: &ComplaintFilter,
        visible: impl Fn(&Complaint) -> bool,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<Complaint>, Option<String>), RepoError> {
        if !list::indexed(self.store, f).await? {
            return self.list_unindexed(f, visible, limit, cursor).await;
        }
        let q = match list::plan(self.store, f).await? {
            list::ListPlan::Empty => return Ok((Vec::new(), None)),
            list::ListPlan::Partition { index, pk } => {
                list::time_range(Query::partition(index, pk), f).backward()
            }
            list::ListPlan::Deadline {
                index,
                pk,
                from,
                to,
            } => Query::partition(index, pk).between(from, to),
        };
        list::one_page(
            self.store,
            q,
            |c| list::matches(f, c) && visible(c),
            limit,
            cursor,
        )
        .await
    }

    /// The list before the backfill: the account's or the global partition (the only ones
    /// every record has), filtered after, at most [`MAX_EXAMINED`] entries per call.
    async fn list_unindexed(
        &self,
        f: &ComplaintFilter,
        visible: impl Fn(&Complaint) -> bool,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<Complaint>, Option<String>), RepoError> {
        let q = match &f.account_id {
            Some(a) => Query::partition(Index::Gsi1, format!("COMPLAINTS#{a}")),
            None => Query::partition(Index::Gsi2, "COMPLAINTS"),
        };
        let keep = |c: &Complaint| list::matches(f, c) && visible(c);
        list_filtered(
            self.store,
            list::time_range(q, f).backward(),
            keep,
            limit,
            cursor,
        )
        .await
    }

    // ---- violations

    /// Store a violation; false if it was already stored.
    pub async fn create_violation(&self, v: &Violation) -> Result<bool, RepoError> {
        match self.store.create(Self::violation_item(v)?).await {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Create or replace a violation record (records re-read from a platform).
    pub async fn put_violation(&self, v: &Violation) -> Result<(), RepoError> {
        self.store.put(Self::violation_item(v)?).await?;
        Ok(())
    }

    fn violation_item(v: &Violation) -> Result<Item, RepoError> {
        let sort = format!("{}#{}", ts(v.received_at), v.id);
        let mut item = Item::new(violation_pk(&v.id), "META", encode(v)?).with_gsi1(IndexKey::new(
            format!("VIOLATIONS#{}", v.account_id),
            sort.clone(),
        ));
        if let Some(sub) = &v.sub_mchid {
            item = item.with_gsi2(IndexKey::new(
                format!("VIOLATIONS#{}#SUB#{sub}", v.account_id),
                sort,
            ));
        }
        Ok(item)
    }

    /// Violations of an account (or of one of its sub-merchants), newest first: one query on
    /// the partition of that account (sub-merchant), which is the caller's scope; `visible` is
    /// a defence on what was read.
    pub async fn list_violations(
        &self,
        account_id: &str,
        sub_mchid: Option<&str>,
        visible: impl Fn(&Violation) -> bool,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<Violation>, Option<String>), RepoError> {
        let q = match sub_mchid {
            None => Query::partition(Index::Gsi1, format!("VIOLATIONS#{account_id}")),
            Some(s) => Query::partition(Index::Gsi2, format!("VIOLATIONS#{account_id}#SUB#{s}")),
        }
        .backward();
        list::one_page(
            self.store,
            q,
            |v: &Violation| {
                v.account_id == account_id
                    && sub_mchid.is_none_or(|s| v.sub_mchid.as_deref() == Some(s))
                    && visible(v)
            },
            limit,
            cursor,
        )
        .await
    }

    // ---- media

    pub async fn create_media(&self, m: &Media) -> Result<(), RepoError> {
        self.store
            .create(Item::new(format!("MEDIA#{}", m.id), "META", encode(m)?))
            .await?;
        Ok(())
    }

    /// Remove an uploaded image's record (an upload whose action was refused; its blob is
    /// the caller's to remove).
    pub async fn delete_media(&self, id: &str) -> Result<(), RepoError> {
        self.store
            .delete(&format!("MEDIA#{id}"), "META", None)
            .await?;
        Ok(())
    }

    pub async fn media(&self, id: &str) -> Result<Option<Media>, RepoError> {
        match self.store.get(&format!("MEDIA#{id}"), "META").await? {
            Some(i) => decode(i).map(|(m, _)| Some(m)),
            None => Ok(None),
        }
    }

    /// Media `id` if `scope` may use it for (account, sub-merchant) ([`Media::usable_for`]);
    /// another scope's media is answered like an unknown id.
    pub async fn media_for(
        &self,
        id: &str,
        scope: &domain::token::TokenScope,
        account_id: &str,
        sub_mchid: Option<&str>,
    ) -> Result<Option<Media>, RepoError> {
        Ok(self
            .media(id)
            .await?
            .filter(|m| m.usable_for(scope, account_id, sub_mchid)))
    }
}

/// Page through an index, keeping what `keep` accepts, until `limit` records are found or
/// [`MAX_EXAMINED`] were looked at.
async fn list_filtered<T: serde::de::DeserializeOwned>(
    store: &dyn RecordStore,
    q: Query,
    keep: impl Fn(&T) -> bool,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<T>, Option<String>), RepoError> {
    let mut out = Vec::new();
    let mut examined = 0;
    let mut cursor = cursor;
    loop {
        let want = (limit - out.len()).clamp(1, 100) as u32;
        let page = store
            .query(&q.clone().limit(want).after(cursor.take()))
            .await?;
        for item in page.items {
            examined += 1;
            let (v, _) = decode::<T>(item)?;
            if keep(&v) {
                out.push(v);
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() || out.len() >= limit || examined >= MAX_EXAMINED {
            return Ok((out, cursor));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complaint(n: i64, now: DateTime<Utc>) -> Complaint {
        let pid = format!("2002{n:023}");
        Complaint::new(
            complaint_id(Platform::Wechatpay, "acc_bulk", &pid),
            Platform::Wechatpay,
            None,
            "acc_bulk".into(),
            pid,
            now - chrono::Duration::seconds(n),
        )
    }

    #[tokio::test]
    async fn create_many_writes_records_that_get_and_list_find_and_is_all_or_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let db = embedded::Db::open(dir.path().join("bulk.db")).expect("db");
        let store = embedded::SqliteRecordStore::new(db);
        let repo = ComplaintRepo::new(&store);
        let now = Utc::now();
        let batch: Vec<Complaint> = (0..3).map(|n| complaint(n, now)).collect();
        repo.create_many(&batch).await.expect("bulk create");
        for c in &batch {
            let (found, version) = repo.get(&c.id).await.expect("get").expect("stored");
            // As written: with the deadlines its platform's rules give it (if any are declared).
            let mut want = c.clone();
            domain::deadline::refresh(&mut want);
            assert_eq!((&found, version), (&want, 1));
        }
        let filter = ComplaintFilter {
            account_id: Some("acc_bulk".into()),
            ..Default::default()
        };
        let (listed, _) = repo.list(&filter, |_| true, 10, None).await.expect("list");
        let ids = |cs: &[Complaint]| cs.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&listed), ids(&batch), "newest first, through the index");

        // One existing record refuses the whole batch: the new one is not written either.
        let again = vec![complaint(9, now), batch[0].clone()];
        assert!(repo.create_many(&again).await.is_err());
        assert!(repo.get(&again[0].id).await.expect("get").is_none());
    }
}
