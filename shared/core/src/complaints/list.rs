//! Complaint lists that cost the same at any depth.
//!
//! Every filter the list offers, alone or combined with the caller's scope, has its own index
//! partition, newest first by `{received}#{id}`; a list call is one query on one partition with
//! the time range and the cursor as key bounds. The partitions (one secondary index each, so a
//! complaint is in all of them at once; the ones naming a sub-merchant only when it has one):
//!
//! | filter | index | partition |
//! |---|---|---|
//! | none | gsi2 | `COMPLAINTS` |
//! | account | gsi1 | `COMPLAINTS#{account}` |
//! | status | gsi3 | `COMPLAINTS#STATUS#{status}` |
//! | platform | gsi4 | `COMPLAINTS#PLATFORM#{platform}` |
//! | platform + status | gsi5 | `COMPLAINTS#PLATFORM#{platform}#STATUS#{status}` |
//! | account + status | gsi6 | `COMPLAINTS#{account}#STATUS#{status}` |
//! | account + sub-merchant | gsi7 | `COMPLAINTS#{account}#SUB#{sub}` |
//! | account + sub-merchant + status | gsi8 | `COMPLAINTS#{account}#SUB#{sub}#STATUS#{status}` |
//! | sub-merchant | gsi9 | `COMPLAINTS#SUB#{sub}` |
//! | sub-merchant + status | gsi10 | `COMPLAINTS#SUB#{sub}#STATUS#{status}` |
//!
//! A platform named together with an account needs no index of its own: an account's
//! complaints all come from its kind's platform, so the filter either adds nothing or
//! contradicts the account (an empty page, without a query). Likewise with a sub-merchant:
//! only some account kinds have sub-merchants, and all of those are of one platform.
//!
//! ## Deadline lists
//!
//! A deadline list (`sort=deadline`, `overdue`, `due_before`) reads the deadline partitions,
//! one per scope the list offers, ascending by `{next_due_at}#{id}`; a complaint with nothing
//! due sorts after every dated one, as `~#{received}#{id}` (oldest first), so `sort=deadline`
//! lists every complaint, the ones due soonest first:
//!
//! | scope | index | partition |
//! |---|---|---|
//! | none | gsi11 | `DUE` |
//! | account | gsi12 | `DUE#{account}` |
//! | platform | gsi13 | `DUE#PLATFORM#{platform}` |
//! | account + sub-merchant | gsi14 | `DUE#{account}#SUB#{sub}` |
//! | sub-merchant | gsi15 | `DUE#SUB#{sub}` |
//!
//! The deadline filters are sort-key ranges of that one partition: `overdue_at = T` (the admin
//! API's `overdue=true`, T = now) is `next_due_at < T`, `not_overdue_at = T` (`overdue=false`)
//! is `next_due_at >= T` or nothing due, `due_before = T` is `next_due_at <= T` (nothing due
//! never matches it); they combine as the intersection of their ranges. A deadline filter lists
//! in deadline order whatever `sort` says (the admin API refuses `sort=received` with one).
//!
//! The filters that have no deadline partition of their own, the status and the received-time
//! range (`since`, `until`), are applied to the page read: still one query of at most `limit`
//! entries per call, so a page may hold fewer than `limit` complaints (even none) while its
//! cursor says more may follow.
//!
//! ## Before the backfill
//!
//! Records written before these indexes existed are not in them until the backfill
//! ([`crate::reindex`]) has re-saved them; the backfill's marker says which version of the
//! keys every record has ([`list_keys_version`]). A received-order list needs version 1
//! (gsi3..gsi10), a deadline list version 2 (gsi11..gsi15, and each record's deadlines
//! re-computed). Until then such a list takes the older way (the account's or the global
//! partition, newest received first whatever the order asked for, filtered after, at most
//! [`MAX_EXAMINED`] entries per call).

