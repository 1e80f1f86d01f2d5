//! Ports: the capabilities the use-cases need, each a small trait with an embedded (SQLite,
//! files) and an AWS (DynamoDB, SQS, S3, Secrets Manager) adapter. Every adapter passes the
//! contract suites in the `contract` crate.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::time::Duration;

pub use crate::clock::Clock;

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// A secondary index key (DynamoDB GSI shape: partition and sort key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

impl IndexKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// How many secondary indexes a record store offers (`Index::Gsi1` ..= `Index::Gsi15`).
/// DynamoDB allows 20 per table; each index a record fills costs one more write per save.
pub const SECONDARY_INDEXES: usize = 15;

/// One stored record: a JSON document under a (partition, sort) key, with up to
/// [`SECONDARY_INDEXES`] secondary index keys, a version for compare-and-set, and an optional
/// expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    /// Set by the store: 1 on create, +1 on every update. Ignored on input.
    pub version: u64,
    pub data: serde_json::Value,
    /// The item's key in each secondary index (position 0 is `Index::Gsi1`); an item without
    /// a key in an index is not in it (sparse indexes).
    pub indexes: [Option<IndexKey>; SECONDARY_INDEXES],
    /// Unix seconds after which the store may delete the item (DynamoDB TTL). Readers must
    /// treat an expired item as absent; stores may return it until they sweep it.
    pub expires_at: Option<i64>,
}

impl Item {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, data: serde_json::Value) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
            version: 0,
            data,
            indexes: Default::default(),
            expires_at: None,
        }
    }

    /// Put the item in a secondary index under `key` (the primary index is not settable).
    pub fn with_index(mut self, index: Index, key: IndexKey) -> Self {
        if let Some(n) = index.secondary() {
            self.indexes[n] = Some(key);
        }
        self
    }

    pub fn with_gsi1(self, key: IndexKey) -> Self {
        self.with_index(Index::Gsi1, key)
    }

    pub fn with_gsi2(self, key: IndexKey) -> Self {
        self.with_index(Index::Gsi2, key)
    }

    /// The item's key in a secondary index (None for the primary index).
    pub fn index_key(&self, index: Index) -> Option<&IndexKey> {
        index.secondary().and_then(|n| self.indexes[n].as_ref())
    }

    pub fn expiring_at(mut self, unix_seconds: i64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now.timestamp())
    }
}

/// Which key a query runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    Primary,
    Gsi1,
    Gsi2,
    Gsi3,
    Gsi4,
    Gsi5,
    Gsi6,
    Gsi7,
    Gsi8,
    Gsi9,
    Gsi10,
    Gsi11,
    Gsi12,
    Gsi13,
    Gsi14,
    Gsi15,
}

impl Index {
    /// The secondary indexes, in order.
    pub const SECONDARY: [Index; SECONDARY_INDEXES] = [
        Index::Gsi1,
        Index::Gsi2,
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

    /// The position of a secondary index (0 for `Gsi1`); None for the primary index.
    pub fn secondary(self) -> Option<usize> {
        Index::SECONDARY.iter().position(|i| *i == self)
    }

    /// The index's number (1 for `Gsi1`); None for the primary index. Adapters name an index
    /// and its key attributes after it (`gsi{n}`, `gsi{n}pk`, `gsi{n}sk`).
    pub fn number(self) -> Option<usize> {
        self.secondary().map(|n| n + 1)
    }
}

/// Sort-key condition of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkCondition {
    All,
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
}

/// A query over one partition of one index, ordered by sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk: SkCondition,
    /// Ascending sort key when true.
    pub forward: bool,
    /// At most this many items per page (1..=1000).
    pub limit: u32,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

impl Query {
    pub fn partition(index: Index, pk: impl Into<String>) -> Self {
        Self {
            index,
            pk: pk.into(),
            sk: SkCondition::All,
            forward: true,
            limit: 100,
            cursor: None,
        }
    }

    pub fn begins_with(mut self, prefix: impl Into<String>) -> Self {
        self.sk = SkCondition::BeginsWith(prefix.into());
        self
    }

    pub fn between(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.sk = SkCondition::Between(from.into(), to.into());
        self
    }

    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }

    /// What every store refuses (DynamoDB's rules, kept by the embedded store too): a limit
    /// outside 1..=1000, an empty partition key, an empty sort-key bound.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.limit == 0 || self.limit > 1000 {
            return Err(StoreError::Invalid("limit must be 1..=1000".into()));
        }
        let empty_bound = match &self.sk {
            SkCondition::All => false,
            SkCondition::BeginsWith(p) => p.is_empty(),
            SkCondition::Between(a, b) => a.is_empty() || b.is_empty(),
        };
        if self.pk.is_empty() || empty_bound {
            return Err(StoreError::Invalid(
                "key conditions must not be empty strings".into(),
            ));
        }
        Ok(())
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub next_cursor: Option<String>,
}

