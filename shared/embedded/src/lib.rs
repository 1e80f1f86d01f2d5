//! Embedded adapters for the ports: one SQLite file (records, queue, secrets) and a folder of
//! blobs. Durable across `kill -9`: WAL with `synchronous=FULL`.

mod blobs;
mod db;
mod inbox;
mod queue;
mod records;
mod secrets;

pub use blobs::FileBlobStore;
pub use db::{Db, DbError};
pub use inbox::SqliteInbox;
pub use queue::{QueueSettings, SqliteQueue};
pub use records::SqliteRecordStore;
pub use secrets::{MasterKey, MasterKeyError, SqliteSecretStore};

/// Milliseconds since the epoch (the queue's time unit).
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
