//! The health check behind `GET /healthz` (the router serves it with the state's [`Health`]):
//! constant work however often it is called. The store's writer is judged by the newest real
//! write; when there was none in the last few seconds, by one probe write, at most one every
//! [`PROBE_INTERVAL`] however many checks arrive. Reads (records, queue) are checked with the
//! probe, not on every call.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use desk_core::Ports;
use domain::ports::WriteOutcome;
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A write outcome younger than this is reported as is; older, one probe write is made.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// A probe that takes longer than this counts as a failed write.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What the last check found.
#[derive(Debug, Clone)]
struct Checked {
    at: Instant,
    /// The records store answered a read.
    records: bool,
    /// The queue answered.
    queue: bool,
    /// The probe write, if one was made (None: a real write was recent enough).
    probe: Option<WriteOutcome>,
}

/// The health check's memory: the last check and a gate so that one check runs at a time.
#[derive(Debug, Default)]
pub struct Health {
    last: Mutex<Option<Checked>>,
    gate: tokio::sync::Mutex<()>,
}

impl Health {
    fn cached(&self) -> Option<Checked> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The last check when it is fresh; otherwise run one (one at a time: callers arriving
    /// while one runs get the previous result when there is one).
    async fn current(&self, ports: &Ports) -> Checked {
        if let Some(c) = self.cached().filter(|c| c.at.elapsed() < PROBE_INTERVAL) {
            return c;
        }
        let _gate = match self.gate.try_lock() {
            Ok(g) => g,
            Err(_) => match self.cached() {
                Some(c) => return c,
                // The very first check is running: wait for it.
                None => self.gate.lock().await,
            },
        };
        // Another caller may have finished a check while this one waited.
        if let Some(c) = self.cached().filter(|c| c.at.elapsed() < PROBE_INTERVAL) {
            return c;
        }
        let checked = check(ports).await;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(checked.clone());
        checked
    }
}

async fn check(ports: &Ports) -> Checked {
    let records = ports.records.ping().await;
    if let Err(e) = &records {
        tracing::error!(error = %desk_core::error::chain(e), "health: records unavailable");
    }
    let queue = ports.queue.ping().await;
    if let Err(e) = &queue {
        tracing::error!(error = %desk_core::error::chain(e), "health: queue unavailable");
    }
    let recent_write = ports
        .records
        .last_write()
        .is_some_and(|w| w.at.elapsed() < PROBE_INTERVAL);
    let probe = if recent_write {
        None
    } else {
        let started = Instant::now();
        let failure = match tokio::time::timeout(PROBE_TIMEOUT, ports.records.probe_write()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                tracing::error!(error = %desk_core::error::chain(&e), "health: the probe write failed");
                Some("the store refused a write".to_string())
            }
            Err(_) => {
                tracing::error!("health: the probe write did not finish in time");
                Some(format!(
                    "a write did not finish within {} s",
                    PROBE_TIMEOUT.as_secs()
                ))
            }
        };
        // The adapter's own record of the probe says more precisely what failed.
        Some(match ports.records.last_write() {
            Some(w) if w.at >= started && w.failure.is_some() == failure.is_some() => w,
            _ => WriteOutcome {
                at: Instant::now(),
                failure,
            },
        })
    };
    Checked {
        at: Instant::now(),
        records: records.is_ok(),
        queue: queue.is_ok(),
        probe,
    }
}

impl Health {
    /// The answer of `GET /healthz` about `ports`: 200 when the store can read and write and
    /// the queue answers; 503 naming what failed otherwise (`{"status": "unavailable",
    /// "failing": ["writer"], "writer": {...}}`).
    pub async fn answer(&self, ports: &Ports) -> Response {
        let checked = self.current(ports).await;
        render(checked, ports)
    }
}

/// The response for a check's result and the newest real write.
fn render(checked: Checked, ports: &Ports) -> Response {
    // The newest of the probe and the real writes since.
    let writer = match (checked.probe, ports.records.last_write()) {
        (Some(p), Some(w)) if w.at > p.at => Some(w),
        (Some(p), _) => Some(p),
        (None, w) => w,
    };
    let writer_ok = writer.as_ref().is_none_or(|w| w.failure.is_none());
    let writer_json = match &writer {
        Some(w) => json!({
            "ok": w.failure.is_none(),
            "error": w.failure,
            "checked_secs_ago": w.at.elapsed().as_secs(),
        }),
        None => json!({"ok": true}),
    };
    let failing: Vec<&str> = [
        ("records", !checked.records),
        ("queue", !checked.queue),
        ("writer", !writer_ok),
    ]
    .into_iter()
    .filter_map(|(n, bad)| bad.then_some(n))
    .collect();
    if failing.is_empty() {
        (
            StatusCode::OK,
            Json(json!({"status": "ok", "writer": writer_json})),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "failing": failing, "writer": writer_json})),
        )
            .into_response()
    }
}
