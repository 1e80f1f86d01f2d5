//! Configuration from the environment (set by the SAM template) and the SDK configuration.

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use std::collections::HashMap;

/// aws-config's connect timeout (`default_provider::timeout_config`).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(3100);

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

/// The SDK configuration: aws-config's default chain (environment, profiles, SSO, web identity,
/// IMDS), or an explicit endpoint for a local emulator. For tools run by an operator (`reindex`)
/// and tests; the functions use [`sdk_config_from_env`].
#[cfg(feature = "default-chain")]
pub async fn sdk_config(endpoint_url: Option<&str>) -> aws_types::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// The SDK configuration of a Lambda function, from the variables Lambda sets: `AWS_REGION` (or
/// `AWS_DEFAULT_REGION`), the role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN` (valid for the execution environment's life), and `endpoint_url` for a
/// local emulator. Without aws-config's chain a function links no STS, SSO or IMDS client. What
/// aws-config sets whatever the behaviour version is set here too: standard retries (3 attempts)
/// and a 3.1 s connect timeout (the service clients' own defaults give these only from behaviour
/// version 2026-01-12 on); the clients add the rest (HTTPS client, sleep, clock, stalled-stream
/// protection). A missing variable fails the start, naming it.
pub fn sdk_config_from_env(
    endpoint_url: Option<&str>,
) -> Result<aws_types::SdkConfig, ConfigError> {
    sdk_config_from_vars(|name| std::env::var(name).ok(), endpoint_url)
}

/// [`sdk_config_from_env`] over any source of variables (`lookup`: a name's value, if set).
pub fn sdk_config_from_vars(
    lookup: impl Fn(&str) -> Option<String>,
    endpoint_url: Option<&str>,
) -> Result<aws_types::SdkConfig, ConfigError> {
    let get = |name: &'static str| {
        lookup(name)
            .filter(|v| !v.is_empty())
            .ok_or(ConfigError::Missing(name))
    };
    let region = get("AWS_REGION")
        .or_else(|_| get("AWS_DEFAULT_REGION"))
        .map_err(|_| ConfigError::Missing("AWS_REGION"))?;
    let credentials = Credentials::new(
        get("AWS_ACCESS_KEY_ID")?,
        get("AWS_SECRET_ACCESS_KEY")?,
        get("AWS_SESSION_TOKEN").ok(),
        None,
        "environment",
    );
    let mut builder = aws_types::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(url) = endpoint_url {
        builder = builder.endpoint_url(url);
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn a_missing_variable_is_named() {
        let err =
            sdk_config_from_vars(vars(&[("AWS_ACCESS_KEY_ID", "a")]), None).expect_err("no region");
        assert_eq!(
            err.to_string(),
            "environment variable AWS_REGION is not set"
        );
        let err = sdk_config_from_vars(
            vars(&[
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("AWS_ACCESS_KEY_ID", "a"),
            ]),
            None,
        )
        .expect_err("no secret key");
        assert_eq!(
            err.to_string(),
            "environment variable AWS_SECRET_ACCESS_KEY is not set"
        );
    }

    #[test]
    fn region_and_endpoint_come_from_the_variables() {
        let sdk = sdk_config_from_vars(
            vars(&[
                ("AWS_REGION", "ap-east-1"),
                ("AWS_ACCESS_KEY_ID", "a"),
                ("AWS_SECRET_ACCESS_KEY", "b"),
            ]),
            Some("http://127.0.0.1:5000"),
        )
        .expect("config");
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("ap-east-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert!(sdk.credentials_provider().is_some());
    }

    /// What aws-config would set whatever the behaviour version: retries and the connect
    /// timeout do not depend on the clients' version-dependent defaults.
    #[test]
    fn retries_and_the_connect_timeout_are_aws_configs() {
        let sdk = sdk_config_from_vars(
            vars(&[
                ("AWS_REGION", "ap-east-1"),
                ("AWS_ACCESS_KEY_ID", "a"),
                ("AWS_SECRET_ACCESS_KEY", "b"),
            ]),
            None,
        )
        .expect("config");
        let retry = sdk.retry_config().expect("retry config");
        assert_eq!(retry.mode(), RetryConfig::standard().mode());
        assert_eq!(retry.max_attempts(), 3);
        assert_eq!(
            sdk.timeout_config().and_then(|t| t.connect_timeout()),
            Some(std::time::Duration::from_millis(3100))
        );
    }
}
