//! Behaviour specific to the embedded adapters: encryption at rest, the master key file,
//! durability across reopening.

use domain::ports::{Item, Queue, RecordStore, SecretError, SecretStore};
use embedded::{
    Db, MasterKey, MasterKeyError, Purged, QueueSettings, SqliteQueue, SqliteRecordStore,
    SqliteSecretStore,
};
use secrecy::SecretString;
use std::time::Duration;

const PLAIN: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC-plaintext-marker";

#[tokio::test]
async fn secrets_are_not_stored_in_plain_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("desk.db");
    let key = MasterKey::load_or_create(&dir.path().join("master.key")).expect("key");
    let store = SqliteSecretStore::new(Db::open(&path).expect("db"), &key);
    store
        .put(
            "accounts/a/credentials",
            SecretString::from(PLAIN.to_string()),
        )
        .await
        .expect("put");
    drop(store);
    let mut raw = std::fs::read(&path).expect("read db");
    if let Ok(wal) = std::fs::read(dir.path().join("desk.db-wal")) {
        raw.extend(wal);
    }
    let needle = b"plaintext-marker";
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "secret found in the database file"
    );
}

#[tokio::test]
async fn another_master_key_cannot_read_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path().join("desk.db")).expect("db");
    let right = SqliteSecretStore::new(db.clone(), &MasterKey::generate());
    right
        .put("n", SecretString::from("value".to_string()))
        .await
        .expect("put");
    let wrong = SqliteSecretStore::new(db, &MasterKey::generate());
    let err = wrong.get("n").await.expect_err("wrong key");
    assert!(matches!(err, SecretError::Undecryptable(_)), "{err:?}");
    assert!(!format!("{err}").contains("value"));
}

#[tokio::test]
async fn master_key_file_is_created_private_and_reloaded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keys").join("master.key");
    let first = MasterKey::load_or_create(&path).expect("create");
    let second = MasterKey::load_or_create(&path).expect("reload");
    assert_eq!(first.derive("x"), second.derive("x"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::write(&path, "not a key").expect("write");
    let err = MasterKey::load_or_create(&path).expect_err("malformed");
    assert!(matches!(err, MasterKeyError::Malformed { .. }), "{err:?}");
}

#[tokio::test]
async fn records_and_queue_survive_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("desk.db");
    {
        let db = Db::open(&path).expect("db");
        SqliteRecordStore::new(db.clone())
            .create(Item::new("p", "s", serde_json::json!({"kept": true})))
            .await
            .expect("create");
        SqliteQueue::new(db, QueueSettings::default())
            .send("events", "queued", Duration::ZERO)
            .await
            .expect("send");
    }
    let db = Db::open(&path).expect("reopen");
    let got = SqliteRecordStore::new(db.clone())
        .get("p", "s")
        .await
        .expect("get")
        .expect("present after reopen");
    assert_eq!(got.data["kept"], true);
    let msgs = SqliteQueue::new(db, QueueSettings::default())
        .receive(
            "events",
            10,
            Duration::from_secs(30),
            Duration::from_secs(2),
        )
        .await
        .expect("receive");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].body, "queued");
}