/// One write in an all-or-nothing transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create; fails if the key exists.
    Create(Item),
    /// Replace if the stored version equals `expected_version`.
    Update { item: Item, expected_version: u64 },
    /// Create or replace without condition.
    Put(Item),
    /// Delete; with a version, only if it matches; fails if the key does not exist.
    Delete {
        pk: String,
        sk: String,
        expected_version: Option<u64>,
    },
    /// No write: the key must exist with this version.
    Check {
        pk: String,
        sk: String,
        expected_version: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A create found the key taken.
    #[error("record {pk}/{sk} already exists")]
    AlreadyExists { pk: String, sk: String },
    /// A compare-and-set found another version (or no record).
    #[error("record {pk}/{sk} changed concurrently (expected version {expected})")]
    VersionConflict {
        pk: String,
        sk: String,
        expected: u64,
    },
    #[error("record {pk}/{sk} not found")]
    NotFound { pk: String, sk: String },
    /// A transaction failed a condition; `index` is the failing write's position.
    #[error("transaction condition failed at write {index}: {reason}")]
    TransactionConflict { index: usize, reason: String },
    #[error("invalid request to the record store: {0}")]
    Invalid(String),
    /// A list cursor this store did not issue (or that does not fit the query): the caller's
    /// mistake, answered 400 at the HTTP edge.
    #[error("cursor is not one this store issued")]
    InvalidCursor,
    /// The store could not be reached or failed; retrying may help.
    #[error("record store unavailable")]
    Unavailable(#[source] Source),
}

/// Records: conditional create, compare-and-set on a version, transactions, paginated queries.
#[async_trait]
pub trait RecordStore: Send + Sync {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;
    /// Create if absent; returns the item with version 1.
    async fn create(&self, item: Item) -> Result<Item, StoreError>;
    /// Replace if the stored version is `expected_version`; returns the new item.
    async fn update(&self, item: Item, expected_version: u64) -> Result<Item, StoreError>;
    /// Create or replace; returns the new item.
    async fn put(&self, item: Item) -> Result<Item, StoreError>;
    /// Delete; with a version, only if it matches. Returns whether something was deleted.
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError>;
    /// All writes or none (at most 25 writes, as DynamoDB allows).
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;
    /// Usable right now (health check).
    async fn ping(&self) -> Result<(), StoreError>;
    /// One small real write (the health check's probe when no other write happened lately):
    /// the store can write right now.
    async fn probe_write(&self) -> Result<(), StoreError>;
    /// The outcome of the newest write this process attempted, when the adapter tracks it
    /// (the embedded store does; None means "unknown", and the health check probes).
    fn last_write(&self) -> Option<WriteOutcome> {
        None
    }
}

/// How the newest write went: when, and if it failed, a short description that is safe to
/// show to anyone (no paths, no data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    pub at: std::time::Instant,
    pub failure: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

/// A received message.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    pub id: String,
    /// Handle for delete / change-visibility / dead-letter; new on every receive.
    pub receipt: String,
    pub body: String,
    /// 1 on the first receive.
    pub receive_count: u32,
    pub sent_at: DateTime<Utc>,
}

/// A message set aside after it could not be processed.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub id: String,
    pub queue: String,
    pub body: String,
    pub reason: String,
    pub receive_count: u32,
    pub sent_at: DateTime<Utc>,
    pub dead_lettered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeadLetterPage {
    pub items: Vec<DeadLetter>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The receipt is not the message's current one (it was received again, or deleted).
    #[error("receipt is no longer valid for this message")]
    StaleReceipt,
    #[error("dead letter {0} not found")]
    DeadLetterNotFound(String),
    #[error("unknown queue {0}")]
    UnknownQueue(String),
    #[error("invalid queue request: {0}")]
    Invalid(String),
    #[error("queue unavailable")]
    Unavailable(#[source] Source),
}

/// An at-least-once queue with visibility timeouts and a dead-letter store.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Durably enqueue; the message becomes visible after `delay`. Returns the message id.
    async fn send(&self, queue: &str, body: &str, delay: Duration) -> Result<String, QueueError>;
    /// Receive up to `max` visible messages, hiding each for `visibility`; waits up to `wait`
    /// for one to arrive. Messages received more times than the queue allows are dead-lettered
    /// instead of delivered.
    async fn receive(
        &self,
        queue: &str,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError>;
    /// Delete a received message. A stale receipt never deletes a message that was received
    /// again; adapters answer `StaleReceipt` where they can tell.
    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError>;
    /// Hide (or show, with zero) a received message for `timeout` from now.
    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        timeout: Duration,
    ) -> Result<(), QueueError>;
    /// Move a received message to the dead letters with a reason.
    async fn dead_letter(&self, queue: &str, receipt: &str, reason: &str)
    -> Result<(), QueueError>;
    /// Dead letters of a queue, oldest first.
    async fn list_dead_letters(
        &self,
        queue: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<DeadLetterPage, QueueError>;
    /// Put a dead letter back on its queue (receive count starts again).
    async fn replay(&self, queue: &str, dead_letter_id: &str) -> Result<(), QueueError>;
    /// Usable right now (health check).
    async fn ping(&self) -> Result<(), QueueError>;
}

// ---------------------------------------------------------------------------------------------
// Blobs
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
    #[error("blob store unavailable")]
    Unavailable(#[source] Source),
}

/// Evidence images and other binary data.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Keys are `[A-Za-z0-9._-]` segments separated by `/`.
    async fn put(&self, key: &str, blob: Blob) -> Result<(), BlobError>;
    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError>;
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
}

