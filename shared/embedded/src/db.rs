//! The SQLite database shared by the embedded adapters: one writer thread with group commit
//! and a small pool of read-only connections (WAL lets them read while the writer writes).
//!
//! Why: a callback's acknowledgement needs one durable write. With one connection behind one
//! lock, a slow admin read (a deep list page) made every acknowledgement wait for it, and each
//! write paid for its own fsync. Now:
//! - reads ([`Db::read`]) run on a pool of connections opened with `query_only`, concurrently
//!   with each other and with the writer;
//! - writes ([`Db::write`]) go to one writer thread, which takes every request waiting (up to
//!   [`MAX_BATCH`]) and runs them in one transaction, each inside its own `SAVEPOINT` (a failed
//!   request rolls back only its own changes and gets its own error), then commits once (one
//!   fsync with `synchronous=FULL`) and only then answers each caller. A failed commit fails
//!   every request of the batch; a request is never answered before its commit is durable.
//! - A checkpointer thread with its own connection copies the WAL into the database file
//!   (`PRAGMA wal_checkpoint(PASSIVE)`, which waits for nobody) a moment after writes, so the
//!   WAL stays small while readers come and go, and no commit pays for a checkpoint (SQLite's
//!   automatic checkpoint, which runs inside the COMMIT that crosses its threshold, is off on
//!   the writer). A small WAL also keeps start-up after a crash short: SQLite reads the whole
//!   WAL left behind before the first query.

use domain::ports::WriteOutcome;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};