#[tokio::test]
async fn two_connections_share_one_queue() {
    // The binary and an operator's tool (or a second process) may open the same file.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("desk.db");
    let a = SqliteQueue::new(Db::open(&path).expect("db"), QueueSettings::default());
    let b = SqliteQueue::new(Db::open(&path).expect("db"), QueueSettings::default());
    a.send("events", "from a", Duration::ZERO)
        .await
        .expect("send");
    let got = b
        .receive(
            "events",
            10,
            Duration::from_secs(30),
            Duration::from_secs(3),
        )
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "from a");
    let again = a
        .receive(
            "events",
            10,
            Duration::from_secs(30),
            Duration::from_millis(300),
        )
        .await
        .expect("receive");
    assert!(again.is_empty());
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// With the usual umask (022) of whoever embeds the adapters, the database and the `-wal` and
/// `-shm` files SQLite creates are still the owner's only.
#[cfg(unix)]
#[tokio::test]
async fn database_files_are_the_owners_only_from_creation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("desk.db");
    let db = Db::open(&path).expect("db");
    let store = SqliteRecordStore::new(db.clone());
    store
        .create(Item::new("A#1", "META", serde_json::json!({"x": 1})))
        .await
        .expect("write");
    for f in ["desk.db", "desk.db-wal", "desk.db-shm"] {
        let p = dir.path().join(f);
        assert!(p.exists(), "{f} missing");
        assert_eq!(mode(&p), 0o600, "{f}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_left_wider_by_an_older_version_are_narrowed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("desk.db");
    {
        let db = Db::open(&path).expect("db");
        SqliteRecordStore::new(db.clone())
            .create(Item::new("A#1", "META", serde_json::json!({"x": 1})))
            .await
            .expect("write");
        for f in ["desk.db", "desk.db-wal", "desk.db-shm"] {
            std::fs::set_permissions(dir.path().join(f), std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
        }
        // Another connection keeps -wal and -shm in place while the database is reopened.
        let _again = Db::open(&path).expect("reopen");
        for f in ["desk.db", "desk.db-wal", "desk.db-shm"] {
            assert_eq!(mode(&dir.path().join(f)), 0o600, "{f}");
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn blobs_and_their_folders_are_the_owners_only() {
    use domain::ports::{Blob, BlobStore};
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("blobs");
    let blobs = embedded::FileBlobStore::new(&root);
    blobs
        .put(
            "media/med_1",
            Blob {
                bytes: b"\x89PNG".to_vec(),
                content_type: "image/png".into(),
            },
        )
        .await
        .expect("put");
    for d in ["", "data", "data/media", "meta", "meta/media"] {
        assert_eq!(mode(&root.join(d)), 0o700, "{d}");
    }
    for f in ["data/media/med_1", "meta/media/med_1"] {
        assert_eq!(mode(&root.join(f)), 0o600, "{f}");
    }
}

#[tokio::test]
async fn the_writer_outcome_follows_real_writes_and_probes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path().join("desk.db")).expect("db");
    let store = SqliteRecordStore::new(db.clone());
    assert_eq!(store.last_write(), None, "no write yet");
    store
        .query(&domain::ports::Query::partition(
            domain::ports::Index::Primary,
            "A#1",
        ))
        .await
        .expect("read");
    assert_eq!(store.last_write(), None, "a read is not a write");
    store
        .create(Item::new("A#1", "META", serde_json::json!({"x": 1})))
        .await
        .expect("write");
    let first = store.last_write().expect("recorded");
    assert_eq!(first.failure, None);
    store.probe_write().await.expect("probe");
    let second = store.last_write().expect("recorded");
    assert!(second.at > first.at);
    assert_eq!(second.failure, None);
}

/// Rows in the `records` table, expired or not (what the file holds, not what reads see).
fn rows(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .expect("open")
        .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
        .expect("count")
}

#[tokio::test]
async fn expired_items_read_as_absent_and_the_purge_deletes_them_in_batches() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("desk.db");
    let store = SqliteRecordStore::new(Db::open(&path).expect("db"));
    let now = chrono::Utc::now().timestamp();
    for n in 0..5 {
        store
            .put(Item::new(format!("OLD#{n}"), "META", serde_json::json!({})).expiring_at(now - 10))
            .await
            .expect("expired item");
    }
    store
        .put(Item::new("DUE#now", "META", serde_json::json!({})).expiring_at(now))
        .await
        .expect("item expiring now");
    store
        .put(Item::new("LIVE#1", "META", serde_json::json!({})).expiring_at(now + 3600))
        .await
        .expect("live item");
    store
        .put(Item::new("KEEP#1", "META", serde_json::json!({})))
        .await
        .expect("item without expiry");
    // Reads already treat what expired as absent; the rows are still in the file.
    assert!(store.get("OLD#0", "META").await.expect("get").is_none());
    assert!(store.get("DUE#now", "META").await.expect("get").is_none());
    assert_eq!(rows(&path), 8);

    assert_eq!(store.purge_expired_batch(now, 2).await.expect("batch"), 2);
    assert_eq!(rows(&path), 6, "one batch deletes at most its size");
    let stopped = store.purge_expired(now, 2, 5, || true).await.expect("stop");
    assert_eq!(stopped.removed, 0, "asked to stop: no batch");
    let capped = store.purge_expired(now, 2, 1, || false).await.expect("cap");
    assert_eq!(
        capped,
        Purged {
            removed: 2,
            more: true
        },
        "one batch per purge at most"
    );
    let rest = store
        .purge_expired(now, 2, 5, || false)
        .await
        .expect("rest");
    assert_eq!(rest.removed, 2);
    assert!(!rest.more);
    assert_eq!(
        rows(&path),
        2,
        "only the live item and the one without expiry stay"
    );
    assert!(store.get("LIVE#1", "META").await.expect("get").is_some());
    assert!(store.get("KEEP#1", "META").await.expect("get").is_some());
    let again = store
        .purge_expired(now, 2, 5, || false)
        .await
        .expect("again");
    assert_eq!(again, Purged::default());
}
