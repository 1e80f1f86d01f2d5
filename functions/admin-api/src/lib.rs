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

/// Build the router state from the configuration: adapters, the administrator token and the
/// fingerprint key (both installation secrets the SAM template creates).
pub async fn state(config: &AwsConfig, sdk: &aws_config::SdkConfig) -> anyhow::Result<AppState> {
    let aws = AwsPorts::new(config, sdk);
    let read = |name: &'static str| {
        let secrets = aws.secrets.clone();
        async move {
            secrets.get(name).await?.ok_or_else(|| {
                anyhow::anyhow!("secret {name} is missing (the SAM template creates it)")
            })
        }
    };
    let admin = read(installation_secrets::ADMIN_TOKEN).await?;
    let fingerprint = read(installation_secrets::FINGERPRINT_KEY).await?;
    let ports = Ports {
        records: aws.records.clone(),
        queue: aws.queue.clone(),
        blobs: aws.blobs.clone(),
        secrets: aws.secrets.clone(),
        clock: Arc::new(SystemClock),
        inbox: Arc::new(app::inbox::RecordQueueInbox::new(
            aws.records.clone(),
            aws.queue.clone(),
        )),
    };
    let public = config
        .public_base_url
        .as_deref()
        .map(url::Url::parse)
        .transpose()?;
    Ok(AppState::new(
        ports,
        Fingerprinter::new(Sha256::digest(fingerprint.expose_secret().as_bytes()).into()),
        AdminAuth::from_hash(app::auth::hash(admin.expose_secret().trim())),
    )
    .with_public_base_url(public))
}
