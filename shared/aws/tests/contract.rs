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

/// What a function does at start (`runtime::environment`): the SDK settings from Lambda's
/// variables alone (no aws-config chain), and every adapter built on them reaches its service.
#[tokio::test]
async fn every_adapter_works_with_the_sdk_settings_from_lambdas_variables() {
    let config = moto::deployment("admin-token").await;
    let lambda = |name: &str| match name {
        "AWS_REGION" => Some("us-east-1".to_string()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("testing".to_string()),
        _ => None,
    };
    let sdk = aws::sdk_config_from_vars(lambda, Some(moto::endpoint())).expect("settings");
    let ports = aws::AwsPorts::new(&config, &sdk);
    ports.records.ping().await.expect("DynamoDB");
    ports.queue.ping().await.expect("SQS");
    let token = ports
        .secrets
        .get(aws::installation_secrets::ADMIN_TOKEN)
        .await
        .expect("Secrets Manager");
    assert!(token.is_some(), "the deployment's admin token");
    let blob = domain::ports::Blob {
        bytes: b"evidence".to_vec(),
        content_type: "image/png".to_string(),
    };
    ports.blobs.put("media/1", blob).await.expect("S3");
    let back = ports
        .blobs
        .get("media/1")
        .await
        .expect("S3")
        .expect("stored");
    assert_eq!(back.bytes, b"evidence");
}
