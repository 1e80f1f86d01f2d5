//! The worker as a Lambda function: the events queue's SQS event source, with
//! `ReportBatchItemFailures`. The same job handlers as the embedded binary's worker; it links
//! the platforms, not the notifier's channels nor any web framework.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    crypto::tls::install_default();
    runtime::sqs::run_lambda(domain::job::queues::EVENTS).await
}
