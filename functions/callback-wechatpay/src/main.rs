//! WeChat Pay callbacks as a Lambda function behind the HTTP API: verify, check the
//! timestamp, decrypt, record and enqueue (the inbox), answer. The same handler as the
//! embedded binary; only the callback routes are served here.

use app::telemetry::LogFormat;
use aws::AwsConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    app::telemetry::init(LogFormat::Json);
    let config = AwsConfig::from_env()?;
    let sdk = aws::sdk_config(config.endpoint_url.as_deref()).await;
    let state = admin_api::platform_state(&config, &aws::AwsPorts::new(&config, &sdk))?;
    tracing::info!(table = %config.table, "callback-wechatpay ready");
    lambda_http::run(app::http::callback_router(state)).await
}
