//! Embedded adapters for the ports: one SQLite file (records, queue, secrets) and a folder of
//! blobs. Durable across `kill -9`: WAL with `synchronous=FULL`, and a caller is answered only
//! after the commit holding its write. Reads run on a pool of read-only connections beside one
//! writer thread that group-commits waiting writes (see [`Db`]), so a slow admin read never
//! holds up a callback's acknowledgement.

mod blobs;
mod db;
mod inbox;
mod private_dir;
mod queue;
mod records;
mod records_expiry;
mod records_schema;
mod secrets;
mod time;

pub use blobs::FileBlobStore;
pub use db::{Db, DbError};
pub use inbox::SqliteInbox;
pub use private_dir::{create_private_dir, narrow_private_dir};
pub use queue::{QueueSettings, SqliteQueue};
pub use records::SqliteRecordStore;
pub use records_expiry::Purged;
pub use secrets::{MasterKey, MasterKeyError, SqliteSecretStore};
