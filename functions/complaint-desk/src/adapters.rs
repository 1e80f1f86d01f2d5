//! The embedded adapters over one data directory, and the worker of one queue over them: what
//! the server and the demo both run.

use desk_core::Ports;
use desk_core::worker::{CancellationToken, JobRegistry, RetryPolicy, WorkerSettings};
use domain::clock::SystemClock;
use embedded::{
    Db, FileBlobStore, MasterKey, QueueSettings, SqliteQueue, SqliteRecordStore, SqliteSecretStore,
};
use std::sync::Arc;

/// The embedded adapters over one data directory.
pub struct Embedded {
    pub ports: Ports,
    pub master: MasterKey,
    pub retry: RetryPolicy,
    /// The queue itself (its depth and oldest job for the metrics).
    pub queue: SqliteQueue,
    /// The record store itself (the purge of expired items).
    pub records: SqliteRecordStore,
}

/// Open (creating what is missing) the database, the blobs folder and the master key.
pub fn open(data_dir: &std::path::Path, key_path: &std::path::Path) -> anyhow::Result<Embedded> {
    let master = MasterKey::load_or_create(key_path)?;
    let db = Db::open(data_dir.join("complaint-desk.db"))?;
    let queue_settings = QueueSettings::default();
    let retry = RetryPolicy {
        max_attempts: queue_settings.max_receives.saturating_sub(1).max(1),
        ..Default::default()
    };
    let queue = SqliteQueue::new(db.clone(), queue_settings.clone());
    let records = SqliteRecordStore::new(db.clone());
    let ports = Ports {
        records: Arc::new(records.clone()),
        inbox: Arc::new(embedded::SqliteInbox::new(db.clone(), &queue_settings)),
        queue: Arc::new(queue.clone()),
        blobs: Arc::new(FileBlobStore::new(data_dir.join("blobs"))),
        secrets: Arc::new(SqliteSecretStore::new(db.clone(), &master)),
        clock: Arc::new(SystemClock),
    };
    Ok(Embedded {
        ports,
        master,
        retry,
        queue,
        records,
    })
}

/// How often expired items (idempotency records, leases, sessions, marks, counters...) are
/// deleted from the database file; the first purge runs at start.
pub const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Expired items deleted per write.
const PURGE_BATCH: u32 = 500;

/// Writes per purge at most (10 000 items), so the single writer is never held by one purge
/// for long.
const PURGE_BATCHES: u32 = 20;

/// How soon the next purge runs when one stopped at [`PURGE_BATCHES`] with more to delete: a
/// backlog (the first start after an upgrade, or more than 10 000 items expiring an hour) is
/// worked off at up to 10 000 items a minute instead of waiting for the hourly purge.
pub const PURGE_AGAIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Delete the items that expired, at start and then every [`PURGE_EVERY`] (or after
/// [`PURGE_AGAIN`] while a backlog remains), until `shutdown` (checked between writes): reads
/// already ignore them, but without this their rows would stay in the file for ever.
pub async fn purge_expired(records: SqliteRecordStore, shutdown: CancellationToken) {
    let mut wait = std::time::Duration::ZERO;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {
                let now = chrono::Utc::now().timestamp();
                let stop = || shutdown.is_cancelled();
                wait = PURGE_EVERY;
                match records.purge_expired(now, PURGE_BATCH, PURGE_BATCHES, stop).await {
                    Ok(p) if p.removed > 0 => {
                        tracing::info!(removed = p.removed, more = p.more, "expired records purged");
                        if p.more {
                            wait = PURGE_AGAIN;
                        }
                    }
                    Ok(_) => tracing::debug!("no expired records to purge"),
                    Err(e) => tracing::warn!(error = %e, "expired records not purged; the next purge tries again"),
                }
            }
        }
    }
}

/// The worker of one queue (events: platform events; notify: staff notifications).
pub fn queue_worker(
    ports: &Ports,
    queue: &str,
    registry: Arc<JobRegistry>,
    concurrency: usize,
    visibility: std::time::Duration,
    retry: RetryPolicy,
    shutdown: CancellationToken,
) -> impl std::future::Future<Output = ()> + use<> {
    let settings = WorkerSettings {
        concurrency,
        retry,
        visibility,
        ..WorkerSettings::for_queue(queue)
    };
    desk_core::worker::run(ports.queue.clone(), registry, settings, shutdown)
}
