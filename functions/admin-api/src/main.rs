//! The admin API as a Lambda function behind the HTTP API (`$default` stage): the same axum
//! router as the embedded binary, over the AWS adapters.

use app::telemetry::LogFormat;
use aws::AwsConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    crypto::tls::install_default();
    app::telemetry::init(LogFormat::Json);
    let config = AwsConfig::from_env()?;
    let sdk = aws::sdk_config(config.endpoint_url.as_deref()).await;
    let state = admin_api::state(&config, &sdk).await?;
    tracing::info!(table = %config.table, "admin-api ready");
    lambda_http::run(app::http::router(state)).await
}
