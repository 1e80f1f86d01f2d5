//! Inbox contract cases. The fixture gives the inbox and the queue it writes to.

use domain::job::queues::EVENTS;
use domain::ports::{Accepted, Inbox, InboxError, Queue};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// An inbox and the queue its jobs land on.
pub struct InboxUnderTest {
    pub inbox: Arc<dyn Inbox>,
    pub queue: Arc<dyn Queue>,
}

async fn drain(q: &dyn Queue) -> Vec<String> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let got = q
            .receive(EVENTS, 10, Duration::from_secs(30), Duration::from_secs(1))
            .await
            .expect("receive");
        if got.is_empty() {
            empty += 1;
        }
        out.extend(got.into_iter().map(|m| m.body));
    }
    out
}

pub async fn first_accept_queues_the_job(t: &InboxUnderTest) {
    let got = t
        .inbox
        .accept(
            "wechatpay:EV-1",
            json!({"event_type": "COMPLAINT.CREATE"}),
            EVENTS,
            "job-1",
        )
        .await
        .expect("accept");
    assert_eq!(got, Accepted::Queued);
    assert_eq!(drain(&*t.queue).await, vec!["job-1".to_string()]);
}

pub async fn redelivery_queues_nothing_more(t: &InboxUnderTest) {
    let first = t
        .inbox
        .accept("k", json!({}), EVENTS, "job")
        .await
        .expect("accept");
    let again = t
        .inbox
        .accept("k", json!({}), EVENTS, "job")
        .await
        .expect("accept again");
    assert_eq!((first, again), (Accepted::Queued, Accepted::Duplicate));
    assert_eq!(drain(&*t.queue).await.len(), 1);
}

pub async fn different_keys_are_separate(t: &InboxUnderTest) {
    for k in ["a", "b", "c"] {
        let got = t
            .inbox
            .accept(k, json!({}), EVENTS, k)
            .await
            .expect("accept");
        assert_eq!(got, Accepted::Queued);
    }
    let mut bodies = drain(&*t.queue).await;
    bodies.sort();
    assert_eq!(bodies, vec!["a", "b", "c"]);
}

pub async fn concurrent_deliveries_queue_at_least_once_and_then_dedupe(t: &InboxUnderTest) {
    let accept = || t.inbox.accept("same", json!({}), EVENTS, "job");
    let (a, b, c) = tokio::join!(accept(), accept(), accept());
    let results = [a.expect("a"), b.expect("b"), c.expect("c")];
    assert!(results.contains(&Accepted::Queued), "{results:?}");
    let queued = drain(&*t.queue).await.len();
    assert!(queued >= 1, "the job was queued");
    let later = t
        .inbox
        .accept("same", json!({}), EVENTS, "job")
        .await
        .expect("later");
    assert_eq!(later, Accepted::Duplicate);
    assert!(drain(&*t.queue).await.is_empty());
}

pub async fn unknown_queue_is_refused_and_not_remembered(t: &InboxUnderTest) {
    let err = t
        .inbox
        .accept("k", json!({}), "nope", "job")
        .await
        .expect_err("unknown queue");
    assert!(matches!(err, InboxError::Invalid(_)), "{err:?}");
    let got = t
        .inbox
        .accept("k", json!({}), EVENTS, "job")
        .await
        .expect("accept");
    assert_eq!(
        got,
        Accepted::Queued,
        "the refused attempt was not remembered as done"
    );
}
