//! The notifier as a Lambda function: the notify queue's SQS event source, with
//! `ReportBatchItemFailures`. The same handlers as the embedded binary's notify worker.

use app::telemetry::LogFormat;
use app::worker::RetryPolicy;
use aws::{AwsConfig, AwsPorts};
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    app::telemetry::init(LogFormat::Json);
    let config = AwsConfig::from_env()?;
    let sdk = aws::sdk_config(config.endpoint_url.as_deref()).await;
    let aws = AwsPorts::new(&config, &sdk);
    let state = admin_api::platform_state(&config, &aws)?;
    let registry = Arc::new(app::policy::registry(&state));
    let policy = Arc::new(RetryPolicy {
        max_attempts: config.max_receives.saturating_sub(1).max(1),
        ..RetryPolicy::default()
    });
    let queue = aws.queue.clone();
    tracing::info!(job_types = ?registry.job_types(), "notifier ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (registry, policy, queue) = (registry.clone(), policy.clone(), queue.clone());
        async move {
            Ok::<_, lambda_runtime::Error>(
                worker::handle_batch(
                    event.payload,
                    domain::job::queues::NOTIFY,
                    &registry,
                    &policy,
                    &*queue,
                )
                .await,
            )
        }
    }))
    .await
}
