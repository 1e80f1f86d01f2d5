//! HTTP functions behind the HTTP API (`$default` stage): the admin API, and each platform's
//! callbacks (only the routes of the platforms this build serves).

use crate::{environment, installation_secret, services};
use aws::{AwsConfig, AwsPorts, installation_secrets};
use desk_http::auth::AdminAuth;
use desk_http::{AppState, CallbackState};
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
    .with_plaintext_push_window(config.plaintext_push_window_secs))
}

/// A callback function's router state: no administrator token at all.
pub async fn callback_state(config: &AwsConfig, aws: &AwsPorts) -> anyhow::Result<CallbackState> {
    Ok(CallbackState::new(services(config, aws).await?)
        .with_plaintext_push_window(config.plaintext_push_window_secs))
}

/// Run the admin API function.
pub async fn run_admin() -> Result<(), lambda_http::Error> {
    let (config, sdk) = environment().await?;
    let state = admin_state(&config, &sdk).await?;
    tracing::info!(table = %config.table, "admin-api ready");
    lambda_http::run(desk_http::router::router(state)).await
}

/// Run a callback function: the callback routes of the platforms this build serves, and
/// `/healthz`.
pub async fn run_callbacks(name: &'static str) -> Result<(), lambda_http::Error> {
    let (config, sdk) = environment().await?;
    let state = callback_state(&config, &AwsPorts::new(&config, &sdk)).await?;
    tracing::info!(table = %config.table, function = name, "ready");
    lambda_http::run(desk_http::router::callback_router(state)).await
}
