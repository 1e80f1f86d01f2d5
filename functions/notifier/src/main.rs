//! The notifier as a Lambda function: the notify queue's SQS event source, with
//! `ReportBatchItemFailures`. The same handlers as the embedded binary's notify worker.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    crypto::tls::install_default();
    runtime::sqs::run_lambda(domain::job::queues::NOTIFY).await
}