/// The most write requests one transaction (one fsync) carries: enough to share an fsync
/// among many concurrent callbacks, few enough that the first of them is answered soon.
pub const MAX_BATCH: usize = 64;
/// Read-only connections in the pool (at most this many reads run at once).
pub const READERS: usize = 4;
/// Write requests accepted but not yet answered, at most (further writers wait their turn).
const MAX_PENDING_WRITES: usize = 4096;
/// The checkpointer copies the WAL into the database file at most this often while writes
/// come in (each checkpoint syncs the database file once).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// How long a connection waits for a lock held by another process (or a checkpoint).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// WAL pages (4 KiB) after which the writer checkpoints at its own commit (see `prepare`).
const WAL_BACKSTOP_PAGES: i64 = 8192;
/// After a checkpoint resets the WAL, its file is cut back to at most this many bytes.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;
/// Prepared statements kept per connection (hot paths use `prepare_cached`).
const STATEMENT_CACHE: usize = 64;

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
    #[error("cannot start the database writer thread")]
    Thread(#[source] std::io::Error),
    #[error("database task failed")]
    Task(#[source] tokio::task::JoinError),
    #[error("the database writer stopped before answering")]
    WriterGone,
    #[error("the write was not committed")]
    Commit(#[source] rusqlite::Error),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// One SQLite database shared by the embedded records, queue and secrets, so a callback can
/// record and enqueue in one transaction.
#[derive(Clone)]
pub struct Db {
    shared: Arc<Shared>,
    /// Woken on every send, so receivers in this process do not wait for their poll interval.
    pub(crate) sent: Arc<Notify>,
}

struct Shared {
    path: PathBuf,
    /// Requests for the writer thread; the thread ends when the last `Db` is dropped.
    writer: Mutex<mpsc::Sender<Request>>,
    /// Bounds the write requests in flight.
    write_slots: Arc<Semaphore>,
    readers: Readers,
    /// How the newest write went (the health check reports it).
    last_write: Mutex<Option<WriteOutcome>>,
}

/// Idle read-only connections, opened on first need, at most [`READERS`] in use at once.
struct Readers {
    idle: Mutex<Vec<Connection>>,
    slots: Arc<Semaphore>,
}

/// A write request as the writer thread sees it: run it on the connection (inside its
/// savepoint), then, once the batch's commit is known, answer its caller.
/// Called with the error instead of a connection when its transaction cannot be opened.
type Job = Box<dyn FnOnce(Result<&Connection, &rusqlite::Error>) -> Option<Ran> + Send>;

struct Request {
    job: Job,
    _slot: OwnedSemaphorePermit,
}

/// Answers a caller with its batch's commit (`Err`: not committed).
type AnswerFn = Box<dyn FnOnce(Result<(), &rusqlite::Error>) + Send>;

/// What running one request gave.
struct Ran {
    /// The request succeeded: keep its changes.
    ok: bool,
    /// Its error means the database cannot write (the health check reports it).
    failure: Option<&'static str>,
    /// Answer the caller with the commit's outcome (`Err`: the batch was not committed).
    answer: AnswerFn,
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
        // A transparent variant's `source()` skips the error it wraps.
        if let Some(DbError::Sqlite(s)) = err.downcast_ref::<DbError>() {
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
        f.debug_struct("Db")
            .field("path", &self.shared.path)
            .finish()
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
    /// Open (creating if needed) the database file and its schema, and start its writer.
    ///
    /// The file is created readable by its owner only (`0600`), so SQLite creates its `-wal`
    /// and `-shm` files with the same mode; files left wider by an older version are narrowed.
    /// Start-up does constant work whatever the size of the data: the schema statements are
    /// `IF NOT EXISTS`, and nothing is counted or swept.
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
        let (tx, rx) = mpsc::channel::<Request>();
        let sent = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            path,
            writer: Mutex::new(tx),
            write_slots: Arc::new(Semaphore::new(MAX_PENDING_WRITES)),
            readers: Readers {
                idle: Mutex::new(Vec::new()),
                slots: Arc::new(Semaphore::new(READERS)),
            },
            last_write: Mutex::new(None),
        });
        let checkpointer = Self::open_reader(&shared.path)
            .and_then(|c| {
                c.pragma_update(None, "query_only", false)?;
                Ok(c)
            })
            .map_err(|source| DbError::Open {
                path: shared.path.clone(),
                source,
            })?;
        let (wake, woken) = mpsc::channel::<()>();
        // A WAL left by a crash is copied back at once, without holding up the writer.
        let _ = wake.send(());
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, woken))
            .map_err(DbError::Thread)?;
        // The writer holds only a weak link, so dropping the last `Db` ends it (and, with it,
        // the checkpointer).
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, weak, wake))
            .map_err(DbError::Thread)?;
        Ok(Self { shared, sent })
    }

    fn prepare(conn: &Connection) -> rusqlite::Result<()> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Checkpoints are the checkpointer thread's job. But under writes that never pause it
        // cannot finish one (frames keep arriving behind it), and only a finished checkpoint
        // lets the WAL start over: without a backstop the WAL grows without bound (it filled a
        // disk while a million complaints were written). So the writer checkpoints itself once
        // the WAL passes WAL_BACKSTOP_PAGES, between its own commits, where it completes; most
        // frames are already copied by then, so that commit pays little.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES)?;
        conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
        conn.execute_batch(SCHEMA)?;
        crate::records_schema::migrate(conn)
    }

    /// A read-only connection for the pool: it cannot change anything (`query_only`).
    fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Run `f` on a read-only connection from the pool, in a blocking task. Reads run
    /// concurrently with each other and with the writer; an error that means the database is
    /// unusable (I/O, corrupt) is noted for the health check.
    pub(crate) async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + SqliteCause + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let slot = self
            .shared
            .readers
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| E::from(DbError::WriterGone))?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let pooled = lock(&shared.readers.idle).pop();
            let conn = match pooled {
                Some(c) => c,
                None => Self::open_reader(&shared.path).map_err(|source| {
                    E::from(DbError::Open {
                        path: shared.path.clone(),
                        source,
                    })
                })?,
            };
            let result = f(&conn);
            if let Err(e) = &result
                && let Some(failure) = e.sqlite_cause().and_then(write_failure)
            {
                shared.note_write(Some(failure));
            }
            lock(&shared.readers.idle).push(conn);
            result
        })
        .await
        .map_err(|e| E::from(DbError::Task(e)))?
    }

    /// Run `f` on the writer, inside its own savepoint of a group-committed transaction, and
    /// answer once that transaction is durably committed. `f` must not begin or end a
    /// transaction itself. An error from `f` rolls back `f`'s changes only.
    pub(crate) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + SqliteCause + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let slot = self
            .shared
            .write_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| E::from(DbError::WriterGone))?;
        let (answer_tx, answer_rx) = oneshot::channel::<Result<T, E>>();
        let job = Box::new(move |conn: Result<&Connection, &rusqlite::Error>| {
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    let _ = answer_tx.send(Err(E::from(DbError::Commit(copy_error(e)))));
                    return None;
                }
            };
            let result = f(conn);
            let failure = match &result {
                Ok(_) => None,
                Err(e) => e.sqlite_cause().and_then(write_failure),
            };
            Some(Ran {
                ok: result.is_ok(),
                failure,
                answer: Box::new(move |commit: Result<(), &rusqlite::Error>| {
                    let out = match (result, commit) {
                        (Err(e), _) => Err(e),
                        (Ok(v), Ok(())) => Ok(v),
                        (Ok(_), Err(c)) => Err(E::from(DbError::Commit(copy_error(c)))),
                    };
                    // The caller may have gone away (its request cancelled): nothing to do.
                    let _ = answer_tx.send(out);
                }),
            })
        });
        lock(&self.shared.writer)
            .send(Request { job, _slot: slot })
            .map_err(|_| E::from(DbError::WriterGone))?;
        answer_rx.await.map_err(|_| E::from(DbError::WriterGone))?
    }

    /// The newest write's outcome (None before the first write).
    pub fn last_write(&self) -> Option<WriteOutcome> {
        lock(&self.shared.last_write).clone()
    }

    /// One small real write (a single row rewritten), for the health check.
    pub async fn probe_write(&self) -> Result<(), DbError> {
        self.write(|conn| {
            conn.prepare_cached(
                "INSERT INTO health_probe (id, at) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at",
            )?
            .execute([crate::time::now_ms()])?;
            Ok::<_, DbError>(())
        })
        .await
    }
}