/// Is this a valid blob key? (Shared by the adapters so they agree.)
pub fn valid_blob_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        })
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("invalid secret name {0:?}")]
    InvalidName(String),
    /// Stored data could not be decrypted (wrong master key, tampering).
    #[error("secret {0:?} cannot be decrypted with this master key")]
    Undecryptable(String),
    #[error("secret store unavailable")]
    Unavailable(#[source] Source),
}

/// Credentials and other secrets, by name. Values are never logged.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The value, possibly from a cache with a time-to-live (another process's write may be
    /// seen only when it expires).
    async fn get(&self, name: &str) -> Result<Option<SecretString>, SecretError>;
    /// The value as stored right now, past any cache (which it refreshes). Adapters that cache
    /// must override this; one that does not cache reads the same either way.
    async fn get_fresh(&self, name: &str) -> Result<Option<SecretString>, SecretError> {
        self.get(name).await
    }
    async fn put(&self, name: &str, value: SecretString) -> Result<(), SecretError>;
    /// Deleting a missing secret is not an error.
    async fn delete(&self, name: &str) -> Result<(), SecretError>;
}

/// Names of secrets in the secret store (adapters add a deployment prefix). Account secrets
/// live under `accounts/`, installation secrets under `installation/`: the SAM template grants
/// each function exactly the names it reads by these patterns, so a new name needs a grant.
pub mod secret_names {
    /// Platform credentials of an account: read by the callback functions, the worker and
    /// the admin API.
    pub fn credentials(account_id: &str) -> String {
        format!("accounts/{account_id}/credentials")
    }

    /// Notification secrets (SMTP codes, SMS keys, bot webhooks) of an account or of one of
    /// its sub-merchants: read by the notifier and the admin API.
    pub fn notifications(account_id: &str, sub_mchid: Option<&str>) -> String {
        match sub_mchid {
            None => format!("accounts/{account_id}/notifications"),
            Some(s) => format!("accounts/{account_id}/sub-merchants/{s}/notifications"),
        }
    }

    /// The administrator bearer token (AWS): read by the admin API only.
    pub const ADMIN_TOKEN: &str = "installation/admin-token";
    /// The installation key (AWS): fingerprints, the signed authorisation state, the seal of
    /// cached WeChat tokens. Read by every function, written by none.
    pub const FINGERPRINT_KEY: &str = "installation/fingerprint-key";
}

/// Is this a valid secret name? `[A-Za-z0-9/_+=.@-]`, 1..=256 (Secrets Manager's alphabet).
pub fn valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_reject_traversal() {
        assert!(valid_blob_key("media/acc_1/abc.png"));
        assert!(!valid_blob_key("../etc/passwd"));
        assert!(!valid_blob_key("a//b"));
        assert!(!valid_blob_key("a/./b"));
        assert!(!valid_blob_key(""));
        assert!(!valid_blob_key("a b"));
    }

    #[test]
    fn secret_names_follow_secrets_manager() {
        assert!(valid_secret_name(
            "complaint-desk/accounts/acc_1/credentials"
        ));
        assert!(!valid_secret_name("a b"));
        assert!(!valid_secret_name(""));
    }
}

// ---------------------------------------------------------------------------------------------
// Inbox: accepting a platform notification
// ---------------------------------------------------------------------------------------------

/// How an accepted notification ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Recorded and its job queued now.
    Queued,
    /// Seen before and already queued: nothing more was done.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("invalid notification: {0}")]
    Invalid(String),
    /// The store or the queue is unavailable: answer the platform with a retryable error;
    /// nothing is remembered as done.
    #[error("inbox unavailable")]
    Unavailable(#[source] Source),
}

/// Accept a platform notification: remember it under its dedupe key and queue its job, so
/// that success means "durably queued" and a redelivered notification queues nothing more.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// `record` is kept with the key (what arrived, for the operator); `job` goes on `queue`.
    async fn accept(
        &self,
        dedupe_key: &str,
        record: serde_json::Value,
        queue: &str,
        job: &str,
    ) -> Result<Accepted, InboxError>;
}

/// How long the inbox remembers a notification (platforms retry for up to a week).
pub const INBOX_RETENTION_SECONDS: i64 = 30 * 86_400;

/// The record key of an inbox entry.
pub fn inbox_key(dedupe_key: &str) -> (String, String) {
    (format!("INBOX#{dedupe_key}"), "META".to_string())
}
