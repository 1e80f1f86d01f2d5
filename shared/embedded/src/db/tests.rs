//! The writer and the reader pool, observed through real SQLite files: group commit keeps each
//! request's failure to itself, reads run while a write transaction is open, and a crash before
//! COMMIT loses only requests nobody was told about. Nothing here measures time: the writer is
//! held busy by a request that waits for the test's signal.

use super::*;
use std::future::Future;
use std::pin::Pin;

/// A table of keys for these tests.
async fn keys_db(path: &Path) -> Db {
    let db = Db::open(path).expect("open");
    db.write(|c| {
        c.execute_batch("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)")?;
        Ok::<_, DbError>(())
    })
    .await
    .expect("create table");
    db
}

fn insert(db: &Db, key: &str) -> impl Future<Output = Result<(), DbError>> + Send + 'static {
    let (db, key) = (db.clone(), key.to_string());
    async move {
        db.write(move |c| {
            c.execute("INSERT INTO t (k) VALUES (?1)", [key])?;
            Ok::<_, DbError>(())
        })
        .await
    }
}

async fn keys(db: &Db) -> Vec<String> {
    db.read(|c| {
        let mut stmt = c.prepare("SELECT k FROM t ORDER BY k")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, DbError>(rows)
    })
    .await
    .expect("read keys")
}

/// Poll a future once: a write request is handed to the writer on its first poll (its slot is
/// free), so after this it waits in the writer's queue.
async fn submit<F: Future + Unpin>(fut: &mut F) {
    tokio::select! {
        biased;
        _ = fut => panic!("the request was answered while the writer was held"),
        _ = std::future::ready(()) => {}
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<(), DbError>> + Send>>;

/// A request that writes `key`, then holds the writer (inside its transaction) until released.
fn hold_writer(
    db: &Db,
    key: &str,
) -> (Answer, tokio::sync::oneshot::Receiver<()>, mpsc::Sender<()>) {
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (db, key) = (db.clone(), key.to_string());
    let answer = Box::pin(async move {
        db.write(move |c| {
            c.execute("INSERT INTO t (k) VALUES (?1)", [key])?;
            let _ = entered_tx.send(());
            let _ = release_rx.recv();
            Ok::<_, DbError>(())
        })
        .await
    });
    (answer, entered_rx, release_tx)
}

/// Run a future that must finish; a generous guard turns a deadlock into a failure rather
/// than a hung test run (it measures nothing).
async fn finishes<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("never finished: a deadlock, or what it waits for never happens")
}

#[tokio::test]
async fn a_failing_request_in_a_batch_does_not_undo_its_neighbours() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = keys_db(&dir.path().join("t.db")).await;
    let (gate, entered, release) = hold_writer(&db, "gate");
    let gate = tokio::spawn(gate);
    finishes(entered).await.expect("the writer ran the gate");

    // Queued while the writer is held, so the writer takes all three in one batch.
    let mut before = Box::pin(insert(&db, "before"));
    let db2 = db.clone();
    let mut failing = Box::pin(async move {
        db2.write(|c| {
            c.execute("INSERT INTO t (k) VALUES ('failing-1')", [])?;
            // A unique-key violation after a change of its own.
            c.execute("INSERT INTO t (k) VALUES ('before')", [])?;
            Ok::<_, DbError>(())
        })
        .await
    });
    let mut after = Box::pin(insert(&db, "after"));
    submit(&mut before).await;
    submit(&mut failing).await;
    submit(&mut after).await;
    release.send(()).expect("release");

    finishes(gate).await.expect("join").expect("gate committed");
    finishes(before)
        .await
        .expect("its neighbour's failure is not its own");
    let err = finishes(failing)
        .await
        .expect_err("the failing request fails");
    assert!(
        matches!(
            err.sqlite_cause().and_then(|e| e.sqlite_error_code()),
            Some(ErrorCode::ConstraintViolation)
        ),
        "its own error, not the batch's: {err:?}"
    );
    finishes(after)
        .await
        .expect("its neighbour's failure is not its own");
    assert_eq!(keys(&db).await, ["after", "before", "gate"]);
}