impl Shared {
    fn note_write(&self, failure: Option<&'static str>) {
        *lock(&self.last_write) = Some(WriteOutcome {
            at: std::time::Instant::now(),
            failure: failure.map(str::to_string),
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A copy of a SQLite error for each caller of a failed batch (the error type is not `Clone`);
/// it keeps the result code, so a full disk still reads as a full disk.
fn copy_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            rusqlite::Error::SqliteFailure(*code, msg.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// The error given to requests whose changes were lost because SQLite rolled the whole
/// transaction back after a neighbour's failure (full disk, I/O error).
fn rolled_back() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
        Some("the transaction was rolled back".into()),
    )
}

/// The checkpointer: woken after writes, copies what it can of the WAL into the database
/// file, at most once per [`CHECKPOINT_EVERY`]. PASSIVE never blocks the writer or readers;
/// what a reader still needs is copied next time. Ends with the writer.
fn checkpoint_loop(conn: Connection, woken: mpsc::Receiver<()>) {
    // After a partial checkpoint (a reader still needed part of the WAL), try again after
    // CHECKPOINT_EVERY even if no write wakes us, so a quiet system ends with a small WAL.
    let mut again = false;
    loop {
        let woke = if again {
            match woken.recv_timeout(CHECKPOINT_EVERY) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => true,
                Err(mpsc::RecvTimeoutError::Disconnected) => false,
            }
        } else {
            woken.recv().is_ok()
        };
        if !woke {
            break;
        }
        while woken.try_recv().is_ok() {}
        // (busy, WAL frames, frames copied): partial unless every frame was copied.
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        }) {
            Ok((busy, log, copied)) => again = busy != 0 || copied < log,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed");
                again = false;
            }
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
}

/// The writer thread: batches of waiting requests, one transaction each. Ends when every
/// `Db` is gone.
fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<Request>,
    shared: std::sync::Weak<Shared>,
    checkpoint: mpsc::Sender<()>,
) {
    loop {
        let Ok(first) = rx.recv() else { break };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let outcome = run_batch(&conn, batch);
        if outcome.changed {
            let _ = checkpoint.send(());
        }
        if let Some(shared) = shared.upgrade()
            && (outcome.failure.is_some() || outcome.changed)
        {
            shared.note_write(outcome.failure);
        }
        outcome.answer_all();
    }
}

