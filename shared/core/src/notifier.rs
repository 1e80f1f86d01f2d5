//! The notifier: notification jobs (`notify.staff`) fan out into one delivery per channel and
//! recipient set (`notify.delivery` jobs), each with its idempotency key (event, channel,
//! recipients), so no channel delivers an event twice and a broken channel delays no other.
//!
//! Transient failures are retried with growing back-off by queueing a continuation with a
//! delay (not by the queue's receive count) until a deadline of hours; permanent ones (bad
//! credentials, invalid openid, template mismatch) are recorded with the service's message.
//! SMS to the same numbers within a short window are folded into one message.
//!
//! Records: delivery `DELIVERY#{id}`/`META`, in one list partition per filter the delivery
//! list offers ([`list`]); SMS fold `SMSFOLD#{key}`/`META`; WeChat access tokens in the one token cache
//! ([`crate::platforms::wechat`]), keyed by the appid, secret and API base that obtained them.

use crate::complaints::derived_id;
use crate::notices::store_error;
use crate::repo::{NotificationRepo, RepoError};
use crate::state::Services;
use crate::worker::{JobError, JobHandler, JobRegistry};
use async_trait::async_trait;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use domain::account::{NotificationSecrets, NotificationSettings};
use domain::backoff::Backoff;
use domain::job::{JobEnvelope, notify as jobs, queues};
use domain::notification::{
    Channel, Delivery, DeliveryStatus, NotificationJob, NotificationSubject,
};
use domain::ports::{Index, Item, Query, StoreError};
use notify::SendError;
use serde_json::json;
use std::sync::Arc;

mod channels;
pub mod list;

pub use list::{
    DELIVERY_ADDED_INDEXES, DELIVERY_KEYS_VERSION, DELIVERY_MARKER_PK, DELIVERY_MARKER_SK,
    delivery_indexes, delivery_keys, delivery_keys_ready, delivery_partition, list_deliveries,
};

/// Timing of the notifier.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// SMS to the same numbers within this window become one message.
    pub sms_fold: std::time::Duration,
    /// First retry delay; doubles per attempt up to 15 minutes (SQS's longest delay).
    pub base_backoff: std::time::Duration,
    /// After this, a delivery that still fails is given up.
    pub deadline: Duration,
}

/// The longest delay a continuation can ask for (SQS's longest message delay).
pub const MAX_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl NotifierSettings {
    /// The delay before retry `n` of a delivery: `base_backoff` doubling per attempt (at most
    /// ten times), at most [`MAX_RETRY_DELAY`].
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.base_backoff, MAX_RETRY_DELAY).doubling_at_most(10)
    }
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            sms_fold: std::time::Duration::from_secs(30),
            base_backoff: std::time::Duration::from_secs(10),
            deadline: Duration::hours(6),
        }
    }
}

pub fn register(registry: &mut JobRegistry, state: &Services) {
    let n = Arc::new(Notifier {
        state: state.clone(),
        http: reqwest::Client::new(),
        mailer: notify::email::Mailer::new(),
    });
    registry.register(jobs::STAFF.name(), Arc::new(FanOut(n.clone())));
    registry.register(jobs::DELIVERY.name(), Arc::new(Deliver(n)));
}

struct Notifier {
    state: Services,
    /// One HTTP client for every HTTP channel (its connections are reused).
    http: reqwest::Client,
    /// SMTP connections kept per server and login.
    mailer: notify::email::Mailer,
}
struct FanOut(Arc<Notifier>);
struct Deliver(Arc<Notifier>);

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn subject_key(s: &NotificationSubject) -> String {
    match s {
        NotificationSubject::Complaint { complaint_id } => format!("C#{complaint_id}"),
        NotificationSubject::Violation { violation_id } => format!("V#{violation_id}"),
    }
}

fn delivery_item(d: &Delivery) -> Result<Item, JobError> {
    let data = serde_json::to_value(d).map_err(|e| JobError::Permanent(e.to_string()))?;
    Ok(delivery_keys(d).into_iter().fold(
        Item::new(format!("DELIVERY#{}", d.id), "META", data),
        |i, (x, k)| i.with_index(x, k),
    ))
}

/// Deliveries of one subject (complaint or violation), oldest first.
pub async fn deliveries_of(
    records: &dyn domain::ports::RecordStore,
    subject: &NotificationSubject,
) -> Result<Vec<Delivery>, RepoError> {
    let page = records
        .query(
            &Query::partition(Index::Gsi2, format!("DELIVERIES#{}", subject_key(subject)))
                .limit(1000),
        )
        .await?;
    page.items
        .into_iter()
        .map(|i| serde_json::from_value(i.data).map_err(RepoError::Serialise))
        .collect()
}

