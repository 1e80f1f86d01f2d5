//! Queue contract cases. Fixtures must dead-letter after [`MAX_RECEIVES`] receives and accept
//! the queue names in `domain::job::queues`.

use domain::job::queues::{EVENTS, NOTIFY};
use domain::ports::{Queue, QueueError};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The redrive limit every queue fixture is configured with.
pub const MAX_RECEIVES: u32 = 3;

const Q: &str = EVENTS;
const SHORT: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(30);
/// Generous upper bound for anything that should happen "soon".
const PATIENCE: Duration = Duration::from_secs(10);

/// Receive until one message arrives or patience runs out.
async fn receive_one(q: &dyn Queue, visibility: Duration) -> Option<domain::ports::QueueMessage> {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        let got = q
            .receive(Q, 1, visibility, Duration::from_secs(1))
            .await
            .expect("receive");
        if let Some(m) = got.into_iter().next() {
            return Some(m);
        }
    }
    None
}

pub async fn received_message_is_hidden_until_visibility_ends(q: &dyn Queue) {
    let id = q.send(Q, "hello", Duration::ZERO).await.expect("send");
    let m = receive_one(q, LONG).await.expect("message arrives");
    assert_eq!(
        (m.id.as_str(), m.body.as_str(), m.receive_count),
        (id.as_str(), "hello", 1)
    );
    let again = q
        .receive(Q, 10, LONG, Duration::from_millis(1200))
        .await
        .expect("receive");
    assert!(again.is_empty(), "a received message is hidden: {again:?}");
}

pub async fn redelivers_after_visibility_timeout_with_receive_count_plus_one(q: &dyn Queue) {
    q.send(Q, "again", Duration::ZERO).await.expect("send");
    let first = receive_one(q, SHORT).await.expect("first");
    let second = receive_one(q, SHORT).await.expect("redelivered");
    assert_eq!(second.id, first.id);
    assert_eq!(second.body, "again");
    assert_eq!(second.receive_count, first.receive_count + 1);
    assert_ne!(
        second.receipt, first.receipt,
        "every receive has a fresh receipt"
    );
}

pub async fn stale_receipt_cannot_delete_redelivered_message(q: &dyn Queue) {
    q.send(Q, "precious", Duration::ZERO).await.expect("send");
    let first = receive_one(q, SHORT).await.expect("first");
    let second = receive_one(q, LONG).await.expect("redelivered");
    match q.delete(Q, &first.receipt).await {
        Ok(()) | Err(QueueError::StaleReceipt) => {}
        Err(e) => panic!("unexpected error for a stale receipt: {e:?}"),
    }
    // The message must still be there: make it visible with the current receipt and get it.
    q.change_visibility(Q, &second.receipt, Duration::ZERO)
        .await
        .expect("current receipt still works");
    let third = receive_one(q, LONG)
        .await
        .expect("still queued after the stale delete");
    assert_eq!(third.id, first.id);
    q.delete(Q, &third.receipt)
        .await
        .expect("current receipt deletes");
}

pub async fn dead_letters_after_max_receives(q: &dyn Queue) {
    let id = q.send(Q, "poison", Duration::ZERO).await.expect("send");
    for n in 1..=MAX_RECEIVES {
        let m = receive_one(q, SHORT)
            .await
            .expect("delivered while under the limit");
        assert_eq!((m.id.as_str(), m.receive_count), (id.as_str(), n));
    }
    // The next receives do not deliver it; it lands in the dead letters.
    let start = Instant::now();
    let dead = loop {
        let got = q
            .receive(Q, 10, SHORT, Duration::from_secs(1))
            .await
            .expect("receive");
        assert!(
            got.iter().all(|m| m.id != id),
            "delivered more than {MAX_RECEIVES} times"
        );
        let page = q.list_dead_letters(Q, 100, None).await.expect("list");
        if let Some(d) = page.items.into_iter().find(|d| d.body == "poison") {
            break d;
        }
        assert!(start.elapsed() < PATIENCE * 2, "never dead-lettered");
    };
    assert!(dead.receive_count >= MAX_RECEIVES, "{dead:?}");
    assert!(!dead.reason.is_empty(), "a dead letter says why");
}

pub async fn concurrent_receivers_never_get_the_same_message(q: &dyn Queue) {
    const N: usize = 40;
    for i in 0..N {
        q.send(Q, &format!("m{i}"), Duration::ZERO)
            .await
            .expect("send");
    }
    let receiver = || async {
        let mut got = Vec::new();
        let start = Instant::now();
        let mut empty_rounds = 0;
        while start.elapsed() < PATIENCE * 2 && empty_rounds < 3 {
            let batch = q
                .receive(Q, 10, LONG, Duration::from_millis(500))
                .await
                .expect("receive");
            if batch.is_empty() {
                empty_rounds += 1;
            } else {
                empty_rounds = 0;
            }
            got.extend(batch.into_iter().map(|m| m.body));
        }
        got
    };
    let (a, b, c) = tokio::join!(receiver(), receiver(), receiver());
    let all: Vec<String> = a.into_iter().chain(b).chain(c).collect();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a message went to two receivers");
    assert_eq!(unique.len(), N, "every message was received");
}