use crate::repo::{AccountRepo, RepoError, decode, ts};
use chrono::{DateTime, Utc};
use domain::account::AccountKind;
use domain::complaint::{Complaint, ComplaintStatus, Platform};
use domain::ports::{Index, IndexKey, Query, RecordStore};
use serde_json::Value;

/// Filters of the complaint list.
#[derive(Debug, Clone, Default)]
pub struct ComplaintFilter {
    pub platform: Option<Platform>,
    pub account_id: Option<String>,
    pub sub_mchid: Option<String>,
    pub status: Option<ComplaintStatus>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only complaints with a deadline not met that is due at or before this time
    /// (`next_due_at <= T`).
    pub due_before: Option<DateTime<Utc>>,
    /// Only complaints whose next deadline passed before this time (`next_due_at < T`; the
    /// admin API's `overdue=true` sets it to now).
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only complaints not overdue at this time: nothing due, or `next_due_at >= T` (the admin
    /// API's `overdue=false` sets it to now).
    pub not_overdue_at: Option<DateTime<Utc>>,
    /// The order of the list (a deadline filter lists by deadline whatever this says).
    pub sort: ListSort,
}

impl ComplaintFilter {
    /// Is this a deadline list (the deadline order, or a deadline filter)?
    pub fn by_deadline(&self) -> bool {
        self.sort == ListSort::Deadline
            || self.due_before.is_some()
            || self.overdue_at.is_some()
            || self.not_overdue_at.is_some()
    }
}

/// The order of a complaint list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListSort {
    /// Newest first by the time we received it.
    #[default]
    Received,
    /// Earliest `next_due_at` first; complaints with nothing due after them.
    Deadline,
}

/// How many index items the older, filtered list examines at most per call before it answers
/// with a cursor (bounds the work of a filter that matches little).
pub(super) const MAX_EXAMINED: usize = 1000;

/// The record that says whether every complaint has its list keys: present with
/// `"done": true` and a `version` of at least [`LIST_KEYS_VERSION`] once the backfill ran.
pub const MARKER_PK: &str = "MIGRATION#complaint-list-keys";
pub const MARKER_SK: &str = "META";
/// The shape of the list keys; a change of shape needs a new backfill (and a higher number).
/// 1: the received-order partitions (gsi3..gsi10); 2: the deadline partitions (gsi11..gsi15)
/// and every complaint's deadlines re-computed.
pub const LIST_KEYS_VERSION: u64 = 2;

/// The key version a received-order list needs.
const RECEIVED_KEYS_VERSION: u64 = 1;

/// The secondary indexes the complaint lists added (gsi1 and gsi2 existed before): the
/// backfill checks they can be queried before it declares the lists ready.
pub const ADDED_INDEXES: [Index; 13] = [
    Index::Gsi3,
    Index::Gsi4,
    Index::Gsi5,
    Index::Gsi6,
    Index::Gsi7,
    Index::Gsi8,
    Index::Gsi9,
    Index::Gsi10,
    Index::Gsi11,
    Index::Gsi12,
    Index::Gsi13,
    Index::Gsi14,
    Index::Gsi15,
];

/// The key version every stored complaint has, as the backfill's marker says: the marker's
/// `version` once it is `done`; while a backfill to a newer version runs, the version that was
/// complete when it started (`ready`); 0 without a marker.
pub fn ready_version(marker: &Value) -> u64 {
    if marker["done"] == true {
        marker["version"].as_u64().unwrap_or(0)
    } else {
        marker["ready"].as_u64().unwrap_or(0)
    }
}

/// The key version every stored complaint has ([`ready_version`] of the marker).
pub async fn list_keys_version(store: &dyn RecordStore) -> Result<u64, RepoError> {
    Ok(store
        .get(MARKER_PK, MARKER_SK)
        .await?
        .map_or(0, |m| ready_version(&m.data)))
}

/// Do the stored complaints have this version's list keys (the backfill finished)?
pub async fn list_keys_ready(store: &dyn RecordStore) -> Result<bool, RepoError> {
    Ok(list_keys_version(store).await? >= LIST_KEYS_VERSION)
}

