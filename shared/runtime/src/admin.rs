//! The admin API function behind the HTTP API (`$default` stage): the admin routes, the
//! authorisation pages and every callback route (it needs every platform: feature `full`).

use crate::{environment, installation_secret, services};
use aws::{AwsConfig, AwsPorts, installation_secrets};
use desk_http::AppState;
use desk_http::auth::AdminAuth;
use secrecy::ExposeSecret;

/// The admin API's router state: the services and the administrator token (an installation
/// secret the SAM template creates).
pub async fn admin_state(
    config: &AwsConfig,
    sdk: &aws_config::SdkConfig,
) -> anyhow::Result<AppState> {
    let aws = AwsPorts::new(config, sdk);
    let admin = installation_secret(&aws, installation_secrets::ADMIN_TOKEN).await?;
    Ok(AppState::new(
        services(config, &aws).await?,
        AdminAuth::from_hash(desk_http::auth::hash(admin.expose_secret().trim())),
    )
    .with_platforms(desk_core::platforms::builtin())
    .with_plaintext_push_window(config.plaintext_push_window_secs))
}

/// Run the admin API function.
pub async fn run_admin() -> Result<(), lambda_http::Error> {
    let (config, sdk) = environment().await?;
    let state = admin_state(&config, &sdk).await?;
    tracing::info!(table = %config.table, "admin-api ready");
    lambda_http::run(desk_http::router::router(state)).await
}
