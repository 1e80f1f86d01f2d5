//! The admin API as a Lambda function behind the HTTP API (`$default` stage): the same axum
//! router as the embedded binary, over the AWS adapters (composed by `runtime`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    crypto::tls::install_default();
    runtime::admin::run_admin().await
}
