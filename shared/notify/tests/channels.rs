//! Every channel is reached through the one trait, [`notify::Channel`], against real servers:
//! a small SMTP server on a loopback port, and the notification-services simulator of
//! `sandbox` (WeChat template messages and tokens, Tencent Cloud SMS verifying TC3 signatures,
//! WeCom / DingTalk / Feishu bots verifying theirs).

use async_trait::async_trait;
use domain::notification::NotificationSummary;
use notify::bots::{BotChannel, Kind};
use notify::email::{EmailChannel, Mailer, Security, SmtpConfig};
use notify::oa::{AccessTokens, TemplateChannel};
use notify::sms::{SmsChannel, SmsConfig};
use notify::{Channel, Outgoing, SendError};
use sandbox::notify::NotifySim;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/smtp_sink.rs"]
mod smtp_sink;

const APPID: &str = "wx_channel_test";
const APP_SECRET: &str = "oa-secret-0123";
const TEMPLATE: &str = "TPL_channels";
/// The simulator takes openids of at least 20 characters.
const OPENID: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";

/// An HTTP client (reqwest's rustls needs its crypto provider installed first).
fn http() -> reqwest::Client {
    sandbox::install_tls_provider();
    reqwest::Client::new()
}

fn notice() -> NotificationSummary {
    NotificationSummary {
        platform: "wechatpay".into(),
        event: "新投诉".into(),
        merchant: "门店一".into(),
        reference: "200201820261126000000000001".into(),
        at: chrono::Utc::now(),
        amount_fen: Some(990),
        user_text: Some("充电宝无法使用".into()),
        deadline: None,
        link: None,
        extra_lines: vec![],
    }
}

/// A toy token source over the simulator's `stable_token`: the cached token until WeChat
/// rejects it, then a forced refresh. Counts its calls.
struct SimTokens {
    http: reqwest::Client,
    base: url::Url,
    cached: std::sync::Mutex<Option<String>>,
    calls: Arc<AtomicUsize>,
}

impl SimTokens {
    fn new(sim: &NotifySim, calls: Arc<AtomicUsize>) -> Self {
        Self {
            http: http(),
            base: sim.base_url().parse().expect("simulator URL"),
            cached: Default::default(),
            calls,
        }
    }
}

#[async_trait]
impl AccessTokens for SimTokens {
    async fn access_token(&self, rejected: Option<&str>) -> Result<String, SendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let cached = self
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(t) = cached
            && rejected != Some(t.as_str())
        {
            return Ok(t);
        }
        let url = self
            .base
            .join("cgi-bin/stable_token")
            .map_err(|e| SendError::Invalid(e.to_string()))?;
        let v: Value = self
            .http
            .post(url)
            .json(&json!({"grant_type": "client_credential", "appid": APPID,
                          "secret": APP_SECRET, "force_refresh": rejected.is_some()}))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| SendError::Transport {
                service: "token",
                detail: e.to_string(),
            })?
            .json()
            .await
            .map_err(|e| SendError::Transport {
                service: "token",
                detail: e.to_string(),
            })?;
        let token = v["access_token"]
            .as_str()
            .ok_or_else(|| SendError::Invalid(format!("no token: {v}")))?
            .to_string();
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        Ok(token)
    }
}

/// A token source that always answers the same token (WeChat refuses it), or an error.
struct FixedTokens {
    answer: Result<&'static str, &'static str>,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl AccessTokens for FixedTokens {
    async fn access_token(&self, _rejected: Option<&str>) -> Result<String, SendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer
            .map(String::from)
            .map_err(|m| SendError::Invalid(m.into()))
    }
}

fn template_channel<'a>(
    http: &'a reqwest::Client,
    sim: &NotifySim,
    tokens: Box<dyn AccessTokens + 'a>,
) -> TemplateChannel<'a> {
    TemplateChannel {
        http,
        base: sim.base_url().parse().expect("simulator URL"),
        template_id: TEMPLATE.into(),
        field_mapping: BTreeMap::from([
            ("thing1".to_string(), "merchant".to_string()),
            ("character_string2".to_string(), "complaint_id".to_string()),
        ]),
        tokens,
    }
}

