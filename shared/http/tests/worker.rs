//! The worker loop over the real SQLite queue: dispatch by job type, retries with back-off,
//! dead letters with reasons, replay, graceful shutdown.

mod common;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use common::*;
use desk_core::worker::{
    CancellationToken, JobError, JobHandler, JobRegistry, RetryPolicy, WorkerSettings,
};
use domain::job::{JobEnvelope, queues};
use domain::ports::Queue;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Fails the way it is told for the first `failures` calls, then succeeds.
struct Flaky {
    calls: AtomicU32,
    failures: u32,
    permanent: bool,
    work: Duration,
}

#[async_trait]
impl JobHandler for Flaky {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(self.work).await;
        if n <= self.failures {
            if self.permanent {
                return Err(JobError::Permanent(format!(
                    "account {} has no credentials",
                    job.account_id.clone().unwrap_or_default()
                )));
            }
            return Err(JobError::retryable(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "platform timed out",
            )));
        }
        Ok(())
    }
}

fn flaky(failures: u32, permanent: bool) -> Arc<Flaky> {
    Arc::new(Flaky {
        calls: AtomicU32::new(0),
        failures,
        permanent,
        work: Duration::ZERO,
    })
}

fn settings(max_attempts: u32) -> WorkerSettings {
    WorkerSettings {
        visibility: Duration::from_secs(30),
        wait: Duration::from_millis(200),
        retry: RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
        },
        ..WorkerSettings::for_queue(queues::EVENTS)
    }
}

struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(h: &Harness, registry: JobRegistry, settings: WorkerSettings) -> Running {
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(desk_core::worker::run(
        h.state.ports.queue.clone(),
        Arc::new(registry),
        settings,
        shutdown.clone(),
    ));
    Running { shutdown, task }
}

async fn enqueue(q: &dyn Queue, job_type: &str, account: &str) -> JobEnvelope {
    let job = JobEnvelope::new(job_type, json!({"complaint_id": "c-1"}), chrono::Utc::now())
        .for_account(account, None);
    q.send(
        queues::EVENTS,
        &serde_json::to_string(&job).expect("json"),
        Duration::ZERO,
    )
    .await
    .expect("send");
    job
}

/// Poll the admin API's dead-letter list until `pred` holds for an item (10 s at most).
async fn wait_dead_letter(
    h: &Harness,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let (s, page) = h
            .admin(Method::GET, "/admin/v1/dead-letters?queue=events", None)
            .await;
        assert_eq!(s, StatusCode::OK);
        if let Some(d) = page["items"]
            .as_array()
            .and_then(|i| i.iter().find(|d| pred(d)))
        {
            return d.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no such dead letter: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn unknown_job_type_is_dead_lettered_with_its_reason() {
    let h = harness();
    let running = start(&h, JobRegistry::new(), settings(3));
    let job = enqueue(&*h.state.ports.queue, "from.a.newer.version", "acc_1").await;
    let dead = wait_dead_letter(&h, |d| d["job_id"] == job.id.as_str()).await;
    assert_eq!(dead["reason"], "unknown job type \"from.a.newer.version\"");
    assert_eq!(dead["job_type"], "from.a.newer.version");
    assert_eq!(
        dead["receive_count"], 1,
        "not retried: retrying cannot help"
    );
    running.shutdown.cancel();
    running.task.await.expect("worker");
}

#[tokio::test]
async fn permanent_failure_is_dead_lettered_and_replay_runs_it_again() {
    let h = harness();
    let handler = flaky(1, true);
    let mut registry = JobRegistry::new();
    registry.register("test.flaky", handler.clone());
    let running = start(&h, registry, settings(3));
    let job = enqueue(&*h.state.ports.queue, "test.flaky", "acc_7").await;
    let dead = wait_dead_letter(&h, |d| d["job_id"] == job.id.as_str()).await;
    assert_eq!(
        dead["reason"],
        "failed permanently: account acc_7 has no credentials"
    );
    assert_eq!(dead["account_id"], "acc_7");
    assert_eq!(dead["payload"]["complaint_id"], "c-1");
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        1,
        "a permanent failure is not retried"
    );

    let id = dead["id"].as_str().expect("id");
    let (s, _) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/dead-letters/{id}/replay"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    wait_for("the replayed job to run", || {
        handler.calls.load(Ordering::SeqCst) == 2
    })
    .await;
    let start = Instant::now();
    loop {
        let (_, page) = h.admin(Method::GET, "/admin/v1/dead-letters", None).await;
        if page["items"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/dead-letters/{id}/replay"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a replayed letter is gone");
    running.shutdown.cancel();
    running.task.await.expect("worker");
}

