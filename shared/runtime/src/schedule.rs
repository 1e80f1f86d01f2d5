//! The `scheduler` function: an EventBridge schedule's event in, one job per account with
//! complaints on its queue ([`desk_core::schedule`]). It reads the account list and sends to
//! the events queue: no secret (not even the installation key), no platform, no web framework.
//!
//! One binary serves every schedule: [`SCHEDULED_JOBS`] names the jobs a deployed function
//! enqueues (the template runs it twice, each on its own rate: deadline sweeps and
//! reconciliation passes), read once at start, so a misspelt name stops the function before
//! its first event instead of quietly enqueuing nothing.

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use desk_core::schedule::{PerAccountJob, ScheduleError, Tally};
use domain::account::AccountKind;
use domain::ports::{Queue, RecordStore};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;

/// The environment variable naming the jobs this function enqueues on every event: job types
/// of [`desk_core::schedule::ALL`] (`deadlines.sweep`, `reconcile.pass`), separated by commas.
/// Unset: all of them.
pub const SCHEDULED_JOBS: &str = "SCHEDULED_JOBS";

/// A [`SCHEDULED_JOBS`] value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobsError {
    /// Set, but names no job (a function that would enqueue nothing).
    Empty,
    /// A name that is no scheduled job.
    Unknown {
        name: String,
        known: Vec<&'static str>,
    },
    /// A job named twice (each event would enqueue it twice).
    Twice(String),
}

impl std::fmt::Display for JobsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(
                f,
                "{SCHEDULED_JOBS} is set but names no job (leave it unset for all of them)"
            ),
            Self::Unknown { name, known } => write!(
                f,
                "{SCHEDULED_JOBS} names {name:?}, which is no scheduled job (known: {})",
                known.join(", ")
            ),
            Self::Twice(name) => write!(f, "{SCHEDULED_JOBS} names {name:?} twice"),
        }
    }
}

impl std::error::Error for JobsError {}

/// The jobs a [`SCHEDULED_JOBS`] value names, in its order, out of `known`: `None` (unset) is
/// all of `known`; names are separated by commas, blanks around them ignored.
pub fn jobs_named(
    value: Option<&str>,
    known: &[PerAccountJob],
) -> Result<Vec<PerAccountJob>, JobsError> {
    let Some(value) = value else {
        return Ok(known.to_vec());
    };
    let mut jobs: Vec<PerAccountJob> = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(job) = known.iter().find(|j| j.job_type == name) else {
            return Err(JobsError::Unknown {
                name: name.chars().take(64).collect(),
                known: known.iter().map(|j| j.job_type).collect(),
            });
        };
        if jobs.iter().any(|j| j.job_type == name) {
            return Err(JobsError::Twice(name.to_string()));
        }
        jobs.push(*job);
    }
    if jobs.is_empty() {
        return Err(JobsError::Empty);
    }
    Ok(jobs)
}

/// The jobs [`SCHEDULED_JOBS`] in this process's environment names out of `known` (a value
/// that is not Unicode is an unknown name).
pub fn jobs_from_env(known: &[PerAccountJob]) -> Result<Vec<PerAccountJob>, JobsError> {
    match std::env::var(SCHEDULED_JOBS) {
        Ok(value) => jobs_named(Some(&value), known),
        Err(std::env::VarError::NotPresent) => jobs_named(None, known),
        Err(std::env::VarError::NotUnicode(raw)) => Err(JobsError::Unknown {
            name: raw.to_string_lossy().chars().take(64).collect(),
            known: known.iter().map(|j| j.job_type).collect(),
        }),
    }
}

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

