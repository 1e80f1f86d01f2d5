//! The backfill of the list keys: re-save every stored complaint, then every stored
//! delivery, with the index keys this version gives it, so the lists can answer from one
//! partition per filter. Version 2 of the complaint keys also re-computes each complaint's
//! deadlines ([`domain::deadline::refresh`]: `deadlines`, `next_due_at`, `deadline`) from its
//! platform's rules, so complaints stored before deadlines existed get theirs and sit in the
//! deadline partitions where they are due. The rules are the ones the process declared: run
//! it after the platforms are registered (`Platforms::register` declares them).
//!
//! - Walks the global complaint (delivery) partition (an index query, never a scan), a page at
//!   a time.
//! - Resumable: the position is kept in a marker record after every page (one marker for
//!   complaints, one for deliveries), so a stopped backfill goes on where it stopped.
//! - Idempotent: a record that already has its keys is left alone; running it again after
//!   it finished does nothing but read the markers.
//! - Compare-and-set: each re-save is conditional on the version read, so it never overwrites
//!   a concurrent update (which, written by this version, carries the keys anyway: the
//!   backfill reads it again and moves on). The stored document is written back as it was
//!   read, but for its deadlines, re-computed.
//! - Before it declares a list ready it checks that every index the list added can be queried
//!   (on DynamoDB an index that is missing or still being built cannot), so lists never switch
//!   to an index that is not there.
//!
//! Violations keep the keys they always had (account, account + sub-merchant): nothing to do.
//!
//! Until its marker says done, a list that needs the new keys takes the older filtered way;
//! while it runs, the marker keeps the version that was complete before (`ready`), so the
//! lists that need only that one keep their indexes.

use crate::complaints::ComplaintRepo;
use crate::complaints::list::{
    ADDED_INDEXES, LIST_KEYS_VERSION, MARKER_PK, MARKER_SK, list_keys_ready, ready_version,
};
use crate::deliveries::{
    DELIVERY_ADDED_INDEXES, DELIVERY_KEYS_VERSION, DELIVERY_MARKER_PK, DELIVERY_MARKER_SK,
    delivery_indexes, delivery_keys_ready,
};
use crate::repo::RepoError;
use domain::complaint::Complaint;
use domain::notification::Delivery;
use domain::ports::{Index, Item, Query, RecordStore, StoreError, Write};
use serde_json::json;

/// How many records one step reads.
pub const PAGE: u32 = 200;

/// What a backfill run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Complaints looked at.
    pub examined: u64,
    /// Complaints re-saved with their keys (and their deadlines re-computed).
    pub rewritten: u64,
    /// Records that could not be read as a complaint (left as they are, and logged).
    pub unreadable: u64,
    /// Deliveries looked at.
    pub deliveries_examined: u64,
    /// Deliveries re-saved with their keys.
    pub deliveries_rewritten: u64,
    /// Whether the lists are ready (both markers say done).
    pub done: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// An added index cannot be queried yet (on AWS: add the GSIs to the table first, one
    /// stack update each, and wait until each is active).
    #[error("index {index:?} cannot be queried yet")]
    IndexMissing {
        index: Index,
        #[source]
        source: StoreError,
    },
}

impl From<StoreError> for ReindexError {
    fn from(e: StoreError) -> Self {
        ReindexError::Repo(RepoError::Store(e))
    }
}