/// Can this list be answered from its index partition (the stored complaints have the keys
/// it reads)?
pub async fn indexed(store: &dyn RecordStore, f: &ComplaintFilter) -> Result<bool, RepoError> {
    let needs = if f.by_deadline() {
        LIST_KEYS_VERSION
    } else {
        RECEIVED_KEYS_VERSION
    };
    Ok(list_keys_version(store).await? >= needs)
}

/// The sort key of a complaint in every received-order list partition.
pub(super) fn sort_key(c: &Complaint) -> String {
    format!("{}#{}", ts(c.received_at), c.id)
}

/// The sort key of a complaint in every deadline partition: its next due time, or after every
/// due time (`~`, then the time received) when nothing is due.
pub(super) fn due_sort_key(c: &Complaint) -> String {
    match c.next_due_at {
        Some(t) => format!("{}#{}", ts(t), c.id),
        None => format!("{NOTHING_DUE}#{}#{}", ts(c.received_at), c.id),
    }
}

/// The sort-key prefix of complaints with nothing due: after every time (and every id).
const NOTHING_DUE: &str = "~";

/// The largest deadline sort key (after the complaints with nothing due).
const DUE_END: &str = "~~";

fn due_part() -> String {
    "DUE".into()
}

fn due_account_part(account: &str) -> String {
    format!("DUE#{account}")
}

fn due_platform_part(platform: Platform) -> String {
    format!("DUE#PLATFORM#{}", platform.as_str())
}

fn due_account_sub_part(account: &str, sub: &str) -> String {
    format!("DUE#{account}#SUB#{sub}")
}

fn due_sub_part(sub: &str) -> String {
    format!("DUE#SUB#{sub}")
}

fn account_part(account: &str) -> String {
    format!("COMPLAINTS#{account}")
}

fn status_part(prefix: &str, status: ComplaintStatus) -> String {
    format!("{prefix}#STATUS#{}", status.as_str())
}

fn platform_part(platform: Platform) -> String {
    format!("COMPLAINTS#PLATFORM#{}", platform.as_str())
}

fn account_sub_part(account: &str, sub: &str) -> String {
    format!("COMPLAINTS#{account}#SUB#{sub}")
}

fn sub_part(sub: &str) -> String {
    format!("COMPLAINTS#SUB#{sub}")
}

/// Every list partition a complaint belongs in, with its index.
pub(super) fn complaint_keys(c: &Complaint) -> Vec<(Index, IndexKey)> {
    let sort = sort_key(c);
    let a = c.account_id.as_str();
    let mut parts = vec![
        (Index::Gsi1, account_part(a)),
        (Index::Gsi2, "COMPLAINTS".to_string()),
        (Index::Gsi3, status_part("COMPLAINTS", c.status)),
        (Index::Gsi4, platform_part(c.platform)),
        (
            Index::Gsi5,
            status_part(&platform_part(c.platform), c.status),
        ),
        (Index::Gsi6, status_part(&account_part(a), c.status)),
    ];
    if let Some(s) = c.sub_mchid.as_deref() {
        parts.push((Index::Gsi7, account_sub_part(a, s)));
        parts.push((Index::Gsi8, status_part(&account_sub_part(a, s), c.status)));
        parts.push((Index::Gsi9, sub_part(s)));
        parts.push((Index::Gsi10, status_part(&sub_part(s), c.status)));
    }
    let due = due_sort_key(c);
    let mut due_parts = vec![
        (Index::Gsi11, due_part()),
        (Index::Gsi12, due_account_part(a)),
        (Index::Gsi13, due_platform_part(c.platform)),
    ];
    if let Some(s) = c.sub_mchid.as_deref() {
        due_parts.push((Index::Gsi14, due_account_sub_part(a, s)));
        due_parts.push((Index::Gsi15, due_sub_part(s)));
    }
    parts
        .into_iter()
        .map(|(i, p)| (i, IndexKey::new(p, sort.clone())))
        .chain(
            due_parts
                .into_iter()
                .map(|(i, p)| (i, IndexKey::new(p, due.clone()))),
        )
        .collect()
}

