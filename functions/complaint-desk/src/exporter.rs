//! The embedded binary's metrics: the `metrics` facade's recorder is the Prometheus exporter
//! (no listener of its own: `GET /metrics` renders its handle), every name prefixed with
//! `complaint_desk_`, complaint times in buckets from a minute to a week. The queue gauges are
//! read from the embedded queue at each scrape. [`listen_allowed`] says which addresses the
//! unauthenticated `--metrics-listen` may bind.

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

/// Whether `--metrics-listen` may bind `at`: the metrics are served there without a token, so
/// only to addresses a stranger cannot reach (loopback, private ranges, link-local) unless the
/// operator says otherwise with `--metrics-listen-public`. An unspecified address (`0.0.0.0`,
/// `::`) listens on every interface, public ones included.
pub fn listen_allowed(at: std::net::SocketAddr, public: bool) -> anyhow::Result<()> {
    if public || is_non_public(at.ip()) {
        return Ok(());
    }
    anyhow::bail!(
        "--metrics-listen {at}: this address can be public ({}), and /metrics is served there \
         without authentication. Bind a loopback, private (10.0.0.0/8, 172.16.0.0/12, \
         192.168.0.0/16, fc00::/7) or link-local address, or add --metrics-listen-public \
         (METRICS_LISTEN_PUBLIC=true) if a firewall of yours keeps strangers out",
        if at.ip().is_unspecified() {
            "every interface"
        } else {
            "not a loopback, private or link-local address"
        }
    )
}

/// Loopback, private (RFC 1918, fc00::/7) or link-local (169.254.0.0/16, fe80::/10); an
/// IPv4-mapped IPv6 address by its IPv4 address.
fn is_non_public(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_non_public(v4.into()),
            None => {
                v6.is_loopback()
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        },
    }
}

#[cfg(test)]
mod listen_tests {
    use super::listen_allowed;
    use std::net::SocketAddr;

    /// `--metrics-listen ADDR` (and `--metrics-listen-public` when `args` has it), as main
    /// reads them.
    fn allowed(args: &[&str]) -> Result<(), String> {
        let at: SocketAddr = args[1].parse().expect("an address");
        listen_allowed(at, args.contains(&"--metrics-listen-public")).map_err(|e| e.to_string())
    }

    #[test]
    fn metrics_listen_takes_loopback_private_and_link_local_addresses() {
        for at in [
            "127.0.0.1:9100",
            "10.0.0.5:9100",
            "172.16.0.1:9100",
            "172.31.255.254:9100",
            "192.168.1.2:9100",
            "169.254.10.1:9100",
            "[::1]:9100",
            "[fd12:3456::1]:9100",
            "[fc00::1]:9100",
            "[fe80::1]:9100",
            "[::ffff:10.1.2.3]:9100",
        ] {
            assert_eq!(allowed(&["--metrics-listen", at]), Ok(()), "{at}");
        }
    }

    #[test]
    fn metrics_listen_refuses_unspecified_and_public_addresses_without_the_second_flag() {
        for at in [
            "0.0.0.0:9100",
            "[::]:9100",
            "203.0.113.7:9100",
            "172.32.0.1:9100",
            "[2001:db8::1]:9100",
            "[::ffff:8.8.8.8]:9100",
        ] {
            let error = allowed(&["--metrics-listen", at]).expect_err(at);
            assert!(
                error.contains("--metrics-listen ") && error.contains("--metrics-listen-public"),
                "{at}: the error names both flags: {error}"
            );
            assert_eq!(
                allowed(&["--metrics-listen", at, "--metrics-listen-public"]),
                Ok(()),
                "{at} with --metrics-listen-public"
            );
        }
        let error = allowed(&["--metrics-listen", "0.0.0.0:9100"]).expect_err("refused");
        assert!(error.contains("every interface"), "{error}");
    }
}
