//! Counting decorators over the real ports: each call is logged as one line (`port.method` and
//! what it names: the first segment of the record key, the queue, the secret's name) and then
//! passed on unchanged to the adapter underneath. Used by the tests that pin down what a
//! callback costs in port calls. Included by path from other crates' tests too.
#![allow(dead_code)]

use async_trait::async_trait;
use domain::ports::{
    Accepted, DeadLetterPage, Inbox, InboxError, Item, Page, Query, Queue, QueueError,
    QueueMessage, RecordStore, SecretError, SecretStore, StoreError, Write, WriteOutcome,
};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The calls made so far, in order.
#[derive(Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<String>>>);

impl CallLog {
    fn push(&self, line: String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    /// The calls since the last `take`, and forget them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// `ACCOUNT#acc_1` → `ACCOUNT`.
fn kind(pk: &str) -> &str {
    pk.split('#').next().unwrap_or(pk)
}

pub struct CountingRecords {
    pub inner: Arc<dyn RecordStore>,
    pub log: CallLog,
}

#[async_trait]
impl RecordStore for CountingRecords {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.log.push(format!("records.get {}", kind(pk)));
        self.inner.get(pk, sk).await
    }
    async fn create(&self, item: Item) -> Result<Item, StoreError> {
        self.log.push(format!("records.create {}", kind(&item.pk)));
        self.inner.create(item).await
    }
    async fn update(&self, item: Item, expected_version: u64) -> Result<Item, StoreError> {
        self.log.push(format!("records.update {}", kind(&item.pk)));
        self.inner.update(item, expected_version).await
    }
    async fn put(&self, item: Item) -> Result<Item, StoreError> {
        self.log.push(format!("records.put {}", kind(&item.pk)));
        self.inner.put(item).await
    }
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.log.push(format!("records.delete {}", kind(pk)));
        self.inner.delete(pk, sk, expected_version).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.log.push(format!("records.transact {}", writes.len()));
        self.inner.transact(writes).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.log.push("records.query".into());
        self.inner.query(query).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.log.push("records.ping".into());
        self.inner.ping().await
    }
    async fn probe_write(&self) -> Result<(), StoreError> {
        self.log.push("records.probe_write".into());
        self.inner.probe_write().await
    }
    fn last_write(&self) -> Option<WriteOutcome> {
        self.inner.last_write()
    }
}

pub struct CountingQueue {
    pub inner: Arc<dyn Queue>,
    pub log: CallLog,
}

#[async_trait]
impl Queue for CountingQueue {
    async fn send(&self, queue: &str, body: &str, delay: Duration) -> Result<String, QueueError> {
        self.log.push(format!("queue.send {queue}"));
        self.inner.send(queue, body, delay).await
    }
    async fn receive(
        &self,
        queue: &str,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        self.log.push(format!("queue.receive {queue}"));
        self.inner.receive(queue, max, visibility, wait).await
    }
    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        self.log.push(format!("queue.delete {queue}"));
        self.inner.delete(queue, receipt).await
    }
    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.log.push(format!("queue.change_visibility {queue}"));
        self.inner.change_visibility(queue, receipt, timeout).await
    }
    async fn dead_letter(
        &self,
        queue: &str,
        receipt: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        self.log.push(format!("queue.dead_letter {queue}"));
        self.inner.dead_letter(queue, receipt, reason).await
    }
    async fn list_dead_letters(
        &self,
        queue: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<DeadLetterPage, QueueError> {
        self.log.push(format!("queue.list_dead_letters {queue}"));
        self.inner.list_dead_letters(queue, limit, cursor).await
    }
    async fn replay(&self, queue: &str, dead_letter_id: &str) -> Result<(), QueueError> {
        self.log.push(format!("queue.replay {queue}"));
        self.inner.replay(queue, dead_letter_id).await
    }
    async fn ping(&self) -> Result<(), QueueError> {
        self.log.push("queue.ping".into());
        self.inner.ping().await
    }
}

pub struct CountingSecrets {
    pub inner: Arc<dyn SecretStore>,
    pub log: CallLog,
}

#[async_trait]
impl SecretStore for CountingSecrets {
    async fn get(&self, name: &str) -> Result<Option<SecretString>, SecretError> {
        self.log.push(format!("secrets.get {name}"));
        self.inner.get(name).await
    }
    async fn put(&self, name: &str, value: SecretString) -> Result<(), SecretError> {
        self.log.push(format!("secrets.put {name}"));
        self.inner.put(name, value).await
    }
    async fn delete(&self, name: &str) -> Result<(), SecretError> {
        self.log.push(format!("secrets.delete {name}"));
        self.inner.delete(name).await
    }
}

pub struct CountingInbox {
    pub inner: Arc<dyn Inbox>,
    pub log: CallLog,
}

#[async_trait]
impl Inbox for CountingInbox {
    async fn accept(
        &self,
        dedupe_key: &str,
        record: serde_json::Value,
        queue: &str,
        job: &str,
    ) -> Result<Accepted, InboxError> {
        self.log.push(format!("inbox.accept {queue}"));
        self.inner.accept(dedupe_key, record, queue, job).await
    }
}

/// `ports` with every record, queue, secret and inbox call logged in `log`.
pub fn counted(ports: desk_core::Ports, log: &CallLog) -> desk_core::Ports {
    desk_core::Ports {
        records: Arc::new(CountingRecords {
            inner: ports.records,
            log: log.clone(),
        }),
        queue: Arc::new(CountingQueue {
            inner: ports.queue,
            log: log.clone(),
        }),
        secrets: Arc::new(CountingSecrets {
            inner: ports.secrets,
            log: log.clone(),
        }),
        inbox: Arc::new(CountingInbox {
            inner: ports.inbox,
            log: log.clone(),
        }),
        blobs: ports.blobs,
        clock: ports.clock,
    }
}

/// Like [`counted`], with the inbox of the AWS deployment (record PENDING, send, mark
/// ENQUEUED) over the counted records and queue, so its store and queue calls are logged.
pub fn counted_record_queue_inbox(ports: desk_core::Ports, log: &CallLog) -> desk_core::Ports {
    let p = counted(ports, log);
    desk_core::Ports {
        inbox: Arc::new(desk_core::inbox::RecordQueueInbox::new(
            p.records.clone(),
            p.queue.clone(),
        )),
        ..p
    }
}
