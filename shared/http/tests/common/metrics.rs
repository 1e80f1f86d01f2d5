//! A `metrics` recorder for tests: every counter kept by name and labels; gauges and
//! histograms dropped. Install it for one thread (`metrics::set_default_local_recorder`, when
//! the router is called in-process) or for the whole test binary (`global`, when the code runs
//! on the runtime's other threads; tests then tell their figures apart by a label of their own,
//! e.g. the account).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

type Labels = Vec<(String, String)>;

#[derive(Default)]
pub struct Counted(Mutex<HashMap<(String, Labels), Arc<AtomicU64>>>);

impl Counted {
    /// The one recorder of this test binary, installed the first time it is asked for.
    pub fn global() -> &'static Counted {
        static GLOBAL: OnceLock<&'static Counted> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let r: &'static Counted = Box::leak(Box::default());
            metrics::set_global_recorder(r).expect("the only recorder of this test binary");
            r
        })
    }

    /// The sum of counter `name` over every label set holding all of `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.0
            .lock()
            .expect("counters")
            .iter()
            .filter(|((n, l), _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, c)| c.load(Ordering::SeqCst))
            .sum()
    }
}

impl metrics::Recorder for Counted {
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
        let mut labels: Labels = key
            .labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect();
        labels.sort();
        let c = self
            .0
            .lock()
            .expect("counters")
            .entry((key.name().to_string(), labels))
            .or_default()
            .clone();
        metrics::Counter::from_arc(c)
    }

    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }

    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}
