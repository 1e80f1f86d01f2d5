//! The Inbox port in one SQLite write (a savepoint of the writer's group commit): the dedupe
//! record and the queued job commit together or not at all, and the caller is answered only
//! once that commit is durable.

use crate::db::{Db, DbError};
use crate::time::now_ms;
use async_trait::async_trait;
use domain::ports::{Accepted, INBOX_RETENTION_SECONDS, Inbox, InboxError, inbox_key};
use rusqlite::params;

#[derive(Debug, Clone)]
pub struct SqliteInbox {
    db: Db,
    queues: Vec<String>,
}

impl SqliteInbox {
    pub fn new(db: Db, settings: &crate::QueueSettings) -> Self {
        Self {
            db,
            queues: settings.queues.clone(),
        }
    }
}

struct Ie(InboxError);

impl crate::db::SqliteCause for Ie {
    fn sqlite_cause(&self) -> Option<&rusqlite::Error> {
        crate::db::find_sqlite(&self.0)
    }
}

impl From<DbError> for Ie {
    fn from(e: DbError) -> Self {
        Ie(InboxError::Unavailable(Box::new(e)))
    }
}

impl From<rusqlite::Error> for Ie {
    fn from(e: rusqlite::Error) -> Self {
        Ie(InboxError::Unavailable(Box::new(e)))
    }
}

#[async_trait]
impl Inbox for SqliteInbox {
    async fn accept(
        &self,
        dedupe_key: &str,
        record: serde_json::Value,
        queue: &str,
        job: &str,
    ) -> Result<Accepted, InboxError> {
        if dedupe_key.is_empty() {
            return Err(InboxError::Invalid("empty dedupe key".into()));
        }
        if !self.queues.iter().any(|q| q == queue) {
            return Err(InboxError::Invalid(format!("unknown queue {queue}")));
        }
        let (pk, sk) = inbox_key(dedupe_key);
        let data = serde_json::json!({"state": "ENQUEUED", "record": record}).to_string();
        let (queue, job) = (queue.to_string(), job.to_string());
        let out = self
            .db
            .write(move |conn| {
                // The writer runs this inside its own savepoint of a group-committed
                // transaction: the record and the job commit together or not at all.
                let now = now_ms();
                let now_s = now / 1000;
                // Insert, or take over an expired entry; otherwise it is a duplicate.
                let changed = conn.prepare_cached(
                    "INSERT INTO records (pk, sk, version, data, expires_at) VALUES (?1, ?2, 1, ?3, ?4)
                     ON CONFLICT (pk, sk) DO UPDATE SET version = 1, data = excluded.data,
                        expires_at = excluded.expires_at
                     WHERE records.expires_at IS NOT NULL AND records.expires_at <= ?5",
                )?
                .execute(params![pk, sk, data, now_s + INBOX_RETENTION_SECONDS, now_s])?;
                if changed == 0 {
                    return Ok::<_, Ie>(Accepted::Duplicate);
                }
                conn.prepare_cached(
                    "INSERT INTO queue_messages (id, queue, body, sent_at, visible_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                )?
                .execute(params![uuid::Uuid::now_v7().to_string(), queue, job, now])?;
                Ok(Accepted::Queued)
            })
            .await
            .map_err(|e| e.0)?;
        if out == Accepted::Queued {
            self.db.sent.notify_waiters();
        }
        Ok(out)
    }
}