/// A batch's result: the callers to answer and what the health check should know.
struct BatchOutcome {
    answers: Vec<(Ran, Option<rusqlite::Error>)>,
    changed: bool,
    failure: Option<&'static str>,
}

impl BatchOutcome {
    fn answer_all(self) {
        for (ran, err) in self.answers {
            match err {
                None => (ran.answer)(Ok(())),
                Some(e) => (ran.answer)(Err(&e)),
            }
        }
    }
}

/// Run a batch of requests in as few transactions as possible (one unless SQLite rolled a
/// transaction back under us) and commit. Nobody is answered here: the caller answers after
/// noting the outcome.
fn run_batch(conn: &Connection, batch: Vec<Request>) -> BatchOutcome {
    let before = conn.total_changes();
    let mut out = BatchOutcome {
        answers: Vec::with_capacity(batch.len()),
        changed: false,
        failure: None,
    };
    let mut pending = batch.into_iter().peekable();
    while pending.peek().is_some() {
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            out.failure = Some(write_failure(&e).unwrap_or("cannot begin a transaction"));
            for req in pending.by_ref() {
                let _ = (req.job)(Err(&e));
            }
            break;
        }
        // Requests that ran in this transaction, each with its error if it is to fail.
        let mut in_tx: Vec<Ran> = Vec::new();
        let mut lost_tx = false;
        for req in pending.by_ref() {
            if let Err(e) = conn.execute_batch("SAVEPOINT request") {
                out.failure = Some(write_failure(&e).unwrap_or("cannot open a savepoint"));
                let _ = (req.job)(Err(&e));
                lost_tx = conn.is_autocommit();
                if lost_tx {
                    // Those that ran before lost their changes with the transaction.
                    let e = rolled_back();
                    out.answers
                        .extend(in_tx.drain(..).map(|r| (r, Some(copy_error(&e)))));
                    break;
                }
                continue;
            }
            let ran = std::panic::catch_unwind(AssertUnwindSafe(|| (req.job)(Ok(conn))));
            let keep = matches!(&ran, Ok(Some(r)) if r.ok);
            if let Ok(Some(r)) = &ran
                && r.failure.is_some()
            {
                out.failure = r.failure;
            }
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back (full disk, I/O error): every
                // request that ran in it lost its changes, this one too (whatever it returned).
                let e = rolled_back();
                if let Ok(Some(r)) = ran {
                    out.answers.push((r, Some(copy_error(&e))));
                }
                out.answers
                    .extend(in_tx.drain(..).map(|r| (r, Some(copy_error(&e)))));
                lost_tx = true;
                break;
            }
            let end = if keep {
                "RELEASE request"
            } else {
                "ROLLBACK TO request; RELEASE request"
            };
            if let Err(e) = conn.execute_batch(end) {
                // The savepoint cannot be ended: a failed request's changes could not be
                // undone. Commit nothing of this transaction; every request in it fails.
                tracing::error!(error = %e, "cannot end a request's savepoint; the batch is rolled back");
                out.failure = Some(write_failure(&e).unwrap_or("cannot end a savepoint"));
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                if let Ok(Some(r)) = ran {
                    in_tx.push(r);
                }
                out.answers
                    .extend(in_tx.drain(..).map(|r| (r, Some(copy_error(&e)))));
                lost_tx = true;
                break;
            }
            if let Ok(Some(r)) = ran {
                in_tx.push(r);
            }
            // A panicking request dropped its answer: its caller sees the writer gone.
        }
        if lost_tx {
            continue;
        }
        match conn.execute_batch("COMMIT") {
            Ok(()) => out.answers.extend(in_tx.into_iter().map(|r| (r, None))),
            Err(e) => {
                out.failure = Some(write_failure(&e).unwrap_or("the commit failed"));
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                out.answers
                    .extend(in_tx.into_iter().map(|r| (r, Some(copy_error(&e)))));
            }
        }
    }
    out.changed = conn.total_changes() != before && out.failure.is_none();
    out
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

#[cfg(test)]
mod tests;
