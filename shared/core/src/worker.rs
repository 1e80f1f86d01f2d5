//! The worker: jobs from a queue, dispatched by type to registered handlers. The decision for
//! one message ([`decide`]) is shared by the embedded loop ([`run`]) and the Lambda SQS
//! handler, so both retry, back off and dead-letter the same way.

use async_trait::async_trait;
use domain::backoff::Backoff;
pub use domain::backoff::jitter_upper_half;
use domain::job::JobEnvelope;
use domain::ports::{Queue, QueueMessage};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
pub use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (a platform timeout, 5xx, the store unavailable).
    #[error("retryable: {source}")]
    Retryable {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// Ask for a specific delay (e.g. a platform's Retry-After).
        retry_after: Option<Duration>,
    },
    /// The platform said "too many requests" (WeChat Pay 429 `FREQUENCY_LIMITED`, Alipay
    /// `*-call-limited`, WeChat `45009`/`45011`): retried like [`JobError::Retryable`], but after
    /// an exponential back-off with jitter ([`RetryPolicy::throttle_delay`]), so the workers
    /// that were throttled together do not come back together.
    #[error("throttled: {source}")]
    Throttled {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Not a failure: our own rate limiter has no budget left for a call the job needs. The
    /// job is put back on its queue to run after `retry_after`, without using up one of its
    /// attempts (a burst for one merchant can take minutes to clear at 60 calls a minute).
    #[error("deferred for {retry_after:?}: {reason}")]
    Deferred {
        retry_after: Duration,
        reason: String,
    },
    /// Trying again cannot help (bad data, rejected credentials): dead-letter with this reason.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl JobError {
    pub fn retryable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        JobError::Retryable {
            source: Box::new(e),
            retry_after: None,
        }
    }

    pub fn throttled(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        JobError::Throttled {
            source: Box::new(e),
        }
    }
}

/// A payload that does not fit its kind cannot be helped by trying again.
impl From<domain::job::PayloadError> for JobError {
    fn from(e: domain::job::PayloadError) -> Self {
        JobError::Permanent(e.to_string())
    }
}

/// Handles one job type. Handlers must be idempotent: a job can arrive more than once.
#[async_trait]
pub trait JobHandler: Send + Sync {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError>;
}

/// Told the outcome of every job a worker runs (after its handler, before the worker decides
/// what to do with the message): the account's health counts pushes, platform errors and
/// throttling this way. An observer's failure is its own to log; it never changes the job's
/// outcome.
#[async_trait]
pub trait JobObserver: Send + Sync {
    async fn finished(&self, job: &JobEnvelope, result: &Result<(), JobError>);
}

/// Job type → handler. Later capabilities register theirs.
#[derive(Clone, Default)]
pub struct JobRegistry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    observers: Vec<Arc<dyn JobObserver>>,
}

impl JobRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(
        &mut self,
        job_type: impl Into<String>,
        handler: Arc<dyn JobHandler>,
    ) -> &mut Self {
        self.handlers.insert(job_type.into(), handler);
        self
    }

    pub fn get(&self, job_type: &str) -> Option<&Arc<dyn JobHandler>> {
        self.handlers.get(job_type)
    }

    /// Add an observer of every job's outcome.
    pub fn observe(&mut self, observer: Arc<dyn JobObserver>) -> &mut Self {
        self.observers.push(observer);
        self
    }

    pub fn job_types(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        v.sort();
        v
    }
}

/// Retry policy of a worker.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// After this many deliveries a retryable failure is dead-lettered (keep it below the
    /// queue's own redrive limit, so the reason is ours).
    pub max_attempts: u32,
    /// Back-off after the first failure; doubles per attempt.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// The exponential schedule: `base_delay` doubling per attempt, at most `max_delay`.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.base_delay, self.max_delay)
    }

    pub fn delay(&self, attempt: u32) -> Duration {
        self.backoff().delay(attempt)
    }

    /// The back-off after the platform throttled attempt `attempt`: the next step of the
    /// exponential schedule (twice [`RetryPolicy::delay`], at most `max_delay`), then "equal
    /// jitter": a uniformly random point in its upper half, so it is never shorter than half
    /// the step and never longer than the step.
    pub fn throttle_delay(&self, attempt: u32) -> Duration {
        self.backoff()
            .jittered(attempt.saturating_add(1), rand::random::<f64>())
    }
}

/// What to do with a message after processing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done (or already done): delete it.
    Done,
    /// Try again after this delay.
    Retry(Duration),
    /// Put it back on the queue to run after this delay, as a fresh delivery (not a failed
    /// attempt): our rate limiter asked to wait.
    Defer(Duration),
    /// Set it aside with this reason.
    DeadLetter(String),
}

