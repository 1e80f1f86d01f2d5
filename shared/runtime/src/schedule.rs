//! The `scheduler` function: an EventBridge schedule's event in, one job per account with
//! complaints on its queue ([`desk_core::schedule`]). It reads the account list and sends to
//! the events queue: no secret (not even the installation key), no platform, no web framework.

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use desk_core::schedule::{PerAccountJob, ScheduleError, Tally};
use domain::account::AccountKind;
use domain::ports::{Queue, RecordStore};

/// The account kinds that receive no complaints of their own. This function registers no
/// platform (it needs none of their clients to enqueue), so it cannot ask them; a test checks
/// this list against what the platforms declare. A kind missing here is swept anyway (its
/// sweep finds nothing): one job too many, never one too few.
pub const KINDS_WITHOUT_COMPLAINTS: &[AccountKind] = &[AccountKind::WxopenComponent];

/// One scheduled event: `jobs` for every account with complaints, for the slot the event
/// names (its `time`: the same for EventBridge's retries of one invocation, so they enqueue
/// the same job ids). An error if any job could not be enqueued, so EventBridge retries.
pub async fn handle(
    event: CloudWatchEvent,
    records: &dyn RecordStore,
    queue: &dyn Queue,
    jobs: &[PerAccountJob],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Tally, ScheduleError> {
    desk_core::schedule::enqueue_per_account(
        records,
        queue,
        jobs,
        event.time,
        now,
        KINDS_WITHOUT_COMPLAINTS,
    )
    .await?
    .into_result()
}

/// Run the scheduler as a Lambda function: the AWS adapters (records and queue only), `jobs`
/// on every event.
pub async fn run_lambda(jobs: &'static [PerAccountJob]) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
    let (config, sdk) = crate::environment().await?;
    let ports = aws::AwsPorts::new(&config, &sdk);
    let (records, queue) = (ports.records.clone(), ports.queue.clone());
    let job_types: Vec<&str> = jobs.iter().map(|j| j.job_type).collect();
    tracing::info!(?job_types, "scheduler ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<CloudWatchEvent>| {
        let (records, queue) = (records.clone(), queue.clone());
        async move {
            let now = domain::clock::Clock::now(&domain::clock::SystemClock);
            handle(event.payload, &*records, &*queue, jobs, now)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
