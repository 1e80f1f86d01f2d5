//! Embedded adapters for the ports: one SQLite file (records, queue, secrets) and a folder of
//! blobs. Durable across `kill -9`: WAL with `synchronous=FULL`, and a caller is answered only
//! after the commit holding its write. Reads run on a pool of read-only connections beside one
//! writer thread that group-commits waiting writes (see [`Db`]), so a slow admin read never
//! holds up a callback's acknowledgement.

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

/// Create a folder (and its missing parents) readable by its owner only (`0700`). A folder
/// that already exists keeps its mode (see [`narrow_private_dir`] for the data directory).
pub fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Milliseconds since the epoch (the queue's time unit).
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Make an existing data directory the owner's only (`0700`) when it is wider, e.g. one an
/// older version created `0755`. Returns the mode it had when it was narrowed.
pub fn narrow_private_dir(path: &std::path::Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
            return Ok(Some(mode));
        }
    }
    Ok(None)
}
