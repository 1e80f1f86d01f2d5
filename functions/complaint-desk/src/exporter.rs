//! The embedded binary's metrics: the `metrics` facade's recorder is the Prometheus exporter
//! (no listener of its own: `GET /metrics` renders its handle), every name prefixed with
//! `complaint_desk_`, complaint times in buckets from a minute to a week. The queue gauges are
//! read from the embedded queue at each scrape.

use async_trait::async_trait;
use desk_core::metrics::{COMPLAINT_TIME_BUCKETS, PROMETHEUS_PREFIX, queue_gauges};
use embedded::SqliteQueue;
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::time::Duration;

/// A recorder that puts [`PROMETHEUS_PREFIX`] before every name.
struct Prefixed<R>(R);

fn prefixed(name: &str) -> String {
    format!("{PROMETHEUS_PREFIX}{name}")
}

fn key(k: &Key) -> Key {
    Key::from_parts(
        prefixed(k.name()),
        k.labels().cloned().collect::<Vec<Label>>(),
    )
}

impl<R: Recorder> Recorder for Prefixed<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0
            .describe_counter(prefixed(key.as_str()).into(), unit, description)
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0
            .describe_gauge(prefixed(key.as_str()).into(), unit, description)
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0
            .describe_histogram(prefixed(key.as_str()).into(), unit, description)
    }

    fn register_counter(&self, k: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.register_counter(&key(k), metadata)
    }

    fn register_gauge(&self, k: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(&key(k), metadata)
    }

    fn register_histogram(&self, k: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.register_histogram(&key(k), metadata)
    }
}

/// What `GET /metrics` renders.
pub struct Exporter {
    handle: PrometheusHandle,
    queue: SqliteQueue,
}

impl Exporter {
    /// Install the process's recorder (once, at start) and keep its histograms trimmed.
    pub fn install(queue: SqliteQueue) -> anyhow::Result<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), COMPLAINT_TIME_BUCKETS)?
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(Prefixed(recorder))
            .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))?;
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                upkeep.run_upkeep();
            }
        });
        Ok(Self { handle, queue })
    }
}

#[async_trait]
impl desk_http::scrape::Scrape for Exporter {
    async fn render(&self) -> String {
        let now = chrono::Utc::now();
        for queue in domain::job::queues::ALL {
            match self.queue.stats(queue).await {
                Ok((depth, oldest)) => {
                    let age = oldest.map_or(0.0, |t| {
                        ((now - t).num_milliseconds().max(0) as f64) / 1000.0
                    });
                    queue_gauges(queue, depth, age);
                }
                Err(e) => tracing::warn!(queue, error = %e, "queue gauges not read"),
            }
        }
        self.handle.render()
    }
}
