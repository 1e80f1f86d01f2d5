//! SQLite durable queue: the Queue port.

use crate::db::{Db, DbError};
use crate::time::{from_ms, now_ms};
use async_trait::async_trait;
use domain::ports::{DeadLetter, DeadLetterPage, Queue, QueueError, QueueMessage};
use rusqlite::params;
use std::time::Duration;

/// Queue behaviour (the embedded counterpart of an SQS redrive policy).
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Queue names this adapter accepts.
    pub queues: Vec<String>,
    /// A message is delivered at most this many times; the next receive dead-letters it.
    pub max_receives: u32,
    /// How often a waiting receiver looks again for messages sent by another process or
    /// becoming visible (sends in this process wake it at once).
    pub poll_interval: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            queues: domain::job::queues::ALL
                .iter()
                .map(|q| q.to_string())
                .collect(),
            max_receives: 5,
            poll_interval: Duration::from_millis(200),
        }
    }
}

/// Messages in the `queue_messages` table; claimed with `UPDATE ... RETURNING` and a fresh
/// receipt per receive.
#[derive(Debug, Clone)]
pub struct SqliteQueue {
    db: Db,
    settings: QueueSettings,
}

impl SqliteQueue {
    pub fn new(db: Db, settings: QueueSettings) -> Self {
        Self { db, settings }
    }

