//! A batch fits the invocation's time: a job slower than the budget is abandoned and reported
//! failed alone, the others are reported done, and the invocation answers before its deadline.

use super::support::{NotingQueue, Stdout, batch, invocation, received};
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
    // Abandoned: backed off briefly (the policy's first step), so SQS delivers it again soon
    // rather than after the whole visibility timeout; nothing else asked of the queue.
    assert_eq!(*sink.0.lock().expect("calls"), ["back_off receipt-m2 5s"]);
}

/// On its last allowed receive, a job that runs out of time is dead-lettered with the reason
/// (SQS redrive would move it silently) and reported done; one that still has receives left
/// is backed off briefly and reported failed.
#[tokio::test]
async fn a_job_out_of_time_on_its_last_receive_is_dead_lettered_with_the_reason() {
    let slow = Takes::new(Duration::from_secs(8));
    let mut registry = JobRegistry::new();
    registry.register("test.slow", slow.clone());
    let policy = RetryPolicy::default();
    let last = policy.max_attempts;
    for (receive_count, failed, calls) in [
        (
            last,
            vec![],
            vec![format!(
                "dead_letter m1: ran out of time {last} times (the function's deadline)"
            )],
        ),
        (
            last - 1,
            vec!["m1"],
            vec![format!(
                "back_off receipt-m1 {}s",
                policy.delay(last - 1).as_secs()
            )],
        ),
    ] {
        let sink = NotingQueue::default();
        let res = runtime::sqs::handle_batch_within(
            received(&[("m1", "test.slow", "acc_1")], receive_count),
            Some(Duration::from_millis(200)),
            "events",
            &registry,
            &policy,
            &sink,
        )
        .await;
        let got: Vec<&str> = res
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(got, failed, "receive {receive_count}");
        assert_eq!(
            *sink.0.lock().expect("calls"),
            calls,
            "receive {receive_count}"
        );
    }
    assert_eq!(slow.2.load(Ordering::SeqCst), 0, "never finished");
}

/// The time limit covers the job only: a follow-up that takes longer than what is left of
/// the budget (a slow SQS send) still runs to its end, never cut off after SQS took it.
#[tokio::test]
async fn the_follow_up_runs_to_its_end_past_the_budget() {
    let fails = Arc::new(Fails);
    let mut registry = JobRegistry::new();
    registry.register("test.fails", fails);
    let sink = SlowQueue::default();
    let res = runtime::sqs::handle_batch_within(
        batch(&[("m1", "test.fails", "acc_1")]),
        Some(Duration::from_millis(300)),
        "events",
        &registry,
        &RetryPolicy::default(),
        &sink,
    )
    .await;
    assert_eq!(res.batch_item_failures.len(), 1);
    assert_eq!(
        sink.0.load(Ordering::SeqCst),
        1,
        "the back-off was set, not cut off"
    );
}

/// A job that fails at once (a platform answered 503).
struct Fails;

#[async_trait]
impl JobHandler for Fails {
    async fn handle(&self, _job: &JobEnvelope) -> Result<(), JobError> {
        Err(JobError::retryable(std::io::Error::other("503")))
    }
}

/// A queue whose back-off takes 600 ms to be accepted, counting those that finished.
#[derive(Default)]
struct SlowQueue(AtomicU32);

#[async_trait]
impl runtime::sqs::BatchQueue for SlowQueue {
    async fn dead_letter(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: u32,
        _: chrono::DateTime<chrono::Utc>,
        _: &str,
    ) -> Result<(), domain::ports::QueueError> {
        Ok(())
    }
    async fn back_off(
        &self,
        _: &str,
        _: &str,
        _: Duration,
    ) -> Result<(), domain::ports::QueueError> {
        tokio::time::sleep(Duration::from_millis(600)).await;
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn requeue(
        &self,
        _: &str,
        _: &str,
        _: Duration,
    ) -> Result<(), domain::ports::QueueError> {
        Ok(())
    }
}

/// A job that panics fails its own record only, and what it recorded before it panicked is
/// written with that invocation's metrics.
#[tokio::test]
async fn a_panicking_job_fails_its_own_record_and_its_metrics_are_written() {
    let out = Stdout::default();
    let emf = runtime::emf::Emf::to_writer(out.clone());
    let _local = metrics::set_default_local_recorder(&emf);
    let good = Takes::new(Duration::from_millis(10));
    let mut registry = JobRegistry::new();
    registry.register("test.good", good.clone());
    registry.register("test.panics", Arc::new(Panics));
    let res = runtime::sqs::handle_invocation(
        invocation(
            batch(&[("m1", "test.panics", "acc_1"), ("m2", "test.good", "acc_1")]),
            Duration::from_secs(10),
        ),
        "events",
        &registry,
        &RetryPolicy::default(),
        &NotingQueue::default(),
        &emf,
    )
    .await;
    let failed: Vec<&str> = res
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m1"], "only the panicking job is delivered again");
    assert_eq!(good.2.load(Ordering::SeqCst), 1, "the good job finished");
    let lines = out.lines();
    assert!(
        lines.iter().any(|l| l.contains("\"panicked_total\":1")),
        "the invocation's EMF holds the panicking job's counter: {lines:?}"
    );
}

/// A job that counts, then panics (a bug).
struct Panics;

#[async_trait]
impl JobHandler for Panics {
    async fn handle(&self, _job: &JobEnvelope) -> Result<(), JobError> {
        metrics::counter!("panicked_total", "platform" => "alipay").increment(1);
        if std::hint::black_box(true) {
            panic!("a bug in a job");
        }
        Ok(())
    }
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