#[tokio::test]
async fn a_read_completes_while_a_write_transaction_is_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = keys_db(&dir.path().join("t.db")).await;
    insert(&db, "committed").await.expect("insert");
    let (gate, entered, release) = hold_writer(&db, "uncommitted");
    let gate = tokio::spawn(gate);
    finishes(entered)
        .await
        .expect("the writer is inside its transaction");

    // The writer is held with its transaction open; a read still completes and sees only
    // what was committed.
    assert_eq!(finishes(keys(&db)).await, ["committed"]);

    release.send(()).expect("release");
    finishes(gate).await.expect("join").expect("committed");
    assert_eq!(keys(&db).await, ["committed", "uncommitted"]);
}

#[tokio::test]
async fn a_commit_that_fails_fails_every_request_of_the_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = keys_db(&dir.path().join("t.db")).await;
    db.write(|c| {
        c.execute_batch(
            "CREATE TABLE parent (id TEXT PRIMARY KEY);
             CREATE TABLE child (p TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
        )?;
        Ok::<_, DbError>(())
    })
    .await
    .expect("schema");
    let (gate, entered, release) = hold_writer(&db, "gate");
    let gate = tokio::spawn(gate);
    finishes(entered).await.expect("held");
    let mut plain = Box::pin(insert(&db, "plain"));
    let db2 = db.clone();
    // A deferred foreign key is checked at COMMIT: this request succeeds on its own, and the
    // batch's commit then fails.
    let mut dangling = Box::pin(async move {
        db2.write(|c| {
            c.execute("INSERT INTO child (p) VALUES ('nobody')", [])?;
            Ok::<_, DbError>(())
        })
        .await
    });
    submit(&mut plain).await;
    submit(&mut dangling).await;
    release.send(()).expect("release");
    // The gate ran alone in the first batch.
    finishes(gate).await.expect("join").expect("gate committed");
    let plain = finishes(plain).await;
    let dangling = finishes(dangling).await;
    assert!(matches!(plain, Err(DbError::Commit(_))), "{plain:?}");
    assert!(matches!(dangling, Err(DbError::Commit(_))), "{dangling:?}");
    assert_eq!(
        keys(&db).await,
        ["gate"],
        "nothing of the failed batch is kept"
    );
    // The writer goes on.
    insert(&db, "later").await.expect("a later write");
    assert_eq!(keys(&db).await, ["gate", "later"]);
}

/// Set by the crash test for the child process it kills.
const CRASH_CHILD_DB: &str = "EMBEDDED_TEST_CRASH_CHILD_DB";

/// Not a test on its own: the body of the child process that
/// `a_crash_between_begin_and_commit_loses_only_unanswered_requests` kills. It reports each
/// answered write as `ANSWERED <key>` and `IN-TRANSACTION` once the writer holds a batch
/// with a finished but uncommitted request, then waits to be killed.
#[tokio::test]
async fn crash_child() {
    let Ok(path) = std::env::var(CRASH_CHILD_DB) else {
        return;
    };
    let db = keys_db(Path::new(&path)).await;
    insert(&db, "answered").await.expect("insert");
    println!("ANSWERED answered");

    let (gate, entered, release) = hold_writer(&db, "gate");
    let mut gate = gate;
    submit(&mut gate).await;
    entered.await.expect("held");
    // Two requests wait; the writer will take them as one batch.
    let mut unanswered = Box::pin(insert(&db, "unanswered"));
    let (inside_tx, inside_rx) = tokio::sync::oneshot::channel();
    let db2 = db.clone();
    let mut holder = Box::pin(async move {
        db2.write(move |c| {
            c.execute("INSERT INTO t (k) VALUES ('holder')", [])?;
            let _ = inside_tx.send(());
            loop {
                std::thread::park();
            }
            #[allow(unreachable_code)]
            Ok::<_, DbError>(())
        })
        .await
    });
    submit(&mut unanswered).await;
    submit(&mut holder).await;
    release.send(()).expect("release");
    gate.await.expect("gate committed");
    println!("ANSWERED gate");
    inside_rx.await.expect("the second batch is running");
    // The first request of that batch has run and its savepoint is released, but it is not
    // answered: its commit has not happened.
    submit(&mut unanswered).await;
    println!("IN-TRANSACTION");
    std::future::pending::<()>().await;
}

