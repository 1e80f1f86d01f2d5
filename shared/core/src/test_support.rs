//! What the crate's unit tests share: `Services` over the embedded adapters in a temp dir.

use crate::fingerprint::Fingerprinter;
use crate::state::{Ports, Services};
use domain::clock::SystemClock;
use embedded::{
    Db, FileBlobStore, MasterKey, QueueSettings, SqliteInbox, SqliteQueue, SqliteRecordStore,
    SqliteSecretStore,
};
use std::sync::Arc;

/// Services over a fresh embedded store, queue, blobs and secrets in `dir`.
pub fn embedded_services(dir: &tempfile::TempDir) -> Services {
    let db = Db::open(dir.path().join("desk.db")).expect("db");
    let master = MasterKey::generate();
    let settings = QueueSettings::default();
    let ports = Ports {
        records: Arc::new(SqliteRecordStore::new(db.clone())),
        inbox: Arc::new(SqliteInbox::new(db.clone(), &settings)),
        queue: Arc::new(SqliteQueue::new(db.clone(), settings)),
        blobs: Arc::new(FileBlobStore::new(dir.path().join("blobs"))),
        secrets: Arc::new(SqliteSecretStore::new(db, &master)),
        clock: Arc::new(SystemClock),
    };
    Services::new(ports, Fingerprinter::new(master.derive("fp")))
}
