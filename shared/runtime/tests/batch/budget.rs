//! A batch fits the invocation's time: a job slower than the budget is abandoned and reported
//! failed alone, the others are reported done, and the invocation answers before its deadline.

use super::support::{NotingQueue, Stdout, batch, invocation};
use async_trait::async_trait;
use desk_core::worker::{JobError, JobHandler, JobRegistry, RetryPolicy};
use domain::job::JobEnvelope;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A job that takes `self.1` (a platform that answers slowly), counting starts and finishes.
struct Takes(Duration, AtomicU32, AtomicU32);

impl Takes {
    fn new(d: Duration) -> Arc<Self> {
        Arc::new(Self(d, AtomicU32::new(0), AtomicU32::new(0)))
    }
}

#[async_trait]
impl JobHandler for Takes {
    async fn handle(&self, _job: &JobEnvelope) -> Result<(), JobError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.0).await;
        self.2.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_job_slower_than_the_budget_fails_alone_and_the_batch_answers_in_time() {
    let fast = Takes::new(Duration::from_millis(50));
    let slow = Takes::new(Duration::from_secs(8));
    let mut registry = JobRegistry::new();
    registry.register("test.fast", fast.clone());
    registry.register("test.slow", slow.clone());
    let sink = NotingQueue::default();
    let event = batch(&[
        ("m1", "test.fast", "acc_1"),
        ("m2", "test.slow", "acc_1"),
        ("m3", "test.fast", "acc_2"),
    ]);
    // Lambda's deadline 2.5 s away: the budget is 1 s (the margin to report kept back).
    let deadline = Duration::from_millis(2500);
    let started = Instant::now();
    let res = runtime::sqs::handle_invocation(
        invocation(event, deadline),
        "events",
        &registry,
        &RetryPolicy::default(),
        &sink,
        &runtime::emf::Emf::to_writer(Stdout::default()),
    )
    .await;
    let took = started.elapsed();
    let failed: Vec<&str> = res
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m2"], "exactly the slow job is delivered again");
    assert!(
        took < deadline - runtime::deadline::REPORT_MARGIN / 2,
        "answered {took:?} after the start, the deadline was {deadline:?}"
    );
    assert!(
        took >= Duration::from_millis(900),
        "the slow job had its budget: {took:?}"
    );
    assert_eq!(fast.2.load(Ordering::SeqCst), 2, "the fast jobs finished");
    assert_eq!(slow.1.load(Ordering::SeqCst), 1, "the slow job started");
    assert_eq!(slow.2.load(Ordering::SeqCst), 0, "and was abandoned");
    // Abandoned, not decided: no back-off, no dead letter; SQS redelivers it after its
    // visibility timeout.
    assert!(sink.0.lock().expect("calls").is_empty());
}

/// Without a deadline (a test, or a caller outside Lambda) nothing is cut short.
#[tokio::test]
async fn without_a_deadline_every_job_runs_to_its_end() {
    let slowish = Takes::new(Duration::from_millis(300));
    let mut registry = JobRegistry::new();
    registry.register("test.slowish", slowish.clone());
    let res = runtime::sqs::handle_batch_within(
        batch(&[("m1", "test.slowish", "acc_1")]),
        None,
        "events",
        &registry,
        &RetryPolicy::default(),
        &NotingQueue::default(),
    )
    .await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(slowish.2.load(Ordering::SeqCst), 1);
}