/// Run the scheduler as a Lambda function: the AWS adapters (records and queue only), on every
/// event the jobs of `known` that [`SCHEDULED_JOBS`] names (all when it is unset). A value
/// that names no known job is logged and returned before the first event.
pub async fn run_lambda(known: &'static [PerAccountJob]) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::service_fn;
    let (config, sdk) = crate::environment().await?;
    let jobs: Arc<[PerAccountJob]> = match jobs_from_env(known) {
        Ok(jobs) => jobs.into(),
        Err(error) => {
            tracing::error!(%error, "the scheduler cannot start");
            return Err(error.into());
        }
    };
    let ports = aws::AwsPorts::new(&config, &sdk);
    let (records, queue) = (ports.records.clone(), ports.queue.clone());
    let job_types: Vec<&str> = jobs.iter().map(|j| j.job_type).collect();
    tracing::info!(?job_types, "scheduler ready");
    let emf = crate::emf::global();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<CloudWatchEvent>| {
        let (records, queue, jobs) = (records.clone(), queue.clone(), jobs.clone());
        async move { invocation(event, &*records, &*queue, &jobs, emf).await }
    }))
    .await
}

/// The run did not finish before Lambda's deadline (less the margin to report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfTime;

impl std::fmt::Display for OutOfTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the scheduled run ran out of time before every account's jobs were queued; \
             Lambda runs it again (the same job ids), and the next schedule slot follows",
        )
    }
}

impl std::error::Error for OutOfTime {}

/// One invocation: [`handle`] within Lambda's deadline (less
/// [`crate::deadline::REPORT_MARGIN`]): a run still going then stops and fails, so Lambda
/// retries it (the same slot, the same job ids) instead of the invocation timing out unlogged.
/// Its metrics are written when it ends.
pub async fn invocation(
    event: LambdaEvent<CloudWatchEvent>,
    records: &dyn RecordStore,
    queue: &dyn Queue,
    jobs: &[PerAccountJob],
    emf: &crate::emf::Emf,
) -> Result<Tally, lambda_runtime::Error> {
    let budget = crate::deadline::budget_now(event.context.deadline);
    let now = domain::clock::Clock::now(&domain::clock::SystemClock);
    let run = handle(event.payload, records, queue, jobs, now);
    emf.around(async move {
        match budget {
            None => run.await.map_err(lambda_runtime::Error::from),
            Some(budget) => match tokio::time::timeout(budget, run).await {
                Ok(done) => done.map_err(lambda_runtime::Error::from),
                Err(_) => {
                    tracing::error!(error = %OutOfTime, "scheduled run stopped");
                    Err(OutOfTime.into())
                }
            },
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use desk_core::schedule::{ALL, DEADLINE_SWEEP, RECONCILE_PASS};

    fn types(jobs: &[PerAccountJob]) -> Vec<&'static str> {
        jobs.iter().map(|j| j.job_type).collect()
    }

    #[test]
    fn unset_means_every_scheduled_job() {
        let jobs = jobs_named(None, ALL).expect("all");
        assert_eq!(types(&jobs), types(ALL));
        assert!(types(&jobs).contains(&RECONCILE_PASS.job_type));
    }

    #[test]
    fn names_choose_their_jobs_in_order_blanks_ignored() {
        let sweep = DEADLINE_SWEEP.job_type;
        let pass = RECONCILE_PASS.job_type;
        assert_eq!(types(&jobs_named(Some(pass), ALL).expect("one")), [pass]);
        assert_eq!(types(&jobs_named(Some(sweep), ALL).expect("one")), [sweep]);
        assert_eq!(
            types(&jobs_named(Some(&format!(" {pass} , {sweep},")), ALL).expect("two")),
            [pass, sweep]
        );
    }

    #[test]
    fn an_unknown_empty_or_repeated_name_is_refused_with_what_is_known() {
        let error = jobs_named(Some("deadlines.sweep,reconcile"), ALL).expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "SCHEDULED_JOBS names \"reconcile\", which is no scheduled job \
             (known: deadlines.sweep, reconcile.pass)"
        );
        for empty in ["", " ", ",,"] {
            assert_eq!(
                jobs_named(Some(empty), ALL).err(),
                Some(JobsError::Empty),
                "{empty:?}"
            );
        }
        assert_eq!(
            jobs_named(Some("reconcile.pass,reconcile.pass"), ALL).err(),
            Some(JobsError::Twice("reconcile.pass".into()))
        );
    }
}
