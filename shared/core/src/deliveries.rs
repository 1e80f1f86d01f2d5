//! Delivery records as lists read them (the notifier writes them): the deliveries of one
//! complaint or violation, and the deliveries list, with one index partition per token scope
//! and status filter, so a page is one query with the cursor as its bound, at any depth and for
//! any scope.
//!
//! Records written before these keys existed are only in everyone's partition (gsi1) and their
//! subject's (gsi2) until the backfill ([`crate::reindex`]) has re-saved them; until its marker
//! says it finished, the list takes the older way (one page of everyone's, filtered after).

use crate::repo::{RepoError, ts};
use domain::notification::{Delivery, DeliveryStatus, NotificationSubject};
use domain::ports::{Index, IndexKey, Query, RecordStore, SECONDARY_INDEXES, StoreError};
use domain::token::TokenScope;

/// The list keys' shape; a change of shape needs a new backfill and a higher number.
pub const DELIVERY_KEYS_VERSION: u64 = 1;
/// The record that says whether every stored delivery has its list keys: `"done": true` and a
/// `version` of at least [`DELIVERY_KEYS_VERSION`] once the backfill ([`crate::reindex`]) ran.
pub const DELIVERY_MARKER_PK: &str = "MIGRATION#delivery-list-keys";
pub const DELIVERY_MARKER_SK: &str = "META";

/// The secondary indexes the delivery lists added (gsi1 and gsi2 existed before).
pub const DELIVERY_ADDED_INDEXES: [Index; 5] = [
    Index::Gsi3,
    Index::Gsi4,
    Index::Gsi5,
    Index::Gsi6,
    Index::Gsi7,
];

/// Do the stored deliveries have their list keys (the backfill finished)?
pub async fn delivery_keys_ready(records: &dyn RecordStore) -> Result<bool, StoreError> {
    Ok(records
        .get(DELIVERY_MARKER_PK, DELIVERY_MARKER_SK)
        .await?
        .is_some_and(|m| {
            m.data["done"] == true
                && m.data["version"]
                    .as_u64()
                    .is_some_and(|v| v >= DELIVERY_KEYS_VERSION)
        }))
}

fn status_str(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Retrying => "retrying",
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Failed => "failed",
    }
}

fn account_part(account: &str) -> String {
    format!("DELIVERIES#ACCOUNT#{account}")
}

fn sub_part(account: &str, sub: &str) -> String {
    format!("DELIVERIES#ACCOUNT#{account}#SUB#{sub}")
}

/// The partition (and its index) that holds exactly the deliveries a token scope sees:
/// everyone's (scope `all`), one account's (its sub-merchants' included), or one
/// sub-merchant's; all of them, or those in one status. Newest first by `{created}#{id}`.
///
/// | list | index | partition |
/// |---|---|---|
/// | all | gsi1 | `DELIVERIES` |
/// | status | gsi3 | `DELIVERIES#STATUS#{status}` |
/// | account | gsi4 | `DELIVERIES#ACCOUNT#{account}` |
/// | account + status | gsi5 | `DELIVERIES#ACCOUNT#{account}#STATUS#{status}` |
/// | account + sub-merchant | gsi6 | `DELIVERIES#ACCOUNT#{account}#SUB#{sub}` |
/// | account + sub-merchant + status | gsi7 | `DELIVERIES#ACCOUNT#{account}#SUB#{sub}#STATUS#{status}` |
///
/// A subject's deliveries (gsi2, `DELIVERIES#C#{complaint}` / `DELIVERIES#V#{violation}`)
/// stay as they were. A delivery without an audience (none is written today; the field is
/// optional in the stored shape) is only in the first two, so only scope-`all` callers see it.
pub fn delivery_partition(scope: &TokenScope, status: Option<DeliveryStatus>) -> (Index, String) {
    let (plain, with) = match scope {
        TokenScope::All => ((Index::Gsi1, "DELIVERIES".to_string()), Index::Gsi3),
        TokenScope::Account { account_id } => {
            ((Index::Gsi4, account_part(account_id)), Index::Gsi5)
        }
        TokenScope::SubMerchant {
            account_id,
            sub_mchid,
        } => ((Index::Gsi6, sub_part(account_id, sub_mchid)), Index::Gsi7),
    };
    match status {
        None => plain,
        Some(s) => (with, format!("{}#STATUS#{}", plain.1, status_str(s))),
    }
}

