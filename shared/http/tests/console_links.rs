//! Deep links from staff notices to the staff console, end to end: the WeChat Pay simulator
//! pushes a complaint to our server on a loopback port, the worker records it and queues the
//! staff notice, the notifier delivers it to a real SMTP server and the template-message, SMS
//! and bot simulators; each carries the complaint's console page when `PUBLIC_BASE_URL` is set
//! (under `CONSOLE_BASE_URL` when that is set too; the SMS through the template variable the
//! settings name), and nothing breaks without it or with `CONSOLE_BASE_URL=off`.
//! The daily digest links to the inbox filtered to its audience, overdue and due soon; the SMS
//! link variable's position is validated by the admin API.

mod common;

use axum::http::{Method, StatusCode};
use base64::Engine;
use chrono::{Duration as Span, Utc};
use common::*;
use desk_core::deadlines::digest::{Digest, Yesterday};
use desk_core::worker::CancellationToken;
use domain::complaint::{Complaint, ComplaintStatus};
use domain::job::queues;
use domain::notification::Audience;
use sandbox::notify::NotifySim;
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};
use std::time::Duration;

const PUBLIC: &str = "https://desk.example.com/";
/// Where the console is served when it is not under [`PUBLIC`] (the admin REST API's stage of
/// `AdminAccess` ip-restricted or private), given without its final `/`.
const CONSOLE: &str = "https://a1b2c3d4e5.execute-api.ap-east-1.amazonaws.com/prod";
const PROVIDER: &str = "1900000109";
const SUB: &str = "1900000201";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const OA_APPID: &str = "wx1234567890abcdef";
const OA_SECRET: &str = "oa-secret-0123456789abcdef01234567";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
const SMS_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
const SMS_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
/// The SMS template: `{1}` what happened, `{2}` who, `{3}` the complaint's number, and `{4}`
/// the path after `https://desk.example.com/` (fixed text of the template).
const SMS_TEMPLATE: &str = "449740";