fn outgoing<'a>(
    id: &'a str,
    notice: &'a NotificationSummary,
    recipients: &'a [String],
    count: usize,
) -> Outgoing<'a> {
    Outgoing {
        id,
        notice,
        recipients,
        count,
        now: chrono::Utc::now(),
    }
}

fn ok_for(recipients: &[&str]) -> BTreeMap<String, String> {
    recipients
        .iter()
        .map(|r| (r.to_string(), "ok".to_string()))
        .collect()
}

/// A channel, the recipients of one message, how many events it stands for, and the
/// per-recipient results expected.
type Case<'a> = (
    Box<dyn Channel + 'a>,
    Vec<&'static str>,
    usize,
    BTreeMap<String, String>,
);

#[tokio::test]
async fn every_channel_is_reached_through_the_trait() {
    let sim = NotifySim::start().await.expect("simulator");
    sim.add_oa_app(APPID, APP_SECRET, TEMPLATE);
    sim.add_sms_key("AKIDchannels", "sms-secret-key");
    let counts = Arc::new(smtp_sink::Counts::default());
    let smtp_port = smtp_sink::serve(counts.clone()).await;
    let http = http();
    let mailer = Mailer::new();
    let notice = notice();

    let channels: Vec<Case<'_>> = vec![
        (
            Box::new(EmailChannel {
                mailer: &mailer,
                config: SmtpConfig {
                    host: "127.0.0.1".into(),
                    port: smtp_port,
                    security: Security::None,
                    username: "desk@example.com".into(),
                    password: None,
                    sender: "desk@example.com".into(),
                    extra_roots_pem: None,
                },
            }),
            vec!["staff@example.com", "owner@example.com"],
            1,
            ok_for(&["staff@example.com", "owner@example.com"]),
        ),
        (
            Box::new(template_channel(
                &http,
                &sim,
                Box::new(SimTokens::new(&sim, Arc::default())),
            )),
            // The second openid is refused for good (too short for WeChat): its own result.
            vec![OPENID, "o_short"],
            1,
            BTreeMap::from([
                (OPENID.to_string(), "ok".to_string()),
                (
                    "o_short".to_string(),
                    "WeChat refused: 40003: invalid openid".to_string(),
                ),
            ]),
        ),
        (
            Box::new(SmsChannel {
                http: &http,
                config: SmsConfig {
                    base_url: sim.sms_url().parse().expect("SMS URL"),
                    region: "ap-guangzhou".into(),
                    secret_id: "AKIDchannels".into(),
                    secret_key: "sms-secret-key".into(),
                    sdk_app_id: "1400000001".into(),
                    sign_name: "投诉台".into(),
                    template_id: "449739".into(),
                    link: None,
                },
            }),
            vec!["+8613711112222", "+8613711113333"],
            3,
            ok_for(&["+8613711112222", "+8613711113333"]),
        ),
        (
            Box::new(BotChannel {
                http: &http,
                kind: Kind::Wecom,
                webhook_url: sim.add_bot("wecom", "wecom-token", None),
                signing_secret: None,
            }),
            vec!["bot-wecom"],
            1,
            ok_for(&["bot-wecom"]),
        ),
        (
            Box::new(BotChannel {
                http: &http,
                kind: Kind::Dingtalk,
                webhook_url: sim.add_bot("dingtalk", "ding-token", Some("SECding")),
                signing_secret: Some("SECding".into()),
            }),
            vec!["bot-ding"],
            1,
            ok_for(&["bot-ding"]),
        ),
        (
            Box::new(BotChannel {
                http: &http,
                kind: Kind::Feishu,
                webhook_url: sim.add_bot("feishu", "feishu-token", Some("feishu-secret")),
                signing_secret: Some("feishu-secret".into()),
            }),
            vec!["bot-feishu"],
            1,
            ok_for(&["bot-feishu"]),
        ),
    ];
    for (n, (channel, recipients, count, expected)) in channels.iter().enumerate() {
        let recipients: Vec<String> = recipients.iter().map(|r| r.to_string()).collect();
        let id = format!("dlv_{n}");
        let results = channel
            .send(&outgoing(&id, &notice, &recipients, *count))
            .await
            .unwrap_or_else(|e| panic!("channel {n}: {e}"));
        assert_eq!(&results, expected, "channel {n}");
    }

    // E-mail: one message to both recipients.
    let mails = counts.mails_received();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("staff@example.com") && mails[0].contains("owner@example.com"));
    // Template message: the mapped fields, the delivery id in client_msg_id.
    let sent = sim.template_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["touser"], OPENID);
    assert_eq!(sent[0]["data"]["thing1"]["value"], "门店一");
    assert_eq!(
        sent[0]["data"]["character_string2"]["value"],
        "200201820261126000000000001"
    );
    assert_eq!(sent[0]["client_msg_id"], format!("dlv_1-{OPENID}"));
    // SMS: signed as Tencent checks it, the fold count in the first parameter.
    let sms = sim.sms_sent();
    assert_eq!(sim.sms_rejected(), 0);
    assert_eq!(sms.len(), 1);
    assert_eq!(
        sms[0]["TemplateParamSet"],
        json!(["3条: 新投诉", "门店一", "200201820261126000000000001"])
    );
    assert_eq!(sms[0]["SessionContext"], "dlv_2");
    // Bots: each accepted by its (signature-checking) webhook.
    let bots: Vec<String> = sim.bot_messages().into_iter().map(|(t, _)| t).collect();
    assert_eq!(bots, ["wecom-token", "ding-token", "feishu-token"]);
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once_and_the_message_sent_again() {
    let sim = NotifySim::start().await.expect("simulator");
    sim.add_oa_app(APPID, APP_SECRET, TEMPLATE);
    let http = http();
    let calls = Arc::new(AtomicUsize::new(0));
    let channel: Box<dyn Channel> = Box::new(template_channel(
        &http,
        &sim,
        Box::new(SimTokens::new(&sim, calls.clone())),
    ));
    let notice = notice();
    let to = vec![OPENID.to_string()];

    channel
        .send(&outgoing("dlv_a", &notice, &to, 1))
        .await
        .expect("first send");
    sim.expire_tokens();
    let results = channel
        .send(&outgoing("dlv_b", &notice, &to, 1))
        .await
        .expect("sent with a fresh token");
    assert_eq!(results, ok_for(&[OPENID]));
    let received = sim.received_tokens();
    assert_eq!(received.len(), 3, "first send; expired token; fresh token");
    assert_eq!(received[0], received[1]);
    assert_ne!(received[1], received[2]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(sim.template_messages().len(), 2);
}

#[tokio::test]
async fn a_token_refused_twice_is_tried_only_twice_and_fails_for_good() {
    let sim = NotifySim::start().await.expect("simulator");
    sim.add_oa_app(APPID, APP_SECRET, TEMPLATE);
    let http = http();
    let calls = Arc::new(AtomicUsize::new(0));
    let channel = template_channel(
        &http,
        &sim,
        Box::new(FixedTokens {
            answer: Ok("not-a-token"),
            calls: calls.clone(),
        }),
    );
    let notice = notice();
    let to = vec![OPENID.to_string()];
    let err = (&channel as &dyn Channel)
        .send(&outgoing("dlv_c", &notice, &to, 1))
        .await
        .expect_err("no valid token");
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(err.code(), Some("all"), "{err}");
    assert!(err.to_string().contains("40014"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one refresh");
    assert_eq!(sim.received_tokens().len(), 2, "one retry");
}

#[tokio::test]
async fn a_token_that_cannot_be_had_fails_the_whole_message() {
    let sim = NotifySim::start().await.expect("simulator");
    sim.add_oa_app(APPID, APP_SECRET, TEMPLATE);
    let http = http();
    let calls = Arc::new(AtomicUsize::new(0));
    let channel = template_channel(
        &http,
        &sim,
        Box::new(FixedTokens {
            answer: Err("the official account's secret was refused"),
            calls: calls.clone(),
        }),
    );
    let notice = notice();
    let to = vec![OPENID.to_string(), format!("{OPENID}2")];
    let err = (&channel as &dyn Channel)
        .send(&outgoing("dlv_d", &notice, &to, 1))
        .await
        .expect_err("no token");
    // The token source's own error, not a per-openid result folded into "all".
    assert!(
        matches!(err, SendError::Invalid(ref m) if m.contains("secret was refused")),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "stops at the first openid");
    assert!(sim.received_tokens().is_empty());
}