#[tokio::test]
async fn retryable_failure_backs_off_then_gives_up_with_the_cause() {
    let h = harness();
    let handler = flaky(u32::MAX, false);
    let mut registry = JobRegistry::new();
    registry.register("test.flaky", handler.clone());
    let running = start(&h, registry, settings(3));
    let job = enqueue(&*h.state.ports.queue, "test.flaky", "acc_1").await;
    let dead = wait_dead_letter(&h, |d| d["job_id"] == job.id.as_str()).await;
    assert_eq!(
        dead["reason"],
        "gave up after 3 attempts: platform timed out"
    );
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
    running.shutdown.cancel();
    running.task.await.expect("worker");
}

#[tokio::test]
async fn a_transient_failure_is_retried_until_it_succeeds() {
    let h = harness();
    let handler = flaky(2, false);
    let mut registry = JobRegistry::new();
    registry.register("test.flaky", handler.clone());
    let running = start(&h, registry, settings(5));
    enqueue(&*h.state.ports.queue, "test.flaky", "acc_1").await;
    wait_for("three calls", || handler.calls.load(Ordering::SeqCst) == 3).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        3,
        "done after success: not run again"
    );
    let (_, page) = h.admin(Method::GET, "/admin/v1/dead-letters", None).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));
    running.shutdown.cancel();
    running.task.await.expect("worker");
}

