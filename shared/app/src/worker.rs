//! The worker: jobs from a queue, dispatched by type to registered handlers. The decision for
//! one message ([`decide`]) is shared by the embedded loop ([`run`]) and the Lambda SQS
//! handler, so both retry, back off and dead-letter the same way.

use async_trait::async_trait;
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
    /// Worth trying again later (a platform timeout, 429/5xx, the store unavailable).
    #[error("retryable: {source}")]
    Retryable {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// Ask for a specific delay (e.g. a platform's Retry-After).
        retry_after: Option<Duration>,
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
}

/// Handles one job type. Handlers must be idempotent: a job can arrive more than once.
#[async_trait]
pub trait JobHandler: Send + Sync {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError>;
}

/// Job type → handler. Later capabilities register theirs.
#[derive(Clone, Default)]
pub struct JobRegistry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
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
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// What to do with a message after processing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done (or already done): delete it.
    Done,
    /// Try again after this delay.
    Retry(Duration),
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
        match handler.handle(&job).await {
            Ok(()) => {
                tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "job done");
                Disposition::Done
            }
            Err(JobError::Permanent(reason)) => {
                tracing::error!(%reason, "job failed permanently");
                Disposition::DeadLetter(format!("failed permanently: {reason}"))
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

/// Settings of the embedded worker loop for one queue.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub queue: String,
    /// Concurrent receivers.
    pub concurrency: usize,
    /// How long a received job is hidden from others while it runs.
    pub visibility: Duration,
    /// Long-poll wait per receive (also bounds how fast shutdown is noticed).
    pub wait: Duration,
    pub retry: RetryPolicy,
}

impl WorkerSettings {
    pub fn for_queue(queue: &str) -> Self {
        Self {
            queue: queue.to_string(),
            concurrency: 2,
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
        Disposition::DeadLetter(reason) => queue.dead_letter(name, &msg.receipt, reason).await,
    };
    if let Err(e) = result {
        // The message reappears after its visibility timeout and is handled again
        // (idempotently); nothing is lost.
        tracing::warn!(message_id = %msg.id, error = %crate::error::chain(&e), "could not settle message");
    }
}

/// Run the worker loop until `shutdown` is cancelled; jobs already started finish first.
pub async fn run(
    queue: Arc<dyn Queue>,
    registry: Arc<JobRegistry>,
    settings: WorkerSettings,
    shutdown: CancellationToken,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..settings.concurrency.max(1) {
        let (queue, registry, settings, shutdown) = (
            queue.clone(),
            registry.clone(),
            settings.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            tracing::debug!(queue = %settings.queue, receiver = n, "worker started");
            while !shutdown.is_cancelled() {
                let msgs = match queue
                    .receive(&settings.queue, 1, settings.visibility, settings.wait)
                    .await
                {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!(queue = %settings.queue, error = %crate::error::chain(&e), "receive failed");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        }
                    }
                };
                for msg in msgs {
                    let d = decide(&registry, &settings.retry, &msg.body, msg.receive_count).await;
                    settle(&*queue, &settings.queue, &msg, d).await;
                }
            }
            tracing::debug!(queue = %settings.queue, receiver = n, "worker stopped");
        });
    }
    while tasks.join_next().await.is_some() {}
}
