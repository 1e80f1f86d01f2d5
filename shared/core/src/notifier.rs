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
use crate::deliveries::delivery_keys;
use crate::metrics::NoticeOutcome;
use crate::notices::store_error;
use crate::repo::NotificationRepo;
use crate::state::Services;
use crate::worker::{JobError, JobHandler, JobRegistry};
use async_trait::async_trait;
use chrono::Duration;
use domain::account::{NotificationSecrets, NotificationSettings};
use domain::job::{JobEnvelope, notify as jobs, queues};
use domain::notification::{Channel, Delivery, DeliveryStatus, NotificationJob};
use domain::ports::{Item, StoreError};
use notify::SendError;
use serde_json::json;
use std::sync::Arc;

pub(crate) mod channels;

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

pub(crate) fn delivery_item(d: &Delivery) -> Result<Item, JobError> {
    let data = serde_json::to_value(d).map_err(|e| JobError::Permanent(e.to_string()))?;
    Ok(delivery_keys(d).into_iter().fold(
        Item::new(format!("DELIVERY#{}", d.id), "META", data),
        |i, (x, k)| i.with_index(x, k),
    ))
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
        let secrets = crate::repo::notification_secrets_for(
            &*self.state.ports.secrets,
            account,
            sub,
            &settings,
        )
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
        let channel = channels::build(
            channels::Tools {
                state: &self.state,
                http: &self.http,
                mailer: &self.mailer,
            },
            d,
            settings,
            &secrets,
        )?;
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
        if let Some(extra) = &job.extra_recipients {
            for (channel, recipients) in &mut planned {
                match channel {
                    Channel::Email => recipients.extend(extra.emails.iter().cloned()),
                    Channel::OaTemplate => recipients.extend(extra.oa_openids.iter().cloned()),
                    Channel::Sms => recipients.extend(extra.phones.iter().cloned()),
                    Channel::Bot => {}
                }
                recipients.sort();
                recipients.dedup();
            }
        }
        if let Some(only) = &job.only_channels {
            planned.retain(|(channel, _)| only.contains(channel));
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
        crate::metrics::staff_notice(
            d.channel,
            match status {
                DeliveryStatus::Sent => NoticeOutcome::Sent,
                DeliveryStatus::Retrying => NoticeOutcome::Failed,
                _ => NoticeOutcome::GaveUp,
            },
        );
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
