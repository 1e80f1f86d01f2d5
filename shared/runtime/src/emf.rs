//! Metrics of the Lambda functions as CloudWatch's Embedded Metric Format (EMF): a recorder for
//! the `metrics` facade that keeps what was recorded since the last flush, and writes it to
//! standard output as EMF documents (one JSON object per line) when an invocation ends, so
//! CloudWatch Logs extracts the metrics from the function's own log: no API call, nothing left
//! for a later invocation. Logs (tracing) go to standard error.
//!
//! A counter reads as its increase since the last flush (none: left out), a gauge as its last
//! value when it was set since the last flush, a histogram as its observations since the last
//! flush (an array of values). Each label set gives its own documents with two dimension sets:
//! its labels less [`DETAIL_LABELS`] (what alarms and the dashboard use) and all its labels. The
//! unit is the one a `describe_*!` gave, else `Seconds` for names ending in `_seconds`, else
//! `Count`. The recorder knows no metric name: whatever the code records is written.
//!
//! No crate did this: `metrics_cloudwatch_embedded` (metrics 0.24) writes one dimension set per
//! document and links lambda_runtime 1, a second runtime beside ours.

mod document;

pub use document::{MAX_DIMENSIONS, MAX_METRICS, MAX_VALUES};

use document::{Entry, Frame, Group, Reading};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "ComplaintDesk";
/// Labels kept out of the first dimension set: many values each (one per account, one per
/// platform API), so alarms and the dashboard use the set without them.
pub const DETAIL_LABELS: &[&str] = &["account", "operation"];
/// The Prometheus prefix, left off a name that carries it (EMF has the namespace instead).
pub const PROMETHEUS_PREFIX: &str = "complaint_desk_";

/// The recorder and its flush. Clones share everything.
#[derive(Clone)]
pub struct Emf {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: String,
    series: Mutex<HashMap<Key, Series>>,
    units: Mutex<HashMap<String, Unit>>,
    sink: Mutex<Box<dyn Write + Send>>,
}

enum Series {
    Counter {
        total: Arc<AtomicU64>,
        reported: u64,
    },
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

#[derive(Default)]
struct GaugeCell {
    bits: AtomicU64,
    fresh: AtomicBool,
}

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        // The closure always returns Some: the update cannot fail.
        let _ = self
            .bits
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some(f(f64::from_bits(b)).to_bits())
            });
        self.fresh.store(true, Ordering::Release);
    }
}

impl metrics::GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }
    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }
    fn set(&self, value: f64) {
        self.update(|_| value);
    }
}

#[derive(Default)]
struct HistogramCell(Mutex<Vec<f64>>);

impl metrics::HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(value);
    }
}

impl Emf {
    /// A recorder writing to standard output.
    pub fn stdout() -> Self {
        Self::to_writer(std::io::stdout())
    }

    /// A recorder writing to `sink` (tests: a buffer).
    pub fn to_writer(sink: impl Write + Send + 'static) -> Self {
        Self {
            inner: Arc::new(Inner {
                namespace: NAMESPACE.into(),
                series: Mutex::new(HashMap::new()),
                units: Mutex::new(HashMap::new()),
                sink: Mutex::new(Box::new(sink)),
            }),
        }
    }

    /// The documents of what was recorded since the last call (or flush), stamped
    /// `timestamp_ms`; what they hold is then counted as reported.
    pub fn take_documents(&self, timestamp_ms: u64) -> Vec<serde_json::Value> {
        let frame = Frame {
            namespace: &self.inner.namespace,
            detail_labels: DETAIL_LABELS,
            timestamp_ms,
        };
        self.take_groups()
            .iter()
            .flat_map(|g| document::documents(frame, g))
            .collect()
    }

    /// Write what was recorded since the last flush, one document per line. A write that fails
    /// is logged; the metrics it held are lost (a metric must never fail an invocation).
    pub fn flush(&self) {
        let docs = self.take_documents(now_ms());
        if docs.is_empty() {
            return;
        }
        let mut sink = self
            .inner
            .sink
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for doc in docs {
            let mut line = doc.to_string().into_bytes();
            line.push(b'\n');
            if let Err(error) = sink.write_all(&line).and_then(|()| sink.flush()) {
                tracing::warn!(%error, "EMF: could not write the metrics");
                return;
            }
        }
    }

    /// Run `invocation` and flush what it recorded when it ends: when it completes, and also
    /// when it panics or is dropped unfinished (a guard flushes), so an invocation's metrics
    /// never leak into the next one.
    pub async fn around<F: Future>(&self, invocation: F) -> F::Output {
        let _flush = FlushOnDrop(self);
        invocation.await
    }

    #[allow(clippy::mutable_key_type)] // metrics::Key caches its hash; it is never changed here
    fn take_groups(&self) -> Vec<Group> {
        let units = self
            .inner
            .units
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut series = self
            .inner
            .series
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut groups: BTreeMap<Vec<(String, String)>, Vec<Entry>> = BTreeMap::new();
        for (key, s) in series.iter_mut() {
            let reading = match s {
                Series::Counter { total, reported } => {
                    let now = total.load(Ordering::Acquire);
                    let delta = now.saturating_sub(*reported);
                    *reported = now;
                    (delta > 0).then_some(Reading::One(delta as f64))
                }
                Series::Gauge(g) => g
                    .fresh
                    .swap(false, Ordering::AcqRel)
                    .then(|| Reading::One(f64::from_bits(g.bits.load(Ordering::Acquire)))),
                Series::Histogram(h) => {
                    let values =
                        std::mem::take(&mut *h.0.lock().unwrap_or_else(PoisonError::into_inner));
                    (!values.is_empty()).then_some(Reading::Many(values))
                }
            };
            let Some(reading) = reading else { continue };
            let labels = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            groups.entry(labels).or_default().push(Entry {
                name: emf_name(key.name()).to_string(),
                unit: unit(key.name(), units.get(key.name())),
                reading,
            });
        }
        groups
            .into_iter()
            .map(|(labels, mut entries)| {
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                Group { labels, entries }
            })
            .collect()
    }

