//! The worker as a Lambda function: the events queue's SQS event source, with
//! `ReportBatchItemFailures`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    crypto::tls::install_default();
    worker::run_lambda(domain::job::queues::EVENTS).await
}
