//! AWS adapters for the ports: DynamoDB records (one table, pk/sk and two GSIs), SQS queues
//! with dead-letter queues, S3 blobs and Secrets Manager secrets. Every adapter passes the same
//! contract suites as the embedded ones (run against moto server by the test command).

mod blobs;
mod config;
mod queue;
mod records;
mod secrets;

pub use blobs::S3BlobStore;
pub use config::{AwsConfig, ConfigError, sdk_config};
pub use queue::{QueueUrls, SqsQueue};
pub use records::{DynamoRecordStore, attr};
pub use secrets::SecretsManagerStore;

pub(crate) fn boxed<E: std::error::Error + Send + Sync + 'static>(
    e: E,
) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(e)
}

pub mod schema;
