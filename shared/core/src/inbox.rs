//! The Inbox port on any record store and queue (the AWS deployment: DynamoDB and SQS, which
//! share no transaction). The record moves PENDING → ENQUEUED with a compare-and-set after the
//! send succeeded, so a failed send is never remembered as done: the platform's retry finds
//! PENDING and sends again. Two deliveries racing may both send; the worker is idempotent.

use async_trait::async_trait;
use domain::ports::{
    Accepted, INBOX_RETENTION_SECONDS, Inbox, InboxError, Item, Queue, RecordStore, StoreError,
    inbox_key,
};
use std::sync::Arc;
use std::time::Duration;

pub struct RecordQueueInbox {
    records: Arc<dyn RecordStore>,
    queue: Arc<dyn Queue>,
}

impl RecordQueueInbox {
    pub fn new(records: Arc<dyn RecordStore>, queue: Arc<dyn Queue>) -> Self {
        Self { records, queue }
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> InboxError {
    InboxError::Unavailable(Box::new(e))
}

#[async_trait]
impl Inbox for RecordQueueInbox {
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
        let (pk, sk) = inbox_key(dedupe_key);
        let expires = chrono::Utc::now().timestamp() + INBOX_RETENTION_SECONDS;
        let item = |state: &str| {
            Item::new(
                &pk,
                &sk,
                serde_json::json!({"state": state, "record": record.clone()}),
            )
            .expiring_at(expires)
        };
        let version = match self.records.create(item("PENDING")).await {
            Ok(created) => created.version,
            Err(StoreError::AlreadyExists { .. }) => {
                let Some(existing) = self.records.get(&pk, &sk).await.map_err(unavailable)? else {
                    // Expired between the two calls: treat as new next time.
                    return Err(InboxError::Unavailable(
                        "inbox entry vanished; retry".into(),
                    ));
                };
                if existing.data["state"] == "ENQUEUED" {
                    return Ok(Accepted::Duplicate);
                }
                // PENDING: an earlier attempt did not finish sending; send again.
                existing.version
            }
            Err(e) => return Err(unavailable(e)),
        };
        self.queue
            .send(queue, job, Duration::ZERO)
            .await
            .map_err(|e| match e {
                domain::ports::QueueError::UnknownQueue(q) => {
                    InboxError::Invalid(format!("unknown queue {q}"))
                }
                other => unavailable(other),
            })?;
        match self.records.update(item("ENQUEUED"), version).await {
            Ok(_) | Err(StoreError::VersionConflict { .. }) => Ok(Accepted::Queued),
            Err(e) => Err(unavailable(e)),
        }
    }
}
