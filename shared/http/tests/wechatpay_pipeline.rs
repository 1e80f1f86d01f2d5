//! WeChat Pay end to end over real HTTP: the simulator pushes signed, encrypted callbacks to
//! our server on a loopback port; the worker loop (embedded queue) fetches the complaint from
//! the simulator, records it, queues staff notices, replies, refunds and completes. Every
//! platform write is checked by the simulator's own verification code.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use desk_core::worker::CancellationToken;
use domain::job::{JobEnvelope, queues};
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};
use std::time::Duration;

const PROVIDER: &str = "1900000109";
const SUB: &str = "1900000201";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const SUB_TEXT: &str = "您好，门店已收到您的投诉，马上为您退款。";
const DEFAULT_TEXT: &str = "您好，我们已收到您的投诉，正在处理。";

struct Env {
    h: Harness,
    sim: WechatPaySim,
    base: String,
    provider_id: String,
    /// Push notifications signed in this mode.
    push_mode: KeyMode,
    stop: CancellationToken,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Our server on a real port with the event worker running, a provider whose keys are
/// configured for `creds_public_key` (public key mode) or certificates only, and the
/// simulator answering in `sim_mode`.
async fn env(sim_mode: KeyMode, creds_public_key: bool, push_mode: KeyMode) -> Env {
    env_with(sim_mode, creds_public_key, push_mode, None).await
}

/// With `notifier`: also the notify queue's worker, with these timings.
async fn env_with(
    sim_mode: KeyMode,
    creds_public_key: bool,
    push_mode: KeyMode,
    notifier: Option<desk_core::state::NotifierSettings>,
) -> Env {
    env_keys(
        sim_mode,
        creds_public_key,
        push_mode,
        notifier,
        Keys::standard(),
    )
    .await
}

/// Certificates and serials beyond the defaults.
struct Keys {
    platform: PlatformKeys,
    /// The merchant certificate serial as WeChat Pay knows it.
    merchant_serial_no: &'static str,
    /// `merchant_serial_no` as the operator typed it into the settings.
    configured_serial_no: &'static str,
    /// Send the platform certificate with the credentials (nothing to download).
    upload_certificate: bool,
}

impl Keys {
    fn standard() -> Keys {
        Keys {
            platform: PlatformKeys::generate(),
            merchant_serial_no: SERIAL,
            configured_serial_no: SERIAL,
            upload_certificate: false,
        }
    }
}

/// With these keys, and the events (and, with `notifier`, notify) workers running.
async fn env_keys(
    sim_mode: KeyMode,
    creds_public_key: bool,
    push_mode: KeyMode,
    notifier: Option<desk_core::state::NotifierSettings>,
    keys: Keys,
) -> Env {
    let with_notifier = notifier.is_some();
    let e = env_keys_without_workers(sim_mode, creds_public_key, push_mode, notifier, keys).await;
    spawn_worker(&e.h, queues::EVENTS, &e.stop);
    if with_notifier {
        spawn_worker(&e.h, queues::NOTIFY, &e.stop);
    }
    e
}

/// The same without any worker: the test runs the queued jobs itself.
async fn env_without_workers(
    sim_mode: KeyMode,
    creds_public_key: bool,
    push_mode: KeyMode,
    notifier: Option<desk_core::state::NotifierSettings>,
) -> Env {
    env_keys_without_workers(
        sim_mode,
        creds_public_key,
        push_mode,
        notifier,
        Keys::standard(),
    )
    .await
}

async fn env_keys_without_workers(
    sim_mode: KeyMode,
    creds_public_key: bool,
    push_mode: KeyMode,
    notifier: Option<desk_core::state::NotifierSettings>,
    keys: Keys,
) -> Env {
    let (h, base, stop) = served(|s| {
        if let Some(n) = notifier {
            s.notifier = n;
        }
    })
    .await;
    let sim = WechatPaySim::start(keys.platform, sim_mode)
        .await
        .expect("simulator");
    sim.add_merchant(SimMerchant {
        mchid: PROVIDER.into(),
        serial_no: keys.merchant_serial_no.into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let mut body = provider_body(PROVIDER);
    body["settings"]["merchant_serial_no"] = json!(keys.configured_serial_no);
    body["settings"]["api_base_url"] = json!(sim.base_url());
    body["settings"]["default_reply_text"] = json!(DEFAULT_TEXT);
    body["settings"]["refund_cap_fen"] = json!(50_000);
    let mut creds = json!({"private_key": private_pem(rsa_key()), "apiv3_key": APIV3});
    if creds_public_key {
        creds["wechatpay_public_key"] = json!(sim.keys().public_key_pem());
        creds["wechatpay_public_key_id"] = json!(sim.keys().pub_key_id);
    }
    if keys.upload_certificate {
        creds["platform_certificates"] = json!([sim.keys().cert_pem]);
    }
    body["credentials"] = creds;
    let provider_id = h.create(body).await;
    Env {
        h,
        sim,
        base,
        provider_id,
        push_mode,
        stop,
    }
}

impl Env {
    async fn add_sub(&self, sub: &str, enabled: bool, cap: Option<u64>) {
        let (s, b) = self
            .h
            .admin(
                Method::POST,
                &format!("/admin/v1/accounts/{}/sub-merchants", self.provider_id),
                Some(
                    json!({"sub_mchid": sub, "name": format!("门店 {sub}"), "reply_text": SUB_TEXT,
                            "auto_refund": true, "refund_cap_fen": cap, "enabled": enabled}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    fn add_complaint(&self, id: &str, sub: &str, amount: u64, problem_type: &str) {
        self.sim.add_complaint_for(
            PROVIDER,
            json!({
                "complaint_id": id,
                "complaint_time": chrono::Utc::now().to_rfc3339(),
                "complaint_detail": "充电宝无法使用，要求退款",
                "complaint_state": "PENDING",
                "complainted_mchid": sub,
                "complaint_order_info": [{"transaction_id": format!("42000{id}"), "out_trade_no": format!("T{id}"), "amount": amount}],
                "complaint_media_list": [],
                "problem_type": problem_type,
                "apply_refund_amount": amount,
                "need_immediate_service": false,
                "user_complaint_times": 1
            }),
        );
    }

    fn complaint_push(&self, id: &str, action: &str) -> sandbox::wechatpay::Notification {
        self.sim.notification(
            APIV3,
            if action == "CREATE_COMPLAINT" {
                "COMPLAINT.CREATE"
            } else {
                "COMPLAINT.STATE_CHANGE"
            },
            "complaint",
            &json!({"complaint_id": id, "action_type": action}),
            self.push_mode,
            0,
        )
    }

    fn url(&self, kind: &str) -> String {
        format!("{}/callbacks/wechatpay/{PROVIDER}/{kind}", self.base)
    }

    async fn push(&self, n: &sandbox::wechatpay::Notification, kind: &str) {
        assert_eq!(n.post(&self.url(kind)).await, Ok(204), "push accepted");
    }

    /// Poll (up to 10 s) until the complaint's detail satisfies `ok`.
    async fn wait_for(&self, platform_id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        self.h.wait_for_complaint(platform_id, what, ok).await
    }

    /// Notification jobs waiting on the notify queue (taken off it).
    async fn notify_jobs(&self) -> Vec<JobEnvelope> {
        let msgs = self
            .h
            .state
            .ports
            .queue
            .receive(
                queues::NOTIFY,
                10,
                Duration::from_secs(600),
                Duration::from_millis(300),
            )
            .await
            .expect("receive");
        msgs.iter()
            .map(|m| serde_json::from_str(&m.body).expect("job"))
            .collect()
    }

    fn writes(&self, suffix: &str, complaint: &str) -> usize {
        self.sim
            .writes_to(suffix)
            .iter()
            .filter(|w| w.path.contains(complaint) || suffix.contains("refunds"))
            .count()
    }
}

fn actions<'a>(d: &'a Value, kind: &str) -> Vec<&'a Value> {
    d["actions"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["action"] == kind).collect())
        .unwrap_or_default()
}

/// The acceptance path: a new complaint of a known sub-merchant ends with one reply carrying
/// the sub-merchant's text, one refund, one completion and notices for both staffs; the same
/// push again (and twice at once) changes nothing.
async fn complaint_flows_end_to_end(e: Env) {
    e.add_sub(SUB, true, None).await;
    let id = "200201820261122080000000001";
    e.add_complaint(id, SUB, 1999, "SERVICE_NOT_WORK");
    let push = e.complaint_push(id, "CREATE_COMPLAINT");
    e.push(&push, "complaints").await;

    let d = e
        .wait_for(id, "the completion", |d| {
            d["complaint"]["completed"] == true
        })
        .await;
    let responses = e.sim.writes_to("/response");
    assert_eq!(responses.len(), 1, "one reply");
    assert_eq!(responses[0].body["response_content"], SUB_TEXT);
    assert_eq!(responses[0].body["complainted_mchid"], SUB);
    let refunds = e.sim.writes_to("/v3/refund/domestic/refunds");
    assert_eq!(refunds.len(), 1, "one refund");
    assert_eq!(refunds[0].body["sub_mchid"], SUB);
    assert_eq!(refunds[0].body["amount"]["refund"], 1999);
    assert_eq!(refunds[0].body["amount"]["total"], 1999);
    assert_eq!(
        refunds[0].body["notify_url"],
        format!("{}/callbacks/wechatpay/{PROVIDER}/refunds", e.base)
    );
    assert_eq!(e.sim.writes_to("/complete").len(), 1, "one completion");
    assert_eq!(
        e.sim.complaint_state(id).expect("complaint")["complaint_state"],
        "PROCESSED"
    );
    assert_eq!(d["complaint"]["status"], "resolved");
    assert_eq!(d["complaint"]["sub_mchid"], SUB);
    assert_eq!(d["complaint"]["refunded_fen"], 1999);
    for kind in ["reply", "refund", "complete"] {
        // (The refund's result, reported later on the refund callback, is its own entry.)
        let a: Vec<&Value> = actions(&d, kind)
            .into_iter()
            .filter(|a| !a["detail"].as_str().unwrap_or_default().contains("reports"))
            .collect();
        assert_eq!(a.len(), 1, "{kind}: {a:?}");
        assert_eq!(a[0]["outcome"], "succeeded", "{kind}");
        assert_eq!(a[0]["trigger"]["by"], "policy");
    }
    let mut audiences: Vec<String> = d["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| format!("{}", n["audience"]["sub_mchid"]))
        .collect();
    audiences.sort();
    assert_eq!(audiences, vec![format!("\"{SUB}\""), "null".to_string()]);
    assert_eq!(d["notifications"][0]["summary"]["event"], "new complaint");
    assert_eq!(d["notifications"][0]["summary"]["amount_fen"], 1999);

    // The refund result comes back on the refund callback and is recorded.
    let d = e
        .wait_for(id, "the refund result", |d| {
            d["refunds"][0]["status"] == "SUCCESS"
        })
        .await;
    let out_refund_no = d["refunds"][0]["out_refund_no"].as_str().expect("number");
    assert_eq!(refunds[0].body["out_refund_no"], out_refund_no);

    // Again, and twice concurrently: nothing more happens.
    e.push(&push, "complaints").await;
    let url = e.url("complaints");
    let (a, b) = tokio::join!(push.post(&url), push.post(&url));
    assert_eq!((a, b), (Ok(204), Ok(204)));
    // A later push of another kind re-reads the state and finds nothing left to do.
    e.push(
        &e.complaint_push(id, "MERCHANT_CONFIRM_COMPLETE"),
        "complaints",
    )
    .await;
    e.wait_for(id, "the later history", |d| {
        d["history"].as_array().is_some_and(|h| {
            h.iter()
                .any(|x| x["operation"] == "MERCHANT_CONFIRM_COMPLETE")
        })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(e.writes("/response", id), 1);
    assert_eq!(e.sim.refunds().len(), 1);
    assert_eq!(e.writes("/complete", id), 1);
    let jobs = e.notify_jobs().await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert!(
        jobs.iter()
            .all(|j| j.job_type == domain::job::notify::STAFF.name())
    );
}

#[tokio::test]
async fn end_to_end_in_public_key_mode() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    let sim = e.sim.clone();
    complaint_flows_end_to_end(e).await;
    assert_eq!(sim.certificate_downloads(), 0);
    assert_eq!(sim.rejected(), 0);
}

#[tokio::test]
async fn end_to_end_in_certificate_mode() {
    let e = env(KeyMode::Certificate, false, KeyMode::Certificate).await;
    let sim = e.sim.clone();
    complaint_flows_end_to_end(e).await;
    assert_eq!(sim.certificate_downloads(), 1);
    assert_eq!(sim.rejected(), 0);
}

/// A platform certificate serial with its top bit set: DER writes it `00 8F ...`, WeChat Pay
/// sends `Wechatpay-Serial: 8F...`. Callbacks are accepted, answers verify, the download
/// matches, and the complaint is handled end to end.
#[tokio::test]
async fn end_to_end_with_a_platform_serial_whose_top_bit_is_set() {
    let keys = Keys {
        platform: PlatformKeys::generate_with_serial(&[
            0x8f, 0x3a, 0x5c, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
        ]),
        merchant_serial_no: SERIAL,
        configured_serial_no: SERIAL,
        upload_certificate: false,
    };
    let e = env_keys(
        KeyMode::Certificate,
        false,
        KeyMode::Certificate,
        None,
        keys,
    )
    .await;
    assert_eq!(e.sim.keys().cert_serial, "8F3A5C001122334455667788");
    let sim = e.sim.clone();
    complaint_flows_end_to_end(e).await;
    assert_eq!(sim.certificate_downloads(), 1);
    assert_eq!(sim.rejected(), 0);
}

/// A platform certificate uploaded with the credentials whose serial starts with a zero nibble
/// (`0A...` in DER, `A...` from WeChat Pay), and a merchant serial typed with DER's leading
/// 00 in lower case: nothing is downloaded, nothing refused, the status shows the serial as
/// WeChat Pay writes it.
#[tokio::test]
async fn end_to_end_with_an_uploaded_certificate_and_serials_in_other_spellings() {
    let keys = Keys {
        platform: PlatformKeys::generate_with_serial(&[
            0x0a, 0x3a, 0x5c, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
        ]),
        merchant_serial_no: "9C5157F09EFDC096DE15EBE81A47057A7232F1B8",
        configured_serial_no: "009c5157f09efdc096de15ebe81a47057a7232f1b8",
        upload_certificate: true,
    };
    let e = env_keys(
        KeyMode::Certificate,
        false,
        KeyMode::Certificate,
        None,
        keys,
    )
    .await;
    let (s, status) =
        e.h.admin(
            Method::GET,
            &format!("/admin/v1/accounts/{}", e.provider_id),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(
        status["credentials"]["identifiers"]["platform_certificate_serials"],
        "A3A5C001122334455667788"
    );
    let sim = e.sim.clone();
    complaint_flows_end_to_end(e).await;
    assert_eq!(sim.certificate_downloads(), 0);
    assert_eq!(sim.rejected(), 0);
}

#[tokio::test]
async fn end_to_end_mixed_modes_download_certificates_once() {
    // Keys configured with the public key; the platform signs answers with its certificate:
    // the first unknown serial causes exactly one download.
    let e = env(KeyMode::Certificate, true, KeyMode::PublicKey).await;
    let sim = e.sim.clone();
    complaint_flows_end_to_end(e).await;
    assert_eq!(sim.certificate_downloads(), 1);
}

#[tokio::test]
async fn unknown_sub_merchants_get_the_provider_defaults() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    let id = "200201820261122080000000002";
    e.add_complaint(id, "1900000999", 500, "OTHERS");
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the completion", |d| {
            d["complaint"]["completed"] == true
        })
        .await;
    let responses = e.sim.writes_to("/response");
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].body["response_content"], DEFAULT_TEXT);
    assert_eq!(e.sim.refunds().len(), 1);
    // Only the provider's staff hear (the sub-merchant is unknown here).
    let n = d["notifications"].as_array().expect("notifications");
    assert_eq!(n.len(), 1);
    assert_eq!(n[0]["audience"]["sub_mchid"], Value::Null);
}

#[tokio::test]
async fn a_disabled_sub_merchant_gets_nothing_sent_but_the_provider_hears() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    e.add_sub(SUB, false, None).await;
    let id = "200201820261122080000000003";
    e.add_complaint(id, SUB, 800, "OTHERS");
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the notice", |d| {
            d["notifications"].as_array().is_some_and(|n| !n.is_empty())
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(e.sim.writes().is_empty(), "{:?}", e.sim.writes());
    let n = d["notifications"].as_array().expect("notifications");
    assert_eq!(n.len(), 1);
    assert_eq!(n[0]["audience"]["sub_mchid"], Value::Null);
    assert_eq!(d["complaint"]["replied"], false);
    assert!(d["actions"].as_array().expect("actions").is_empty());
}

#[tokio::test]
async fn an_amount_over_the_cap_is_not_refunded_and_the_log_says_why() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    e.add_sub(SUB, true, Some(1000)).await;
    let id = "200201820261122080000000004";
    e.add_complaint(id, SUB, 1001, "OTHERS");
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the refund decision", |d| {
            !actions(d, "refund").is_empty()
        })
        .await;
    let refund = actions(&d, "refund");
    assert_eq!(refund[0]["outcome"], "skipped");
    assert!(
        refund[0]["detail"]
            .as_str()
            .is_some_and(|s| s.contains("1001") && s.contains("cap of 1000")),
        "{refund:?}"
    );
    assert!(e.sim.refunds().is_empty());
    assert!(e.sim.writes_to("/complete").is_empty(), "not completed");
    assert_eq!(e.sim.writes_to("/response").len(), 1, "still replied");
}

