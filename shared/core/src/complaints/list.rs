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
//! Records written before these indexes existed are in the first two only, until the
//! backfill ([`crate::reindex`]) has re-saved them; until its marker says it finished, lists
//! take the older way (the account's or the global partition, filtered after, at most
//! [`MAX_EXAMINED`] entries per call).

use crate::repo::{AccountRepo, RepoError, decode, ts};
use chrono::{DateTime, Utc};
use domain::account::AccountKind;
use domain::complaint::{Complaint, ComplaintStatus, Platform};
use domain::ports::{Index, IndexKey, Query, RecordStore};

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
    /// The order of the list.
    pub sort: ListSort,
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
pub const LIST_KEYS_VERSION: u64 = 1;

/// The secondary indexes the complaint lists added (gsi1 and gsi2 existed before): the
/// backfill checks they can be queried before it declares the lists ready.
pub const ADDED_INDEXES: [Index; 8] = [
    Index::Gsi3,
    Index::Gsi4,
    Index::Gsi5,
    Index::Gsi6,
    Index::Gsi7,
    Index::Gsi8,
    Index::Gsi9,
    Index::Gsi10,
];

/// Do the stored complaints have their list keys (the backfill finished)?
pub async fn list_keys_ready(store: &dyn RecordStore) -> Result<bool, RepoError> {
    Ok(store.get(MARKER_PK, MARKER_SK).await?.is_some_and(|m| {
        m.data["done"] == true
            && m.data["version"]
                .as_u64()
                .is_some_and(|v| v >= LIST_KEYS_VERSION)
    }))
}

/// The sort key of a complaint in every list partition.
pub(super) fn sort_key(c: &Complaint) -> String {
    format!("{}#{}", ts(c.received_at), c.id)
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
    parts
        .into_iter()
        .map(|(i, p)| (i, IndexKey::new(p, sort.clone())))
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
    /// One partition of one index.
    Partition { index: Index, pk: String },
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
    let (index, pk) = partition(&f);
    Ok(ListPlan::Partition { index, pk })
}

/// Does a complaint match the filter? (A defence on the page read, never a reason to read
/// more: the partition already holds only matching complaints, but an index may lag a
/// moment behind a status change.)
pub(super) fn matches(f: &ComplaintFilter, c: &Complaint) -> bool {
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
