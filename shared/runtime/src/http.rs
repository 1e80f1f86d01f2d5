//! Callback functions behind the HTTP API (`$default` stage): each serves its own endpoints.

use crate::{environment, services};
use aws::{AwsConfig, AwsPorts};
use desk_core::platform::Platforms;
use desk_http::CallbackState;

/// A callback function's router state, serving `platforms`: no administrator token at all.
pub async fn callback_state(
    config: &AwsConfig,
    aws: &AwsPorts,
    platforms: Platforms,
) -> anyhow::Result<CallbackState> {
    Ok(CallbackState::new(services(config, aws).await?)
        .with_platforms(platforms)
        .with_plaintext_push_window(config.plaintext_push_window_secs))
}

/// Run a callback function: the routes of one endpoint family (`family`: `wxopen`) of the
/// platforms it registers, and `/healthz` (whatever else a build of the whole workspace
/// compiled in, the function serves only these).
pub async fn run_callbacks(
    name: &'static str,
    platforms: Platforms,
    family: &'static str,
) -> Result<(), lambda_http::Error> {
    let (config, sdk) = environment().await?;
    let state = callback_state(&config, &AwsPorts::new(&config, &sdk), platforms).await?;
    tracing::info!(table = %config.table, function = name, platforms = ?state.platforms, family, "ready");
    lambda_http::run(desk_http::router::callback_router(state, family)).await
}