    /// The jobs waiting on `queue` (every message not set aside as a dead letter, in flight
    /// included) and when the oldest of them was sent: what the metrics show. Counts the
    /// queue's rows (at scrape time only, never on a job's path).
    pub async fn stats(
        &self,
        queue: &str,
    ) -> Result<(u64, Option<chrono::DateTime<chrono::Utc>>), QueueError> {
        self.check_queue(queue)?;
        let q = queue.to_string();
        self.db
            .read(move |conn| {
                let (count, oldest): (i64, Option<i64>) = conn
                    .prepare_cached(
                        "SELECT COUNT(*), MIN(sent_at) FROM queue_messages WHERE queue = ?1 AND state = 'ready'",
                    )?
                    .query_row(params![q], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok::<_, Qe>((u64::try_from(count).unwrap_or(0), oldest.map(from_ms)))
            })
            .await
            .map_err(|e| e.0)
    }

    fn check_queue(&self, queue: &str) -> Result<(), QueueError> {
        if self.settings.queues.iter().any(|q| q == queue) {
            Ok(())
        } else {
            Err(QueueError::UnknownQueue(queue.to_string()))
        }
    }

    async fn claim(
        &self,
        queue: &str,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        let queue = queue.to_string();
        let max_receives = self.settings.max_receives;
        // Look first on a reader (cheap, concurrent): an idle worker's poll costs the writer
        // nothing.
        let q = queue.clone();
        let due = self
            .db
            .read(move |conn| {
                let found = conn
                    .prepare_cached(
                        "SELECT 1 FROM queue_messages
                          WHERE queue = ?1 AND state = 'ready' AND visible_at <= ?2 LIMIT 1",
                    )?
                    .exists(params![q, now_ms()])?;
                Ok::<_, Qe>(found)
            })
            .await
            .map_err(|e| e.0)?;
        if !due {
            return Ok(Vec::new());
        }
        self.db
            .write(move |conn| {
                let now = now_ms();
                conn.prepare_cached(
                    "UPDATE queue_messages SET state = 'dead', dead_at = ?3, receipt = NULL,
                       reason = 'received ' || receive_count || ' times without being deleted (max ' || ?2 || ')'
                     WHERE queue = ?1 AND state = 'ready' AND visible_at <= ?3 AND receive_count >= ?2",
                )?
                .execute(params![queue, max_receives, now])?;
                let mut stmt = conn.prepare_cached(
                    "UPDATE queue_messages
                        SET receipt = lower(hex(randomblob(16))),
                            receive_count = receive_count + 1,
                            visible_at = ?3 + ?4
                      WHERE id IN (SELECT id FROM queue_messages
                                    WHERE queue = ?1 AND state = 'ready' AND visible_at <= ?3
                                    ORDER BY visible_at, id LIMIT ?2)
                      RETURNING id, receipt, body, receive_count, sent_at",
                )?;
                let mut out = stmt
                    .query_map(
                        params![queue, max, now, visibility.as_millis() as i64],
                        |r| {
                            Ok(QueueMessage {
                                id: r.get(0)?,
                                receipt: r.get(1)?,
                                body: r.get(2)?,
                                receive_count: r.get::<_, i64>(3)? as u32,
                                sent_at: from_ms(r.get(4)?),
                            })
                        },
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                drop(stmt);
                out.sort_by(|a, b| a.sent_at.cmp(&b.sent_at).then(a.id.cmp(&b.id)));
                Ok::<_, Qe>(out)
            })
            .await
            .map_err(|e| e.0)
    }

    /// Run a statement on a received message by receipt; zero rows means a stale receipt.
    async fn by_receipt(
        &self,
        queue: &str,
        receipt: &str,
        sql: &'static str,
        extra: Option<rusqlite::types::Value>,
    ) -> Result<(), QueueError> {
        self.check_queue(queue)?;
        let (queue, receipt) = (queue.to_string(), receipt.to_string());
        let changed = self
            .db
            .write(move |conn| {
                // ?1 queue, ?2 receipt, ?3 now (ms), ?4 the statement's extra value.
                let mut stmt = conn.prepare_cached(sql)?;
                let values: [rusqlite::types::Value; 4] = [
                    queue.into(),
                    receipt.into(),
                    now_ms().into(),
                    extra.unwrap_or(rusqlite::types::Value::Null),
                ];
                let used = stmt.parameter_count();
                let n = stmt.execute(rusqlite::params_from_iter(values.into_iter().take(used)))?;
                Ok::<_, Qe>(n)
            })
            .await
            .map_err(|e| e.0)?;
        if changed == 0 {
            Err(QueueError::StaleReceipt)
        } else {
            Ok(())
        }
    }
}

struct Qe(QueueError);

impl crate::db::SqliteCause for Qe {
    fn sqlite_cause(&self) -> Option<&rusqlite::Error> {
        crate::db::find_sqlite(&self.0)
    }
}

impl From<DbError> for Qe {
    fn from(e: DbError) -> Self {
        Qe(QueueError::Unavailable(Box::new(e)))
    }
}

impl From<rusqlite::Error> for Qe {
    fn from(e: rusqlite::Error) -> Self {
        Qe(QueueError::Unavailable(Box::new(e)))
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, queue: &str, body: &str, delay: Duration) -> Result<String, QueueError> {
        self.check_queue(queue)?;
        let id = uuid::Uuid::now_v7().to_string();
        let (q, b, i) = (queue.to_string(), body.to_string(), id.clone());
        self.db
            .write(move |conn| {
                let now = now_ms();
                conn.prepare_cached(
                    "INSERT INTO queue_messages (id, queue, body, sent_at, visible_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![i, q, b, now, now + delay.as_millis() as i64])?;
                Ok::<_, Qe>(())
            })
            .await
            .map_err(|e| e.0)?;
        self.db.sent.notify_waiters();
        Ok(id)
    }

    async fn receive(
        &self,
        queue: &str,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        self.check_queue(queue)?;
        if max == 0 || max > 10 {
            return Err(QueueError::Invalid("receive takes 1 to 10 messages".into()));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register interest before looking, so a send between the look and the wait wakes us.
            let notified = self.db.sent.notified();
            let got = self.claim(queue, max, visibility).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let nap = (deadline - now).min(self.settings.poll_interval);
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        self.by_receipt(
            queue,
            receipt,
            "DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2 AND state = 'ready'",
            None,
        )
        .await
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.by_receipt(
            queue,
            receipt,
            "UPDATE queue_messages SET visible_at = ?3 + ?4 WHERE queue = ?1 AND receipt = ?2 AND state = 'ready'",
            Some((timeout.as_millis() as i64).into()),
        )
        .await?;
        if timeout.is_zero() {
            self.db.sent.notify_waiters();
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        queue: &str,
        receipt: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        self.by_receipt(
            queue,
            receipt,
            "UPDATE queue_messages SET state = 'dead', dead_at = ?3, reason = ?4, receipt = NULL
              WHERE queue = ?1 AND receipt = ?2 AND state = 'ready'",
            Some(reason.to_string().into()),
        )
        .await
    }

    async fn list_dead_letters(
        &self,
        queue: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<DeadLetterPage, QueueError> {
        self.check_queue(queue)?;
        if limit == 0 || limit > 1000 {
            return Err(QueueError::Invalid("limit must be 1..=1000".into()));
        }
        let after = match cursor {
            None => None,
            Some(c) => {
                let (at, id) = c
                    .split_once(':')
                    .and_then(|(a, i)| a.parse::<i64>().ok().map(|a| (a, i.to_string())))
                    .ok_or_else(|| {
                        QueueError::Invalid("cursor is not one this queue issued".into())
                    })?;
                Some((at, id))
            }
        };
        let queue = queue.to_string();
        self.db
            .read(move |conn| {
                let (at, id) = after.unwrap_or((i64::MIN, String::new()));
                let mut stmt = conn.prepare_cached(
                    "SELECT id, queue, body, reason, receive_count, sent_at, dead_at FROM queue_messages
                      WHERE queue = ?1 AND state = 'dead' AND (dead_at, id) > (?2, ?3)
                      ORDER BY dead_at, id LIMIT ?4",
                )?;
                let mut items = stmt
                    .query_map(params![queue, at, id, limit as i64 + 1], |r| {
                        Ok(DeadLetter {
                            id: r.get(0)?,
                            queue: r.get(1)?,
                            body: r.get(2)?,
                            reason: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                            receive_count: r.get::<_, i64>(4)? as u32,
                            sent_at: from_ms(r.get(5)?),
                            dead_lettered_at: from_ms(r.get(6)?),
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let next_cursor = if items.len() > limit as usize {
                    items.truncate(limit as usize);
                    items
                        .last()
                        .map(|d| format!("{}:{}", d.dead_lettered_at.timestamp_millis(), d.id))
                } else {
                    None
                };
                Ok::<_, Qe>(DeadLetterPage { items, next_cursor })
            })
            .await
            .map_err(|e| e.0)
    }

    async fn replay(&self, queue: &str, dead_letter_id: &str) -> Result<(), QueueError> {
        self.check_queue(queue)?;
        let (q, id) = (queue.to_string(), dead_letter_id.to_string());
        let changed = self
            .db
            .write(move |conn| {
                let n = conn.execute(
                    "UPDATE queue_messages SET state = 'ready', receive_count = 0, visible_at = ?3,
                            receipt = NULL, reason = NULL, dead_at = NULL
                      WHERE queue = ?1 AND id = ?2 AND state = 'dead'",
                    params![q, id, now_ms()],
                )?;
                Ok::<_, Qe>(n)
            })
            .await
            .map_err(|e| e.0)?;
        if changed == 0 {
            return Err(QueueError::DeadLetterNotFound(dead_letter_id.to_string()));
        }
        self.db.sent.notify_waiters();
        Ok(())
    }

    /// Constant work: the table answers a one-row look-up (no count of its rows).
    async fn ping(&self) -> Result<(), QueueError> {
        self.db
            .read(|conn| {
                conn.prepare_cached("SELECT 1 FROM queue_messages LIMIT 1")?
                    .exists([])?;
                Ok::<_, Qe>(())
            })
            .await
            .map_err(|e| e.0)
    }
}
