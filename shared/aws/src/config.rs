//! Configuration from the environment (set by the SAM template) and the SDK configuration.

use aws_config::BehaviorVersion;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        reason: &'static str,
    },
}

/// What every function needs to reach its resources. Secrets are named, never given by value.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub table: String,
    /// Queue name → (URL, DLQ URL).
    pub queues: HashMap<String, crate::queue::QueueUrls>,
    pub bucket: String,
    pub secret_prefix: String,
    pub public_base_url: Option<String>,
    /// Where staff open the console, for the links in staff notices (`CONSOLE_BASE_URL`: a
    /// URL, or `off` for no console links; unset: under `PUBLIC_BASE_URL`).
    pub console_base_url: Option<String>,
    /// Set only to reach a local emulator (`AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// The queues' redrive limit (`QUEUE_MAX_RECEIVES`, default 5).
    pub max_receives: u32,
    /// How far (seconds) a plaintext mini-program push's timestamp may be from now
    /// (`PLAINTEXT_PUSH_WINDOW_SECS`, 1 to 86400; unset: the application's default, 900).
    pub plaintext_push_window_secs: Option<u32>,
}

fn var(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

impl AwsConfig {
    /// Read `TABLE_NAME`, `EVENTS_QUEUE_URL`, `EVENTS_DLQ_URL`, `NOTIFY_QUEUE_URL`,
    /// `NOTIFY_DLQ_URL`, `BLOB_BUCKET`, `SECRET_PREFIX`, and optionally `PUBLIC_BASE_URL`,
    /// `CONSOLE_BASE_URL`,
    /// `AWS_ENDPOINT_URL`, `QUEUE_MAX_RECEIVES`, `PLAINTEXT_PUSH_WINDOW_SECS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut queues = HashMap::new();
        queues.insert(
            domain::job::queues::EVENTS.to_string(),
            crate::queue::QueueUrls {
                url: var("EVENTS_QUEUE_URL")?,
                dlq_url: var("EVENTS_DLQ_URL")?,
            },
        );
        queues.insert(
            domain::job::queues::NOTIFY.to_string(),
            crate::queue::QueueUrls {
                url: var("NOTIFY_QUEUE_URL")?,
                dlq_url: var("NOTIFY_DLQ_URL")?,
            },
        );
        Ok(Self {
            table: var("TABLE_NAME")?,
            queues,
            bucket: var("BLOB_BUCKET")?,
            secret_prefix: var("SECRET_PREFIX")?,
            public_base_url: var("PUBLIC_BASE_URL").ok(),
            console_base_url: var("CONSOLE_BASE_URL").ok(),
            endpoint_url: var("AWS_ENDPOINT_URL").ok(),
            max_receives: var("QUEUE_MAX_RECEIVES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(5),
            plaintext_push_window_secs: var("PLAINTEXT_PUSH_WINDOW_SECS")
                .ok()
                .map(|v| match v.trim().parse::<u32>() {
                    Ok(n) if (1..=86_400).contains(&n) => Ok(n),
                    _ => Err(ConfigError::Invalid {
                        name: "PLAINTEXT_PUSH_WINDOW_SECS",
                        reason: "must be a number of seconds from 1 to 86400",
                    }),
                })
                .transpose()?,
        })
    }
}

/// The SDK configuration: the default chain (Lambda's role), or an explicit endpoint for a
/// local emulator.
pub async fn sdk_config(endpoint_url: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}