/// The platform an account kind's complaints come from, as the platform that declared the
/// kind says (None: a kind that has none, such as a third-party platform, or one no platform
/// of this process declared).
pub fn platform_of_kind(kind: AccountKind) -> Option<Platform> {
    kind.facts()
        .filter(|f| f.has_complaints)
        .map(|f| f.platform)
}

/// Where a list reads, decided before any query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListPlan {
    /// The filters contradict each other: nothing can match.
    Empty,
    /// One partition of one index, newest received first (the time range as key bounds).
    Partition { index: Index, pk: String },
    /// One deadline partition, earliest due first, between two sort keys (inclusive).
    Deadline {
        index: Index,
        pk: String,
        from: String,
        to: String,
    },
}

/// The deadline partition of a filter whose platform is already reconciled with its account
/// and sub-merchant.
fn due_partition(f: &ComplaintFilter) -> (Index, String) {
    match (f.account_id.as_deref(), f.sub_mchid.as_deref(), f.platform) {
        (Some(a), Some(s), _) => (Index::Gsi14, due_account_sub_part(a, s)),
        (Some(a), None, _) => (Index::Gsi12, due_account_part(a)),
        (None, Some(s), _) => (Index::Gsi15, due_sub_part(s)),
        (None, None, Some(p)) => (Index::Gsi13, due_platform_part(p)),
        (None, None, None) => (Index::Gsi11, due_part()),
    }
}

/// The first deadline sort key of a complaint due at `t` or later.
fn due_at_or_after(t: DateTime<Utc>) -> String {
    ts(t)
}

/// The last deadline sort key of a complaint due before `t`. Keys hold milliseconds: at a
/// whole millisecond that is every key below `ts(t)`; otherwise the millisecond of `t` is
/// included, and the filter on the page read ([`matches`]) decides exactly.
fn due_before_key(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        ts(t)
    } else {
        format!("{}#~", ts(t))
    }
}

/// The last deadline sort key of a complaint due at `t` or before.
fn due_at_or_before_key(t: DateTime<Utc>) -> String {
    format!("{}#~", ts(t))
}