#[tokio::test]
async fn a_message_that_is_not_a_job_is_dead_lettered() {
    let h = harness();
    let running = start(&h, JobRegistry::new(), settings(3));
    h.state
        .ports
        .queue
        .send(queues::EVENTS, "{not json", Duration::ZERO)
        .await
        .expect("send");
    let dead = wait_dead_letter(&h, |d| d["payload"] == "{not json").await;
    assert!(
        dead["reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("not a job envelope"),
        "{dead}"
    );
    running.shutdown.cancel();
    running.task.await.expect("worker");
}

#[tokio::test]
async fn shutdown_lets_the_job_in_progress_finish() {
    let h = harness();
    let handler = Arc::new(Flaky {
        calls: AtomicU32::new(0),
        failures: 0,
        permanent: false,
        work: Duration::from_millis(700),
    });
    let mut registry = JobRegistry::new();
    registry.register("test.slow", handler.clone());
    let running = start(&h, registry, settings(3));
    enqueue(&*h.state.ports.queue, "test.slow", "acc_1").await;
    wait_for("the job to start", || {
        handler.calls.load(Ordering::SeqCst) == 1
    })
    .await;
    running.shutdown.cancel();
    running.task.await.expect("worker stops after the job");
    // The finished job was deleted, not left to reappear.
    let left = h
        .state
        .ports
        .queue
        .receive(
            queues::EVENTS,
            10,
            Duration::from_secs(30),
            Duration::from_millis(300),
        )
        .await
        .expect("receive");
    assert!(
        left.is_empty(),
        "the job was settled before the worker stopped"
    );
}

#[tokio::test]
async fn dead_letters_are_scoped_like_everything_else() {
    let h = harness();
    let a = h.create(provider_body("1900000109")).await;
    let b = h.create(provider_body("1900000110")).await;
    let running = start(&h, JobRegistry::new(), settings(3));
    let ja = enqueue(&*h.state.ports.queue, "x.unknown", &a).await;
    let jb = enqueue(&*h.state.ports.queue, "x.unknown", &b).await;
    wait_dead_letter(&h, |d| d["job_id"] == ja.id.as_str()).await;
    let dead_b = wait_dead_letter(&h, |d| d["job_id"] == jb.id.as_str()).await;
    let ta = h.token(json!({"type": "account", "account_id": a})).await;
    let (_, page) = h
        .call(Method::GET, "/admin/v1/dead-letters", Some(&ta), None)
        .await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|d| d["job_id"].as_str())
        .collect();
    assert_eq!(ids, vec![ja.id.as_str()]);
    let id_b = dead_b["id"].as_str().expect("id");
    let (s, _) = h
        .call(
            Method::POST,
            &format!("/admin/v1/dead-letters/{id_b}/replay"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h
        .call(
            Method::GET,
            "/admin/v1/dead-letters?queue=elsewhere",
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    running.shutdown.cancel();
    running.task.await.expect("worker");
}

/// Counts each job it sees and meets the others at a barrier of `group`: only when `group`
/// jobs run at the same time does any of them finish, so the test proves concurrency without
/// timing anything.
struct Gathering {
    seen: std::sync::Mutex<std::collections::HashMap<String, u32>>,
    barrier: tokio::sync::Barrier,
}

#[async_trait]
impl JobHandler for Gathering {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        *self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(job.id.clone())
            .or_default() += 1;
        self.barrier.wait().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_jobs_run_at_once_and_each_is_handled_once() {
    let h = harness();
    let handler = Arc::new(Gathering {
        seen: Default::default(),
        barrier: tokio::sync::Barrier::new(8),
    });
    let mut registry = JobRegistry::new();
    registry.register("test.gather", handler.clone());
    let running = start(
        &h,
        registry,
        WorkerSettings {
            concurrency: 16,
            ..settings(3)
        },
    );
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(
            enqueue(&*h.state.ports.queue, "test.gather", "acc_1")
                .await
                .id,
        );
    }
    wait_for("every job to run", || {
        handler.seen.lock().unwrap_or_else(|e| e.into_inner()).len() == 200
    })
    .await;
    running.shutdown.cancel();
    running.task.await.expect("worker");
    let seen = handler
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for id in &ids {
        assert_eq!(seen.get(id), Some(&1), "job {id} handled once");
    }
    let left = h
        .state
        .ports
        .queue
        .receive(queues::EVENTS, 10, Duration::from_secs(30), Duration::ZERO)
        .await
        .expect("receive");
    assert!(left.is_empty(), "every job was deleted after it ran");
}

/// Defers (as the rate limiter asks) `deferrals` times, then succeeds.
struct Deferring {
    calls: AtomicU32,
    deferrals: u32,
}

#[async_trait]
impl JobHandler for Deferring {
    async fn handle(&self, _job: &JobEnvelope) -> Result<(), JobError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.deferrals {
            return Err(JobError::Deferred {
                retry_after: Duration::from_millis(20),
                reason: "rate limit of wechatpay response for 1900000109 reached".into(),
            });
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_deferred_job_runs_again_without_using_up_its_attempts() {
    let h = harness();
    // More deferrals than the queue allows deliveries (5) and than the policy's attempts.
    let handler = Arc::new(Deferring {
        calls: AtomicU32::new(0),
        deferrals: 7,
    });
    let mut registry = JobRegistry::new();
    registry.register("test.deferring", handler.clone());
    let running = start(&h, registry, settings(2));
    enqueue(&*h.state.ports.queue, "test.deferring", "acc_1").await;
    wait_for("the run after the deferrals", || {
        handler.calls.load(Ordering::SeqCst) == 8
    })
    .await;
    running.shutdown.cancel();
    running.task.await.expect("worker");
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        8,
        "done: not run again"
    );
    let (_, page) = h.admin(Method::GET, "/admin/v1/dead-letters", None).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0), "{page}");
}

/// Throttled `times` times (as a platform's 429), then succeeds.
struct Throttled {
    calls: AtomicU32,
    times: u32,
}

#[async_trait]
impl JobHandler for Throttled {
    async fn handle(&self, _job: &JobEnvelope) -> Result<(), JobError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.times {
            return Err(JobError::throttled(std::io::Error::other(
                "WeChat Pay answered 429: FREQUENCY_LIMITED",
            )));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_throttled_job_backs_off_and_then_succeeds_once() {
    let h = harness();
    let handler = Arc::new(Throttled {
        calls: AtomicU32::new(0),
        times: 2,
    });
    let mut registry = JobRegistry::new();
    registry.register("test.throttled", handler.clone());
    let running = start(&h, registry, settings(4));
    enqueue(&*h.state.ports.queue, "test.throttled", "acc_1").await;
    wait_for("the run after the throttling", || {
        handler.calls.load(Ordering::SeqCst) == 3
    })
    .await;
    running.shutdown.cancel();
    running.task.await.expect("worker");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
    let (_, page) = h.admin(Method::GET, "/admin/v1/dead-letters", None).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0), "{page}");
}

/// Takes `work` to finish; counts starts and finishes.
struct Slow {
    started: AtomicU32,
    finished: AtomicU32,
    work: Duration,
}

#[async_trait]
impl JobHandler for Slow {
    async fn handle(&self, _job: &JobEnvelope) -> Result<(), JobError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.work).await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_running_longer_than_its_visibility_is_not_handed_out_again() {
    let h = harness();
    // The job takes two and a half visibility periods: without the worker extending its
    // visibility, a second worker task would receive it meanwhile.
    let handler = Arc::new(Slow {
        started: AtomicU32::new(0),
        finished: AtomicU32::new(0),
        work: Duration::from_secs(5),
    });
    let mut registry = JobRegistry::new();
    registry.register("test.slow", handler.clone());
    let running = start(
        &h,
        registry,
        WorkerSettings {
            visibility: Duration::from_secs(2),
            ..settings(3)
        },
    );
    enqueue(&*h.state.ports.queue, "test.slow", "acc_1").await;
    wait_for("the job to finish", || {
        handler.finished.load(Ordering::SeqCst) >= 1
    })
    .await;
    running.shutdown.cancel();
    running.task.await.expect("worker");
    assert_eq!(
        handler.started.load(Ordering::SeqCst),
        1,
        "the worker kept the running job hidden"
    );
}
