//! Queue consumers (the worker, the notifier) as Lambda functions: the SQS batch handler, each
//! record on its own, so one poison message cannot fail the batch. The decision per message is
//! `desk_core::worker::decide`, shared with the embedded loop.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use desk_core::worker::{Disposition, JobRegistry, RetryPolicy};
use domain::ports::QueueError;
use lambda_runtime::LambdaEvent;
use std::time::Duration;

/// What the batch handler needs from the queue beyond the event itself.
#[async_trait]
pub trait BatchQueue: Send + Sync {
    /// Set a message aside in the queue's DLQ with why.
    async fn dead_letter(
        &self,
        queue: &str,
        message_id: &str,
        body: &str,
        receive_count: u32,
        sent_at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), QueueError>;
    /// Back off: hide the message for `delay` before SQS delivers it again.
    async fn back_off(
        &self,
        queue: &str,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError>;
    /// Send a copy of a deferred job, delivered after `delay` (the original is then reported
    /// done, so waiting for the rate limiter uses up none of the job's attempts).
    async fn requeue(&self, queue: &str, body: &str, delay: Duration) -> Result<(), QueueError>;
}

#[async_trait]
impl BatchQueue for aws::SqsQueue {
    async fn dead_letter(
        &self,
        queue: &str,
        message_id: &str,
        body: &str,
        receive_count: u32,
        sent_at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), QueueError> {
        self.send_to_dead_letters(queue, message_id, body, receive_count, sent_at, reason)
            .await
    }

    async fn back_off(
        &self,
        queue: &str,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.change_visibility_by_handle(queue, receipt_handle, delay)
            .await
    }

