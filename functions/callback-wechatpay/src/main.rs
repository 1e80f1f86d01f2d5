//! WeChat Pay callbacks as a Lambda function behind the HTTP API: verify, check the
//! timestamp, decrypt, record and enqueue (the inbox), answer. The same handler as the
//! embedded binary; only the callback routes are served here.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    crypto::tls::install_default();
    runtime::http::run_callbacks(
        "callback-wechatpay",
        desk_core::platform::Platforms::new().with(desk_core::platforms::wechatpay::Wechatpay),
        "wechatpay",
    )
    .await
}
