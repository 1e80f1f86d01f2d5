//! The load generator: a fixed set of pre-built requests sent by N concurrent senders, each
//! request timed on its own.

use crate::desk::Push;
use crate::stats::Samples;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A request ready to send: nothing is built or signed while the clock runs.
pub struct Prepared {
    url: String,
    headers: HeaderMap,
    body: bytes::Bytes,
}

impl Prepared {
    pub fn new(url: String, push: &Push) -> Prepared {
        let mut headers = HeaderMap::new();
        for (k, v) in &push.headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                headers.insert(k, v);
            }
        }
        Prepared {
            url,
            headers,
            body: bytes::Bytes::from(push.body.clone()),
        }
    }

    fn request(&self, http: &reqwest::Client) -> reqwest::RequestBuilder {
        // A cheap clone: the body bytes are shared, not copied.
        http.post(&self.url)
            .headers(self.headers.clone())
            .body(self.body.clone())
    }
}

/// What a run of the generator saw.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Every request's latency, answered or not (a failure at the time it took to fail).
    pub samples: Samples,
    /// Requests answered 2xx.
    pub ok: usize,
    /// Answers by status ("timeout" / "error" for no answer), other than 2xx.
    pub failures: BTreeMap<String, usize>,
    pub elapsed: Duration,
}

impl LoadResult {
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn failure_text(&self) -> String {
        if self.failures.is_empty() {
            return "none".into();
        }
        self.failures
            .iter()
            .map(|(k, v)| format!("{v}× {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A client for `senders` concurrent connections.
pub fn load_client(senders: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(senders.max(1))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// Send every request once with `senders` concurrent senders (each sends its next request as
/// soon as the previous one is answered); stop early at `deadline` if given.
pub async fn run(
    http: &reqwest::Client,
    requests: Arc<Vec<Prepared>>,
    senders: usize,
    deadline: Option<Duration>,
) -> LoadResult {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders.max(1) {
        let (http, requests, next) = (http.clone(), requests.clone(), next.clone());
        tasks.spawn(async move {
            let mut out = LoadResult::default();
            loop {
                if deadline.is_some_and(|d| started.elapsed() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(r) = requests.get(i) else { break };
                let t = Instant::now();
                let res = r.request(&http).send().await;
                let took = t.elapsed();
                match res {
                    Ok(res) if res.status().is_success() => {
                        // Read the (empty or short) body so the connection is reused.
                        let _ = res.bytes().await;
                        out.samples.push(took);
                        out.ok += 1;
                    }
                    Ok(res) => {
                        let key = format!("HTTP {}", res.status().as_u16());
                        let _ = res.bytes().await;
                        out.samples.push(took);
                        *out.failures.entry(key).or_default() += 1;
                    }
                    Err(e) => {
                        // Counted at the time it took to fail: a timeout is at least that slow.
                        out.samples.push(took);
                        let key = if e.is_timeout() { "timeout" } else { "error" };
                        *out.failures.entry(key.into()).or_default() += 1;
                    }
                }
            }
            out
        });
    }
    let mut total = LoadResult::default();
    while let Some(part) = tasks.join_next().await {
        if let Ok(part) = part {
            total.samples.extend(part.samples);
            total.ok += part.ok;
            for (k, v) in part.failures {
                *total.failures.entry(k).or_default() += v;
            }
        }
    }
    total.elapsed = started.elapsed();
    total
}
