//! The admin-api function's composition: the shared router over the AWS adapters.

use app::auth::AdminAuth;
use app::fingerprint::Fingerprinter;
use app::{AppState, Ports};
use aws::{AwsConfig, AwsPorts, installation_secrets};
use domain::clock::SystemClock;
use domain::ports::SecretStore;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The ports of a Lambda function over the AWS adapters.
pub fn ports(aws: &AwsPorts) -> Ports {
    Ports {
        records: aws.records.clone(),
        queue: aws.queue.clone(),
        blobs: aws.blobs.clone(),
        secrets: aws.secrets.clone(),
        clock: Arc::new(SystemClock),
        inbox: Arc::new(app::inbox::RecordQueueInbox::new(
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

/// Build the router state from the configuration: adapters, the administrator token and the
/// fingerprint key (both installation secrets the SAM template creates).
pub async fn state(config: &AwsConfig, sdk: &aws_config::SdkConfig) -> anyhow::Result<AppState> {
    let aws = AwsPorts::new(config, sdk);
    let admin = installation_secret(&aws, installation_secrets::ADMIN_TOKEN).await?;
    Ok(AppState::new(
        ports(&aws),
        fingerprinter(&aws).await?,
        AdminAuth::from_hash(app::auth::hash(admin.expose_secret().trim())),
    )
    .with_public_base_url(public_base_url(config)?)
    .with_plaintext_push_window(config.plaintext_push_window_secs))
}

async fn installation_secret(
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

/// State for the functions that serve no admin route (callbacks, workers). They read the
/// installation key (the WeChat token cache is sealed with a key derived from it), never the
/// administrator token: the administrator hash is random, so no token is accepted.
pub async fn platform_state(config: &AwsConfig, aws: &AwsPorts) -> anyhow::Result<AppState> {
    Ok(AppState::new(
        ports(aws),
        fingerprinter(aws).await?,
        AdminAuth::from_hash(rand_bytes()),
    )
    .with_public_base_url(public_base_url(config)?)
    .with_plaintext_push_window(config.plaintext_push_window_secs))
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, chunk) in b.chunks_mut(16).enumerate() {
        let id = uuid::Uuid::new_v4();
        chunk.copy_from_slice(&id.as_bytes()[..16]);
        chunk[0] ^= i as u8;
    }
    b
}

/// Run a callback function (only the callback routes) behind the HTTP API.
pub async fn run_callbacks(name: &'static str) -> Result<(), lambda_http::Error> {
    app::telemetry::init(app::telemetry::LogFormat::Json);
    let config = AwsConfig::from_env()?;
    let sdk = aws::sdk_config(config.endpoint_url.as_deref()).await;
    let state = platform_state(&config, &AwsPorts::new(&config, &sdk)).await?;
    tracing::info!(table = %config.table, function = name, "ready");
    lambda_http::run(app::http::callback_router(state)).await
}
