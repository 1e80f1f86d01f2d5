//! AWS adapters for the ports: DynamoDB records (one table, pk/sk and two GSIs), SQS queues
//! with dead-letter queues, S3 blobs and Secrets Manager secrets. Every adapter passes the same
//! contract suites as the embedded ones (run against moto server by the test command).
//!
//! Features (each function links only what it uses): `blobs` builds the S3 adapter (the admin
//! API and the worker; without it [`AwsPorts::blobs`] is a [`NoBlobStore`]), `default-chain`
//! gives [`sdk_config`] with aws-config's credential chain (profiles, SSO, STS, IMDS: for tools
//! run by an operator, and tests); the functions take their SDK settings from Lambda's
//! environment variables ([`sdk_config_from_env`]).

#[cfg(feature = "blobs")]
mod blobs;
mod boxed;
mod config;
mod no_blobs;
mod queue;
mod records;
mod secrets;

/// The AWS SDK's shared settings (region, credentials, endpoint).
pub use aws_types::SdkConfig;
#[cfg(feature = "blobs")]
pub use blobs::S3BlobStore;
#[cfg(feature = "default-chain")]
pub use config::sdk_config;
pub use config::{AwsConfig, ConfigError, sdk_config_from_env, sdk_config_from_vars};
pub use no_blobs::{NoBlobStore, NoBlobStoreError};
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
    /// S3 (feature `blobs`), or [`NoBlobStore`].
    pub blobs: std::sync::Arc<dyn domain::ports::BlobStore>,
    pub secrets: std::sync::Arc<SecretsManagerStore>,
}

impl AwsPorts {
    /// Build every adapter from the configuration. Secrets are cached for five minutes.
    pub fn new(config: &AwsConfig, sdk: &SdkConfig) -> Self {
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
        let blobs = blobs(config, sdk);
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

/// The S3 blob store under `blobs/` of the bucket (path-style addressing for an emulator).
#[cfg(feature = "blobs")]
fn blobs(config: &AwsConfig, sdk: &SdkConfig) -> std::sync::Arc<dyn domain::ports::BlobStore> {
    let s3 = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(config.endpoint_url.is_some())
        .build();
    std::sync::Arc::new(S3BlobStore::new(
        aws_sdk_s3::Client::from_conf(s3),
        config.bucket.clone(),
        "blobs/",
    ))
}

/// No S3 in this build: every blob call fails ([`NoBlobStore`]).
#[cfg(not(feature = "blobs"))]
fn blobs(_config: &AwsConfig, _sdk: &SdkConfig) -> std::sync::Arc<dyn domain::ports::BlobStore> {
    std::sync::Arc::new(NoBlobStore)
}

/// Names (under the prefix) of the installation secrets the SAM template creates.
pub mod installation_secrets {
    /// The administrator bearer token (the admin API only).
    pub use domain::ports::secret_names::ADMIN_TOKEN;
    /// The installation key: short-secret fingerprints (HMAC), the authorisation state, the
    /// WeChat token cache seal.
    pub use domain::ports::secret_names::FINGERPRINT_KEY;
}