impl Notifier {
    async fn settings(
        &self,
        account: &str,
        sub: Option<&str>,
    ) -> Result<(NotificationSettings, NotificationSecrets), JobError> {
        let settings = NotificationRepo::new(&*self.state.ports.records)
            .get(account, sub)
            .await
            .map_err(store_error)?
            .unwrap_or_default();
        let secrets = crate::repo::notification_secrets(&*self.state.ports.secrets, account, sub)
            .await
            .map_err(|e| JobError::Retryable {
                source: Box::new(std::io::Error::other(format!(
                    "notification secrets unavailable: {e:?}"
                ))),
                retry_after: None,
            })?;
        Ok((settings, secrets))
    }

    async fn get_delivery(&self, id: &str) -> Result<Option<(Delivery, u64)>, JobError> {
        match self
            .state
            .ports
            .records
            .get(&format!("DELIVERY#{id}"), "META")
            .await
        {
            Ok(Some(i)) => {
                let v = i.version;
                serde_json::from_value(i.data)
                    .map(|d| Some((d, v)))
                    .map_err(|e| JobError::Permanent(format!("delivery {id}: {e}")))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(store_error(e.into())),
        }
    }

    async fn enqueue(&self, delivery_id: &str, delay: std::time::Duration) -> Result<(), JobError> {
        let due = jobs::DeliveryDue {
            delivery_id: delivery_id.to_string(),
        };
        let job = jobs::DELIVERY.envelope(&due, self.state.ports.clock.now())?;
        let body = serde_json::to_string(&job).map_err(|e| JobError::Permanent(e.to_string()))?;
        self.state
            .ports
            .queue
            .send(queues::NOTIFY, &body, delay)
            .await
            .map(|_| ())
            .map_err(JobError::retryable)
    }

    /// A new SMS delivery joins the open fold for its numbers, or opens one and schedules
    /// its sending at the end of the window.
    async fn fold_sms(&self, d: &Delivery) -> Result<(), JobError> {
        let key = derived_id(
            "fold_",
            &format!("{:?}|{}", d.audience, d.recipients.join(",")),
        );
        let records = &*self.state.ports.records;
        let now = self.state.ports.clock.now();
        let window = Duration::from_std(self.state.notifier.sms_fold).unwrap_or_default();
        for _ in 0..10 {
            let current = records
                .get(&format!("SMSFOLD#{key}"), "META")
                .await
                .map_err(|e| store_error(e.into()))?;
            let open = current.as_ref().filter(|i| {
                i.data["open"] == true
                    && i.data["opened_at"]
                        .as_i64()
                        .is_some_and(|t| t + window.num_seconds() + 5 > now.timestamp())
            });
            match open {
                Some(i) => {
                    if i.data["leader"] == json!(d.id)
                        || i.data["members"]
                            .as_array()
                            .is_some_and(|m| m.contains(&json!(d.id)))
                    {
                        return Ok(());
                    }
                    let mut data = i.data.clone();
                    if let Some(m) = data["members"].as_array_mut() {
                        m.push(json!(d.id));
                    }
                    match records
                        .update(
                            Item::new(&i.pk, &i.sk, data).expiring_at(now.timestamp() + 86_400),
                            i.version,
                        )
                        .await
                    {
                        Ok(_) => {
                            tracing::info!(delivery_id = %d.id, "SMS folded into the open window");
                            return Ok(());
                        }
                        Err(StoreError::VersionConflict { .. }) => continue,
                        Err(e) => return Err(store_error(e.into())),
                    }
                }
                None => {
                    let item = Item::new(format!("SMSFOLD#{key}"), "META", json!({"open": true, "leader": d.id, "members": [], "opened_at": now.timestamp()}))
                        .expiring_at(now.timestamp() + 86_400);
                    let written = match &current {
                        None => records.create(item).await.map(|_| ()),
                        Some(old) => records.update(item, old.version).await.map(|_| ()),
                    };
                    match written {
                        Ok(()) => return self.enqueue(&d.id, self.state.notifier.sms_fold).await,
                        Err(
                            StoreError::AlreadyExists { .. } | StoreError::VersionConflict { .. },
                        ) => continue,
                        Err(e) => return Err(store_error(e.into())),
                    }
                }
            }
        }
        Err(JobError::Retryable {
            source: "SMS fold kept changing".into(),
            retry_after: None,
        })
    }

    /// Close the fold a leader opened; the members folded into it.
    async fn close_fold(&self, leader: &Delivery) -> Result<Vec<String>, JobError> {
        let key = derived_id(
            "fold_",
            &format!("{:?}|{}", leader.audience, leader.recipients.join(",")),
        );
        let records = &*self.state.ports.records;
        for _ in 0..10 {
            let Some(i) = records
                .get(&format!("SMSFOLD#{key}"), "META")
                .await
                .map_err(|e| store_error(e.into()))?
            else {
                return Ok(leader.folded.clone());
            };
            if i.data["leader"] != json!(leader.id) {
                return Ok(leader.folded.clone());
            }
            let members: Vec<String> = i.data["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m.as_str().map(String::from))
                .collect();
            let mut data = i.data.clone();
            data["open"] = json!(false);
            match records
                .update(
                    Item::new(&i.pk, &i.sk, data).expiring_at(i.expires_at.unwrap_or_default()),
                    i.version,
                )
                .await
            {
                Ok(_) => return Ok(members),
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(e) => return Err(store_error(e.into())),
            }
        }
        Err(JobError::Retryable {
            source: "SMS fold kept changing".into(),
            retry_after: None,
        })
    }

    /// Send one delivery through its channel; per-recipient results on success. `count`:
    /// how many events the message stands for (folded SMS).
    async fn send(
        &self,
        d: &Delivery,
        job: &NotificationJob,
        count: usize,
    ) -> Result<notify::Results, SendError> {
        let audience = d
            .audience
            .as_ref()
            .ok_or_else(|| SendError::Invalid("delivery without audience".into()))?;
        let (settings, secrets) = self
            .settings(&audience.account_id, audience.sub_mchid.as_deref())
            .await
            .map_err(|e| SendError::Transport {
                service: "settings",
                detail: e.to_string(),
            })?;
        let channel = channels::build(self, d, settings, &secrets)?;
        channel
            .send(&notify::Outgoing {
                id: &d.id,
                notice: &job.summary,
                recipients: &d.recipients,
                count,
                now: self.state.ports.clock.now(),
            })
            .await
    }
}

#[async_trait]
impl JobHandler for FanOut {
    async fn handle(&self, envelope: &JobEnvelope) -> Result<(), JobError> {
        let n = &self.0;
        let job: NotificationJob = jobs::STAFF.payload(envelope)?;
        let (settings, _) = n
            .settings(&job.audience.account_id, job.audience.sub_mchid.as_deref())
            .await?;
        let mut planned: Vec<(Channel, Vec<String>)> = Vec::new();
        if let Some(e) = &settings.email {
            planned.push((Channel::Email, e.recipients.clone()));
        }
        if let Some(o) = &settings.oa_template {
            planned.push((Channel::OaTemplate, o.openids.clone()));
        }
        if let Some(s) = &settings.sms {
            planned.push((Channel::Sms, s.phone_numbers.clone()));
        }
        for b in &settings.bots {
            planned.push((Channel::Bot, vec![b.id.clone()]));
        }
        if planned.is_empty() {
            tracing::info!(job_id = %job.id, account_id = %job.audience.account_id, "no notification channel configured for this audience");
        }
        let now = n.state.ports.clock.now();
        for (channel, mut recipients) in planned {
            recipients.sort();
            let key = format!(
                "{}|{}|{}|{:?}|{}",
                job.event_key,
                job.audience.account_id,
                job.audience.sub_mchid.as_deref().unwrap_or("-"),
                channel,
                recipients.join(",")
            );
            let d = Delivery {
                id: derived_id("dlv_", &key),
                job_id: job.id.clone(),
                channel,
                recipients,
                idempotency_key: key,
                status: DeliveryStatus::Pending,
                attempts: 0,
                last_error: None,
                created_at: now,
                updated_at: now,
                results: Default::default(),
                subject: Some(job.subject.clone()),
                audience: Some(job.audience.clone()),
                folded: vec![],
            };
            let mut data_job = delivery_item(&d)?;
            data_job.data["job"] =
                serde_json::to_value(&job).map_err(|e| JobError::Permanent(e.to_string()))?;
            let created = match n.state.ports.records.create(data_job).await {
                Ok(_) => true,
                Err(StoreError::AlreadyExists { .. }) => false,
                Err(e) => return Err(store_error(e.into())),
            };
            let existing = n.get_delivery(&d.id).await?.map(|(d, _)| d);
            if !created
                && existing
                    .as_ref()
                    .is_some_and(|e| e.status != DeliveryStatus::Pending || e.attempts > 0)
            {
                continue;
            }
            if channel == Channel::Sms {
                n.fold_sms(&d).await?;
            } else {
                // A repeated fan-out may queue a second job for a pending delivery; the
                // delivery's lease and status make the second one do nothing.
                n.enqueue(&d.id, std::time::Duration::ZERO).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl JobHandler for Deliver {
    async fn handle(&self, envelope: &JobEnvelope) -> Result<(), JobError> {
        let n = &self.0;
        let due = jobs::DELIVERY.payload(envelope)?;
        let id = due.delivery_id.as_str();
        let Some(item) = n
            .state
            .ports
            .records
            .get(&format!("DELIVERY#{id}"), "META")
            .await
            .map_err(|e| store_error(e.into()))?
        else {
            return Err(JobError::Permanent(format!("delivery {id} does not exist")));
        };
        let job: NotificationJob = serde_json::from_value(item.data["job"].clone())
            .map_err(|e| JobError::Permanent(format!("delivery {id}: {e}")))?;
        let (mut d, version): (Delivery, u64) = (
            serde_json::from_value(item.data.clone())
                .map_err(|e| JobError::Permanent(e.to_string()))?,
            item.version,
        );
        if matches!(d.status, DeliveryStatus::Sent | DeliveryStatus::Failed) {
            return Ok(());
        }
        let now = n.state.ports.clock.now();
        // Claim this attempt (compare-and-set): a duplicate job for the same attempt loses.
        d.attempts += 1;
        d.updated_at = now;
        if d.channel == Channel::Sms && d.folded.is_empty() {
            d.folded = n.close_fold(&d).await?;
        }
        let mut claimed = delivery_item(&d)?;
        claimed.data["job"] = item.data["job"].clone();
        match n.state.ports.records.update(claimed, version).await {
            Ok(_) => {}
            Err(StoreError::VersionConflict { .. }) => return Ok(()),
            Err(e) => return Err(store_error(e.into())),
        }
        let version = version + 1;
        let result = n.send(&d, &job, d.folded.len() + 1).await;
        let (status, error) = match &result {
            Ok(r) => {
                d.results = r.clone();
                (DeliveryStatus::Sent, None)
            }
            Err(e) if e.is_retryable() && now < d.created_at + n.state.notifier.deadline => {
                (DeliveryStatus::Retrying, Some(e.to_string()))
            }
            Err(e) if e.is_retryable() => (
                DeliveryStatus::Failed,
                Some(format!("gave up at the deadline: {e}")),
            ),
            Err(e) => (DeliveryStatus::Failed, Some(e.to_string())),
        };
        tracing::info!(delivery_id = %d.id, channel = ?d.channel, attempt = d.attempts, status = ?status, error = error.as_deref().unwrap_or(""), "delivery");
        d.status = status;
        d.last_error = error;
        d.updated_at = n.state.ports.clock.now();
        let mut item = delivery_item(&d)?;
        item.data["job"] =
            serde_json::to_value(&job).map_err(|e| JobError::Permanent(e.to_string()))?;
        n.state
            .ports
            .records
            .update(item, version)
            .await
            .map_err(|e| store_error(e.into()))?;
        if status == DeliveryStatus::Retrying {
            let delay = n.state.notifier.backoff().delay(d.attempts);
            n.enqueue(&d.id, delay).await?;
        }
        // Folded members share the leader's outcome once it is final.
        if matches!(status, DeliveryStatus::Sent | DeliveryStatus::Failed) {
            for m in &d.folded {
                if let Some((mut md, mv)) = n.get_delivery(m).await? {
                    let raw = n
                        .state
                        .ports
                        .records
                        .get(&format!("DELIVERY#{m}"), "META")
                        .await
                        .map_err(|e| store_error(e.into()))?;
                    md.status = status;
                    md.last_error = d.last_error.clone();
                    md.results = d.results.clone();
                    md.updated_at = d.updated_at;
                    md.folded = vec![format!("sent with {}", d.id)];
                    let mut it = delivery_item(&md)?;
                    if let Some(raw) = raw {
                        it.data["job"] = raw.data["job"].clone();
                    }
                    let _ = n.state.ports.records.update(it, mv).await;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as StdDuration;

    #[test]
    fn delivery_retries_back_off_as_before_doubling_to_fifteen_minutes() {
        let s = NotifierSettings::default();
        let schedule: Vec<u64> = (1..=10).map(|a| s.backoff().delay(a).as_secs()).collect();
        assert_eq!(schedule, [10, 20, 40, 80, 160, 320, 640, 900, 900, 900]);
        // A short base (tests, the demo) stops doubling after ten doublings.
        let s = NotifierSettings {
            base_backoff: StdDuration::from_millis(200),
            ..NotifierSettings::default()
        };
        assert_eq!(s.backoff().delay(1), StdDuration::from_millis(200));
        assert_eq!(s.backoff().delay(11), StdDuration::from_millis(204_800));
        assert_eq!(s.backoff().delay(40), StdDuration::from_millis(204_800));
    }
}
