//! Composes the AWS functions: the configuration from the environment, the AWS adapters, the
//! core's [`Services`] (with the installation key), and running a function: the admin API or
//! one platform's callbacks behind the HTTP API (`admin`, `http`, feature `http`), a queue
//! consumer with partial batch responses ([`sqs`], feature `queue`), or the scheduler
//! (`schedule`, feature `schedule`: the account list and the events queue only, no secret).
//! Every function writes its metrics as CloudWatch EMF at the end of each invocation ([`emf`]);
//! the queue consumers and the scheduler stop their work before Lambda's deadline ([`deadline`]).
//! Each function enables only the platforms it serves, so it links only those.

use aws::{AwsConfig, AwsPorts, installation_secrets};
use desk_core::fingerprint::Fingerprinter;
use desk_core::{Ports, Services};
use domain::clock::SystemClock;
use domain::ports::SecretStore;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[cfg(all(feature = "http", feature = "full"))]
pub mod admin;
pub mod deadline;
pub mod emf;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "schedule")]
pub mod schedule;
#[cfg(feature = "queue")]
pub mod sqs;

/// The ports of a Lambda function over the AWS adapters.
pub fn ports(aws: &AwsPorts) -> Ports {
    Ports {
        records: aws.records.clone(),
        queue: aws.queue.clone(),
        blobs: aws.blobs.clone(),
        secrets: aws.secrets.clone(),
        clock: Arc::new(SystemClock),
        inbox: Arc::new(desk_core::inbox::RecordQueueInbox::new(
            aws.records.clone(),
            aws.queue.clone(),
        )),
    }
}

fn public_base_url(config: &AwsConfig) -> anyhow::Result<Option<url::Url>> {
    Ok(config
        .public_base_url
        .as_deref()
        .map(url::Url::parse)
        .transpose()?)
}

fn console_base(config: &AwsConfig) -> anyhow::Result<desk_core::ConsoleBase> {
    use anyhow::Context;
    Ok(config
        .console_base_url
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("CONSOLE_BASE_URL")?
        .unwrap_or_default())
}

/// An installation secret the SAM template creates.
pub async fn installation_secret(
    aws: &AwsPorts,
    name: &'static str,
) -> anyhow::Result<secrecy::SecretString> {
    aws.secrets
        .get(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("secret {name} is missing (the SAM template creates it)"))
}

/// The installation key (fingerprints, the authorisation `state`, the WeChat token cache seal).
async fn fingerprinter(aws: &AwsPorts) -> anyhow::Result<Fingerprinter> {
    let key = installation_secret(aws, installation_secrets::FINGERPRINT_KEY).await?;
    Ok(Fingerprinter::new(
        Sha256::digest(key.expose_secret().as_bytes()).into(),
    ))
}

/// The core's services over the AWS adapters: every function has these. They read the
/// installation key, never the administrator token.
pub async fn services(config: &AwsConfig, aws: &AwsPorts) -> anyhow::Result<Services> {
    Ok(Services::new(ports(aws), fingerprinter(aws).await?)
        .with_public_base_url(public_base_url(config)?)
        .with_console_base(console_base(config)?))
}

/// The configuration and the AWS SDK settings from the environment (Lambda's region and role
/// credentials variables: [`aws::sdk_config_from_env`], no credential chain), logging set up
/// (JSON, on standard error) and the metrics recorder installed (EMF, on standard output:
/// [`emf`]).
pub async fn environment() -> anyhow::Result<(AwsConfig, aws::SdkConfig)> {
    desk_core::telemetry::init(desk_core::telemetry::LogFormat::Json);
    emf::global();
    let config = AwsConfig::from_env()?;
    let sdk = aws::sdk_config_from_env(config.endpoint_url.as_deref())?;
    Ok((config, sdk))
}
