//! The shared SQLite connection.

use rusqlite::Connection;
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

CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
"#;

impl Db {
    /// Open (creating if needed) the database file and its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DbError> {
        let path = path.as_ref().to_path_buf();
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
        })
    }

    fn prepare(conn: &Connection) -> rusqlite::Result<()> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on the connection in a blocking task.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| E::from(DbError::Task(e)))?
    }
}