    #[allow(clippy::mutable_key_type)]
    fn register<T>(
        &self,
        key: &Key,
        make: impl FnOnce() -> Series,
        get: impl Fn(&Series) -> Option<T>,
        noop: impl FnOnce() -> T,
    ) -> T {
        let mut series = self
            .inner
            .series
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let s = series.entry(key.clone()).or_insert_with(make);
        match get(s) {
            Some(handle) => handle,
            None => {
                tracing::warn!(
                    metric = key.name(),
                    "EMF: a metric recorded as two kinds; the second is ignored"
                );
                noop()
            }
        }
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>) {
        if let Some(unit) = unit {
            self.inner
                .units
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.as_str().to_string(), unit);
        }
    }
}

impl metrics::Recorder for Emf {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.register(
            key,
            || Series::Counter {
                total: Arc::default(),
                reported: 0,
            },
            |s| match s {
                Series::Counter { total, .. } => Some(Counter::from_arc(total.clone())),
                _ => None,
            },
            Counter::noop,
        )
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.register(
            key,
            || Series::Gauge(Arc::default()),
            |s| match s {
                Series::Gauge(g) => Some(Gauge::from_arc(g.clone())),
                _ => None,
            },
            Gauge::noop,
        )
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.register(
            key,
            || Series::Histogram(Arc::default()),
            |s| match s {
                Series::Histogram(h) => Some(Histogram::from_arc(h.clone())),
                _ => None,
            },
            Histogram::noop,
        )
    }
}

/// Flushes its recorder when dropped: at the end of [`Emf::around`], however it ends.
struct FlushOnDrop<'a>(&'a Emf);

impl Drop for FlushOnDrop<'_> {
    fn drop(&mut self) {
        self.0.flush();
    }
}

/// A name as EMF writes it: without the Prometheus prefix.
fn emf_name(name: &str) -> &str {
    name.strip_prefix(PROMETHEUS_PREFIX).unwrap_or(name)
}

/// The EMF unit: the described one where CloudWatch has it, else by the name's suffix.
fn unit(name: &str, described: Option<&Unit>) -> &'static str {
    let by_name = if name.ends_with("_seconds") {
        "Seconds"
    } else {
        "Count"
    };
    match described {
        None => by_name,
        Some(Unit::Count) => "Count",
        Some(Unit::Percent) => "Percent",
        Some(Unit::Seconds) => "Seconds",
        Some(Unit::Milliseconds) => "Milliseconds",
        Some(Unit::Microseconds) => "Microseconds",
        Some(Unit::Bytes) => "Bytes",
        Some(Unit::CountPerSecond) => "Count/Second",
        Some(Unit::BitsPerSecond) => "Bits/Second",
        Some(Unit::KilobitsPerSecond) => "Kilobits/Second",
        Some(Unit::MegabitsPerSecond) => "Megabits/Second",
        Some(Unit::GigabitsPerSecond) => "Gigabits/Second",
        Some(Unit::TerabitsPerSecond) => "Terabits/Second",
        // Nanoseconds and the binary byte multiples have no CloudWatch unit.
        Some(_) => "None",
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

static GLOBAL: OnceLock<Emf> = OnceLock::new();

/// The process's recorder: installed as the `metrics` global recorder on first call, writing
/// to standard output. If another recorder was installed first, this one is not the global
/// recorder (its flushes then write nothing) and that is logged.
pub fn global() -> &'static Emf {
    GLOBAL.get_or_init(|| {
        let emf = Emf::stdout();
        if metrics::set_global_recorder(emf.clone()).is_err() {
            tracing::warn!("EMF: another metrics recorder is installed; no EMF metrics");
        }
        emf
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_read_as_their_increase_since_the_last_flush() {
        let emf = Emf::to_writer(std::io::sink());
        metrics::with_local_recorder(&emf, || {
            metrics::counter!("complaint_desk_callbacks_total", "platform" => "alipay", "outcome" => "accepted").increment(2);
            metrics::counter!("complaint_desk_callbacks_total", "platform" => "alipay", "outcome" => "accepted").increment(1);
            metrics::gauge!("queue_depth", "queue" => "events").set(4.0);
        });
        let docs = emf.take_documents(1);
        assert_eq!(docs.len(), 2, "{docs:?}");
        let callbacks = docs
            .iter()
            .find(|d| d.get("callbacks_total").is_some())
            .expect("the counter, its prefix left off");
        assert_eq!(callbacks["callbacks_total"], serde_json::json!(3));
        // Nothing new: nothing written; one more: that one.
        assert!(emf.take_documents(2).is_empty());
        metrics::with_local_recorder(&emf, || {
            metrics::counter!("callbacks_total", "platform" => "alipay", "outcome" => "accepted")
                .increment(1);
        });
        let docs = emf.take_documents(3);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["callbacks_total"], serde_json::json!(1));
    }

    #[test]
    fn units_come_from_the_description_or_the_name() {
        assert_eq!(unit("first_response_seconds", None), "Seconds");
        assert_eq!(unit("automatic_refund_fen_total", None), "Count");
        assert_eq!(unit("x", Some(&Unit::Milliseconds)), "Milliseconds");
        assert_eq!(unit("x", Some(&Unit::Nanoseconds)), "None");
    }
}
