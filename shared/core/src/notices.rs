//! Notification jobs: what to tell whose staff. The worker creates them; the notifier delivers
//! them (a later capability). Each job is kept under its complaint or violation (so the detail
//! shows it) and handed to the `notify` queue through the inbox, whose dedupe key makes a
//! repeated event produce no second job.

use crate::complaints::{ComplaintRepo, derived_id};
use crate::worker::JobError;
use crate::{Ports, repo::RepoError};
use chrono::{DateTime, Utc};
use domain::job::{notify as jobs, queues};
use domain::notification::{Audience, NotificationJob, NotificationSubject, NotificationSummary};
use domain::ports::Accepted;
use serde_json::json;

pub fn store_error(e: RepoError) -> JobError {
    if e.is_retryable() {
        JobError::retryable(e)
    } else {
        JobError::Permanent(crate::error::chain(&e))
    }
}

/// One notice for several audiences.
pub struct Notice<'a> {
    /// Where the jobs are kept (`COMPLAINT#..` or `VIOLATION#..`).
    pub owner_pk: String,
    /// The event; with the audience it is the dedupe key.
    pub event_key: String,
    pub subject: NotificationSubject,
    pub summary: NotificationSummary,
    pub audiences: &'a [Audience],
    pub now: DateTime<Utc>,
    /// Keep the job under its owner only once it was queued (for notices limited per period,
    /// whose later events must not show a job that was never sent).
    pub record_only_when_queued: bool,
    /// Recipients added to each audience's own (an escalation's extra list).
    pub extra_recipients: Option<domain::deadline::EscalationRecipients>,
    /// Only these channels (None: every configured one).
    pub only_channels: Option<Vec<domain::notification::Channel>>,
}

/// Queue one job per audience (idempotently); the jobs created.
pub async fn send(ports: &Ports, n: Notice<'_>) -> Result<Vec<NotificationJob>, JobError> {
    let repo = ComplaintRepo::new(&*ports.records);
    let mut out = Vec::new();
    for audience in n.audiences {
        let dedupe = format!(
            "notice:{}:{}:{}",
            n.event_key,
            audience.account_id,
            audience.sub_mchid.as_deref().unwrap_or("-")
        );
        let job = NotificationJob {
            id: derived_id("ntf_", &dedupe),
            event_key: n.event_key.clone(),
            audience: audience.clone(),
            subject: n.subject.clone(),
            summary: n.summary.clone(),
            created_at: n.now,
            extra_recipients: n.extra_recipients.clone(),
            only_channels: n.only_channels.clone(),
        };
        if !n.record_only_when_queued {
            repo.put_notice(&n.owner_pk, &job)
                .await
                .map_err(store_error)?;
        }
        let mut envelope = jobs::STAFF
            .envelope(&job, n.now)?
            .for_account(&audience.account_id, audience.sub_mchid.clone());
        envelope.id = job.id.clone();
        let body =
            serde_json::to_string(&envelope).map_err(|e| JobError::Permanent(e.to_string()))?;
        let accepted = ports
            .inbox
            .accept(
                &dedupe,
                json!({"job_id": job.id, "owner": n.owner_pk}),
                queues::NOTIFY,
                &body,
            )
            .await
            .map_err(JobError::retryable)?;
        match accepted {
            Accepted::Queued => {
                if n.record_only_when_queued {
                    repo.put_notice(&n.owner_pk, &job)
                        .await
                        .map_err(store_error)?;
                }
                tracing::info!(job_id = %job.id, account_id = %audience.account_id, sub_mchid = audience.sub_mchid.as_deref().unwrap_or(""), event = %job.summary.event, "notification job queued");
                out.push(job);
            }
            Accepted::Duplicate => {
                tracing::debug!(job_id = %job.id, "notification job already queued");
            }
        }
    }
    Ok(out)
}