/// Every index key a delivery has in its current state (the status partitions follow its
/// status: every save writes them anew).
pub fn delivery_keys(d: &Delivery) -> Vec<(Index, IndexKey)> {
    let sort = format!("{}#{}", ts(d.created_at), d.id);
    let mut scopes = vec![TokenScope::All];
    if let Some(a) = &d.audience {
        scopes.push(TokenScope::Account {
            account_id: a.account_id.clone(),
        });
        if let Some(s) = &a.sub_mchid {
            scopes.push(TokenScope::SubMerchant {
                account_id: a.account_id.clone(),
                sub_mchid: s.clone(),
            });
        }
    }
    let mut parts: Vec<(Index, String)> = scopes
        .iter()
        .flat_map(|scope| {
            [
                delivery_partition(scope, None),
                delivery_partition(scope, Some(d.status)),
            ]
        })
        .collect();
    if let Some(s) = &d.subject {
        parts.push((Index::Gsi2, format!("DELIVERIES#{}", subject_key(s))));
    }
    parts
        .into_iter()
        .map(|(i, p)| (i, IndexKey::new(p, sort.clone())))
        .collect()
}

/// A delivery record's index keys as this version gives them (the backfill compares them
/// with what is stored).
pub fn delivery_indexes(d: &Delivery) -> [Option<IndexKey>; SECONDARY_INDEXES] {
    let mut out: [Option<IndexKey>; SECONDARY_INDEXES] = Default::default();
    for (index, key) in delivery_keys(d) {
        if let Some(n) = index.secondary() {
            out[n] = Some(key);
        }
    }
    out
}

/// Deliveries a token scope sees, newest first (admin list), optionally in one status. One
/// query on one index partition per call, the cursor as its bound, once the list keys are
/// backfilled; before that, the older way (one page of everyone's, filtered after: short
/// pages).
pub async fn list_deliveries(
    records: &dyn RecordStore,
    scope: &TokenScope,
    status: Option<DeliveryStatus>,
    limit: u32,
    cursor: Option<String>,
) -> Result<(Vec<Delivery>, Option<String>), RepoError> {
    let (index, pk) = if delivery_keys_ready(records).await? {
        delivery_partition(scope, status)
    } else {
        delivery_partition(&TokenScope::All, None)
    };
    let page = records
        .query(
            &Query::partition(index, pk)
                .backward()
                .limit(limit.clamp(1, 1000))
                .after(cursor),
        )
        .await?;
    // On the partition read, a defence (an index may lag a moment behind a status change);
    // before the backfill, the filter itself.
    let keep = |d: &Delivery| {
        status.is_none_or(|s| d.status == s)
            && match &d.audience {
                Some(a) => scope.covers(Some(&a.account_id), a.sub_mchid.as_deref()),
                None => scope.is_all(),
            }
    };
    let mut items = Vec::with_capacity(page.items.len());
    for i in page.items {
        let d: Delivery = serde_json::from_value(i.data).map_err(RepoError::Serialise)?;
        if keep(&d) {
            items.push(d);
        }
    }
    Ok((items, page.next_cursor))
}

pub fn subject_key(s: &NotificationSubject) -> String {
    match s {
        NotificationSubject::Complaint { complaint_id } => format!("C#{complaint_id}"),
        NotificationSubject::Violation { violation_id } => format!("V#{violation_id}"),
        NotificationSubject::Digest {
            account_id,
            sub_mchid,
            day,
        } => format!(
            "D#{account_id}#{}#{day}",
            sub_mchid.as_deref().unwrap_or("-")
        ),
        NotificationSubject::Account { account_id, topic } => format!("A#{account_id}#{topic}"),
    }
}

/// Deliveries of one subject (complaint or violation), oldest first.
pub async fn deliveries_of(
    records: &dyn domain::ports::RecordStore,
    subject: &NotificationSubject,
) -> Result<Vec<Delivery>, RepoError> {
    let page = records
        .query(
            &Query::partition(Index::Gsi2, format!("DELIVERIES#{}", subject_key(subject)))
                .limit(1000),
        )
        .await?;
    page.items
        .into_iter()
        .map(|i| serde_json::from_value(i.data).map_err(RepoError::Serialise))
        .collect()
}