/// Process one message body: parse the envelope, find the handler, run it, and decide.
pub async fn decide(
    registry: &JobRegistry,
    policy: &RetryPolicy,
    body: &str,
    receive_count: u32,
) -> Disposition {
    let job: JobEnvelope = match serde_json::from_str(body) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(error = %e, "message is not a job envelope");
            return Disposition::DeadLetter(format!("not a job envelope: {e}"));
        }
    };
    let span = tracing::info_span!(
        "job",
        job_id = %job.id,
        job_type = %job.job_type,
        account_id = job.account_id.as_deref().unwrap_or(""),
        attempt = receive_count,
    );
    async {
        let Some(handler) = registry.get(&job.job_type) else {
            tracing::error!(known = ?registry.job_types(), "no handler for this job type");
            return Disposition::DeadLetter(format!("unknown job type {:?}", job.job_type));
        };
        let started = std::time::Instant::now();
        let result = crate::metrics::in_job(job.origin, handler.handle(&job)).await;
        for o in &registry.observers {
            o.finished(&job, &result).await;
        }
        match result {
            Ok(()) => {
                tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "job done");
                Disposition::Done
            }
            Err(JobError::Permanent(reason)) => {
                tracing::error!(%reason, "job failed permanently");
                Disposition::DeadLetter(format!("failed permanently: {reason}"))
            }
            Err(JobError::Deferred {
                retry_after,
                reason,
            }) => {
                tracing::info!(%reason, retry_in_ms = retry_after.as_millis() as u64, "job deferred");
                Disposition::Defer(retry_after)
            }
            Err(JobError::Throttled { source }) => {
                let cause = crate::error::chain(&*source);
                if receive_count >= policy.max_attempts {
                    tracing::error!(error = %cause, "job throttled; giving up");
                    Disposition::DeadLetter(format!(
                        "gave up after {receive_count} attempts: {cause}"
                    ))
                } else {
                    let delay = policy.throttle_delay(receive_count);
                    tracing::warn!(error = %cause, retry_in_ms = delay.as_millis() as u64, "platform throttled the job; backing off");
                    Disposition::Retry(delay)
                }
            }
            Err(JobError::Retryable {
                source,
                retry_after,
            }) => {
                let cause = crate::error::chain(&*source);
                if receive_count >= policy.max_attempts {
                    tracing::error!(error = %cause, "job failed; giving up");
                    Disposition::DeadLetter(format!(
                        "gave up after {receive_count} attempts: {cause}"
                    ))
                } else {
                    let delay = retry_after.unwrap_or_else(|| policy.delay(receive_count));
                    tracing::warn!(error = %cause, retry_in_s = delay.as_secs(), "job failed; will retry");
                    Disposition::Retry(delay)
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// Jobs in flight per queue in the embedded binary by default. Jobs are I/O-bound (each waits
/// on platform calls of tens to hundreds of milliseconds, on the store and on SMTP), so the
/// number is set by how many waits we want to overlap, not by cores: 32 keeps a burst of
/// 1,000 jobs at 50 ms per call to a few seconds, while 32 × a handful of platform calls stays
/// far below what the per-merchant rate limiter allows anyway, and the SQLite writer still
/// keeps up (each job makes a few small writes).
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Messages taken per receive (SQS's maximum, and the embedded queue's).
pub const MAX_BATCH: u32 = 10;

/// Settings of the embedded worker loop for one queue.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub queue: String,
    /// Jobs in flight at once.
    pub concurrency: usize,
    /// Messages per receive (1..=10); fewer when fewer jobs can start.
    pub batch: u32,
    /// How long a received job is hidden from others; while the job runs the worker extends
    /// it every half period, so a slow job is not delivered twice. After a crash the job runs
    /// again once this has passed.
    pub visibility: Duration,
    /// Long-poll wait per receive (also bounds how fast shutdown is noticed).
    pub wait: Duration,
    pub retry: RetryPolicy,
}

impl WorkerSettings {
    pub fn for_queue(queue: &str) -> Self {
        Self {
            queue: queue.to_string(),
            concurrency: DEFAULT_CONCURRENCY,
            batch: MAX_BATCH,
            visibility: Duration::from_secs(60),
            wait: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        }
    }
}

/// Apply a disposition to a received message.
async fn settle(queue: &dyn Queue, name: &str, msg: &QueueMessage, d: Disposition) {
    let result = match &d {
        Disposition::Done => queue.delete(name, &msg.receipt).await,
        Disposition::Retry(delay) => queue.change_visibility(name, &msg.receipt, *delay).await,
        Disposition::Defer(delay) => match queue.send(name, &msg.body, *delay).await {
            // The copy is queued first: a crash between the two steps leaves two deliveries
            // of one job, which handlers already treat as one.
            Ok(_) => queue.delete(name, &msg.receipt).await,
            Err(e) => {
                tracing::warn!(message_id = %msg.id, error = %crate::error::chain(&e), "could not requeue a deferred job; hiding it instead");
                queue.change_visibility(name, &msg.receipt, *delay).await
            }
        },
        Disposition::DeadLetter(reason) => queue.dead_letter(name, &msg.receipt, reason).await,
    };
    if result.is_ok() && matches!(d, Disposition::DeadLetter(_)) {
        crate::metrics::dead_letter(name);
    }
    if let Err(e) = result {
        // The message reappears after its visibility timeout and is handled again
        // (idempotently); nothing is lost.
        tracing::warn!(message_id = %msg.id, error = %crate::error::chain(&e), "could not settle message");
    }
}

/// Run `work` while keeping `msg` hidden: its visibility is extended every half period, so
/// a job that waits (on the rate limiter, a slow platform) is not handed to a second worker.
async fn keep_hidden(
    queue: &dyn Queue,
    settings: &WorkerSettings,
    msg: &QueueMessage,
    work: impl std::future::Future<Output = Disposition>,
) -> Disposition {
    let period = (settings.visibility / 2).max(Duration::from_millis(500));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(work);
    loop {
        tokio::select! {
            d = &mut work => return d,
            _ = tick.tick() => {
                if let Err(e) = queue
                    .change_visibility(&settings.queue, &msg.receipt, settings.visibility)
                    .await
                {
                    tracing::warn!(message_id = %msg.id, error = %crate::error::chain(&e), "could not extend the visibility of a running job");
                }
            }
        }
    }
}

/// Run the worker loop until `shutdown` is cancelled; jobs already started finish first.
///
/// One receiver per queue takes up to `batch` messages at a time, never more than there are
/// free places among `concurrency`, and runs each message as its own task; a finished job
/// frees its place at once, so a slow job does not hold up the others of its batch.
pub async fn run(
    queue: Arc<dyn Queue>,
    registry: Arc<JobRegistry>,
    settings: WorkerSettings,
    shutdown: CancellationToken,
) {
    let settings = Arc::new(settings);
    let places = Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1)));
    let batch = settings.batch.clamp(1, MAX_BATCH) as usize;
    let mut jobs = tokio::task::JoinSet::new();
    tracing::debug!(queue = %settings.queue, concurrency = settings.concurrency, "worker started");
    while !shutdown.is_cancelled() {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = places.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        while let Some(done) = jobs.try_join_next() {
            if let Err(e) = done {
                tracing::error!(queue = %settings.queue, error = %e, "job task failed");
            }
        }
        let mut permits = vec![first];
        while permits.len() < batch {
            match places.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let msgs = match queue
            .receive(
                &settings.queue,
                permits.len() as u32,
                settings.visibility,
                settings.wait,
            )
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(queue = %settings.queue, error = %crate::error::chain(&e), "receive failed");
                drop(permits);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        for msg in msgs {
            // The queue never returns more than asked; a place per message.
            let permit = permits.pop();
            let (queue, registry, settings) = (queue.clone(), registry.clone(), settings.clone());
            jobs.spawn(async move {
                let work = decide(&registry, &settings.retry, &msg.body, msg.receive_count);
                let d = keep_hidden(&*queue, &settings, &msg, work).await;
                settle(&*queue, &settings.queue, &msg, d).await;
                drop(permit);
            });
        }
    }
    while let Some(done) = jobs.join_next().await {
        if let Err(e) = done {
            tracing::error!(queue = %settings.queue, error = %e, "job task failed");
        }
    }
    tracing::debug!(queue = %settings.queue, "worker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_back_off_grows_and_stays_within_its_step() {
        let p = RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(300),
        };
        for attempt in 1..=8 {
            let step = p.delay(attempt + 1);
            for _ in 0..50 {
                let d = p.throttle_delay(attempt);
                assert!(d >= step / 2 && d <= step, "{attempt}: {d:?} vs {step:?}");
            }
        }
        assert_eq!(p.delay(2), Duration::from_secs(10));
        assert_eq!(p.delay(20), Duration::from_secs(300), "bounded");
        assert_eq!(
            jitter_upper_half(Duration::from_secs(10), 0.0),
            Duration::from_secs(5)
        );
        assert_eq!(
            jitter_upper_half(Duration::from_secs(10), 1.0),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn retries_back_off_doubling_from_the_base_up_to_the_cap() {
        let p = RetryPolicy::default();
        let schedule: Vec<u64> = (1..=10).map(|a| p.delay(a).as_secs()).collect();
        assert_eq!(schedule, [5, 10, 20, 40, 80, 160, 320, 640, 900, 900]);
        assert_eq!(p.delay(0), Duration::from_secs(5));
        // Doubling stops after twenty doublings, below a high cap.
        let p = RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(10_000),
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay(21), Duration::from_millis(1 << 20));
        assert_eq!(p.delay(22), Duration::from_millis(1 << 20));
    }
}