#[cfg(unix)]
#[test]
fn a_crash_between_begin_and_commit_loses_only_unanswered_requests() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.db");
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["db::tests::crash_child", "--exact", "--nocapture"])
        .env(CRASH_CHILD_DB, &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("stdout");
    let mut answered = Vec::new();
    let mut reached = false;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("read the child");
        if let Some(k) = line.strip_prefix("ANSWERED ") {
            answered.push(k.to_string());
        }
        if line == "IN-TRANSACTION" {
            reached = true;
            break;
        }
    }
    // SIGKILL: no destructor, no rollback, no checkpoint.
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(reached, "the child never reached its open transaction");
    assert_eq!(answered, ["answered", "gate"]);

    let conn = Connection::open(&path).expect("reopen after the crash");
    let mut stmt = conn.prepare("SELECT k FROM t ORDER BY k").expect("prepare");
    let kept: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    // Everything answered survived; the batch that was open (its first request finished,
    // never answered) is gone as a whole.
    assert_eq!(kept, ["answered", "gate"]);
}

#[tokio::test]
async fn the_wal_is_copied_into_the_database_file_while_readers_keep_reading() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.db");
    let db = keys_db(&path).await;
    let initial = std::fs::metadata(&path).expect("db file").len();
    // Readers keep reading the whole time.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                keys(&db).await;
            }
        })
    };
    // About 1 MB of rows, many commits. The writer never checkpoints (its automatic
    // checkpoint is off): only the checkpointer can move them into the database file.
    let filler = "x".repeat(1000);
    for batch in 0..20 {
        let mut answers = Vec::new();
        for i in 0..50 {
            answers.push(insert(&db, &format!("{batch:02}-{i:02}-{filler}")));
        }
        for a in answers {
            a.await.expect("insert");
        }
    }
    let grown = finishes(async {
        loop {
            let len = std::fs::metadata(&path).expect("db file").len();
            if len > initial + 500_000 {
                return len;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    reader.await.expect("reader");
    assert!(
        grown > initial,
        "the checkpointer copied the WAL into the database file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_checkpoint_is_finished_without_another_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.db");
    let db = keys_db(&path).await;
    let initial = std::fs::metadata(&path).expect("db file").len();
    // A reader holds a snapshot from before the writes: no checkpoint can copy them while it
    // lasts, so every checkpoint during the writes is partial.
    let snapshot = rusqlite::Connection::open(&path).expect("reader");
    snapshot
        .execute_batch("BEGIN; SELECT count(*) FROM t;")
        .expect("read snapshot");
    let filler = "y".repeat(1000);
    let mut answers = Vec::new();
    for i in 0..600 {
        answers.push(insert(&db, &format!("{i:04}-{filler}")));
    }
    for a in answers {
        a.await.expect("insert");
    }
    // Give the checkpointer time to run (it runs at most every 200 ms) while the snapshot
    // pins the WAL: its checkpoints are partial. Then the reader lets go and no write follows:
    // the checkpointer must come back by itself.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let still_small = std::fs::metadata(&path).expect("db file").len();
    assert!(
        still_small < initial + 500_000,
        "nothing copied while the WAL was pinned"
    );
    snapshot.execute_batch("COMMIT").expect("end snapshot");
    drop(snapshot);
    let grown = finishes(async {
        loop {
            let len = std::fs::metadata(&path).expect("db file").len();
            if len > initial + 500_000 {
                return len;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(grown > initial + 500_000);
}

/// Writes that never pause: the checkpointer alone never finishes a checkpoint (frames keep
/// arriving behind it), so the WAL must still start over: its file stays bounded however much
/// is written (it grew to 29 GB while a million complaints were written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_writes_that_never_pause() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.db");
    let db = keys_db(&path).await;
    let filler = "z".repeat(2000);
    // About 100 MB in all, from 8 writers that always have a write waiting.
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let (db, filler) = (db.clone(), filler.clone());
        writers.spawn(async move {
            for i in 0..6_000 {
                insert(&db, &format!("{w}-{i:05}-{filler}"))
                    .await
                    .expect("insert");
            }
        });
    }
    while let Some(r) = writers.join_next().await {
        r.expect("writer");
    }
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(
        wal_len < 64 * 1024 * 1024,
        "the WAL grew to {wal_len} bytes for about 100 MB written"
    );
}
