//! What the budget and EMF tests share: SQS events built from job types, a queue that only
//! notes what the batch handler asked of it, a buffer the recorder writes to.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use domain::ports::QueueError;
use runtime::sqs::BatchQueue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An SQS batch with one record per `(message id, job type, account)`.
pub fn batch(records: &[(&str, &str, &str)]) -> SqsEvent {
    received(records, 1)
}

/// [`batch`], each record on its `receive_count`th receive.
pub fn received(records: &[(&str, &str, &str)], receive_count: u32) -> SqsEvent {
    SqsEvent {
        records: records
            .iter()
            .map(|(id, job_type, account)| SqsMessage {
                message_id: Some((*id).into()),
                receipt_handle: Some(format!("receipt-{id}")),
                body: Some(
                    serde_json::json!({
                        "id": format!("job-{id}"),
                        "type": job_type,
                        "account_id": account,
                        "created_at": "2026-11-22T08:00:00Z",
                        "payload": {},
                    })
                    .to_string(),
                ),
                attributes: HashMap::from([(
                    "ApproximateReceiveCount".into(),
                    receive_count.to_string(),
                )]),
                ..Default::default()
            })
            .collect(),
    }
}

/// The invocation Lambda would make of `event`, with its deadline `deadline` from now.
pub fn invocation<T>(event: T, deadline: Duration) -> lambda_runtime::LambdaEvent<T> {
    let mut context = lambda_runtime::Context::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    context.deadline = (now + deadline).as_millis() as u64;
    lambda_runtime::LambdaEvent::new(event, context)
}

/// A queue that notes what the batch handler asked of it, and grants it all.
#[derive(Default)]
pub struct NotingQueue(pub Mutex<Vec<String>>);

#[async_trait]
impl BatchQueue for NotingQueue {
    async fn dead_letter(
        &self,
        _: &str,
        message_id: &str,
        _: &str,
        _: u32,
        _: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), QueueError> {
        self.0
            .lock()
            .expect("calls")
            .push(format!("dead_letter {message_id}: {reason}"));
        Ok(())
    }
    async fn back_off(&self, _: &str, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.0
            .lock()
            .expect("calls")
            .push(format!("back_off {receipt} {}s", delay.as_secs()));
        Ok(())
    }
    async fn requeue(&self, _: &str, _: &str, _: Duration) -> Result<(), QueueError> {
        self.0.lock().expect("calls").push("requeue".into());
        Ok(())
    }
}

/// Where a test's recorder writes: the lines a function would print.
#[derive(Clone, Default)]
pub struct Stdout(pub Arc<Mutex<Vec<u8>>>);

impl Stdout {
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().expect("stdout").clone())
            .expect("UTF-8")
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("stdout").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
