//! The test notice's sending (see [`crate::test_notice`]): the channels real deliveries use
//! (`crate::notifier::channels`), one delivery per channel recorded in the delivery log, every channel
//! at once, each result in words.

use super::report::{
    ChannelResult, RecipientResult, TEST_JOB_PREFIX, TestAudience, TestNoticeReport, Words,
};
use crate::Error;
use crate::complaints::derived_id;
use crate::notifier::channels::{self, Tools};
use crate::notifier::delivery_item;
use crate::repo::NotificationRepo;
use crate::state::Services;
use domain::account::{NotificationSecrets, NotificationSettings};
use domain::notification::{
    Channel, Delivery, DeliveryStatus, NotificationSubject, NotificationSummary,
};
use notify::{Explanation, SendError};

/// The subject topic of a test notice's deliveries (an account's own topic): the delivery log
/// says "test notice".
pub const TEST_TOPIC: &str = "test";

/// The event a test notice's message names.
pub const TEST_EVENT: &str = "测试通知";

fn words(e: Explanation) -> Words {
    Words::new(e.zh, e.en)
}

/// What a test notice says: the audience's name and a reference that dates it.
fn summary(
    state: &Services,
    to: &TestAudience,
    now: chrono::DateTime<chrono::Utc>,
) -> NotificationSummary {
    NotificationSummary {
        platform: "测试".into(),
        event: TEST_EVENT.into(),
        merchant: to.name.clone(),
        // Short and digits only: it goes into SMS template variables, which individually
        // verified Tencent Cloud accounts limit to 12 characters, some typed as numbers.
        reference: now.format("%H%M%S").to_string(),
        at: now,
        amount_fen: None,
        user_text: Some("通知设置正常：真实投诉会这样通知您。".into()),
        deadline: None,
        link: state.console_url(crate::console_links::INBOX),
        extra_lines: vec![],
    }
}

/// Each channel the settings configure and its recipients, as the fan-out plans them.
fn plan(settings: &NotificationSettings) -> Vec<(Channel, Vec<String>)> {
    let mut planned = Vec::new();
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
    planned
}

pub(crate) async fn send(state: &Services, to: &TestAudience) -> Result<TestNoticeReport, Error> {
    let a = &to.audience;
    let settings = NotificationRepo::new(&*state.ports.records)
        .get(&a.account_id, a.sub_mchid.as_deref())
        .await?
        .unwrap_or_default();
    let planned = plan(&settings);
    if planned.is_empty() {
        return Err(Error::Conflict(
            "no notification channel is configured for this audience: set up e-mail, a template message, SMS or a group bot first".into(),
        ));
    }
    let now = state.ports.clock.now();
    super::window::claim(&*state.ports.records, a, now).await?;
    let secrets = crate::repo::notification_secrets_for(
        &*state.ports.secrets,
        &a.account_id,
        a.sub_mchid.as_deref(),
        &settings,
    )
    .await?;
    let notice = summary(state, to, now);
    let job_id = derived_id(
        TEST_JOB_PREFIX,
        &format!(
            "{}|{:?}|{}",
            a.account_id,
            a.sub_mchid,
            now.timestamp_millis()
        ),
    );
    let mailer = notify::email::Mailer::new();
    let tools = Tools {
        state,
        http: &state.http,
        mailer: &mailer,
    };
    let deliveries: Vec<Delivery> = planned
        .into_iter()
        .map(|(channel, mut recipients)| {
            recipients.sort();
            let key = format!(
                "{job_id}|{}|{:?}|{}",
                a.sub_mchid.as_deref().unwrap_or("-"),
                channel,
                recipients.join(",")
            );
            Delivery {
                id: derived_id("dlv_", &key),
                job_id: job_id.clone(),
                channel,
                recipients,
                idempotency_key: key,
                status: DeliveryStatus::Pending,
                attempts: 1,
                last_error: None,
                created_at: now,
                updated_at: now,
                results: Default::default(),
                // Marked a test in the delivery log.
                subject: Some(NotificationSubject::Account {
                    account_id: a.account_id.clone(),
                    topic: TEST_TOPIC.into(),
                }),
                audience: Some(a.clone()),
                folded: vec![],
            }
        })
        .collect();
    // Every channel at once: the slowest one (its own timeout) bounds the wait.
    let sends = deliveries
        .iter()
        .map(|d| one(tools, d, &settings, &secrets, &notice));
    let outcomes = join_all(sends).await;
    let mut channels = Vec::new();
    for (mut d, outcome) in deliveries.into_iter().zip(outcomes) {
        let service = service(&d, &settings);
        channels.push(record(state, &mut d, service, outcome).await);
    }
    tracing::info!(
        account_id = %a.account_id,
        sub_mchid = a.sub_mchid.as_deref().unwrap_or(""),
        channels = channels.len(),
        delivered = channels.iter().filter(|c| c.delivered).count(),
        "test notice sent"
    );
    Ok(TestNoticeReport {
        audience: a.clone(),
        sent_at: now,
        all_delivered: channels.iter().all(|c| c.delivered),
        channels,
        note: to.disabled.then(|| {
            Words::new(
                "这个账户（或子商户）已停用：测试通知照常发送，但停用期间不会发送真实的投诉通知。",
                "This account (or sub-merchant) is disabled: the test was sent, but real complaint notices are off while it is disabled.",
            )
        }),
    })
}

