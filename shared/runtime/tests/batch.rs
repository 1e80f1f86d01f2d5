//! The worker's SQS batch handler, fed the `events/` batch with one poison record, against
//! queues on moto server; a batch within its invocation's time ([`budget`]); the metrics an
//! invocation prints as CloudWatch EMF ([`emf`]).

#[path = "batch/budget.rs"]
mod budget;
#[path = "batch/emf.rs"]
mod emf;
#[path = "batch/support.rs"]
mod support;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use desk_core::worker::{JobError, JobHandler, JobRegistry, RetryPolicy};
use domain::job::JobEnvelope;
use domain::ports::Queue;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws::testing as moto;

struct Counting(AtomicU32, bool);

#[async_trait]
impl JobHandler for Counting {
    async fn handle(&self, _job: &JobEnvelope) -> Result<(), JobError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        if self.1 {
            Err(JobError::retryable(std::io::Error::other(
                "platform answered 503",
            )))
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn a_poison_record_fails_alone_and_unknown_jobs_are_dead_lettered() {
    let cfg = moto::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let dynamo = aws_sdk_dynamodb::Client::new(&cfg);
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let table = format!("records-{suffix}");
    aws::schema::create_table(&dynamo, &table)
        .await
        .expect("table");
    let urls = aws::schema::create_queue_pair(&sqs, &format!("events-{suffix}"), 5)
        .await
        .expect("queues");
    let records = Arc::new(aws::DynamoRecordStore::new(dynamo, table));
    let queue = aws::SqsQueue::new(
        sqs,
        HashMap::from([("events".to_string(), urls)]),
        records,
        5,
    );

    let ok = Arc::new(Counting(AtomicU32::new(0), false));
    let retry = Arc::new(Counting(AtomicU32::new(0), true));
    let mut registry = JobRegistry::new();
    registry.register("test.ok", ok.clone());
    registry.register("test.always_retry", retry.clone());

    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/sqs/worker-batch-with-poison.json");
    let event: SqsEvent = serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture"))
        .expect("SQS event");
    let third_body = event.records[2].body.clone().expect("body");

    let res =
        runtime::sqs::handle_batch(event, "events", &registry, &RetryPolicy::default(), &queue)
            .await;
    let failed: Vec<&str> = res
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        vec!["5b9d4a6e-0c2f-4b7a-9c1e-000000000002"],
        "only the poison record fails"
    );
    assert_eq!(ok.0.load(Ordering::SeqCst), 1);
    assert_eq!(retry.0.load(Ordering::SeqCst), 1);

    // The job no handler knows went to the DLQ with its reason, so SQS will not retry it.
    let dead = queue
        .list_dead_letters("events", 10, None)
        .await
        .expect("list");
    assert_eq!(dead.items.len(), 1, "{dead:?}");
    assert_eq!(dead.items[0].body, third_body);
    assert_eq!(dead.items[0].id, "5b9d4a6e-0c2f-4b7a-9c1e-000000000003");
    assert_eq!(dead.items[0].reason, "unknown job type \"future.job_type\"");
}
