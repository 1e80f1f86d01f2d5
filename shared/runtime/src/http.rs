//! Callback functions behind the HTTP API (`$default` stage): each serves its own endpoints.

use crate::{environment, services};
use aws::{AwsConfig, AwsPorts};
use desk_http::CallbackState;
pub use desk_http::callbacks::Endpoints;

/// A callback function's router state: no administrator token at all.
pub async fn callback_state(config: &AwsConfig, aws: &AwsPorts) -> anyhow::Result<CallbackState> {
    Ok(CallbackState::new(services(config, aws).await?)
        .with_plaintext_push_window(config.plaintext_push_window_secs))
}

/// Run a callback function: the routes of its own endpoints, and `/healthz` (whatever else a
/// build of the whole workspace compiled in, the function serves only these).
pub async fn run_callbacks(
    name: &'static str,
    endpoints: Endpoints,
) -> Result<(), lambda_http::Error> {
    let (config, sdk) = environment().await?;
    let state = callback_state(&config, &AwsPorts::new(&config, &sdk)).await?;
    tracing::info!(table = %config.table, function = name, ?endpoints, "ready");
    lambda_http::run(desk_http::router::callback_router(state, &[endpoints])).await
}