/// Run futures of the same type at once, their outputs in order.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in set.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Build one delivery's channel from the settings and secrets, as the notifier does, and send.
async fn one(
    tools: Tools<'_>,
    d: &Delivery,
    settings: &NotificationSettings,
    secrets: &NotificationSecrets,
    notice: &NotificationSummary,
) -> Result<notify::Results, SendError> {
    let channel = channels::build(tools, d, settings.clone(), secrets)?;
    let deadline = tools.state.test_notice_deadline;
    let outgoing = notify::Outgoing {
        id: &d.id,
        notice,
        recipients: &d.recipients,
        count: 1,
        now: tools.state.ports.clock.now(),
    };
    tokio::time::timeout(deadline, channel.send(&outgoing))
        .await
        .unwrap_or(Err(SendError::Deadline(deadline.as_secs().max(1))))
}

/// The service that answers for a delivery's channel: its codes mean what that service says.
fn service(d: &Delivery, settings: &NotificationSettings) -> &'static str {
    use domain::account::BotKind;
    use notify::error::services;
    match d.channel {
        Channel::Email => services::SMTP,
        Channel::OaTemplate => services::WECHAT,
        Channel::Sms => services::SMS,
        Channel::Bot => match settings
            .bots
            .iter()
            .find(|b| d.recipients.first() == Some(&b.id))
            .map(|b| b.kind)
        {
            Some(BotKind::Dingtalk) => services::DINGTALK_BOT,
            Some(BotKind::Feishu) => services::FEISHU_BOT,
            _ => services::WECOM_BOT,
        },
    }
}

/// The channel's result in words, and its delivery in the log (a failure to record it is
/// logged, not reported: the test itself happened).
async fn record(
    state: &Services,
    d: &mut Delivery,
    service: &str,
    outcome: Result<notify::Results, SendError>,
) -> ChannelResult {
    let bot_id = (d.channel == Channel::Bot).then(|| d.recipients.join(","));
    let (delivered, reason, recipients) = match outcome {
        Ok(results) => {
            d.results = results.clone();
            let recipients: Vec<RecipientResult> = d
                .recipients
                .iter()
                .map(|r| {
                    let why = results
                        .get(r)
                        .map(|v| notify::channel::explain_result(service, v))
                        .unwrap_or_else(|| {
                            Some(Explanation {
                                zh: "服务没有报告这个收件人的结果".into(),
                                en: "the service reported nothing for this recipient".into(),
                            })
                        });
                    RecipientResult {
                        recipient: r.clone(),
                        delivered: why.is_none(),
                        reason: why.map(words),
                    }
                })
                .collect();
            let all = recipients.iter().all(|r| r.delivered);
            // Sent when someone got it; a channel nobody got it through failed.
            d.status = if recipients.iter().any(|r| r.delivered) {
                DeliveryStatus::Sent
            } else {
                DeliveryStatus::Failed
            };
            (all, None, recipients)
        }
        Err(SendError::EveryRecipient { service, results }) => {
            // Each recipient with its own reason, not the first one's for all.
            d.status = DeliveryStatus::Failed;
            d.last_error = Some(format!("{service} refused every recipient"));
            d.results = results.clone();
            let reasons: Vec<Explanation> = d
                .recipients
                .iter()
                .map(|r| {
                    notify::error::explain_text(
                        service,
                        results.get(r).map(String::as_str).unwrap_or_default(),
                    )
                })
                .collect();
            // One reason for all says it for the channel; several are said per recipient.
            let why = match reasons.split_first() {
                Some((first, rest)) if rest.iter().all(|r| r == first) => words(first.clone()),
                _ => Words::new(
                    "所有收件人都被拒绝，原因见每个收件人",
                    "every recipient was refused: see each one's reason",
                ),
            };
            let recipients = d
                .recipients
                .iter()
                .zip(reasons)
                .map(|(r, why)| RecipientResult {
                    recipient: r.clone(),
                    delivered: false,
                    reason: Some(words(why)),
                })
                .collect();
            (false, Some(why), recipients)
        }
        Err(e) => {
            d.status = DeliveryStatus::Failed;
            d.last_error = Some(e.to_string());
            let why = words(e.explain());
            let recipients = d
                .recipients
                .iter()
                .map(|r| RecipientResult {
                    recipient: r.clone(),
                    delivered: false,
                    reason: None,
                })
                .collect();
            (false, Some(why), recipients)
        }
    };
    d.updated_at = state.ports.clock.now();
    match delivery_item(d) {
        Ok(item) => {
            if let Err(e) = state.ports.records.put(item).await {
                tracing::warn!(delivery_id = %d.id, error = %e, "test notice delivery not recorded");
            }
        }
        Err(e) => {
            tracing::warn!(delivery_id = %d.id, error = %e, "test notice delivery not recorded")
        }
    }
    ChannelResult {
        channel: d.channel,
        bot_id,
        delivered,
        reason,
        recipients,
        delivery_id: d.id.clone(),
    }
}
