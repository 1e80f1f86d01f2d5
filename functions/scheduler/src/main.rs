//! The scheduler as a Lambda function: an EventBridge schedule invokes it, and it puts one job
//! per account with complaints on the events queue; the worker does the work. Which jobs:
//! `SCHEDULED_JOBS` (deadline sweeps, reconciliation passes; unset: both), so one binary
//! serves each schedule's function. It reads the account list and sends to one queue: no
//! secret, no platform, no web framework.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    crypto::tls::install_default();
    runtime::schedule::run_lambda(desk_core::schedule::ALL).await
}
