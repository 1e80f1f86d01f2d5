//! The shared SQLite connection.

use domain::ports::WriteOutcome;
use rusqlite::{Connection, ErrorCode};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database at {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot prepare the database schema at {path}")]
    Schema {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create or restrict the database file {path} (owner only, 0600)")]
    Permissions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database task failed")]
    Task(#[source] tokio::task::JoinError),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// One SQLite database shared by the embedded records, queue and secrets, so a callback can
/// record and enqueue in one transaction.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// Woken on every send, so receivers in this process do not wait for their poll interval.
    pub(crate) sent: Arc<Notify>,
    /// How the newest write went (the health check reports it).
    last_write: Arc<Mutex<Option<WriteOutcome>>>,
}

/// An adapter's error type as the database sees it: the SQLite error inside, if any (so a
/// failed write can be told from a failed condition).
pub(crate) trait SqliteCause {
    fn sqlite_cause(&self) -> Option<&rusqlite::Error>;
}

/// The first `rusqlite::Error` in an error's source chain.
pub(crate) fn find_sqlite<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rusqlite::Error> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(s) = err.downcast_ref::<rusqlite::Error>() {
            return Some(s);
        }
        cur = err.source();
    }
    None
}

/// A short, safe description when `e` means the database cannot write (full disk, read-only
/// file system, I/O error, ...); None for errors that say nothing about the writer.
fn write_failure(e: &rusqlite::Error) -> Option<&'static str> {
    let code = e.sqlite_error_code()?;
    Some(match code {
        ErrorCode::DiskFull => "the disk is full",
        ErrorCode::ReadOnly => "the database is read-only",
        ErrorCode::SystemIoFailure => "I/O error",
        ErrorCode::CannotOpen => "the database file cannot be opened",
        ErrorCode::PermissionDenied => "permission denied",
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => "the database file is corrupt",
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            "the database is locked by another process"
        }
        _ => return None,
    })
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS records (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    gsi1pk TEXT, gsi1sk TEXT,
    gsi2pk TEXT, gsi2sk TEXT,
    expires_at INTEGER,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_gsi1 ON records (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_gsi2 ON records (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;

CREATE TABLE IF NOT EXISTS queue_messages (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    receipt TEXT,
    receive_count INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'ready',
    reason TEXT,
    dead_at INTEGER
);
CREATE INDEX IF NOT EXISTS queue_ready ON queue_messages (queue, state, visible_at, id);
CREATE INDEX IF NOT EXISTS queue_receipt ON queue_messages (receipt);
CREATE INDEX IF NOT EXISTS queue_dead ON queue_messages (queue, state, dead_at, id);

CREATE TABLE IF NOT EXISTS health_probe (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
"#;

impl Db {
    /// Open (creating if needed) the database file and its schema.
    ///
    /// The file is created readable by its owner only (`0600`), so SQLite creates its `-wal`
    /// and `-shm` files with the same mode; files left wider by an older version are narrowed.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DbError> {
        let path = path.as_ref().to_path_buf();
        owner_only_files(&path).map_err(|source| DbError::Permissions {
            path: path.clone(),
            source,
        })?;
        let conn = Connection::open(&path).map_err(|source| DbError::Open {
            path: path.clone(),
            source,
        })?;
        Self::prepare(&conn).map_err(|source| DbError::Schema {
            path: path.clone(),
            source,
        })?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
            sent: Arc::new(Notify::new()),
            last_write: Arc::default(),
        })
    }

    fn prepare(conn: &Connection) -> rusqlite::Result<()> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        crate::records::migrate(conn)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on the connection in a blocking task, noting how a write went: a change
    /// counts as a successful write, an error that means the database cannot write (full
    /// disk, read-only, I/O) as a failed one.
    pub(crate) async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + SqliteCause + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let conn = self.conn.clone();
        let last_write = self.last_write.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            let before = guard.total_changes();
            let result = f(&mut guard);
            let failure = match &result {
                Ok(_) => None,
                Err(e) => e.sqlite_cause().and_then(write_failure),
            };
            if failure.is_some() || (result.is_ok() && guard.total_changes() != before) {
                *last_write.lock().unwrap_or_else(|e| e.into_inner()) = Some(WriteOutcome {
                    at: std::time::Instant::now(),
                    failure: failure.map(str::to_string),
                });
            }
            result
        })
        .await
        .map_err(|e| E::from(DbError::Task(e)))?
    }

    /// The newest write's outcome (None before the first write).
    pub fn last_write(&self) -> Option<WriteOutcome> {
        self.last_write
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One small real write (a single row rewritten), for the health check.
    pub async fn probe_write(&self) -> Result<(), DbError> {
        self.run(|conn| {
            conn.execute(
                "INSERT INTO health_probe (id, at) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                [crate::now_ms()],
            )?;
            Ok::<_, DbError>(())
        })
        .await
    }
}

impl SqliteCause for DbError {
    fn sqlite_cause(&self) -> Option<&rusqlite::Error> {
        find_sqlite(self)
    }
}

/// Create the database file readable by its owner only, before SQLite opens it (SQLite gives
/// `-wal` and `-shm` the database file's mode), and narrow any of the three that an older
/// version left wider. Symbolic links and other non-regular files are left alone.
fn owner_only_files(db: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(db)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let name = db.as_os_str().to_os_string();
        for suffix in ["", "-wal", "-shm"] {
            let mut p = name.clone();
            p.push(suffix);
            let p = PathBuf::from(p);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_file() && m.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}
