//! `/healthz` does constant work: however many checks arrive, the store gets at most one
//! probe write per interval, and none while real writes report how the writer is doing.

mod common;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::ports::{Item, Page, Query, RecordStore, StoreError, Write, WriteOutcome};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tower::ServiceExt;

/// The real embedded record store, counting probe writes.
struct CountingProbes {
    inner: Arc<dyn RecordStore>,
    probes: AtomicU32,
}

#[async_trait]
impl RecordStore for CountingProbes {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn create(&self, item: Item) -> Result<Item, StoreError> {
        self.inner.create(item).await
    }
    async fn update(&self, item: Item, v: u64) -> Result<Item, StoreError> {
        self.inner.update(item, v).await
    }
    async fn put(&self, item: Item) -> Result<Item, StoreError> {
        self.inner.put(item).await
    }
    async fn delete(&self, pk: &str, sk: &str, v: Option<u64>) -> Result<bool, StoreError> {
        self.inner.delete(pk, sk, v).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.inner.transact(writes).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn probe_write(&self) -> Result<(), StoreError> {
        self.probes.fetch_add(1, Ordering::SeqCst);
        self.inner.probe_write().await
    }
    fn last_write(&self) -> Option<WriteOutcome> {
        self.inner.last_write()
    }
}

async fn healthz(router: &axum::Router) -> (StatusCode, serde_json::Value) {
    let res = router
        .clone()
        .oneshot(
            Request::get("/healthz")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let status = res.status();
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_health_checks_make_one_probe_write() {
    let h = common::harness();
    let store = Arc::new(CountingProbes {
        inner: h.state.ports.records.clone(),
        probes: AtomicU32::new(0),
    });
    let mut state = h.state.clone();
    state.ports.records = store.clone();
    let router = desk_http::router::router(state);

    let checks: Vec<_> = (0..40)
        .map(|_| {
            let r = router.clone();
            tokio::spawn(async move { healthz(&r).await })
        })
        .collect();
    for c in checks {
        let (status, body) = c.await.expect("task");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["writer"]["ok"], true, "{body}");
    }
    assert_eq!(
        store.probes.load(Ordering::SeqCst),
        1,
        "one probe for 40 checks"
    );

    // A real write is newer than the probe: reported as is, no further probe.
    store
        .create(Item::new("T#1", "META", serde_json::json!({})))
        .await
        .expect("write");
    let (status, _) = healthz(&router).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(store.probes.load(Ordering::SeqCst), 1);
}