pub async fn delay_is_honoured(q: &dyn Queue) {
    let delay = Duration::from_secs(2);
    let sent = Instant::now();
    q.send(Q, "later", delay).await.expect("send");
    let early = q
        .receive(Q, 10, LONG, Duration::ZERO)
        .await
        .expect("receive");
    assert!(early.is_empty(), "delayed message delivered early");
    let m = receive_one(q, LONG)
        .await
        .expect("delivered after the delay");
    assert_eq!(m.body, "later");
    assert!(
        sent.elapsed() >= delay - Duration::from_millis(100),
        "delivered after {:?}, delay was {delay:?}",
        sent.elapsed()
    );
}

pub async fn dead_letter_keeps_reason_and_replay_puts_it_back(q: &dyn Queue) {
    q.send(Q, "{\"type\":\"x\"}", Duration::ZERO)
        .await
        .expect("send");
    let m = receive_one(q, LONG).await.expect("message");
    q.dead_letter(Q, &m.receipt, "handler failed permanently: bad data")
        .await
        .expect("dead-letter");
    let page = q.list_dead_letters(Q, 10, None).await.expect("list");
    assert_eq!(page.items.len(), 1, "{page:?}");
    let dead = &page.items[0];
    assert_eq!(dead.body, "{\"type\":\"x\"}");
    assert_eq!(dead.reason, "handler failed permanently: bad data");
    assert_eq!(dead.queue, Q);
    let none = q
        .receive(Q, 10, LONG, Duration::from_millis(500))
        .await
        .expect("receive");
    assert!(none.is_empty(), "a dead letter is not delivered");

    q.replay(Q, &dead.id).await.expect("replay");
    let back = receive_one(q, LONG)
        .await
        .expect("replayed message is delivered");
    assert_eq!(back.body, "{\"type\":\"x\"}");
    assert_eq!(back.receive_count, 1, "receive count starts again");
    let page = q.list_dead_letters(Q, 10, None).await.expect("list");
    assert!(
        page.items.is_empty(),
        "replayed letters leave the list: {page:?}"
    );
}

pub async fn change_visibility_hides_and_reveals(q: &dyn Queue) {
    q.send(Q, "vis", Duration::ZERO).await.expect("send");
    let m = receive_one(q, SHORT).await.expect("message");
    q.change_visibility(Q, &m.receipt, LONG)
        .await
        .expect("extend");
    let hidden = q
        .receive(Q, 10, LONG, Duration::from_secs(2))
        .await
        .expect("receive");
    assert!(hidden.is_empty(), "extended visibility keeps it hidden");
    q.change_visibility(Q, &m.receipt, Duration::ZERO)
        .await
        .expect("reveal");
    let again = receive_one(q, LONG).await.expect("visible again");
    assert_eq!(again.id, m.id);
    assert_eq!(again.receive_count, 2);
}

pub async fn deleted_message_never_returns(q: &dyn Queue) {
    q.send(Q, "done", Duration::ZERO).await.expect("send");
    let m = receive_one(q, SHORT).await.expect("message");
    q.delete(Q, &m.receipt).await.expect("delete");
    let later = q
        .receive(Q, 10, SHORT, Duration::from_secs(2))
        .await
        .expect("receive");
    assert!(later.is_empty(), "deleted message came back: {later:?}");
}

pub async fn dead_letters_paginate(q: &dyn Queue) {
    for i in 0..5 {
        q.send(Q, &format!("d{i}"), Duration::ZERO)
            .await
            .expect("send");
    }
    let mut dead = 0;
    let start = Instant::now();
    while dead < 5 && start.elapsed() < PATIENCE * 2 {
        for m in q
            .receive(Q, 10, LONG, Duration::from_secs(1))
            .await
            .expect("receive")
        {
            q.dead_letter(Q, &m.receipt, "test")
                .await
                .expect("dead-letter");
            dead += 1;
        }
    }
    assert_eq!(dead, 5);
    let mut bodies = HashSet::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = q
            .list_dead_letters(Q, 2, cursor.take())
            .await
            .expect("list");
        pages += 1;
        assert!(page.items.len() <= 2);
        for d in page.items {
            assert!(bodies.insert(d.body.clone()), "{} listed twice", d.body);
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(bodies.len(), 5);
    assert!(pages >= 3);
}

pub async fn replay_of_unknown_dead_letter_is_not_found(q: &dyn Queue) {
    let err = q.replay(Q, "no-such-letter").await.expect_err("unknown id");
    assert!(matches!(err, QueueError::DeadLetterNotFound(_)), "{err:?}");
}

pub async fn queues_are_separate(q: &dyn Queue) {
    q.send(NOTIFY, "for the notifier", Duration::ZERO)
        .await
        .expect("send");
    let events = q
        .receive(EVENTS, 10, LONG, Duration::from_millis(500))
        .await
        .expect("receive");
    assert!(events.is_empty());
    let notify = q
        .receive(NOTIFY, 10, LONG, Duration::from_secs(2))
        .await
        .expect("receive");
    assert_eq!(notify.len(), 1);
    assert_eq!(notify[0].body, "for the notifier");
    let err = q
        .send("nope", "x", Duration::ZERO)
        .await
        .expect_err("unknown queue");
    assert!(matches!(err, QueueError::UnknownQueue(_)), "{err:?}");
}