/// The sort-key range of a deadline list (None: the filters leave nothing).
fn due_range(f: &ComplaintFilter) -> Option<(String, String)> {
    let from = f
        .not_overdue_at
        .map(due_at_or_after)
        .unwrap_or_else(|| "0".into());
    let to = [
        f.overdue_at.map(due_before_key),
        f.due_before.map(due_at_or_before_key),
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or_else(|| DUE_END.into());
    (from <= to).then_some((from, to))
}

/// The partition of a filter whose platform is already reconciled with its account and
/// sub-merchant (`platform` is only kept when neither is named).
fn partition(f: &ComplaintFilter) -> (Index, String) {
    let t = f.status;
    let with = |prefix: String| match t {
        Some(t) => status_part(&prefix, t),
        None => prefix,
    };
    match (f.account_id.as_deref(), f.sub_mchid.as_deref(), f.platform) {
        (Some(a), Some(s), _) => (
            if t.is_some() {
                Index::Gsi8
            } else {
                Index::Gsi7
            },
            with(account_sub_part(a, s)),
        ),
        (Some(a), None, _) => (
            if t.is_some() {
                Index::Gsi6
            } else {
                Index::Gsi1
            },
            with(account_part(a)),
        ),
        (None, Some(s), _) => (
            if t.is_some() {
                Index::Gsi10
            } else {
                Index::Gsi9
            },
            with(sub_part(s)),
        ),
        (None, None, Some(p)) => (
            if t.is_some() {
                Index::Gsi5
            } else {
                Index::Gsi4
            },
            with(platform_part(p)),
        ),
        (None, None, None) => match t {
            Some(t) => (Index::Gsi3, status_part("COMPLAINTS", t)),
            None => (Index::Gsi2, "COMPLAINTS".to_string()),
        },
    }
}

/// Decide where a list reads. A platform named with an account is checked against the
/// account's kind (one record read, no query); named with a sub-merchant alone, against the
/// kinds that have sub-merchants.
pub async fn plan(store: &dyn RecordStore, f: &ComplaintFilter) -> Result<ListPlan, RepoError> {
    let mut f = f.clone();
    if let Some(p) = f.platform {
        let sub_fits = f.sub_mchid.is_none()
            || AccountKind::declared()
                .iter()
                .any(|k| k.has_sub_merchants && platform_of_kind(k.kind) == Some(p));
        let fits = sub_fits
            && match &f.account_id {
                Some(a) => AccountRepo::new(store)
                    .get(a)
                    .await?
                    .is_some_and(|(acc, _)| platform_of_kind(acc.kind()) == Some(p)),
                None => true,
            };
        if !fits {
            return Ok(ListPlan::Empty);
        }
        if f.account_id.is_some() || f.sub_mchid.is_some() {
            f.platform = None;
        }
    }
    if f.since.zip(f.until).is_some_and(|(s, u)| s > u) {
        return Ok(ListPlan::Empty);
    }
    if f.by_deadline() {
        let Some((from, to)) = due_range(&f) else {
            return Ok(ListPlan::Empty);
        };
        let (index, pk) = due_partition(&f);
        return Ok(ListPlan::Deadline {
            index,
            pk,
            from,
            to,
        });
    }
    let (index, pk) = partition(&f);
    Ok(ListPlan::Partition { index, pk })
}

/// Does a complaint match the filter? (On a received-order list a defence on the page read,
/// never a reason to read more: the partition already holds only matching complaints, but an
/// index may lag a moment behind a status change. On a deadline list it also applies the
/// status and the received-time range to the page read.)
pub(super) fn matches(f: &ComplaintFilter, c: &Complaint) -> bool {
    let due = c.next_due_at;
    f.due_before.is_none_or(|t| due.is_some_and(|d| d <= t))
        && f.overdue_at.is_none_or(|t| due.is_some_and(|d| d < t))
        && f.not_overdue_at.is_none_or(|t| due.is_none_or(|d| d >= t))
        && matches_received(f, c)
}

fn matches_received(f: &ComplaintFilter, c: &Complaint) -> bool {
    f.platform.is_none_or(|p| c.platform == p)
        && f.account_id.as_deref().is_none_or(|a| c.account_id == a)
        && f.sub_mchid
            .as_deref()
            .is_none_or(|s| c.sub_mchid.as_deref() == Some(s))
        && f.status.is_none_or(|s| c.status == s)
        && f.since.is_none_or(|t| c.received_at >= t)
        && f.until.is_none_or(|t| c.received_at <= t)
}

/// The time range as sort-key bounds (DynamoDB refuses empty strings in key conditions: "0"
/// sorts before any time, "~" after any).
pub(super) fn time_range(q: Query, f: &ComplaintFilter) -> Query {
    let from = f.since.map(ts).unwrap_or_else(|| "0".into());
    let to = f
        .until
        .map(|t| format!("{}#~", ts(t)))
        .unwrap_or_else(|| "~".into());
    q.between(from, to)
}

/// One page from one partition: exactly one query of at most `limit` entries.
pub(super) async fn one_page<T: serde::de::DeserializeOwned>(
    store: &dyn RecordStore,
    q: Query,
    keep: impl Fn(&T) -> bool,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<T>, Option<String>), RepoError> {
    let page = store
        .query(&q.limit(limit.clamp(1, 1000) as u32).after(cursor))
        .await?;
    let mut out = Vec::with_capacity(page.items.len());
    for item in page.items {
        let (c, _) = decode::<T>(item)?;
        if keep(&c) {
            out.push(c);
        }
    }
    Ok((out, page.next_cursor))
}
