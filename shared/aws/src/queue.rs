//! SQS queues: the Queue port.
//!
//! Each queue has a dead-letter queue. Two things SQS does not give, this adapter adds with
//! the record store (the same DynamoDB table):
//! - **Receipts that go stale.** SQS (and moto) may let an old receipt handle delete a message
//!   that was received again. Every receive records the message's current handle (and its
//!   body, which SQS cannot give again for dead-lettering); delete, change-visibility and
//!   dead-letter act only with the current one.
//! - **Dead letters with a reason, listed and replayed.** A dead-lettered message goes to the
//!   DLQ with the reason as a message attribute (SQS redrive carries none), so the DLQ alarm
//!   fires. Listing first moves whatever is in the DLQ into dead-letter records (reason, counts,
//!   times), then pages through those records; replay sends the body back to its queue.

use crate::boxed::boxed;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::ports::{
    DeadLetter, DeadLetterPage, Index, IndexKey, Item, Query, Queue, QueueError, QueueMessage,
    RecordStore, StoreError,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A queue's URL and its dead-letter queue's URL.
#[derive(Debug, Clone)]
pub struct QueueUrls {
    pub url: String,
    pub dlq_url: String,
}

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queues: HashMap<String, QueueUrls>,
    records: Arc<dyn RecordStore>,
    /// The redrive limit configured on the queues (for the reason of redriven messages).
    max_receives: u32,
}

impl std::fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsQueue")
            .field("queues", &self.queues)
            .finish_non_exhaustive()
    }
}

/// What our receipt string carries (base64url JSON): SQS gives only an opaque handle.
#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    id: String,
    handle: String,
    count: u32,
    sent_ms: i64,
}

/// A dead letter as stored in the record store.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeadLetterRecord {
    id: String,
    queue: String,
    body: String,
    reason: String,
    receive_count: u32,
    sent_at: DateTime<Utc>,
    dead_lettered_at: DateTime<Utc>,
}

const ATTR_REASON: &str = "dead_letter_reason";
const ATTR_RECEIVES: &str = "receive_count";
const ATTR_SENT_MS: &str = "original_sent_ms";
const ATTR_ORIGINAL_ID: &str = "original_message_id";

fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> QueueError {
    QueueError::Unavailable(boxed(e))
}

fn store(e: StoreError) -> QueueError {
    match e {
        StoreError::Invalid(m) => QueueError::Invalid(m),
        StoreError::InvalidCursor => QueueError::Invalid(e.to_string()),
        other => QueueError::Unavailable(boxed(other)),
    }
}

fn secs_ceil(d: Duration) -> i32 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.min(i32::MAX as u64) as i32
}

fn receipt_key(queue: &str, id: &str) -> (String, String) {
    (format!("SQSRECEIPT#{queue}#{id}"), "META".into())
}

fn dead_key(queue: &str, id: &str) -> (String, String) {
    (format!("DEADLETTER#{queue}#{id}"), "META".into())
}

fn dead_index(queue: &str) -> String {
    format!("DEADLETTERS#{queue}")
}

fn string_attr(v: impl Into<String>) -> Result<MessageAttributeValue, QueueError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(|e| QueueError::Invalid(e.to_string()))
}

impl SqsQueue {
    pub fn new(
        client: Client,
        queues: HashMap<String, QueueUrls>,
        records: Arc<dyn RecordStore>,
        max_receives: u32,
    ) -> Self {
        Self {
            client,
            queues,
            records,
            max_receives,
        }
    }

    fn urls(&self, queue: &str) -> Result<&QueueUrls, QueueError> {
        self.queues
            .get(queue)
            .ok_or_else(|| QueueError::UnknownQueue(queue.to_string()))
    }