/// Write a marker only if it is still the version this step read (created if it read none):
/// two runs at once (two operators, a restarted run beside an old one) never move a marker
/// back, nor write "not done" over "done". The run that lost just reads the marker again.
async fn save_marker(
    store: &dyn RecordStore,
    read: Option<&Item>,
    pk: &str,
    sk: &str,
    data: serde_json::Value,
) -> Result<(), StoreError> {
    let item = Item::new(pk, sk, data);
    let written = match read {
        Some(m) => store.update(item, m.version).await.map(|_| ()),
        None => store.create(item).await.map(|_| ()),
    };
    match written {
        Ok(()) => Ok(()),
        Err(StoreError::VersionConflict { .. } | StoreError::AlreadyExists { .. }) => {
            tracing::info!(%pk, "backfill: another run moved the marker; reading it again");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

async fn marker(store: &dyn RecordStore) -> Result<Option<Item>, StoreError> {
    store.get(MARKER_PK, MARKER_SK).await
}

/// What a stored complaint record should be in this version: its document with the deadlines
/// re-computed, and its keys (None: it is that already). Err: it cannot be read as a complaint.
fn resaved(item: &Item) -> Result<Option<Item>, Option<RepoError>> {
    let mut c = serde_json::from_value::<Complaint>(item.data.clone()).map_err(|_| None)?;
    domain::deadline::refresh(&mut c);
    let wanted = ComplaintRepo::complaint_item(&c).map_err(Some)?;
    Ok((wanted.indexes != item.indexes || wanted.data != item.data).then_some(wanted))
}

/// Re-save one complaint record with its keys and deadlines, compare-and-set on its version;
/// a concurrent change is read again and looked at anew. Returns whether it wrote.
async fn rekey(store: &dyn RecordStore, mut item: Item) -> Result<Option<bool>, RepoError> {
    for _ in 0..10 {
        let wanted = match resaved(&item) {
            Ok(Some(w)) => w,
            Ok(None) => return Ok(Some(false)),
            Err(Some(e)) => return Err(e),
            Err(None) => {
                tracing::warn!(pk = %item.pk, "backfill: a complaint record cannot be read; left as it is");
                return Ok(None);
            }
        };
        let version = item.version;
        let (pk, sk) = (item.pk.clone(), item.sk.clone());
        item = wanted;
        match store.update(item, version).await {
            Ok(_) => return Ok(Some(true)),
            Err(StoreError::VersionConflict { .. }) => match store.get(&pk, &sk).await? {
                Some(again) => item = again,
                None => return Ok(Some(false)),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(RepoError::Store(StoreError::Unavailable(
        "complaint record kept changing during the backfill; run it again".into(),
    )))
}

/// One step: up to `page` complaints (once they are all done, deliveries) from where their
/// marker says, re-keyed; the marker moves on (or, at the end, is marked done once the added
/// indexes answer). `p.done` once both are done.
pub async fn step(
    store: &dyn RecordStore,
    page: u32,
    p: &mut Progress,
) -> Result<(), ReindexError> {
    if !list_keys_ready(store).await? {
        complaint_step(store, page, p).await?;
    } else if !delivery_keys_ready(store).await? {
        delivery_step(store, page, p).await?;
    } else {
        p.done = true;
    }
    Ok(())
}

async fn complaint_step(
    store: &dyn RecordStore,
    page: u32,
    p: &mut Progress,
) -> Result<(), ReindexError> {
    let m = marker(store).await?;
    // The version every record had when this backfill began: lists that need no more keep
    // their indexes meanwhile.
    let ready = m.as_ref().map_or(0, |m| ready_version(&m.data));
    let cursor = m
        .as_ref()
        .filter(|m| m.data["version"].as_u64() == Some(LIST_KEYS_VERSION))
        .and_then(|m| m.data["cursor"].as_str().map(String::from));
    let q = Query::partition(Index::Gsi2, "COMPLAINTS")
        .limit(page.clamp(1, 1000))
        .after(cursor);
    let found = match store.query(&q).await {
        // A position the store no longer accepts (say, written by another store): start over;
        // re-keying is idempotent.
        Err(StoreError::InvalidCursor) => {
            save_marker(
                store,
                m.as_ref(),
                MARKER_PK,
                MARKER_SK,
                json!({"version": LIST_KEYS_VERSION, "done": false, "ready": ready}),
            )
            .await?;
            return Ok(());
        }
        other => other?,
    };
    // Records that need their keys, re-saved 25 to a transaction (one commit for many on
    // SQLite); a batch that meets a concurrent change goes again one by one.
    let mut batch = Vec::new();
    for item in found.items {
        if item.sk != "META" || !item.pk.starts_with("COMPLAINT#") {
            continue;
        }
        p.examined += 1;
        match resaved(&item) {
            Ok(Some(wanted)) => batch.push((item, wanted)),
            Ok(None) => {}
            Err(Some(e)) => return Err(e.into()),
            Err(None) => {
                tracing::warn!(pk = %item.pk, "backfill: a complaint record cannot be read; left as it is");
                p.unreadable += 1;
            }
        }
    }
    for chunk in batch.chunks(25) {
        let writes = chunk
            .iter()
            .map(|(item, wanted)| Write::Update {
                item: wanted.clone(),
                expected_version: item.version,
            })
            .collect();
        match store.transact(writes).await {
            Ok(()) => p.rewritten += chunk.len() as u64,
            Err(StoreError::TransactionConflict { .. }) => {
                for (item, _) in chunk {
                    match rekey(store, item.clone()).await? {
                        Some(true) => p.rewritten += 1,
                        Some(false) => {}
                        None => p.unreadable += 1,
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    let data = match &found.next_cursor {
        Some(c) => {
            json!({"version": LIST_KEYS_VERSION, "done": false, "cursor": c, "ready": ready})
        }
        None => {
            for index in ADDED_INDEXES {
                store
                    .query(&Query::partition(index, "COMPLAINTS#PROBE").limit(1))
                    .await
                    .map_err(|source| ReindexError::IndexMissing { index, source })?;
            }
            json!({"version": LIST_KEYS_VERSION, "done": true})
        }
    };
    save_marker(store, m.as_ref(), MARKER_PK, MARKER_SK, data).await?;
    Ok(())
}

/// Re-save one delivery record with its keys, compare-and-set on its version; a concurrent
/// change is read again and looked at anew. Returns whether it wrote (None: unreadable).
async fn rekey_delivery(
    store: &dyn RecordStore,
    mut item: Item,
) -> Result<Option<bool>, RepoError> {
    for _ in 0..10 {
        let Ok(d) = serde_json::from_value::<Delivery>(item.data.clone()) else {
            tracing::warn!(pk = %item.pk, "backfill: a delivery record cannot be read; left as it is");
            return Ok(None);
        };
        let wanted = delivery_indexes(&d);
        if wanted == item.indexes {
            return Ok(Some(false));
        }
        let version = item.version;
        let (pk, sk) = (item.pk.clone(), item.sk.clone());
        item.indexes = wanted;
        match store.update(item, version).await {
            Ok(_) => return Ok(Some(true)),
            Err(StoreError::VersionConflict { .. }) => match store.get(&pk, &sk).await? {
                Some(again) => item = again,
                None => return Ok(Some(false)),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(RepoError::Store(StoreError::Unavailable(
        "delivery record kept changing during the backfill; run it again".into(),
    )))
}

/// Up to `page` deliveries from where the delivery marker says, re-keyed (compare-and-set on
/// each version: the notifier updates deliveries while this runs).
async fn delivery_step(
    store: &dyn RecordStore,
    page: u32,
    p: &mut Progress,
) -> Result<(), ReindexError> {
    let m = store.get(DELIVERY_MARKER_PK, DELIVERY_MARKER_SK).await?;
    let cursor = m
        .as_ref()
        .and_then(|m| m.data["cursor"].as_str().map(String::from));
    let q = Query::partition(Index::Gsi1, "DELIVERIES")
        .limit(page.clamp(1, 1000))
        .after(cursor);
    let found = match store.query(&q).await {
        Err(StoreError::InvalidCursor) => {
            save_marker(
                store,
                m.as_ref(),
                DELIVERY_MARKER_PK,
                DELIVERY_MARKER_SK,
                json!({"version": DELIVERY_KEYS_VERSION, "done": false}),
            )
            .await?;
            return Ok(());
        }
        other => other?,
    };
    // Records that need their keys, re-saved 25 to a transaction (one commit for many on
    // SQLite); a batch that meets a concurrent change goes again one by one.
    let mut batch = Vec::new();
    for item in found.items {
        if item.sk != "META" || !item.pk.starts_with("DELIVERY#") {
            continue;
        }
        p.deliveries_examined += 1;
        let Ok(d) = serde_json::from_value::<Delivery>(item.data.clone()) else {
            tracing::warn!(pk = %item.pk, "backfill: a delivery record cannot be read; left as it is");
            p.unreadable += 1;
            continue;
        };
        let wanted = delivery_indexes(&d);
        if wanted != item.indexes {
            batch.push((item, wanted));
        }
    }
    for chunk in batch.chunks(25) {
        let writes = chunk
            .iter()
            .map(|(item, wanted)| {
                let mut rekeyed = item.clone();
                rekeyed.indexes = wanted.clone();
                Write::Update {
                    item: rekeyed,
                    expected_version: item.version,
                }
            })
            .collect();
        match store.transact(writes).await {
            Ok(()) => p.deliveries_rewritten += chunk.len() as u64,
            Err(StoreError::TransactionConflict { .. }) => {
                for (item, _) in chunk {
                    match rekey_delivery(store, item.clone()).await? {
                        Some(true) => p.deliveries_rewritten += 1,
                        Some(false) => {}
                        None => p.unreadable += 1,
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    let data = match &found.next_cursor {
        Some(c) => json!({"version": DELIVERY_KEYS_VERSION, "done": false, "cursor": c}),
        None => {
            for index in DELIVERY_ADDED_INDEXES {
                store
                    .query(&Query::partition(index, "DELIVERIES#PROBE").limit(1))
                    .await
                    .map_err(|source| ReindexError::IndexMissing { index, source })?;
            }
            json!({"version": DELIVERY_KEYS_VERSION, "done": true})
        }
    };
    save_marker(
        store,
        m.as_ref(),
        DELIVERY_MARKER_PK,
        DELIVERY_MARKER_SK,
        data,
    )
    .await?;
    Ok(())
}

/// Run the backfill to the end (or to the first error: run again to resume).
pub async fn run(store: &dyn RecordStore, page: u32) -> Result<Progress, ReindexError> {
    let mut p = Progress::default();
    while !p.done {
        step(store, page, &mut p).await?;
        let seen = p.examined + p.deliveries_examined;
        if seen > 0 && seen.is_multiple_of(10_000) {
            tracing::info!(
                examined = p.examined,
                rewritten = p.rewritten,
                deliveries_examined = p.deliveries_examined,
                deliveries_rewritten = p.deliveries_rewritten,
                "backfill of list keys"
            );
        }
    }
    Ok(p)
}

/// The backfill in the background of a server: logs what it did; after an error it waits and
/// resumes (the server keeps answering meanwhile; lists take the older way until it is done).
pub async fn in_background(store: std::sync::Arc<dyn RecordStore>) {
    let mut wait = std::time::Duration::from_secs(5);
    loop {
        match run(&*store, PAGE).await {
            Ok(p) => {
                if p.examined + p.deliveries_examined > 0 {
                    tracing::info!(
                        examined = p.examined,
                        rewritten = p.rewritten,
                        deliveries_examined = p.deliveries_examined,
                        deliveries_rewritten = p.deliveries_rewritten,
                        unreadable = p.unreadable,
                        "list keys backfilled; lists read one index partition per filter"
                    );
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_secs = wait.as_secs(), "backfill of list keys stopped");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(300));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two runs at once: the one that read the marker before the other finished never writes
    /// "not done" (or an older position) over what the other wrote.
    #[tokio::test]
    async fn a_stale_run_never_moves_the_marker_back() {
        let dir = tempfile::tempdir().expect("dir");
        let db = embedded::Db::open(dir.path().join("m.db")).expect("db");
        let store = embedded::SqliteRecordStore::new(db);
        let not_done = json!({"version": LIST_KEYS_VERSION, "done": false, "cursor": "c1"});
        save_marker(&store, None, MARKER_PK, MARKER_SK, not_done.clone())
            .await
            .expect("first marker");
        // Both runs read the marker ...
        let stale = marker(&store).await.expect("read").expect("marker");
        // ... one finishes ...
        let done = json!({"version": LIST_KEYS_VERSION, "done": true});
        save_marker(&store, Some(&stale), MARKER_PK, MARKER_SK, done.clone())
            .await
            .expect("done");
        // ... and the other, still at its older page, writes its position: refused quietly.
        save_marker(&store, Some(&stale), MARKER_PK, MARKER_SK, not_done)
            .await
            .expect("the stale write is not an error");
        let now = marker(&store).await.expect("read").expect("marker");
        assert_eq!(now.data, done);
        // A second creation (two first runs at once) is refused quietly too.
        save_marker(&store, None, MARKER_PK, MARKER_SK, json!({"done": false}))
            .await
            .expect("the second create is not an error");
        assert_eq!(marker(&store).await.expect("read").expect("m").data, done);
    }
}
