//! Alipay messages as a Lambda function behind the HTTP API: verify (key or certificate
//! mode), dedupe on `notify_id`, record and enqueue, answer `success`. The same handler as the
//! embedded binary; only the callback routes are served here.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    crypto::tls::install_default();
    runtime::http::run_callbacks(
        "callback-alipay",
        desk_core::platform::Platforms::new().with(desk_core::platforms::alipay::Alipay),
        "alipay",
    )
    .await
}
