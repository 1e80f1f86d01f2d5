//! Third-party platform pushes as a Lambda function behind the HTTP API: the events URL
//! (`component_verify_ticket`, authorized / updateauthorized / unauthorized) and the message URL
//! of authorised mini programs. Verify, decrypt, keep the ticket or record and enqueue, answer
//! `success`. The template runs this binary as one function per endpoint.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    crypto::tls::install_default();
    runtime::http::run_callbacks(
        "callback-wxopen",
        desk_core::platform::Platforms::new().with(desk_core::platforms::wxmini::Wxmini),
        "wxopen",
    )
    .await
}
