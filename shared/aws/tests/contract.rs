//! The port contract suites against the AWS adapters, on moto server.

use aws::{DynamoRecordStore, S3BlobStore, SecretsManagerStore, SqsQueue};
use domain::ports::{BlobStore, Queue, RecordStore, SecretStore};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws::testing as moto;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn table(cfg: &aws_config::SdkConfig) -> Arc<DynamoRecordStore> {
    let client = aws_sdk_dynamodb::Client::new(cfg);
    let name = unique("records");
    aws::schema::create_table(&client, &name)
        .await
        .expect("create table");
    Arc::new(DynamoRecordStore::new(client, name))
}

async fn records() -> contract::Fixture<dyn RecordStore> {
    let cfg = moto::sdk_config().await;
    contract::Fixture::new(table(&cfg).await, ())
}

async fn queue() -> contract::Fixture<dyn Queue> {
    let cfg = moto::sdk_config().await;
    let client = aws_sdk_sqs::Client::new(&cfg);
    let mut queues = HashMap::new();
    for q in domain::job::queues::ALL {
        let urls =
            aws::schema::create_queue_pair(&client, &unique(q), contract::queue::MAX_RECEIVES)
                .await
                .expect("create queues");
        queues.insert(q.to_string(), urls);
    }
    let records = table(&cfg).await;
    contract::Fixture::new(
        Arc::new(SqsQueue::new(
            client,
            queues,
            records,
            contract::queue::MAX_RECEIVES,
        )),
        (),
    )
}

async fn secrets() -> contract::Fixture<dyn SecretStore> {
    let cfg = moto::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&cfg);
    contract::Fixture::new(
        Arc::new(SecretsManagerStore::new(
            client,
            format!("{}/", unique("desk")),
            Duration::from_secs(300),
        )),
        (),
    )
}

async fn blobs() -> contract::Fixture<dyn BlobStore> {
    let cfg = moto::sdk_config().await;
    let client = moto::s3_client(&cfg);
    let bucket = unique("blobs");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    contract::Fixture::new(Arc::new(S3BlobStore::new(client, bucket, "blobs/")), ())
}

contract::record_store_suite!(records);
contract::queue_suite!(queue);
contract::secret_store_suite!(secrets);
contract::blob_store_suite!(blobs);

async fn inbox() -> contract::Fixture<contract::inbox::InboxUnderTest> {
    let q = queue().await;
    let cfg = moto::sdk_config().await;
    let records = table(&cfg).await;
    let under_test = contract::inbox::InboxUnderTest {
        inbox: Arc::new(desk_core::inbox::RecordQueueInbox::new(
            records,
            q.port.clone(),
        )),
        queue: q.port,
    };
    contract::Fixture::new(Arc::new(under_test), ())
}

contract::inbox_suite!(inbox);
