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

/// A recorder that keeps each counter's total and each histogram's values (gauges are
/// dropped), for tests that check what the metrics count. Install it on the test's thread
/// with `metrics::set_default_local_recorder` (a `#[tokio::test]` runs on one thread).
#[derive(Default)]
pub struct Counters {
    counters:
        std::sync::Mutex<std::collections::HashMap<String, Arc<std::sync::atomic::AtomicU64>>>,
    histograms: std::sync::Mutex<std::collections::HashMap<String, Arc<Values>>>,
}

/// The values one histogram recorded.
#[derive(Default)]
struct Values(std::sync::Mutex<Vec<f64>>);

impl metrics::HistogramFn for Values {
    fn record(&self, value: f64) {
        self.0.lock().expect("values").push(value);
    }
}

impl Counters {
    fn name(name: &str, labels: &[(&str, &str)]) -> String {
        let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        format!("{name}{{{}}}", labels.join(","))
    }

    /// The total of the counter `name` with exactly these labels (0 if never counted).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .lock()
            .expect("counters")
            .get(&Self::name(name, labels))
            .map_or(0, |c| c.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// The values the histogram `name` with exactly these labels recorded, in order.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.histograms
            .lock()
            .expect("histograms")
            .get(&Self::name(name, labels))
            .map_or_else(Vec::new, |h| h.0.lock().expect("values").clone())
    }
}

impl metrics::Recorder for Counters {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
        let name = Self::name(key.name(), &labels);
        let c = self
            .counters
            .lock()
            .expect("counters")
            .entry(name)
            .or_default()
            .clone();
        metrics::Counter::from_arc(c)
    }

    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }

    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
        let h = self
            .histograms
            .lock()
            .expect("histograms")
            .entry(Self::name(key.name(), &labels))
            .or_default()
            .clone();
        metrics::Histogram::from_arc(h)
    }
}
