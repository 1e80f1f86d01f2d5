//! The purge of expired records. Reads already treat an item past its `expires_at` as absent
//! (the port's TTL rule: DynamoDB deletes expired items some time after, never at once); this
//! gives their rows back, in bounded batches, along the expiry index (`records_expiry`).

use crate::records::{E, SqliteRecordStore};
use domain::ports::StoreError;
use rusqlite::params;

/// Delete one batch: at most `?2` rows expired by `?1` (seconds since the epoch).
const PURGE: &str = "DELETE FROM records WHERE (pk, sk) IN (SELECT pk, sk FROM records \
     WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT ?2)";

impl SqliteRecordStore {
    /// Delete up to `batch` items that had expired by `now` (seconds since the epoch), in one
    /// write; how many were deleted.
    pub async fn purge_expired_batch(&self, now: i64, batch: u32) -> Result<usize, StoreError> {
        self.db
            .write(move |conn| {
                Ok::<_, E>(
                    conn.prepare_cached(PURGE)?
                        .execute(params![now, i64::from(batch)])?,
                )
            })
            .await
            .map_err(|e| e.0)
    }

    /// Delete items that had expired by `now`, `batch` at a time (one write each, so the
    /// writes of callbacks and workers get in between), at most `max_batches` writes, asking
    /// `stop` before each (a shutdown): what was deleted and whether more may be left (the
    /// last batch was full when the cap or `stop` ended the purge).
    pub async fn purge_expired(
        &self,
        now: i64,
        batch: u32,
        max_batches: u32,
        stop: impl Fn() -> bool,
    ) -> Result<Purged, StoreError> {
        let batch = batch.max(1);
        let mut purged = Purged::default();
        for _ in 0..max_batches {
            if stop() {
                return Ok(purged);
            }
            let n = self.purge_expired_batch(now, batch).await?;
            purged.removed += n as u64;
            purged.more = n == batch as usize;
            if !purged.more {
                break;
            }
        }
        Ok(purged)
    }
}

/// What one purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Expired items deleted.
    pub removed: u64,
    /// The purge stopped (its cap, or a shutdown) after a full batch: more may be left for
    /// the next one.
    pub more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[tokio::test]
    async fn the_purge_walks_the_expiry_index_not_the_table() {
        let dir = tempfile::tempdir().expect("dir");
        let db = Db::open(dir.path().join("purge.db")).expect("db");
        let plan = db
            .read(|conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {PURGE}"))?;
                let rows = stmt
                    .query_map(params![0, 10], |r| r.get::<_, String>(3))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, E>(rows.join(" | "))
            })
            .await
            .map_err(|e| e.0)
            .expect("plan");
        assert!(plan.contains("records_expiry"), "{plan}");
        assert!(!plan.contains("SCAN records"), "{plan}");
    }
}