struct Env {
    h: Harness,
    sim: WechatPaySim,
    base: String,
    provider_id: String,
    ns: NotifySim,
    sink: SmtpSink,
    _sink_dir: tempfile::TempDir,
    stop: CancellationToken,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Our server on a loopback port with `public` as its `PUBLIC_BASE_URL` (and `console` as its
/// `CONSOLE_BASE_URL`), the event and notify
/// workers running, a WeChat Pay provider (no automatic refund) against the simulator, and its
/// staff on every channel: e-mail through a local relay, template message, SMS whose template
/// has the link variable `{4}`, and a WeCom, a DingTalk and a Feishu bot.
async fn env(public: Option<&str>) -> Env {
    env_with_console(public, None).await
}

async fn env_with_console(public: Option<&str>, console: Option<&str>) -> Env {
    let public: Option<url::Url> = public.map(|p| p.parse().expect("url"));
    let console: desk_core::ConsoleBase = console
        .map(|p| p.parse().expect("a console base"))
        .unwrap_or_default();
    let (h, base, stop) = served(move |s| {
        let services: &mut desk_core::Services = s;
        *services = services.clone().with_console_base(console);
        s.public_base_url = public;
        s.notifier = desk_core::state::NotifierSettings {
            sms_fold: Duration::from_millis(200),
            base_backoff: Duration::from_millis(300),
            deadline: chrono::Duration::hours(6),
        };
    })
    .await;
    spawn_worker(&h, queues::EVENTS, &stop);
    spawn_worker(&h, queues::NOTIFY, &stop);
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    sim.add_merchant(SimMerchant {
        mchid: PROVIDER.into(),
        serial_no: SERIAL.into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let mut body = provider_body(PROVIDER);
    body["settings"]["api_base_url"] = json!(sim.base_url());
    body["settings"]["default_auto_refund"] = json!(false);
    body["credentials"] = json!({
        "private_key": private_pem(rsa_key()), "apiv3_key": APIV3,
        "wechatpay_public_key": sim.keys().public_key_pem(),
        "wechatpay_public_key_id": sim.keys().pub_key_id,
    });
    let provider_id = h.create(body).await;

    let ns = NotifySim::start().await.expect("notify sim");
    ns.add_oa_app(OA_APPID, OA_SECRET, "TPL-complaint");
    ns.add_sms_key(SMS_ID, SMS_KEY);
    ns.add_sms_template(SMS_TEMPLATE, 4);
    let sink_dir = tempfile::tempdir().expect("dir");
    let relay = free_port();
    let sink = SmtpSink::start_with_relay(sink_dir.path(), free_port(), free_port(), Some(relay));
    let e = Env {
        h,
        sim,
        base,
        provider_id,
        ns,
        sink,
        _sink_dir: sink_dir,
        stop,
    };
    let settings = e.every_channel(Some(4));
    let (s, b) = e.put_notifications(&settings).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    e
}

impl Env {
    fn notifications_path(&self) -> String {
        format!("/admin/v1/accounts/{}/notifications", self.provider_id)
    }

    /// Every channel, the SMS with `link_param`.
    fn every_channel(&self, link_param: Option<u32>) -> Value {
        let wecom = self.ns.add_bot("wecom", "wecom-token", None);
        let ding = self
            .ns
            .add_bot("dingtalk", "ding-token", Some("SECding0123"));
        let feishu = self
            .ns
            .add_bot("feishu", "feishu-token", Some("SECfeishu0123"));
        json!({
            "email": {"host": "127.0.0.1", "port": self.sink.relay_port, "tls": "none",
                      "sender": SMTP_USER, "recipients": ["owner@example.com"]},
            "oa_template": {"appid": OA_APPID, "template_id": "TPL-complaint", "openids": [OPENID],
                            "field_mapping": {"thing1": "merchant", "character_string2": "complaint_id"},
                            "api_base_url": self.ns.base_url(), "secret": OA_SECRET},
            "sms": {"secret_id": SMS_ID, "sdk_app_id": "1400006666", "sign_name": "投诉台",
                    "template_id": SMS_TEMPLATE, "phone_numbers": ["+8613711112222"],
                    "api_base_url": self.ns.sms_url(), "secret_key": SMS_KEY,
                    "link_param": link_param},
            "bots": [
                {"id": "wecom", "kind": "wecom", "webhook_url": wecom},
                {"id": "ding", "kind": "dingtalk", "webhook_url": ding, "signing_secret": "SECding0123"},
                {"id": "feishu", "kind": "feishu", "webhook_url": feishu, "signing_secret": "SECfeishu0123"}
            ]
        })
    }

    async fn put_notifications(&self, body: &Value) -> (StatusCode, Value) {
        self.h
            .admin(Method::PUT, &self.notifications_path(), Some(body.clone()))
            .await
    }

    /// Push a new complaint (of a sub-merchant we do not know: the provider's staff hear).
    async fn push_complaint(&self, id: &str) {
        self.sim.add_complaint_for(
            PROVIDER,
            json!({
                "complaint_id": id,
                "complaint_time": Utc::now().to_rfc3339(),
                "complaint_detail": "充电宝无法使用，要求退款",
                "complaint_state": "PENDING",
                "complainted_mchid": "1900000999",
                "complaint_order_info": [{"transaction_id": format!("42000{id}"), "out_trade_no": format!("T{id}"), "amount": 1999}],
                "complaint_media_list": [],
                "problem_type": "OTHERS",
                "apply_refund_amount": 1999,
                "need_immediate_service": false,
                "user_complaint_times": 1
            }),
        );
        let push = self.sim.notification(
            APIV3,
            "COMPLAINT.CREATE",
            "complaint",
            &json!({"complaint_id": id, "action_type": "CREATE_COMPLAINT"}),
            KeyMode::PublicKey,
            0,
        );
        let url = format!("{}/callbacks/wechatpay/{PROVIDER}/complaints", self.base);
        assert_eq!(push.post(&url).await, Ok(204), "push accepted");
    }

    /// Poll (at most 60 s) until every channel got the notice; the complaint's detail.
    async fn delivered(&self, platform_id: &str) -> Value {
        for _ in 0..600 {
            if let Some(d) = self.h.complaint_detail(platform_id).await {
                let deliveries = d["deliveries"].as_array().cloned().unwrap_or_default();
                let done = deliveries.len() == 6
                    && deliveries
                        .iter()
                        .all(|x| x["status"] == "sent" || x["status"] == "failed");
                if done {
                    return d;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the notice was not delivered: {:?}",
            self.h.complaint_detail(platform_id).await
        );
    }

    fn mail(&self) -> String {
        let mails = self.sink.messages();
        assert_eq!(mails.len(), 1, "one e-mail");
        decoded(&mails[0])
    }

    /// The bot messages' bodies, per bot token.
    fn bot(&self, token: &str) -> Value {
        let messages: Vec<Value> = self
            .ns
            .bot_messages()
            .into_iter()
            .filter(|(t, _)| t == token)
            .map(|(_, b)| b)
            .collect();
        assert_eq!(messages.len(), 1, "one message to {token}: {messages:?}");
        messages[0].clone()
    }
}

/// An e-mail with its base64 and quoted-printable parts decoded (the link must be in the text
/// and HTML parts, whatever transfer encoding the mailer chose).
fn decoded(raw: &str) -> String {
    let mut out = String::new();
    for part in raw.split("\n--") {
        let Some((head, body)) = part
            .split_once("\r\n\r\n")
            .or_else(|| part.split_once("\n\n"))
        else {
            continue;
        };
        let head = head.to_ascii_lowercase();
        let text = if head.contains("content-transfer-encoding: base64") {
            let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default()
        } else if head.contains("content-transfer-encoding: quoted-printable") {
            quoted_printable(body)
        } else {
            body.to_string()
        };
        out.push_str(&text);
        out.push('\n');
    }
    out
}

fn quoted_printable(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// With `CONSOLE_BASE_URL` (the console on an address of its own), every channel's link is
/// under it, stage path included, and none under `PUBLIC_BASE_URL` (which serves no console
/// then). Without it the links are under `PUBLIC_BASE_URL` (the digest's test below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_channel_links_a_pushed_complaint_to_its_console_page() {
    let e = env_with_console(Some(PUBLIC), Some(CONSOLE)).await;
    let id = "200201820261127080000000021";
    e.push_complaint(id).await;
    let d = e.delivered(id).await;
    let failed: Vec<&Value> = d["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["status"] != "sent")
        .collect();
    assert!(failed.is_empty(), "every delivery sent: {failed:?}");
    let ours = d["complaint"]["id"].as_str().expect("our id");
    let path = format!("console/complaints/{ours}");
    let link = format!("{CONSOLE}/{path}");

    // The job's notice itself.
    let notices = d["notifications"].as_array().cloned().unwrap_or_default();
    assert!(
        notices.iter().any(|n| n["summary"]["link"] == json!(link)),
        "the staff notice links to the console page: {notices:?}"
    );
    // E-mail: in the text part and as an anchor in the HTML part.
    let mail = e.mail();
    assert!(mail.contains(&format!("\n{link}")), "text part: {mail}");
    assert!(
        mail.contains(&format!("<a href=\"{link}\">")),
        "HTML part: {mail}"
    );
    assert!(!mail.contains("admin/v1"), "no admin API link: {mail}");
    assert!(
        !mail.contains(PUBLIC),
        "no link under the public base: {mail}"
    );
    // Bots: a markdown link where the bot has markdown, the address in Feishu's text.
    let wecom = e.bot("wecom-token");
    assert!(
        wecom["markdown"]["content"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("[详情]({link})"))),
        "{wecom}"
    );
    let ding = e.bot("ding-token");
    assert!(
        ding["markdown"]["text"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("[详情]({link})"))),
        "{ding}"
    );
    let feishu = e.bot("feishu-token");
    assert!(
        feishu["content"]["text"]
            .as_str()
            .is_some_and(|t| t.contains(&link)),
        "{feishu}"
    );
    // The template message: its `url`.
    let tpl = e.ns.template_messages();
    assert_eq!(tpl.len(), 1, "{tpl:?}");
    assert_eq!(tpl[0]["url"], json!(link), "{}", tpl[0]);
    // SMS: the fourth variable is the path after the base (the template holds the base).
    let sms = e.ns.sms_sent();
    assert_eq!(sms.len(), 1, "{sms:?}");
    let params = sms[0]["TemplateParamSet"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(params.len(), 4, "{}", sms[0]);
    assert_eq!(params[2], json!(id), "{}", sms[0]);
    assert_eq!(params[3], json!(path), "{}", sms[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_public_base_url_notices_carry_no_link_and_still_arrive() {
    let e = env(None).await;
    let id = "200201820261127080000000022";
    // The template still has its fourth variable (Tencent wants a value for each): the
    // provider's inbox, a path that works under the template's fixed base.
    let inbox = format!("console/?account={}", e.provider_id);
    notices_carry_no_link(&e, id, &inbox).await;
}

/// `CONSOLE_BASE_URL=off` (on AWS with `AdminAccess` ip-restricted or private and no
/// `ConsoleBaseUrl`): with `PUBLIC_BASE_URL` set, still no console link on any channel, and
/// the SMS link variable is `-` (the template's fixed base is not where the console is).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_console_links_off_notices_carry_no_link_and_still_arrive() {
    let e = env_with_console(Some(PUBLIC), Some("off")).await;
    notices_carry_no_link(&e, "200201820261127080000000023", "-").await;
}

/// Push complaint `id`: every channel delivers it without a console link, the SMS link
/// variable carrying `sms_link`.
async fn notices_carry_no_link(e: &Env, id: &str, sms_link: &str) {
    e.push_complaint(id).await;
    let d = e.delivered(id).await;
    let failed: Vec<&Value> = d["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["status"] != "sent")
        .collect();
    assert!(failed.is_empty(), "every delivery sent: {failed:?}");
    let mail = e.mail();
    assert!(mail.contains(id), "{mail}");
    assert!(
        !mail.contains("console/") && !mail.contains("<a href"),
        "no link: {mail}"
    );
    for (token, field) in [("wecom-token", "content"), ("ding-token", "text")] {
        let m = e.bot(token);
        let text = m["markdown"][field].as_str().unwrap_or_default();
        assert!(
            text.contains(id) && !text.contains("[详情]"),
            "{token}: {m}"
        );
    }
    let feishu = e.bot("feishu-token");
    assert!(
        !feishu["content"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("http"),
        "{feishu}"
    );
    let tpl = e.ns.template_messages();
    assert_eq!(tpl.len(), 1, "{tpl:?}");
    assert!(tpl[0].get("url").is_none(), "no url: {}", tpl[0]);
    let sms = e.ns.sms_sent();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0]["TemplateParamSet"][3], json!(sms_link), "{}", sms[0]);
    assert_eq!(e.ns.sms_rejected(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sms_link_variable_must_follow_the_three_fixed_ones_and_a_refusal_changes_nothing() {
    let e = env(Some(PUBLIC)).await;
    let before = e.h.admin(Method::GET, &e.notifications_path(), None).await;
    assert_eq!(before.0, StatusCode::OK, "{}", before.1);
    assert_eq!(before.1["sms"]["link_param"], 4, "{}", before.1);
    for bad in [
        json!(0),
        json!(1),
        json!(3),
        json!(11),
        json!(300),
        json!(-4),
    ] {
        let mut body = e.every_channel(None);
        body["sms"]["link_param"] = bad.clone();
        let (s, b) = e.put_notifications(&body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
        assert_eq!(b["error"]["field"], "sms.link_param", "{bad}: {b}");
        if bad.as_u64().is_some() {
            assert!(
                b["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("must be 4 to 10")),
                "{bad}: {b}"
            );
        }
        let after = e.h.admin(Method::GET, &e.notifications_path(), None).await;
        assert_eq!(after.1, before.1, "{bad}: a refused change changes nothing");
    }
    // Omitted (or null): no link variable.
    let mut body = e.every_channel(None);
    body["sms"]
        .as_object_mut()
        .expect("sms")
        .remove("link_param");
    let (s, b) = e.put_notifications(&body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["sms"]["link_param"], Value::Null, "{b}");
    let (s, b) = e.put_notifications(&e.every_channel(Some(10))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["sms"]["link_param"], 10, "{b}");
    // The OpenAPI document says the same.
    let (s, doc) = e.h.admin(Method::GET, "/admin/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    let field = &doc["components"]["schemas"]["SmsInput"]["properties"]["link_param"];
    assert_eq!(
        (field["minimum"].as_u64(), field["maximum"].as_u64()),
        (Some(4), Some(10)),
        "{field}"
    );
    assert!(
        field["description"]
            .as_str()
            .is_some_and(|d| d.contains("PUBLIC_BASE_URL")),
        "{field}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_digest_links_to_the_inbox_of_its_audience_overdue_and_due_soon() {
    let e = env(Some(PUBLIC)).await;
    let (s, b) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{}/sub-merchants", e.provider_id),
            Some(json!({"sub_mchid": SUB, "name": "门店"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let wecom = e.ns.add_bot("wecom", "sub-wecom-token", None);
    let (s, b) =
        e.h.admin(
            Method::PUT,
            &format!(
                "/admin/v1/accounts/{}/sub-merchants/{SUB}/notifications",
                e.provider_id
            ),
            Some(json!({"bots": [{"id": "wecom", "kind": "wecom", "webhook_url": wecom}]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let now = Utc::now();
    let open = |reference: &str, due: chrono::DateTime<Utc>| {
        let mut c = Complaint::new(
            format!("cmp_{reference}"),
            domain::complaint::Platform::Wechatpay,
            None,
            e.provider_id.clone(),
            reference.into(),
            now - Span::days(2),
        );
        c.sub_mchid = Some(SUB.into());
        c.status = ComplaintStatus::Pending;
        c.next_due_at = Some(due);
        c
    };
    let digest = Digest {
        day: now.date_naive(),
        now,
        open: vec![
            open("LATE-1", now - Span::hours(3)),
            open("SOON-1", now + Span::hours(2)),
        ],
        open_capped: false,
        yesterday: Yesterday::default(),
    };
    let audience = Audience {
        account_id: e.provider_id.clone(),
        sub_mchid: Some(SUB.into()),
    };
    let queued = digest
        .send(&e.h.state, "wechatpay", "门店", &audience, now)
        .await
        .expect("digest queued");
    assert_eq!(queued, 1);
    let inbox = format!("{PUBLIC}console/?account={}&sub_mchid={SUB}", e.provider_id);
    let mut message = None;
    for _ in 0..600 {
        message =
            e.ns.bot_messages()
                .into_iter()
                .find(|(t, _)| t == "sub-wecom-token");
        if message.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, m) = message.expect("the digest reached the sub-merchant's bot");
    let md = m["markdown"]["content"].as_str().unwrap_or_default();
    assert!(md.contains(&format!("[详情]({inbox})")), "{md}");
    assert!(
        md.contains(&format!(
            "**逾期投诉 / overdue**: [查看]({inbox}&due=overdue)"
        )),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "**即将到期 / due soon**: [查看]({inbox}&due=soon)"
        )),
        "{md}"
    );
    assert!(!md.contains("admin/v1"), "{md}");
}

#[tokio::test]
async fn a_digest_offers_due_soon_only_for_a_complaint_due_within_the_inbox_window() {
    let h = harness_with(Some(PUBLIC));
    let now = Utc::now();
    let audience = Audience {
        account_id: "acc_1".into(),
        sub_mchid: None,
    };
    let digest = |due: Vec<chrono::DateTime<Utc>>| Digest {
        day: now.date_naive(),
        now,
        open: due
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let mut c = Complaint::new(
                    format!("cmp_{i}"),
                    domain::complaint::Platform::Wechatpay,
                    None,
                    "acc_1".into(),
                    format!("R{i}"),
                    now - Span::days(1),
                );
                c.next_due_at = Some(t);
                c
            })
            .collect(),
        open_capped: false,
        yesterday: Yesterday::default(),
    };
    let inbox = format!("{PUBLIC}console/?account=acc_1");
    // Due in 40 hours only: the inbox's "due soon" (24 hours) would list nothing.
    let later = digest(vec![now + Span::hours(40)]);
    let links = later.links(&h.state, &audience);
    assert_eq!(links.inbox.as_deref(), Some(inbox.as_str()));
    assert_eq!(links.soon, None, "no link to an empty list");
    assert_eq!(links.overdue, None);
    assert_eq!(later.due_soon(), 0);
    assert!(
        !later
            .lines(&links)
            .iter()
            .any(|l| l.value.contains("due=soon") || l.label.contains("due soon")),
        "{:?}",
        later.lines(&links)
    );
    // One due within the window: the link, and the inbox's window is the one counted.
    let edge = now + desk_core::console_links::DUE_SOON;
    let soon = digest(vec![now + Span::hours(40), edge]);
    assert_eq!(soon.due_soon(), 1);
    assert_eq!(
        soon.links(&h.state, &audience).soon,
        Some(format!("{inbox}&due=soon"))
    );
}