#[tokio::test]
async fn a_refund_request_is_approved_then_refunded() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    e.add_sub(SUB, true, None).await;
    let id = "200201820261122080000000005";
    e.add_complaint(id, SUB, 1500, "REFUND");
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the end of the policy", |d| {
            !actions(d, "complete").is_empty()
        })
        .await;
    let progress = e.sim.writes_to("/update-refund-progress");
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0].body["action"], "APPROVE");
    assert_eq!(e.sim.refunds().len(), 1);
    // The approved refund moved it to PROCESSED; completing again is "already done".
    assert_eq!(actions(&d, "complete")[0]["outcome"], "already_done");
    assert!(e.sim.writes_to("/complete").is_empty());
}

#[tokio::test]
async fn interception_notices_reach_staff_once_per_china_day() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    e.add_sub(SUB, true, None).await;
    let push = |day: &str, n: u32| {
        let (nonce, ciphertext) = sandbox::wechatpay::encrypt_resource(
            APIV3,
            "",
            &json!({"sub_mchid": SUB, "company_name": "某某科技有限公司", "record_id": format!("R{day}{n}"),
                    "punish_plan": "拦截交易", "punish_time": format!("{day}T10:00:00+08:00"),
                    "punish_description": "拦截订单超过10笔", "risk_type": "UNUSUAL_TRANSACTION",
                    "risk_description": "交易异常"})
            .to_string(),
        );
        let body = json!({"id": format!("EV-{day}-{n}"), "create_time": format!("{day}T1{n}:00:00+08:00"),
            "resource_type": "encrypt-resource", "event_type": "VIOLATION.INTERCEPT", "summary": "拦截",
            "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext, "nonce": nonce,
                         "associated_data": "", "original_type": "violation"}});
        e.sim
            .sign_notification(body.to_string(), KeyMode::PublicKey, 0)
    };
    for n in 1..=3 {
        e.push(&push("2026-11-22", n), "violations").await;
    }
    e.push(&push("2026-11-23", 1), "violations").await;
    let path = format!(
        "/admin/v1/violations?account={}&sub_mchid={SUB}",
        e.provider_id
    );
    for _ in 0..100 {
        if e.h.admin(Method::GET, &path, None).await.1["items"]
            .as_array()
            .map(Vec::len)
            == Some(4)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let items = e.h.admin(Method::GET, &path, None).await.1;
    assert_eq!(items["items"].as_array().map(Vec::len), Some(4), "{items}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let jobs = e.notify_jobs().await;
    // Two days × (provider staff + sub-merchant staff).
    assert_eq!(jobs.len(), 4, "{jobs:?}");
    let mut days: Vec<String> = jobs
        .iter()
        .filter(|j| j.sub_mchid.is_none())
        .map(|j| {
            j.payload["event_key"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    days.sort();
    assert!(
        days[0].ends_with("2026-11-22") && days[1].ends_with("2026-11-23"),
        "{days:?}"
    );
}

#[tokio::test]
async fn punishment_notices_reach_provider_and_sub_merchant_staff() {
    let e = env(KeyMode::Certificate, false, KeyMode::Certificate).await;
    e.add_sub(SUB, true, None).await;
    let n = e.sim.notification(
        APIV3,
        "VIOLATION.PUNISH",
        "violation",
        &json!({"sub_mchid": SUB, "record_id": "R1", "punish_plan": "关闭支付权限",
                "punish_time": "2026-11-22T10:00:00+08:00", "risk_type": "FRAUD", "risk_description": "涉嫌欺诈"}),
        KeyMode::Certificate,
        0,
    );
    e.push(&n, "violations").await;
    let mut jobs = Vec::new();
    for _ in 0..50 {
        jobs.extend(e.notify_jobs().await);
        if jobs.len() >= 2 {
            break;
        }
    }
    assert_eq!(jobs.len(), 2);
    assert!(
        jobs.iter()
            .all(|j| j.payload["summary"]["event"] == "VIOLATION.PUNISH")
    );
    assert!(jobs.iter().any(|j| j.sub_mchid.as_deref() == Some(SUB)));
    assert!(jobs.iter().any(|j| j.sub_mchid.is_none()));
    // The notice links to the sub-merchant's violations page in the console.
    let page = format!(
        "{}/console/violations?account={}&sub_mchid={SUB}",
        e.base, e.provider_id
    );
    assert!(
        jobs.iter()
            .all(|j| j.payload["summary"]["link"] == json!(page)),
        "{jobs:?}"
    );
}

#[tokio::test]
async fn staff_act_through_the_admin_api() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    // auto_refund off for this sub-merchant: staff decide.
    let (s, b) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{}/sub-merchants", e.provider_id),
            Some(json!({"sub_mchid": SUB, "name": "门店", "auto_refund": false})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = "200201820261122080000000006";
    let image_url = e
        .sim
        .add_user_image(b"\x89PNG\r\n\x1a\nuser-evidence".to_vec());
    let mut c = json!({
        "complaint_id": id, "complaint_time": chrono::Utc::now().to_rfc3339(),
        "complaint_detail": "商品与描述不符", "complaint_state": "PENDING", "complainted_mchid": SUB,
        "complaint_order_info": [{"transaction_id": "4200000000000000000000000006", "out_trade_no": "T6", "amount": 3000}],
        "complaint_media_list": [{"media_type": "USER_COMPLAINT_IMAGE", "media_url": [image_url]}],
        "problem_type": "OTHERS", "need_immediate_service": false
    });
    c["complainted_mchid"] = json!(SUB);
    e.sim.add_complaint_for(PROVIDER, c);
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the reply", |d| d["complaint"]["replied"] == true)
        .await;
    let cid = d["complaint"]["id"].as_str().expect("id").to_string();

    // The buyer's image, through our signed download proxy.
    let (s, bytes) =
        e.h.raw(
            Method::GET,
            &format!("/admin/v1/complaints/{cid}/media/0"),
            Some(ADMIN),
            None,
            "application/json",
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bytes, b"\x89PNG\r\n\x1a\nuser-evidence");

    // Upload evidence once, reply with it: the simulator checks the meta sha256.
    // A bitmap: its magic is ASCII, so the harness can send it as a string body.
    let png = b"BM merchant-evidence".to_vec();
    let (s, media) =
        e.h.raw(
            Method::POST,
            "/admin/v1/media?filename=receipt.bmp",
            Some(ADMIN),
            Some(String::from_utf8(png.clone()).expect("ascii")),
            "image/bmp",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let media: Value = serde_json::from_slice(&media).expect("json");
    let (s, r) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/complaints/{cid}/reply"),
            Some(json!({"text": "已为您补发，请查收", "images": [media["id"]]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let reply = e.sim.writes_to("/response");
    let last = reply.last().expect("reply");
    let platform_media = last.body["response_images"][0].as_str().expect("media id");
    assert_eq!(e.sim.image(platform_media), Some(png.clone()));

    // Two partial refunds by hand get two numbers; a third beyond the order is refused here.
    let refund_path = format!("/admin/v1/complaints/{cid}/refund");
    let refund = |amount: u64| {
        e.h.admin(
            Method::POST,
            &refund_path,
            Some(json!({"amount_fen": amount, "reason": "部分退款"})),
        )
    };
    let (s1, r1) = refund(1000).await;
    let (s2, r2) = refund(1500).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{r1} {r2}");
    assert_ne!(r1["out_refund_no"], r2["out_refund_no"]);
    let (s3, r3) = refund(600).await;
    assert_eq!(s3, StatusCode::BAD_REQUEST, "{r3}");
    assert_eq!(r3["error"]["field"], "amount_fen");
    assert_eq!(e.sim.refunds().len(), 2);

    // Refund-progress is for REFUND complaints: the platform's refusal comes back as 502.
    let (s, r) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/complaints/{cid}/refund-progress"),
            Some(json!({"action": "approve"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{r}");
    assert_eq!(r["error"]["code"], "platform_error");

    let (s, r) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/complaints/{cid}/complete"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, r) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/complaints/{cid}/appeal"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{r}");

    let (_, d) =
        e.h.admin(Method::GET, &format!("/admin/v1/complaints/{cid}"), None)
            .await;
    assert_eq!(d["complaint"]["status"], "resolved");
    assert_eq!(d["complaint"]["refunded_fen"], 2500);
    let admin_actions: Vec<&Value> = d["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["trigger"]["by"] == "admin")
        .collect();
    assert_eq!(admin_actions.len(), 5, "{admin_actions:?}");

    // Scoped tokens: the sub-merchant's sees it, another sub-merchant's does not.
    let (s, b) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{}/sub-merchants", e.provider_id),
            Some(json!({"sub_mchid": "1900000777", "name": "另一门店"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mine =
        e.h.token(json!({"type": "sub_merchant", "account_id": e.provider_id, "sub_mchid": SUB}))
            .await;
    let other =
        e.h.token(
            json!({"type": "sub_merchant", "account_id": e.provider_id, "sub_mchid": "1900000777"}),
        )
        .await;
    let path = format!("/admin/v1/complaints/{cid}");
    assert_eq!(
        e.h.call(Method::GET, &path, Some(&mine), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        e.h.call(Method::GET, &path, Some(&other), None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, l) =
        e.h.call(Method::GET, "/admin/v1/complaints", Some(&other), None)
            .await;
    assert_eq!(l["items"].as_array().map(Vec::len), Some(0));
    let (_, l) =
        e.h.call(
            Method::GET,
            "/admin/v1/complaints?status=resolved",
            Some(&mine),
            None,
        )
        .await;
    assert_eq!(l["items"].as_array().map(Vec::len), Some(1));
    let (s, _) =
        e.h.call(
            Method::POST,
            &format!("/admin/v1/complaints/{cid}/complete"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// A console request with the session `cookie` (and form fields, for a POST): status,
/// `Set-Cookie` lines, body.
async fn console(
    h: &Harness,
    path: &str,
    cookie: &str,
    form: Option<&[(&str, &str)]>,
) -> (StatusCode, Vec<String>, Vec<u8>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .uri(path)
        .header("cookie", cookie);
    let req = match form {
        Some(fields) => req
            .method(Method::POST)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish(),
            )),
        None => req.body(axum::body::Body::empty()),
    }
    .expect("request");
    let res = h.router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let cookies = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
        .collect();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, cookies, body.to_vec())
}

/// A console session of the admin token: its cookie (`desk_session=…`).
async fn console_session(h: &Harness) -> String {
    let (s, cookies, form) = console(h, "/console/sign-in?next=%2Fconsole%2F", "", None).await;
    assert_eq!(s, StatusCode::OK);
    let form = String::from_utf8_lossy(&form).into_owned();
    let csrf = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a csrf field")
        .to_string();
    let pre = cookies.join("; ");
    let fields = [
        ("csrf", csrf.as_str()),
        ("token", ADMIN),
        ("next", "/console/"),
    ];
    let (s, cookies, _) = console(h, "/console/sign-in", &pre, Some(&fields)).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    cookies
        .into_iter()
        .find(|c| c.starts_with("desk_session="))
        .expect("a session cookie")
}

/// The images of the platform's history (the buyer's later images, our reply's) come through
/// the download proxy, one platform call each, only to tokens that see the complaint; the
/// console's timeline links every one of them.
#[tokio::test]
async fn history_images_come_through_the_download_proxy_and_the_console_links_them() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    let (s, b) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{}/sub-merchants", e.provider_id),
            Some(json!({"sub_mchid": SUB, "name": "门店", "auto_refund": false})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = "200201820261122080000000009";
    e.add_complaint(id, SUB, 3000, "OTHERS");
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the reply", |d| d["complaint"]["replied"] == true)
        .await;
    let cid = d["complaint"]["id"].as_str().expect("id").to_string();

    // Our reply with an image, then the buyer writes again with one of theirs and one the
    // platform's download cannot fetch (another host).
    let ours = b"BM our-reply-evidence".to_vec();
    let (s, media) =
        e.h.raw(
            Method::POST,
            "/admin/v1/media?filename=proof.bmp",
            Some(ADMIN),
            Some(String::from_utf8(ours.clone()).expect("ascii")),
            "image/bmp",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let media: Value = serde_json::from_slice(&media).expect("json");
    let (s, r) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/complaints/{cid}/reply"),
            Some(json!({"text": "已为您补发，请查收", "images": [media["id"]]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let theirs = b"\x89PNG\r\n\x1a\nbuyer-later".to_vec();
    let later = e.sim.add_user_image(theirs.clone());
    e.sim.add_user_message_with_images(
        id,
        "补充照片",
        vec![
            later,
            "https://images.example.com/v3/merchant-service/images/X.png".into(),
        ],
    );
    e.push(&e.complaint_push(id, "USER_RESPONSE"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the buyer's later images", |d| {
            d["history"]
                .as_array()
                .is_some_and(|h| h.iter().any(|x| x["operation"] == "USER_RESPONSE"))
        })
        .await;
    let entry = |operation: &str| {
        let found = d["history"]
            .as_array()
            .expect("history")
            .iter()
            .find(|h| {
                h["operation"] == operation && h["media"].as_array().is_some_and(|m| !m.is_empty())
            })
            .unwrap_or_else(|| panic!("a {operation} entry with images: {d}"));
        found["entry_id"].as_str().expect("entry id").to_string()
    };
    let (buyer, reply) = (entry("USER_RESPONSE"), entry("MERCHANT_RESPONSE"));
    let image_calls = || {
        e.sim
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with("/v3/merchant-service/images/"))
            .count()
    };
    let get = |entry: &str, n: usize, token: &str| {
        let path = format!("/admin/v1/complaints/{cid}/history/{entry}/media/{n}");
        let (h, token) = (&e.h, token.to_string());
        async move { h.raw(Method::GET, &path, Some(&token), None, "").await }
    };

    let before = image_calls();
    assert_eq!(
        get(&buyer, 0, ADMIN).await,
        (StatusCode::OK, theirs.clone())
    );
    assert_eq!(get(&reply, 0, ADMIN).await, (StatusCode::OK, ours.clone()));
    assert_eq!(image_calls(), before + 2, "one platform call per image");
    // Past the entry's images, an entry we do not have, and an image the platform's download
    // cannot fetch: 404, and nothing is sent.
    assert_eq!(get(&buyer, 2, ADMIN).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get("no-such-entry", 0, ADMIN).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(&buyer, 1, ADMIN).await.0, StatusCode::NOT_FOUND);
    assert_eq!(image_calls(), before + 2, "nothing sent for a 404");
    // An entry id that is not an id is refused before anything is looked up.
    assert_eq!(get("a.b", 0, ADMIN).await.0, StatusCode::BAD_REQUEST);

    // Scoped tokens: the sub-merchant's gets the image, another sub-merchant's a 404.
    let (s, b) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{}/sub-merchants", e.provider_id),
            Some(json!({"sub_mchid": "1900000778", "name": "另一门店"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mine =
        e.h.token(json!({"type": "sub_merchant", "account_id": e.provider_id, "sub_mchid": SUB}))
            .await;
    let other =
        e.h.token(
            json!({"type": "sub_merchant", "account_id": e.provider_id, "sub_mchid": "1900000778"}),
        )
        .await;
    assert_eq!(
        get(&buyer, 0, &mine).await,
        (StatusCode::OK, theirs.clone())
    );
    assert_eq!(get(&buyer, 0, &other).await.0, StatusCode::NOT_FOUND);

    // The console's timeline links every image of both entries through its own route, and
    // that route serves them.
    let cookie = console_session(&e.h).await;
    let (s, _, page) = console(
        &e.h,
        &format!("/console/complaints/{cid}?lang=en"),
        &cookie,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let page = String::from_utf8_lossy(&page).into_owned();
    for (entry, n) in [(&buyer, 0), (&buyer, 1), (&reply, 0)] {
        let link = format!("/console/complaints/{cid}/history/{entry}/media/{n}");
        assert!(
            page.contains(&format!("src=\"{link}\"")),
            "{link} in {page}"
        );
    }
    assert!(!page.contains("Attachments we cannot show"), "{page}");
    let (s, _, bytes) = console(
        &e.h,
        &format!("/console/complaints/{cid}/history/{buyer}/media/0"),
        &cookie,
        None,
    )
    .await;
    assert_eq!((s, bytes), (StatusCode::OK, theirs));
    let (s, _, _) = console(
        &e.h,
        &format!("/console/complaints/{cid}/history/{buyer}/media/2"),
        &cookie,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

impl Env {
    /// A sub-merchant whose staff decide refunds (no automatic refund).
    async fn add_manual_sub(&self) {
        let (s, b) = self
            .h
            .admin(
                Method::POST,
                &format!("/admin/v1/accounts/{}/sub-merchants", self.provider_id),
                Some(json!({"sub_mchid": SUB, "name": "门店", "auto_refund": false})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    /// A new complaint of `amount` fen, pushed and recorded; our id.
    async fn recorded(&self, id: &str, amount: u64) -> String {
        self.add_complaint(id, SUB, amount, "OTHERS");
        self.push(&self.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
            .await;
        let d = self.wait_for(id, "the record", |_| true).await;
        d["complaint"]["id"].as_str().expect("id").to_string()
    }

    async fn refund_by_hand(&self, cid: &str, amount: u64) -> (StatusCode, Value) {
        self.h
            .admin(
                Method::POST,
                &format!("/admin/v1/complaints/{cid}/refund"),
                Some(json!({"amount_fen": amount, "reason": "部分退款"})),
            )
            .await
    }

    async fn refunded_fen(&self, cid: &str) -> u64 {
        let (_, d) = self
            .h
            .admin(Method::GET, &format!("/admin/v1/complaints/{cid}"), None)
            .await;
        d["complaint"]["refunded_fen"]
            .as_u64()
            .expect("refunded_fen")
    }

    fn refund_calls(&self) -> usize {
        self.sim.writes_to("/v3/refund/domestic/refunds").len()
    }
}

/// After a partial refund, an amount whose sum with it overflows `u64` used to pass the bound
/// check, reach the platform and reset `refunded_fen`: it is refused (400 naming `amount_fen`)
/// before any platform call, and the refunded total stays.
#[tokio::test]
async fn a_refund_that_would_overflow_is_refused_before_the_platform_is_asked() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    e.add_manual_sub().await;
    let cid = e.recorded("200201820261122090000000001", 3000).await;
    let (s, b) = e.refund_by_hand(&cid, 1000).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for amount in [u64::MAX - 500, u64::MAX, u64::MAX - 999, 2001] {
        let (s, b) = e.refund_by_hand(&cid, amount).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{amount}: {b}");
        assert_eq!(b["error"]["field"], "amount_fen");
    }
    assert_eq!(e.refund_calls(), 1, "no platform call for a refused refund");
    assert_eq!(e.refunded_fen(&cid).await, 1000);
    let (s, b) = e.refund_by_hand(&cid, 2000).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(e.refunded_fen(&cid).await, 3000);
}

/// Random sequences of partial refunds by hand (huge amounts near `u64::MAX` included)
/// through the admin API against the simulator: the refunded sum never exceeds the order,
/// a refused request changes nothing and calls no platform, `refunded_fen` never decreases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_partial_refunds_stay_within_the_order() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    e.add_manual_sub().await;
    let amount = prop_oneof![
        0u64..6_000,
        (0u64..1_000).prop_map(|d| u64::MAX - d),
        any::<u64>(),
    ];
    let case = (1u64..20_000, proptest::collection::vec(amount, 1..7));
    let mut runner = TestRunner::default();
    for n in 0..12 {
        let (total, asks) = case.new_tree(&mut runner).expect("case").current();
        let cid = e
            .recorded(&format!("2002018202611220900000{:05}", 100 + n), total)
            .await;
        let mut refunded = 0u64;
        for ask in &asks {
            let calls = e.refund_calls();
            let (s, b) = e.refund_by_hand(&cid, *ask).await;
            let now = e.refunded_fen(&cid).await;
            let why = format!("order {total}, refunds {asks:?}, at {ask}: {b}");
            if s == StatusCode::OK {
                refunded = refunded.checked_add(*ask).expect("accepted sum fits");
                assert_eq!(e.refund_calls(), calls + 1, "{why}");
            } else {
                assert_eq!(s, StatusCode::BAD_REQUEST, "{why}");
                assert_eq!(b["error"]["field"], "amount_fen", "{why}");
                assert_eq!(e.refund_calls(), calls, "no platform call: {why}");
                assert!(
                    *ask == 0 || refunded.checked_add(*ask).is_none_or(|t| t > total),
                    "{why}"
                );
            }
            assert!(refunded <= total, "{why}");
            assert_eq!(now, refunded, "{why}");
        }
    }
}

#[tokio::test]
async fn immediate_service_complaints_are_answered_through_their_own_api_and_later_messages_notify()
{
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    e.add_sub(SUB, true, Some(1)).await;
    let id = "200201820261122080000000007";
    e.sim.add_complaint_for(
        PROVIDER,
        json!({
            "complaint_id": id, "complaint_time": chrono::Utc::now().to_rfc3339(),
            "complaint_detail": "请尽快处理", "complaint_state": "PENDING", "complainted_mchid": SUB,
            "payer_phone": sandbox::wechatpay::encrypt_sensitive(&rsa_key().to_public_key(), "13812345678"),
            "complaint_order_info": [{"transaction_id": "4200000000000000000000000007", "out_trade_no": "T7", "amount": 100}],
            "problem_type": "OTHERS", "need_immediate_service": true
        }),
    );
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the reply", |d| d["complaint"]["replied"] == true)
        .await;
    let immediate = e.sim.writes_to("/response-immediate-service");
    assert_eq!(immediate.len(), 1);
    assert_eq!(
        immediate[0].body["message"]["blocks"][0]["text"]["text"],
        SUB_TEXT
    );
    assert!(
        immediate[0].body["idempotent_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(e.sim.writes_to("/response").is_empty());
    // The phone number is decrypted and kept masked only.
    assert_eq!(d["complaint"]["payer_phone_masked"], "138****5678");
    assert!(!d.to_string().contains("13812345678"));

    // The buyer writes again: the record learns it and staff hear; no second automatic reply.
    e.sim.add_user_message(id, "还没有处理吗？");
    e.push(&e.complaint_push(id, "USER_RESPONSE"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the second notice", |d| {
            d["notifications"].as_array().is_some_and(|n| n.len() == 4)
        })
        .await;
    assert!(
        d["notifications"]
            .as_array()
            .expect("notifications")
            .iter()
            .any(|n| n["summary"]["event"] == "buyer wrote again")
    );
    assert!(
        d["history"]
            .as_array()
            .expect("history")
            .iter()
            .any(|h| h["operation"] == "USER_RESPONSE")
    );
    assert_eq!(e.sim.writes_to("/response-immediate-service").len(), 1);
}

// ---------------------------------------------------------------- staff notifications

const OA_APPID: &str = "wx1234567890abcdef";
const OA_SECRET: &str = "oa-secret-0123456789abcdef01234567";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
const SMS_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
const SMS_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

fn fast_notifier(fold_secs: u64) -> desk_core::state::NotifierSettings {
    desk_core::state::NotifierSettings {
        sms_fold: Duration::from_secs(fold_secs),
        base_backoff: Duration::from_millis(500),
        deadline: chrono::Duration::hours(6),
    }
}

struct Staff {
    sink: Option<SmtpSink>,
    sink_dir: tempfile::TempDir,
    ports: (u16, u16),
    ns: sandbox::notify::NotifySim,
}

/// The provider's staff on every channel: e-mail (implicit TLS, AUTH), OA template, SMS and
/// three bots; `sms_key` is the SMS secret the account is configured with.
async fn staff(e: &Env, sms_key: &str) -> Staff {
    let ns = sandbox::notify::NotifySim::start()
        .await
        .expect("notify sim");
    ns.add_oa_app(OA_APPID, OA_SECRET, "TPL-complaint");
    ns.add_sms_key(SMS_ID, SMS_KEY);
    let wecom = ns.add_bot("wecom", "wecom-token", None);
    let ding = ns.add_bot("dingtalk", "ding-token", Some("SECding0123"));
    let feishu = ns.add_bot("feishu", "feishu-token", Some("SECfeishu0123"));
    let sink_dir = tempfile::tempdir().expect("dir");
    let ports = (free_port(), free_port());
    let sink = SmtpSink::start(sink_dir.path(), ports.0, ports.1);
    let (s, b) = e
        .h
        .admin(
            Method::PUT,
            &format!("/admin/v1/accounts/{}/notifications", e.provider_id),
            Some(json!({
                "email": {"host": "127.0.0.1", "port": ports.0, "tls": "implicit", "sender": SMTP_USER,
                          "recipients": ["owner@example.com", "ops@example.com"], "auth_code": SMTP_PASSWORD,
                          "tls_root_pem": sink.ca_pem},
                "oa_template": {"appid": OA_APPID, "template_id": "TPL-complaint", "openids": [OPENID],
                                "field_mapping": {"thing1": "merchant", "character_string2": "complaint_id", "time3": "time", "thing4": "user_text"},
                                "api_base_url": ns.base_url(), "secret": OA_SECRET},
                "sms": {"secret_id": SMS_ID, "sdk_app_id": "1400006666", "sign_name": "投诉台", "template_id": "449739",
                        "phone_numbers": ["+8613711112222"], "api_base_url": ns.sms_url(), "secret_key": sms_key},
                "bots": [
                    {"id": "wecom", "kind": "wecom", "webhook_url": wecom},
                    {"id": "ding", "kind": "dingtalk", "webhook_url": ding, "signing_secret": "SECding0123"},
                    {"id": "feishu", "kind": "feishu", "webhook_url": feishu, "signing_secret": "SECfeishu0123"}
                ]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    Staff {
        sink: Some(sink),
        sink_dir,
        ports,
        ns,
    }
}

async fn until(what: &str, ok: impl Fn() -> bool) {
    for _ in 0..100 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn mails(s: &Staff) -> Vec<String> {
    s.sink.as_ref().map(SmtpSink::messages).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_hear_on_every_channel_exactly_once() {
    let e = env_with(
        KeyMode::PublicKey,
        true,
        KeyMode::PublicKey,
        Some(fast_notifier(1)),
    )
    .await;
    let st = staff(&e, SMS_KEY).await;
    let id = "200201820261122080000000010";
    e.add_complaint(id, "1900000999", 1999, "OTHERS");
    let push = e.complaint_push(id, "CREATE_COMPLAINT");
    e.push(&push, "complaints").await;
    let d = e
        .wait_for(id, "every delivery to finish", |d| {
            d["deliveries"].as_array().is_some_and(|v| {
                v.len() == 6
                    && v.iter()
                        .all(|x| x["status"] == "sent" || x["status"] == "failed")
            })
        })
        .await;
    let failed: Vec<&Value> = d["deliveries"]
        .as_array()
        .expect("d")
        .iter()
        .filter(|x| x["status"] != "sent")
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    until("every channel", || {
        mails(&st).len() == 1
            && st.ns.template_messages().len() == 1
            && st.ns.sms_sent().len() == 1
            && st.ns.bot_messages().len() == 3
    })
    .await;
    e.push(&push, "complaints").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mails(&st).len(), 1);
    assert_eq!(st.ns.template_messages().len(), 1);
    assert_eq!(st.ns.sms_sent().len(), 1);
    assert_eq!(st.ns.bot_messages().len(), 3);

    let mail = &mails(&st)[0];
    assert!(
        mail.contains(&format!("X-Auth-User: {SMTP_USER}")),
        "{mail}"
    );
    assert!(
        mail.contains("X-Envelope-To: ops@example.com,owner@example.com"),
        "one message to both recipients: {mail}"
    );
    assert!(mail.contains(id), "the complaint id is in the mail");
    assert!(mail.contains("text/html") && mail.contains("text/plain"));
    let tpl = &st.ns.template_messages()[0];
    assert_eq!(tpl["touser"], OPENID);
    assert_eq!(tpl["data"]["character_string2"]["value"], id);
    assert!(
        tpl["data"]["thing1"]["value"]
            .as_str()
            .is_some_and(|v| v.chars().count() <= 20)
    );
    let sms = &st.ns.sms_sent()[0];
    assert_eq!(sms["PhoneNumberSet"][0], "+8613711112222");
    assert_eq!(sms["TemplateParamSet"].as_array().map(Vec::len), Some(3));

    let d = e
        .wait_for(id, "deliveries", |d| {
            d["deliveries"]
                .as_array()
                .is_some_and(|v| v.len() == 6 && v.iter().all(|x| x["status"] == "sent"))
        })
        .await;
    let (s, list) =
        e.h.admin(
            Method::GET,
            &format!(
                "/admin/v1/deliveries?complaint={}&status=sent",
                d["complaint"]["id"].as_str().expect("id")
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(6));
    drop(st.sink_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_delays_only_the_mail_and_a_wrong_sms_secret_fails_once() {
    let e = env_with(
        KeyMode::PublicKey,
        true,
        KeyMode::PublicKey,
        Some(fast_notifier(1)),
    )
    .await;
    let mut st = staff(&e, "WRONG-secret-key-0123456789abcdef").await;
    st.sink = None; // the SMTP server goes down
    let id = "200201820261122080000000011";
    e.add_complaint(id, "1900000999", 500, "OTHERS");
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the mail retrying and the SMS failed", |d| {
            let ds = d["deliveries"].as_array().cloned().unwrap_or_default();
            let by = |c: &str| {
                ds.iter()
                    .find(|x| x["channel"] == c)
                    .cloned()
                    .unwrap_or_default()
            };
            by("email")["status"] == "retrying"
                && by("sms")["status"] == "failed"
                && by("oa_template")["status"] == "sent"
        })
        .await;
    let sms = d["deliveries"]
        .as_array()
        .expect("d")
        .iter()
        .find(|x| x["channel"] == "sms")
        .cloned()
        .expect("sms");
    assert!(
        sms["last_error"]
            .as_str()
            .is_some_and(|m| m.contains("AuthFailure.SignatureFailure")),
        "{sms}"
    );
    assert_eq!(
        st.ns.template_messages().len(),
        1,
        "the template message was not delayed"
    );
    // The SMTP server comes back on the same port: the mail arrives.
    st.sink = Some(SmtpSink::start(st.sink_dir.path(), st.ports.0, st.ports.1));
    until("the mail after the outage", || mails(&st).len() == 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        st.ns.sms_rejected(),
        1,
        "a permanent failure is not retried"
    );
    assert_eq!(mails(&st).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_events_in_the_sms_window_make_one_sms_and_an_expired_token_is_refreshed_once() {
    let e = env_with(
        KeyMode::PublicKey,
        true,
        KeyMode::PublicKey,
        Some(fast_notifier(3)),
    )
    .await;
    let st = staff(&e, SMS_KEY).await;
    for n in 0..3 {
        let id = format!("20020182026112208000000002{n}");
        e.add_complaint(&id, "1900000999", 100, "OTHERS");
        e.push(&e.complaint_push(&id, "CREATE_COMPLAINT"), "complaints")
            .await;
    }
    until("one SMS and three of everything else", || {
        st.ns.sms_sent().len() == 1 && st.ns.template_messages().len() == 3 && mails(&st).len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(st.ns.sms_sent().len(), 1, "folded, not dropped");
    assert!(
        st.ns.sms_sent()[0]["TemplateParamSet"][0]
            .as_str()
            .is_some_and(|p| p.contains('3')),
        "{:?}",
        st.ns.sms_sent()
    );
    let token_calls = st.ns.token_calls();
    assert_eq!(token_calls, 1, "one token for three messages (cached)");

    // The token expires: one refresh, then success.
    st.ns.expire_tokens();
    let id = "200201820261122080000000030";
    e.add_complaint(id, "1900000999", 100, "OTHERS");
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    until("the fourth template message", || {
        st.ns.template_messages().len() == 4
    })
    .await;
    assert_eq!(st.ns.token_calls(), token_calls + 1);
}

/// STARTTLS (port 587 style) against the real SMTP server: delivered with the right
/// authorisation code, refused for good with a wrong one (no retry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_mail_is_delivered_and_a_wrong_auth_code_is_permanent() {
    let dir = tempfile::tempdir().expect("dir");
    let sink = SmtpSink::start(dir.path(), free_port(), free_port());
    let notice = domain::notification::NotificationSummary {
        platform: "wechatpay".into(),
        event: "new complaint".into(),
        merchant: "门店一".into(),
        reference: "200201820261122080000000099".into(),
        at: chrono::Utc::now(),
        amount_fen: Some(1999),
        user_text: Some("充电宝无法使用".into()),
        deadline: None,
        link: None,
        extra_lines: vec![],
    };
    let cfg = |password: &str| notify::email::SmtpConfig {
        host: "127.0.0.1".into(),
        port: sink.starttls_port,
        security: notify::email::Security::Starttls,
        username: SMTP_USER.into(),
        password: Some(password.into()),
        sender: SMTP_USER.into(),
        extra_roots_pem: Some(sink.ca_pem.clone()),
    };
    let to = vec!["owner@example.com".to_string()];
    notify::email::send(&cfg(SMTP_PASSWORD), &to, &notice)
        .await
        .expect("delivered over STARTTLS");
    until("the STARTTLS mail", || sink.messages().len() == 1).await;
    assert!(sink.messages()[0].contains("19.99"));
    let err = notify::email::send(&cfg("wrong-code"), &to, &notice)
        .await
        .expect_err("a wrong authorisation code is refused");
    assert!(!err.is_retryable(), "{err}");
    // Without the test CA the server's certificate is not trusted (no "accept invalid" switch).
    let mut untrusted = cfg(SMTP_PASSWORD);
    untrusted.extra_roots_pem = None;
    assert!(notify::email::send(&untrusted, &to, &notice).await.is_err());
    assert_eq!(sink.messages().len(), 1);
}

// ---------------------------------------------------------------- one notice per event

/// Take every job waiting on `queue` off it and run it with `registry`, `concurrently` or one
/// after the other, until the queue is empty; a job that must wait for another one (the
/// complaint's policy lease) is run again after the others. The jobs run.
async fn run_queue(
    e: &Env,
    registry: &std::sync::Arc<desk_core::worker::JobRegistry>,
    queue: &str,
    concurrently: bool,
) -> Vec<JobEnvelope> {
    let mut ran = Vec::new();
    loop {
        let jobs = e.h.queued_jobs(queue).await;
        if jobs.is_empty() {
            return ran;
        }
        let mut later = Vec::new();
        if concurrently {
            let mut set = tokio::task::JoinSet::new();
            for job in jobs.clone() {
                let r = registry.clone();
                set.spawn(async move {
                    let result = r.get(&job.job_type).expect("handler").handle(&job).await;
                    (job, result)
                });
            }
            while let Some(done) = set.join_next().await {
                let (job, result) = done.expect("job task");
                match result {
                    Ok(()) => {}
                    Err(desk_core::worker::JobError::Retryable { .. }) => later.push(job),
                    Err(err) => panic!("{}: {err}", job.job_type),
                }
            }
        } else {
            later = jobs.clone();
        }
        for job in later {
            run_job(registry, &job).await;
        }
        ran.extend(jobs);
    }
}

async fn run_job(registry: &desk_core::worker::JobRegistry, job: &JobEnvelope) {
    let handler = registry.get(&job.job_type).expect("handler");
    handler.handle(job).await.expect("job");
}

/// Twenty concurrent `COMPLAINT.CREATE` pushes of one complaint under different notification
/// ids: every recipient gets one "new complaint" e-mail and the detail shows one notice; the
/// same job run again keeps one notice entry; a later buyer message has its own notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_notice_per_event_however_often_it_is_pushed() {
    let e = env_without_workers(
        KeyMode::PublicKey,
        true,
        KeyMode::PublicKey,
        Some(fast_notifier(1)),
    )
    .await;
    let registry = std::sync::Arc::new(desk_core::policy::registry(
        &e.h.state,
        e.h.state.platforms(),
    ));
    let sink_dir = tempfile::tempdir().expect("dir");
    let sink = SmtpSink::start(sink_dir.path(), free_port(), free_port());
    let (s, b) = e
        .h
        .admin(
            Method::PUT,
            &format!("/admin/v1/accounts/{}/notifications", e.provider_id),
            Some(json!({
                "email": {"host": "127.0.0.1", "port": sink.implicit_port, "tls": "implicit", "sender": SMTP_USER,
                          "recipients": ["owner@example.com", "ops@example.com"], "auth_code": SMTP_PASSWORD,
                          "tls_root_pem": sink.ca_pem}
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let id = "200201820261122080000000040";
    e.add_complaint(id, "1900000999", 100, "OTHERS");

    // Twenty pushes at once, each with its own notification id: twenty jobs.
    let url = e.url("complaints");
    let mut pushes = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (n, url) = (e.complaint_push(id, "CREATE_COMPLAINT"), url.clone());
        pushes.spawn(async move { n.post(&url).await });
    }
    while let Some(r) = pushes.join_next().await {
        assert_eq!(r.expect("push task"), Ok(204));
    }
    let events = run_queue(&e, &registry, queues::EVENTS, true).await;
    // (The refund the provider's default policy made reports back on its own job.)
    let events: Vec<JobEnvelope> = events
        .into_iter()
        .filter(|j| j.job_type == domain::job::wechatpay::COMPLAINT.name())
        .collect();
    assert_eq!(events.len(), 20, "twenty pushes, twenty jobs");
    run_queue(&e, &registry, queues::NOTIFY, true).await;
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "one mail for one new complaint");
    assert!(
        mails[0].contains("X-Envelope-To: ops@example.com,owner@example.com"),
        "{}",
        mails[0]
    );
    let d = e.h.complaint_detail(id).await.expect("detail");
    let notices = d["notifications"].as_array().expect("notifications");
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["summary"]["event"], "new complaint");

    // The same job processed twice (a re-run after a crash): still one notice entry.
    run_job(&registry, &events[0]).await;
    run_queue(&e, &registry, queues::NOTIFY, false).await;
    let d = e.h.complaint_detail(id).await.expect("detail");
    assert_eq!(d["notifications"].as_array().map(Vec::len), Some(1), "{d}");
    assert_eq!(sink.messages().len(), 1);

    // A real change: the buyer writes again. Its own notice and mail.
    e.sim.add_user_message(id, "还没有处理吗？");
    e.push(&e.complaint_push(id, "USER_RESPONSE"), "complaints")
        .await;
    e.push(&e.complaint_push(id, "USER_RESPONSE"), "complaints")
        .await;
    run_queue(&e, &registry, queues::EVENTS, false).await;
    run_queue(&e, &registry, queues::NOTIFY, false).await;
    assert_eq!(
        sink.messages().len(),
        2,
        "one more mail for the buyer's message"
    );
    let d = e.h.complaint_detail(id).await.expect("detail");
    let events: Vec<&Value> = d["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| &n["summary"]["event"])
        .collect();
    assert_eq!(
        events,
        [&json!("new complaint"), &json!("buyer wrote again")]
    );
}

fn mail_notice() -> domain::notification::NotificationSummary {
    domain::notification::NotificationSummary {
        platform: "wechatpay".into(),
        event: "new complaint".into(),
        merchant: "门店一".into(),
        reference: "200201820261122080000000098".into(),
        at: chrono::Utc::now(),
        amount_fen: Some(1999),
        user_text: Some("充电宝无法使用".into()),
        deadline: None,
        link: None,
        extra_lines: vec![],
    }
}

/// Against the real SMTP server: a relay without AUTH takes mail when no authorisation code is
/// set; settings that cannot work fail for good with a message naming the cause; a server that
/// is down is worth another try.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_failures_name_their_cause_and_only_an_unreachable_server_is_retried() {
    let dir = tempfile::tempdir().expect("dir");
    let sink = SmtpSink::start_with_relay(dir.path(), free_port(), free_port(), Some(free_port()));
    let relay = sink.relay_port.expect("relay");
    let cfg = |port: u16, security, password: Option<&str>, ca: bool| notify::email::SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security,
        username: SMTP_USER.into(),
        password: password.map(String::from),
        sender: SMTP_USER.into(),
        extra_roots_pem: ca.then(|| sink.ca_pem.clone()),
    };
    let to = vec!["owner@example.com".to_string()];
    let notice = mail_notice();
    use notify::email::Security::{Implicit, None as Plain};

    // A relay on the same host: no auth_code, no AUTH, delivered.
    notify::email::send(&cfg(relay, Plain, None, false), &to, &notice)
        .await
        .expect("delivered through the relay without login");
    until("the relayed mail", || sink.messages().len() == 1).await;
    assert!(
        sink.messages()[0].contains("X-Auth-User: \r\n"),
        "no login was used"
    );

    let fails = |what: &'static str, needle: &'static str, err: notify::SendError| {
        assert!(!err.is_retryable(), "{what}: {err}");
        let text = err.to_string();
        assert!(text.contains(needle), "{what}: {text}");
        assert!(
            !text.contains(SMTP_PASSWORD) && !text.contains("wrong-code"),
            "{text}"
        );
    };
    // An auth_code for a server that offers no AUTH.
    let err = notify::email::send(&cfg(relay, Plain, Some(SMTP_PASSWORD), false), &to, &notice)
        .await
        .expect_err("no AUTH offered");
    fails("no AUTH offered", "offers no authentication", err);
    // A wrong authorisation code.
    let err = notify::email::send(
        &cfg(sink.implicit_port, Implicit, Some("wrong-code"), true),
        &to,
        &notice,
    )
    .await
    .expect_err("wrong code");
    fails("wrong code", "authentication refused", err);
    // A certificate from a CA we were not given.
    let err = notify::email::send(
        &cfg(sink.implicit_port, Implicit, Some(SMTP_PASSWORD), false),
        &to,
        &notice,
    )
    .await
    .expect_err("untrusted certificate");
    fails("untrusted certificate", "certificate not trusted", err);
    // No auth_code for a server that requires a login.
    let err = notify::email::send(&cfg(sink.implicit_port, Implicit, None, true), &to, &notice)
        .await
        .expect_err("login required");
    fails("login required", "requires authentication", err);
    assert_eq!(sink.messages().len(), 1);

    // Nobody listening: retryable.
    let closed = free_port();
    let err = notify::email::send(&cfg(closed, Plain, None, false), &to, &notice)
        .await
        .expect_err("nobody listens");
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("cannot reach SMTP server"),
        "{err}"
    );
}

/// Through the notifier: staff mail through a relay without login is sent; after the settings
/// change to a server that refuses the authorisation code, the delivery fails once with
/// "authentication refused" recorded on it, and is not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_mail_goes_through_a_relay_without_login_and_a_refused_login_fails_once() {
    let e = env_with(
        KeyMode::PublicKey,
        true,
        KeyMode::PublicKey,
        Some(fast_notifier(1)),
    )
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let sink = SmtpSink::start_with_relay(dir.path(), free_port(), free_port(), Some(free_port()));
    let put = |email: Value| {
        let h = &e.h;
        let path = format!("/admin/v1/accounts/{}/notifications", e.provider_id);
        async move {
            let (s, b) = h
                .admin(Method::PUT, &path, Some(json!({ "email": email })))
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
    };
    put(
        json!({"host": "127.0.0.1", "port": sink.relay_port, "tls": "none", "sender": SMTP_USER,
               "recipients": ["owner@example.com"]}),
    )
    .await;
    let email_of = |d: &Value| {
        d["deliveries"]
            .as_array()
            .and_then(|v| v.iter().find(|x| x["channel"] == "email").cloned())
            .unwrap_or_default()
    };
    let id = "200201820261122080000000040";
    e.add_complaint(id, "1900000999", 100, "OTHERS");
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the mail through the relay", |d| {
            email_of(d)["status"] == "sent"
        })
        .await;
    assert_eq!(email_of(&d)["attempts"], 1);
    until("the relayed mail", || sink.messages().len() == 1).await;

    put(json!({"host": "127.0.0.1", "port": sink.implicit_port, "tls": "implicit", "sender": SMTP_USER,
               "recipients": ["owner@example.com"], "auth_code": "wrong-code-0123",
               "tls_root_pem": sink.ca_pem}))
    .await;
    let id = "200201820261122080000000041";
    e.add_complaint(id, "1900000999", 100, "OTHERS");
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the refused mail", |d| {
            email_of(d)["status"] == "failed"
        })
        .await;
    let mail = email_of(&d);
    assert_eq!(mail["attempts"], 1, "not retried: {mail}");
    assert!(
        mail["last_error"]
            .as_str()
            .is_some_and(|m| m.starts_with("authentication refused") && !m.contains("wrong-code")),
        "{mail}"
    );
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn a_push_with_a_path_in_its_complaint_id_is_dead_lettered_and_calls_nothing() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    let evil = "../../v3/refund/domestic/refunds/R1";
    // The push is signed and encrypted as WeChat Pay would: it is accepted and queued.
    e.push(&e.complaint_push(evil, "CREATE_COMPLAINT"), "complaints")
        .await;
    let start = std::time::Instant::now();
    let letter = loop {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "no dead letter"
        );
        let (s, page) =
            e.h.admin(Method::GET, "/admin/v1/dead-letters?queue=events", None)
                .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        if let Some(d) = page["items"].as_array().and_then(|i| i.first()) {
            break d.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let reason = letter["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("complaint_id"), "{reason}");
    assert!(!reason.contains(evil), "the id is not echoed: {reason}");
    assert_eq!(letter["receive_count"], 1, "permanent: not retried");
    assert_eq!(
        e.sim.arrivals(),
        Vec::<String>::new(),
        "no request reached the platform"
    );
}

/// A refund made by hand before the automatic one runs: the automatic refund asks only for
/// what is left of the order (and nothing when nothing is left, saying why).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_refund_after_a_partial_one_by_hand_refunds_only_what_is_left() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    e.add_manual_sub().await;
    let auto_refund = |on: bool| {
        let h = &e.h;
        let path = format!("/admin/v1/accounts/{}/sub-merchants/{SUB}", e.provider_id);
        async move {
            let (s, b) = h
                .admin(Method::PATCH, &path, Some(json!({"auto_refund": on})))
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
    };
    let of = |id: &str| -> Vec<u64> {
        let mut v: Vec<u64> = e
            .sim
            .refunds()
            .iter()
            .filter(|r| r["transaction_id"] == format!("42000{id}"))
            .map(|r| r["amount"]["refund"].as_u64().expect("amount"))
            .collect();
        v.sort_unstable();
        v
    };
    let id = "200201820261122090000000201";
    let cid = e.recorded(id, 3000).await;
    let (s, b) = e.refund_by_hand(&cid, 1000).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    auto_refund(true).await;
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the automatic refund", |d| {
            // Our refund record is claimed before WeChat Pay is asked: wait for both.
            d["refunds"].as_array().is_some_and(|r| r.len() == 2)
                && of(id).len() >= 2
                && d["complaint"]["refunded_fen"] == 3000
        })
        .await;
    assert_eq!(of(id), vec![1000, 2000], "only what was left");
    assert_eq!(d["complaint"]["refunded_fen"], 3000);

    // All of it refunded by hand first: no automatic refund, and the log says why.
    auto_refund(false).await;
    let id = "200201820261122090000000202";
    let cid = e.recorded(id, 2000).await;
    let (s, b) = e.refund_by_hand(&cid, 2000).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    auto_refund(true).await;
    e.push(&e.complaint_push(id, "CREATE_COMPLAINT"), "complaints")
        .await;
    let d = e
        .wait_for(id, "the refund decision", |d| {
            actions(d, "refund")
                .iter()
                .any(|a| a["outcome"] == "skipped")
        })
        .await;
    assert_eq!(of(id), vec![2000]);
    assert_eq!(d["complaint"]["refunded_fen"], 2000);
    let why = actions(&d, "refund")
        .into_iter()
        .find(|a| a["outcome"] == "skipped")
        .expect("skipped")
        .to_string();
    // (The simulator reports the order fully refunded, which is checked first.)
    assert!(
        why.contains("no automatic refund") || why.contains("already fully refunded"),
        "{why}"
    );
}

/// Refunds by hand sent at once, together more than the order: every accepted one has its
/// own number, they add up to at most the order, and `refunded_fen` is what the platform paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refunds_by_hand_get_distinct_numbers_and_stay_within_the_order() {
    let e = env(KeyMode::PublicKey, true, KeyMode::PublicKey).await;
    e.add_manual_sub().await;
    let id = "200201820261122090000000203";
    let cid = e.recorded(id, 3000).await;
    let (a, b, c, d, f) = tokio::join!(
        e.refund_by_hand(&cid, 1000),
        e.refund_by_hand(&cid, 1000),
        e.refund_by_hand(&cid, 1000),
        e.refund_by_hand(&cid, 1000),
        e.refund_by_hand(&cid, 1000),
    );
    let mut accepted = Vec::new();
    for (s, body) in [a, b, c, d, f] {
        match s {
            StatusCode::OK => accepted.push(body),
            StatusCode::BAD_REQUEST => assert_eq!(body["error"]["field"], "amount_fen", "{body}"),
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let mut numbers: Vec<&str> = accepted
        .iter()
        .map(|r| r["out_refund_no"].as_str().expect("number"))
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(
        numbers.len(),
        accepted.len(),
        "distinct numbers: {accepted:?}"
    );
    let paid: u64 = e
        .sim
        .refunds()
        .iter()
        .map(|r| r["amount"]["refund"].as_u64().expect("amount"))
        .sum();
    let answered: u64 = accepted
        .iter()
        .map(|r| r["amount_fen"].as_u64().expect("amount"))
        .sum();
    assert!(paid <= 3000);
    assert_eq!(answered, paid, "what we answered is what the platform paid");
    assert_eq!(e.refunded_fen(&cid).await, paid);
    // What is left can still be refunded, and no more.
    if paid < 3000 {
        let (s, b) = e.refund_by_hand(&cid, 3000 - paid).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (s, b) = e.refund_by_hand(&cid, 1).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(e.refunded_fen(&cid).await, 3000);
}
