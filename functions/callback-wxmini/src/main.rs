//! Mini-program message push as a Lambda function behind the HTTP API: the URL check (GET) and
//! complaint events (POST) in plaintext, compatible or safe mode: verify, decrypt, dedupe,
//! record and enqueue, answer `success`. The same handler as the embedded binary.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    crypto::tls::install_default();
    runtime::http::run_callbacks(
        "callback-wxmini",
        desk_core::platform::Platforms::new().with(desk_core::platforms::wxmini::Wxmini),
        "wxmini",
    )
    .await
}