    fn decode_receipt(receipt: &str) -> Result<Receipt, QueueError> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(receipt)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(QueueError::StaleReceipt)
    }

    /// The receipt is the message's current one.
    async fn check_current(&self, queue: &str, r: &Receipt) -> Result<(), QueueError> {
        let (pk, sk) = receipt_key(queue, &r.id);
        let current = self.records.get(&pk, &sk).await.map_err(store)?;
        let ok = current
            .as_ref()
            .and_then(|i| i.data.get("handle"))
            .and_then(|h| h.as_str())
            .is_some_and(|h| h == r.handle);
        if ok {
            Ok(())
        } else {
            Err(QueueError::StaleReceipt)
        }
    }

    async fn forget_receipt(&self, queue: &str, id: &str) {
        let (pk, sk) = receipt_key(queue, id);
        if let Err(e) = self.records.delete(&pk, &sk, None).await {
            tracing::warn!(queue, message_id = id, error = %e, "could not remove a receipt record (it expires by itself)");
        }
    }

    /// Send a message body to the queue's DLQ with why. Used by `dead_letter` and by the
    /// Lambda worker, which receives messages through the event source rather than `receive`.
    pub async fn send_to_dead_letters(
        &self,
        queue: &str,
        message_id: &str,
        body: &str,
        receive_count: u32,
        sent_at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), QueueError> {
        let urls = self.urls(queue)?;
        self.client
            .send_message()
            .queue_url(&urls.dlq_url)
            .message_body(body)
            .message_attributes(ATTR_REASON, string_attr(reason)?)
            .message_attributes(ATTR_RECEIVES, string_attr(receive_count.to_string())?)
            .message_attributes(
                ATTR_SENT_MS,
                string_attr(sent_at.timestamp_millis().to_string())?,
            )
            .message_attributes(ATTR_ORIGINAL_ID, string_attr(message_id)?)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Change a message's visibility by its raw SQS receipt handle (the Lambda worker's
    /// back-off).
    pub async fn change_visibility_by_handle(
        &self,
        queue: &str,
        handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        let urls = self.urls(queue)?;
        self.client
            .change_message_visibility()
            .queue_url(&urls.url)
            .receipt_handle(handle)
            .visibility_timeout(secs_ceil(timeout).min(43_200))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| {
                    s.meta().code().is_some_and(|c| {
                        c.contains("ReceiptHandleIsInvalid") || c.contains("MessageNotInflight")
                    })
                }) {
                    QueueError::StaleReceipt
                } else {
                    unavailable(e)
                }
            })?;
        Ok(())
    }

    /// Move everything waiting in the DLQ into dead-letter records.
    async fn drain_dlq(&self, queue: &str) -> Result<(), QueueError> {
        let urls = self.urls(queue)?.clone();
        for _ in 0..50 {
            let out = self
                .client
                .receive_message()
                .queue_url(&urls.dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(unavailable)?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(());
            }
            for m in messages {
                let attr = |name: &str| {
                    m.message_attributes()
                        .and_then(|a| a.get(name))
                        .and_then(|v| v.string_value())
                        .map(str::to_string)
                };
                let sys = |name: MessageSystemAttributeName| {
                    m.attributes().and_then(|a| a.get(&name)).cloned()
                };
                let id = attr(ATTR_ORIGINAL_ID)
                    .or_else(|| m.message_id().map(str::to_string))
                    .unwrap_or_default();
                let sent_ms = attr(ATTR_SENT_MS)
                    .or_else(|| sys(MessageSystemAttributeName::SentTimestamp))
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or_default();
                let (reason, receive_count) = match attr(ATTR_REASON) {
                    Some(r) => (
                        r,
                        attr(ATTR_RECEIVES)
                            .and_then(|v| v.parse().ok())
                            .unwrap_or_default(),
                    ),
                    None => (
                        format!(
                            "received {} times without being deleted (SQS redrive)",
                            self.max_receives
                        ),
                        self.max_receives,
                    ),
                };
                let now = Utc::now();
                let rec = DeadLetterRecord {
                    id: id.clone(),
                    queue: queue.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    reason,
                    receive_count,
                    sent_at: DateTime::from_timestamp_millis(sent_ms).unwrap_or(now),
                    dead_lettered_at: now,
                };
                let (pk, sk) = dead_key(queue, &id);
                let data =
                    serde_json::to_value(&rec).map_err(|e| QueueError::Invalid(e.to_string()))?;
                let item = Item::new(pk, sk, data).with_gsi1(IndexKey::new(
                    dead_index(queue),
                    format!("{:013}#{id}", now.timestamp_millis()),
                ));
                self.records.put(item).await.map_err(store)?;
                if let Some(h) = m.receipt_handle() {
                    self.client
                        .delete_message()
                        .queue_url(&urls.dlq_url)
                        .receipt_handle(h)
                        .send()
                        .await
                        .map_err(unavailable)?;
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, queue: &str, body: &str, delay: Duration) -> Result<String, QueueError> {
        let urls = self.urls(queue)?;
        let out = self
            .client
            .send_message()
            .queue_url(&urls.url)
            .message_body(body)
            .delay_seconds(secs_ceil(delay).min(900))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn receive(
        &self,
        queue: &str,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        if max == 0 || max > 10 {
            return Err(QueueError::Invalid("receive takes 1 to 10 messages".into()));
        }
        let urls = self.urls(queue)?;
        let out = self
            .client
            .receive_message()
            .queue_url(&urls.url)
            .max_number_of_messages(max as i32)
            .visibility_timeout(secs_ceil(visibility).min(43_200))
            .wait_time_seconds(secs_ceil(wait).min(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(unavailable)?;
        let mut got = Vec::new();
        for m in out.messages.unwrap_or_default() {
            let sys = |name: MessageSystemAttributeName| {
                m.attributes()
                    .and_then(|a| a.get(&name))
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or_default()
            };
            let r = Receipt {
                id: m.message_id().unwrap_or_default().to_string(),
                handle: m.receipt_handle().unwrap_or_default().to_string(),
                count: sys(MessageSystemAttributeName::ApproximateReceiveCount) as u32,
                sent_ms: sys(MessageSystemAttributeName::SentTimestamp),
            };
            let (pk, sk) = receipt_key(queue, &r.id);
            let now = Utc::now();
            let expires = now.timestamp() + visibility.as_secs() as i64 + 86_400;
            let until = now.timestamp_millis() + visibility.as_millis() as i64;
            let item = Item::new(
                &pk,
                &sk,
                serde_json::json!({"handle": r.handle, "body": m.body(), "until_ms": until}),
            )
            .expiring_at(expires);
            // SQS is at-least-once: it (and moto, under load) may hand one message to two
            // receivers at once. The receipt record is claimed with a conditional write; a
            // receiver that finds it held by another handle still inside its visibility
            // window leaves the message to that one.
            let claimed = match self.records.get(&pk, &sk).await.map_err(store)? {
                None => self.records.create(item).await,
                Some(old)
                    if old.data["handle"].as_str() != Some(r.handle.as_str())
                        && old.data["until_ms"]
                            .as_i64()
                            .is_some_and(|u| u > now.timestamp_millis()) =>
                {
                    tracing::debug!(message_id = %r.id, "message held by another receiver; skipped");
                    continue;
                }
                Some(old) => self.records.update(item, old.version).await,
            };
            match claimed {
                Ok(_) => {}
                Err(StoreError::AlreadyExists { .. } | StoreError::VersionConflict { .. }) => {
                    tracing::debug!(message_id = %r.id, "message claimed by another receiver; skipped");
                    continue;
                }
                Err(e) => return Err(store(e)),
            }
            let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&r).map_err(|e| QueueError::Invalid(e.to_string()))?);
            got.push(QueueMessage {
                id: r.id.clone(),
                receipt: encoded,
                body: m.body().unwrap_or_default().to_string(),
                receive_count: r.count,
                sent_at: DateTime::from_timestamp_millis(r.sent_ms).unwrap_or_default(),
            });
        }
        Ok(got)
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        let urls = self.urls(queue)?.clone();
        let r = Self::decode_receipt(receipt)?;
        self.check_current(queue, &r).await?;
        self.client
            .delete_message()
            .queue_url(&urls.url)
            .receipt_handle(&r.handle)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_receipt_handle_is_invalid())
                {
                    QueueError::StaleReceipt
                } else {
                    unavailable(e)
                }
            })?;
        self.forget_receipt(queue, &r.id).await;
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        let r = Self::decode_receipt(receipt)?;
        self.check_current(queue, &r).await?;
        self.change_visibility_by_handle(queue, &r.handle, timeout)
            .await?;
        // The receipt holds the message until the new time (zero: released to others now).
        let (pk, sk) = receipt_key(queue, &r.id);
        if let Ok(Some(mut item)) = self.records.get(&pk, &sk).await {
            item.data["until_ms"] =
                serde_json::json!(Utc::now().timestamp_millis() + timeout.as_millis() as i64);
            let version = item.version;
            if let Err(e) = self.records.update(item, version).await {
                tracing::debug!(queue, message_id = %r.id, error = %e, "receipt window not updated");
            }
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        queue: &str,
        receipt: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        let urls = self.urls(queue)?.clone();
        let r = Self::decode_receipt(receipt)?;
        self.check_current(queue, &r).await?;
        let body = {
            // SQS cannot hand a message's body out again; the receive record keeps it.
            let (pk, sk) = receipt_key(queue, &r.id);
            self.records
                .get(&pk, &sk)
                .await
                .map_err(store)?
                .and_then(|i| {
                    i.data
                        .get("body")
                        .and_then(|b| b.as_str())
                        .map(String::from)
                })
                .ok_or(QueueError::StaleReceipt)?
        };
        self.send_to_dead_letters(
            queue,
            &r.id,
            &body,
            r.count,
            DateTime::from_timestamp_millis(r.sent_ms).unwrap_or_default(),
            reason,
        )
        .await?;
        self.client
            .delete_message()
            .queue_url(&urls.url)
            .receipt_handle(&r.handle)
            .send()
            .await
            .map_err(unavailable)?;
        self.forget_receipt(queue, &r.id).await;
        Ok(())
    }

    async fn list_dead_letters(
        &self,
        queue: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<DeadLetterPage, QueueError> {
        if limit == 0 || limit > 1000 {
            return Err(QueueError::Invalid("limit must be 1..=1000".into()));
        }
        self.urls(queue)?;
        if cursor.is_none() {
            self.drain_dlq(queue).await?;
        }
        let page = self
            .records
            .query(
                &Query::partition(Index::Gsi1, dead_index(queue))
                    .limit(limit)
                    .after(cursor),
            )
            .await
            .map_err(store)?;
        let mut items = Vec::new();
        for i in page.items {
            let r: DeadLetterRecord =
                serde_json::from_value(i.data).map_err(|e| QueueError::Invalid(e.to_string()))?;
            items.push(DeadLetter {
                id: r.id,
                queue: r.queue,
                body: r.body,
                reason: r.reason,
                receive_count: r.receive_count,
                sent_at: r.sent_at,
                dead_lettered_at: r.dead_lettered_at,
            });
        }
        Ok(DeadLetterPage {
            items,
            next_cursor: page.next_cursor,
        })
    }

    async fn replay(&self, queue: &str, dead_letter_id: &str) -> Result<(), QueueError> {
        self.urls(queue)?;
        let (pk, sk) = dead_key(queue, dead_letter_id);
        let Some(item) = self.records.get(&pk, &sk).await.map_err(store)? else {
            return Err(QueueError::DeadLetterNotFound(dead_letter_id.to_string()));
        };
        let r: DeadLetterRecord =
            serde_json::from_value(item.data).map_err(|e| QueueError::Invalid(e.to_string()))?;
        self.send(queue, &r.body, Duration::ZERO).await?;
        // Only now forget it: a crash in between replays it once more, never loses it.
        match self.records.delete(&pk, &sk, Some(item.version)).await {
            Ok(_) => Ok(()),
            Err(e) => Err(store(e)),
        }
    }

    async fn ping(&self) -> Result<(), QueueError> {
        let urls = self
            .queues
            .values()
            .next()
            .ok_or_else(|| QueueError::Invalid("no queues configured".into()))?;
        self.client
            .get_queue_attributes()
            .queue_url(&urls.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
