//! The port contract suites against the embedded adapters.

use domain::ports::{BlobStore, Queue, RecordStore, SecretStore};
use embedded::{
    Db, FileBlobStore, MasterKey, QueueSettings, SqliteQueue, SqliteRecordStore, SqliteSecretStore,
};
use std::sync::Arc;
use std::time::Duration;

fn fresh_db() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path().join("desk.db")).expect("open db");
    (db, dir)
}

async fn records() -> contract::Fixture<dyn RecordStore> {
    let (db, dir) = fresh_db();
    contract::Fixture::new(Arc::new(SqliteRecordStore::new(db)), dir)
}

async fn queue() -> contract::Fixture<dyn Queue> {
    let (db, dir) = fresh_db();
    let settings = QueueSettings {
        max_receives: contract::queue::MAX_RECEIVES,
        poll_interval: Duration::from_millis(100),
        ..QueueSettings::default()
    };
    contract::Fixture::new(Arc::new(SqliteQueue::new(db, settings)), dir)
}

async fn secrets() -> contract::Fixture<dyn SecretStore> {
    let (db, dir) = fresh_db();
    contract::Fixture::new(
        Arc::new(SqliteSecretStore::new(db, &MasterKey::generate())),
        dir,
    )
}

async fn blobs() -> contract::Fixture<dyn BlobStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    contract::Fixture::new(Arc::new(FileBlobStore::new(dir.path().join("blobs"))), dir)
}

contract::record_store_suite!(records);
contract::queue_suite!(queue);
contract::secret_store_suite!(secrets);
contract::blob_store_suite!(blobs);

async fn inbox() -> contract::Fixture<contract::inbox::InboxUnderTest> {
    let (db, dir) = fresh_db();
    let settings = QueueSettings {
        poll_interval: Duration::from_millis(100),
        ..QueueSettings::default()
    };
    let under_test = contract::inbox::InboxUnderTest {
        inbox: Arc::new(embedded::SqliteInbox::new(db.clone(), &settings)),
        queue: Arc::new(SqliteQueue::new(db, settings)),
    };
    contract::Fixture::new(Arc::new(under_test), dir)
}

contract::inbox_suite!(inbox);