    async fn requeue(&self, queue: &str, body: &str, delay: Duration) -> Result<(), QueueError> {
        domain::ports::Queue::send(self, queue, body, delay)
            .await
            .map(|_| ())
    }
}

fn attribute<T: std::str::FromStr>(m: &SqsMessage, name: &str) -> Option<T> {
    m.attributes.get(name).and_then(|v| v.parse().ok())
}

/// Handle one SQS batch from `queue`; the response lists only the messages SQS should deliver
/// again. The records of a batch run concurrently (jobs wait on platform calls, not on CPU);
/// each is decided on its own. No time limit: see [`handle_batch_within`].
pub async fn handle_batch(
    event: SqsEvent,
    queue: &str,
    registry: &JobRegistry,
    policy: &RetryPolicy,
    sink: &dyn BatchQueue,
) -> SqsBatchResponse {
    handle_batch_within(event, None, queue, registry, policy, sink).await
}

/// One invocation of a queue consumer: its batch within the invocation's time (Lambda's
/// deadline less [`crate::deadline::REPORT_MARGIN`]), then its metrics written.
pub async fn handle_invocation(
    event: LambdaEvent<SqsEvent>,
    queue: &str,
    registry: &JobRegistry,
    policy: &RetryPolicy,
    sink: &dyn BatchQueue,
    emf: &crate::emf::Emf,
) -> SqsBatchResponse {
    let budget = crate::deadline::budget_now(event.context.deadline);
    emf.around(handle_batch_within(
        event.payload,
        budget,
        queue,
        registry,
        policy,
        sink,
    ))
    .await
}

/// [`handle_batch`] within `budget`: a job not finished when it runs out is abandoned (its
/// future dropped, as in a crash; every job is safe to run again) and its record backed off
/// briefly and reported failed, so SQS delivers it again soon; on its last allowed receive it
/// is dead-lettered with the reason instead. The records that finished are reported done. The
/// budget covers the jobs only: the follow-up of each (back-off, requeue, dead letter) always
/// runs, within the margin kept back, so a message SQS accepted is never cut off half-sent.
/// A job that panics fails its own record only.
pub async fn handle_batch_within(
    event: SqsEvent,
    budget: Option<Duration>,
    queue: &str,
    registry: &JobRegistry,
    policy: &RetryPolicy,
    sink: &dyn BatchQueue,
) -> SqsBatchResponse {
    let until = budget.map(|b| tokio::time::Instant::now() + b);
    let outcomes = futures_util::future::join_all(
        event
            .records
            .into_iter()
            .map(|m| handle_record(m, until, queue, registry, policy, sink)),
    )
    .await;
    SqsBatchResponse {
        batch_item_failures: outcomes
            .into_iter()
            .flatten()
            .map(|id| BatchItemFailure {
                item_identifier: id,
            })
            .collect(),
    }
}

/// The reason a record that ran out of time on its last allowed receive is dead-lettered with.
pub fn out_of_time_reason(receive_count: u32) -> String {
    format!("ran out of time {receive_count} times (the function's deadline)")
}

/// One record, its job run until `until`: the message id when SQS should deliver it again.
async fn handle_record(
    m: SqsMessage,
    until: Option<tokio::time::Instant>,
    queue: &str,
    registry: &JobRegistry,
    policy: &RetryPolicy,
    sink: &dyn BatchQueue,
) -> Option<String> {
    use futures_util::FutureExt;
    let Some(id) = m.message_id.clone() else {
        tracing::error!("SQS record without a message id; skipped");
        return None;
    };
    let body = m.body.clone().unwrap_or_default();
    let receive_count: u32 = attribute(&m, "ApproximateReceiveCount").unwrap_or(1);
    let sent_at = attribute::<i64>(&m, "SentTimestamp")
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(Utc::now);
    let back_off = |delay: Duration| {
        let handle = m.receipt_handle.clone();
        let id = id.clone();
        async move {
            if let Some(h) = handle.as_deref()
                && let Err(e) = sink.back_off(queue, h, delay).await
            {
                tracing::warn!(message_id = %id, error = %e, "could not set the back-off; SQS retries after the visibility timeout");
            }
        }
    };
    let job = std::panic::AssertUnwindSafe(desk_core::worker::decide(
        registry,
        policy,
        &body,
        receive_count,
    ))
    .catch_unwind();
    let ran = match until {
        None => Some(job.await),
        Some(until) => tokio::time::timeout_at(until, job).await.ok(),
    };
    let disposition = match ran {
        Some(Ok(disposition)) => disposition,
        Some(Err(_panic)) => {
            tracing::error!(message_id = %id, job_type = %job_type(&body), "the job panicked; SQS delivers it again");
            return Some(id);
        }
        None if receive_count >= policy.max_attempts => {
            tracing::error!(message_id = %id, job_type = %job_type(&body), attempt = receive_count, "the invocation's time ran out on the job's last attempt; dead-lettering it");
            Disposition::DeadLetter(out_of_time_reason(receive_count))
        }
        None => {
            let delay = policy.delay(receive_count);
            tracing::warn!(message_id = %id, job_type = %job_type(&body), retry_in_s = delay.as_secs(), "the invocation's time ran out: this job is abandoned and SQS delivers it again");
            Disposition::Retry(delay)
        }
    };
    let failed = match disposition {
        Disposition::Done => false,
        Disposition::Retry(delay) => {
            back_off(delay).await;
            true
        }
        Disposition::Defer(delay) => match sink.requeue(queue, &body, delay).await {
            Ok(()) => false,
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "could not requeue a deferred job; backing off instead");
                back_off(delay).await;
                true
            }
        },
        Disposition::DeadLetter(reason) => {
            match sink
                .dead_letter(queue, &id, &body, receive_count, sent_at, &reason)
                .await
            {
                Ok(()) => {
                    desk_core::metrics::dead_letter(queue);
                    false
                }
                Err(e) => {
                    tracing::error!(message_id = %id, error = %e, "could not dead-letter; leaving it to SQS redrive");
                    true
                }
            }
        }
    };
    failed.then_some(id)
}

/// A job's type as its body names it (for a log line; never the body itself).
fn job_type(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Run a queue consumer as a Lambda function (the worker on `events`, the notifier on
/// `notify`): the AWS adapters, the job handlers of this build, partial batch responses.
pub async fn run_lambda(queue: &'static str) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::service_fn;
    use std::sync::Arc;
    let (config, sdk) = crate::environment().await?;
    let emf = crate::emf::global();
    let ports = aws::AwsPorts::new(&config, &sdk);
    let services = crate::services(&config, &ports).await?;
    let registry = Arc::new(desk_core::policy::registry(
        &services,
        &desk_core::platforms::builtin(),
    ));
    let policy = Arc::new(RetryPolicy {
        max_attempts: config.max_receives.saturating_sub(1).max(1),
        ..RetryPolicy::default()
    });
    let sqs = ports.queue.clone();
    tracing::info!(queue, job_types = ?registry.job_types(), "consumer ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (registry, policy, sqs) = (registry.clone(), policy.clone(), sqs.clone());
        async move {
            Ok::<_, lambda_runtime::Error>(
                handle_invocation(event, queue, &registry, &policy, &*sqs, emf).await,
            )
        }
    }))
    .await
}
