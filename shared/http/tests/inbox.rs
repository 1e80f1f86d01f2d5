//! The generic inbox (PENDING → ENQUEUED) when the queue fails: a failed send is never
//! remembered as done, and the platform's retry queues the job.

mod common;

use async_trait::async_trait;
use desk_core::inbox::RecordQueueInbox;
use domain::job::queues::EVENTS;
use domain::ports::{
    Accepted, DeadLetterPage, Inbox, InboxError, Queue, QueueError, QueueMessage, inbox_key,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A real queue whose first `failures` sends fail (the fault-injection hook).
struct FailingSends {
    inner: Arc<dyn Queue>,
    failures: AtomicU32,
}

#[async_trait]
impl Queue for FailingSends {
    async fn send(&self, queue: &str, body: &str, delay: Duration) -> Result<String, QueueError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(QueueError::Unavailable(
                "injected: queue unavailable".into(),
            ));
        }
        self.inner.send(queue, body, delay).await
    }
    async fn receive(
        &self,
        q: &str,
        max: u32,
        v: Duration,
        w: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        self.inner.receive(q, max, v, w).await
    }
    async fn delete(&self, q: &str, r: &str) -> Result<(), QueueError> {
        self.inner.delete(q, r).await
    }
    async fn change_visibility(&self, q: &str, r: &str, t: Duration) -> Result<(), QueueError> {
        self.inner.change_visibility(q, r, t).await
    }
    async fn dead_letter(&self, q: &str, r: &str, why: &str) -> Result<(), QueueError> {
        self.inner.dead_letter(q, r, why).await
    }
    async fn list_dead_letters(
        &self,
        q: &str,
        l: u32,
        c: Option<String>,
    ) -> Result<DeadLetterPage, QueueError> {
        self.inner.list_dead_letters(q, l, c).await
    }
    async fn replay(&self, q: &str, id: &str) -> Result<(), QueueError> {
        self.inner.replay(q, id).await
    }
    async fn ping(&self) -> Result<(), QueueError> {
        self.inner.ping().await
    }
}

#[tokio::test]
async fn a_failed_send_is_not_remembered_and_the_retry_queues_it() {
    let h = common::harness();
    let queue = Arc::new(FailingSends {
        inner: h.state.ports.queue.clone(),
        failures: AtomicU32::new(1),
    });
    let inbox = RecordQueueInbox::new(h.state.ports.records.clone(), queue.clone());
    let err = inbox
        .accept("wechatpay:EV-9", json!({"id": "EV-9"}), EVENTS, "job-9")
        .await
        .expect_err("the send failed");
    assert!(matches!(err, InboxError::Unavailable(_)), "{err:?}");
    let (pk, sk) = inbox_key("wechatpay:EV-9");
    let rec = h
        .state
        .ports
        .records
        .get(&pk, &sk)
        .await
        .expect("get")
        .expect("recorded");
    assert_eq!(rec.data["state"], "PENDING", "not remembered as done");
    // The platform delivers again: now it is queued, once.
    let got = inbox
        .accept("wechatpay:EV-9", json!({"id": "EV-9"}), EVENTS, "job-9")
        .await
        .expect("retry");
    assert_eq!(got, Accepted::Queued);
    let again = inbox
        .accept("wechatpay:EV-9", json!({"id": "EV-9"}), EVENTS, "job-9")
        .await
        .expect("dup");
    assert_eq!(again, Accepted::Duplicate);
    let msgs = h
        .state
        .ports
        .queue
        .receive(EVENTS, 10, Duration::from_secs(30), Duration::from_secs(1))
        .await
        .expect("receive");
    let bodies: Vec<&str> = msgs.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["job-9"]);
}

#[tokio::test]
async fn the_sqlite_inbox_queues_exactly_once_under_concurrency() {
    let h = common::harness();
    let inbox = Arc::new(embedded::SqliteInbox::new(
        h.db.clone(),
        &embedded::QueueSettings::default(),
    ));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let inbox = inbox.clone();
        tasks.push(tokio::spawn(async move {
            inbox.accept("dup", json!({}), EVENTS, "job").await
        }));
    }
    let mut queued = 0;
    for t in tasks {
        if t.await.expect("task").expect("accept") == Accepted::Queued {
            queued += 1;
        }
    }
    assert_eq!(queued, 1);
    let msgs = h
        .state
        .ports
        .queue
        .receive(EVENTS, 10, Duration::from_secs(30), Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(msgs.len(), 1);
}
