//! AWS adapters for the ports: DynamoDB records (one table, pk/sk and two GSIs), SQS queues
//! with dead-letter queues, S3 blobs and Secrets Manager secrets. Every adapter passes the same
//! contract suites as the embedded ones (run against moto server by the test command).

mod blobs;
mod boxed;
mod config;
mod queue;
mod records;
mod secrets;

pub use blobs::S3BlobStore;
pub use config::{AwsConfig, ConfigError, sdk_config};
pub use queue::{QueueUrls, SqsQueue};
pub use records::{DynamoRecordStore, attr};
pub use secrets::SecretsManagerStore;

pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;

/// The AWS adapters a function needs, built once at cold start.
pub struct AwsPorts {
    pub records: std::sync::Arc<DynamoRecordStore>,
    pub queue: std::sync::Arc<SqsQueue>,
    pub blobs: std::sync::Arc<S3BlobStore>,
    pub secrets: std::sync::Arc<SecretsManagerStore>,
}

impl AwsPorts {
    /// Build every adapter from the configuration. Secrets are cached for five minutes.
    pub fn new(config: &AwsConfig, sdk: &aws_config::SdkConfig) -> Self {
        let records = std::sync::Arc::new(DynamoRecordStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table.clone(),
        ));
        let queue = std::sync::Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            config.queues.clone(),
            records.clone(),
            config.max_receives,
        ));
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(config.endpoint_url.is_some())
            .build();
        let blobs = std::sync::Arc::new(S3BlobStore::new(
            aws_sdk_s3::Client::from_conf(s3),
            config.bucket.clone(),
            "blobs/",
        ));
        let secrets = std::sync::Arc::new(SecretsManagerStore::new(
            aws_sdk_secretsmanager::Client::new(sdk),
            config.secret_prefix.clone(),
            std::time::Duration::from_secs(300),
        ));
        Self {
            records,
            queue,
            blobs,
            secrets,
        }
    }
}

/// Names (under the prefix) of the installation secrets the SAM template creates.
pub mod installation_secrets {
    /// The administrator bearer token (the admin API only).
    pub use domain::ports::secret_names::ADMIN_TOKEN;
    /// The installation key: short-secret fingerprints (HMAC), the authorisation state, the
    /// WeChat token cache seal.
    pub use domain::ports::secret_names::FINGERPRINT_KEY;
}
