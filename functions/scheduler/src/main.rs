//! The scheduler as a Lambda function: an EventBridge schedule invokes it, and it puts one
//! deadline sweep per account with complaints on the events queue; the worker does the work.
//! It reads the account list and sends to one queue: no secret, no platform, no web framework.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    crypto::tls::install_default();
    runtime::schedule::run_lambda(&[desk_core::schedule::DEADLINE_SWEEP]).await
}
