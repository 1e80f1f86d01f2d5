//! WeChat Pay end to end over real HTTP: the simulator pushes signed, encrypted callbacks to
//! our server on a loopback port; the worker loop (embedded queue) fetches the complaint from
//! the simulator, records it, queues staff notices, replies, refunds and completes. Every
//! platform write is checked by the simulator's own verification code.

mod common;

use app::worker::CancellationToken;
use axum::http::{Method, StatusCode};
use common::*;
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
    notifier: Option<app::notifier::NotifierSettings>,
) -> Env {
    let (h, base, stop) = served(|s| {
        if let Some(n) = notifier.clone() {
            s.notifier = n;
        }
    })
    .await;
    spawn_worker(&h, queues::EVENTS, &stop);
    if notifier.is_some() {
        spawn_worker(&h, queues::NOTIFY, &stop);
    }
    let sim = WechatPaySim::start(PlatformKeys::generate(), sim_mode)
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
    body["settings"]["default_reply_text"] = json!(DEFAULT_TEXT);
    body["settings"]["refund_cap_fen"] = json!(50_000);
    let mut creds = json!({"private_key": private_pem(rsa_key()), "apiv3_key": APIV3});
    if creds_public_key {
        creds["wechatpay_public_key"] = json!(sim.keys().public_key_pem());
        creds["wechatpay_public_key_id"] = json!(sim.keys().pub_key_id);
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
    assert!(jobs.iter().all(|j| j.job_type == "notify.staff"));
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

fn fast_notifier(fold_secs: u64) -> app::notifier::NotifierSettings {
    app::notifier::NotifierSettings {
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
    let notice = notify::Notice {
        platform: "wechatpay".into(),
        event: "new complaint".into(),
        merchant: "门店一".into(),
        reference: "200201820261122080000000099".into(),
        at: chrono::Utc::now(),
        amount_fen: Some(1999),
        user_text: Some("充电宝无法使用".into()),
        deadline: None,
        link: None,
    };
    let cfg = |password: &str| notify::email::SmtpConfig {
        host: "127.0.0.1".into(),
        port: sink.starttls_port,
        security: notify::email::Security::Starttls,
        username: SMTP_USER.into(),
        password: password.into(),
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
        e.sim.requests(),
        Vec::<String>::new(),
        "no request reached the platform"
    );
}
