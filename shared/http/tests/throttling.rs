//! Platforms that answer "too many requests": the simulators throttle the next calls of an
//! API (WeChat Pay HTTP 429 `FREQUENCY_LIMITED`, Alipay `40005 isv.method-call-limited`); the
//! worker backs off, signs the request again, and the complaint ends handled exactly once.
//! Platform calls also take their budget from the shared rate limiter.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use domain::job::queues;
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim};
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};

const PROVIDER: &str = "1900000109";
const SUB: &str = "1900000201";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const APP_ID: &str = "2021000000000001";

fn actions<'a>(d: &'a Value, kind: &str) -> Vec<&'a Value> {
    d["actions"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["action"] == kind).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechatpay_throttling_is_retried_with_a_fresh_signature_and_acts_once() {
    let (h, base, stop) = served(|_| {}).await;
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
    body["settings"]["refund_cap_fen"] = json!(50_000);
    body["credentials"] = json!({"private_key": private_pem(rsa_key()), "apiv3_key": APIV3,
        "wechatpay_public_key": sim.keys().public_key_pem(),
        "wechatpay_public_key_id": sim.keys().pub_key_id});
    h.create(body).await;
    spawn_worker(&h, queues::EVENTS, &stop);

    let id = "200201820261126090000000001";
    sim.add_complaint_for(
        PROVIDER,
        json!({
            "complaint_id": id,
            "complaint_time": chrono::Utc::now().to_rfc3339(),
            "complaint_detail": "充电宝无法使用，要求退款",
            "complaint_state": "PENDING",
            "complainted_mchid": SUB,
            "complaint_order_info": [{"transaction_id": format!("42000{id}"), "out_trade_no": format!("T{id}"), "amount": 990}],
            "complaint_media_list": [],
            "problem_type": "SERVICE_NOT_WORK",
            "apply_refund_amount": 990,
            "need_immediate_service": false,
            "user_complaint_times": 1
        }),
    );
    // Throttled once each: a read, the reply and the completion (three failed runs; the
    // worker allows four attempts).
    sim.throttle_next("/negotiation-historys", 1);
    sim.throttle_next("/response", 1);
    sim.throttle_next("/complete", 1);
    let push = sim.notification(
        APIV3,
        "COMPLAINT.CREATE",
        "complaint",
        &json!({"complaint_id": id, "action_type": "CREATE_COMPLAINT"}),
        KeyMode::PublicKey,
        0,
    );
    let url = format!("{base}/callbacks/wechatpay/{PROVIDER}/complaints");
    assert_eq!(push.post(&url).await, Ok(204));

    let d = h
        .wait_for_complaint(id, "the completion", |d| {
            d["complaint"]["completed"] == true
        })
        .await;
    let throttled = sim.throttled();
    assert_eq!(throttled.len(), 3, "{throttled:?}");
    assert_eq!(sim.writes_to("/response").len(), 1, "one reply");
    assert_eq!(sim.refunds().len(), 1, "one refund");
    assert_eq!(sim.writes_to("/complete").len(), 1, "one completion");
    // Every request, the refused ones and their retries, was signed afresh.
    let nonces = sim.nonces();
    let unique: std::collections::HashSet<&String> = nonces.iter().collect();
    assert_eq!(unique.len(), nonces.len(), "a nonce was reused");
    let replies = actions(&d, "reply");
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["outcome"], "succeeded");
    let completions = actions(&d, "complete");
    assert_eq!(completions.len(), 1, "{completions:?}");
    assert_eq!(completions[0]["outcome"], "succeeded");
    let (_, dead) = h.admin(Method::GET, "/admin/v1/dead-letters", None).await;
    assert_eq!(dead["items"].as_array().map(Vec::len), Some(0), "{dead}");

    // The calls took their budget from the shared limiter: the reply's counter holds one
    // call, the unlimited detail has no counter.
    let (pk, sk) = desk_core::ratelimit::RateLimiter::key(
        desk_core::platforms::wechatpay::limits::RESPONSE,
        PROVIDER,
    );
    let counter = h.state.ports.records.get(&pk, &sk).await.expect("get");
    let calls: u64 = counter.expect("reply counter").data["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s[1].as_u64())
        .sum();
    assert_eq!(
        calls, 2,
        "the throttled reply and the one that went through"
    );
    let (pk, sk) = desk_core::ratelimit::RateLimiter::key(
        desk_core::platforms::wechatpay::limits::DETAIL,
        PROVIDER,
    );
    assert!(
        h.state
            .ports
            .records
            .get(&pk, &sk)
            .await
            .expect("get")
            .is_none()
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alipay_call_limits_are_retried_and_the_complaint_is_handled_once() {
    let h = harness();
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    sim.add_app(sandbox::alipay::SimApp {
        app_id: APP_ID.into(),
        public_key: rsa_key().to_public_key(),
        app_cert_sn: None,
    });
    h.create(json!({"kind": "alipay_app", "name": "Alipay app",
        "settings": {"app_id": APP_ID, "reply_text": "您好，已收到", "api_base_url": sim.gateway_url(),
                     "auto_refund": true, "refund_cap_fen": 100_000},
        "credentials": {"mode": "public_key", "app_private_key": private_pem(rsa_key()),
                        "alipay_public_key": sim.keys().alipay_public_key_pem()}}))
        .await;
    let stop = desk_core::worker::CancellationToken::new();
    spawn_worker(&h, queues::EVENTS, &stop);
    sim.add_trade_complaint(json!({"complain_event_id": "2024052100001", "status": "MERCHANT_PROCESSING",
        "trade_no": "2024052122001400001", "merchant_order_no": "T1", "gmt_create": "2024-05-21 10:00:00",
        "content": "商品一直没有发货，要求退款", "trade_amount": "19.99", "target_type": "APPID", "target_id": APP_ID}));
    sim.throttle_next("alipay.merchant.tradecomplain.query", 1);
    sim.throttle_next("alipay.merchant.tradecomplain.reply.submit", 1);
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100001"}),
    );
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&msg)
        .finish();
    let (s, b) = h
        .raw(
            Method::POST,
            &format!("/callbacks/alipay/{APP_ID}"),
            None,
            Some(body),
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(
        (s, String::from_utf8_lossy(&b).as_ref()),
        (StatusCode::OK, "success")
    );

    let mut done = None;
    for _ in 0..100 {
        let (_, list) = h
            .admin(Method::GET, "/admin/v1/complaints?platform=alipay", None)
            .await;
        if let Some(id) = list["items"][0]["id"].as_str() {
            let (_, d) = h
                .admin(Method::GET, &format!("/admin/v1/complaints/{id}"), None)
                .await;
            if d["complaint"]["completed"] == true {
                done = Some(d);
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, dead) = h.admin(Method::GET, "/admin/v1/dead-letters", None).await;
    let d = done.unwrap_or_else(|| panic!("not completed; dead letters: {dead}"));
    assert_eq!(sim.throttled().len(), 2, "{:?}", sim.throttled());
    assert_eq!(
        sim.calls("alipay.merchant.tradecomplain.reply.submit")
            .len(),
        1,
        "one reply"
    );
    assert_eq!(sim.refund_count(), 1, "one refund");
    assert_eq!(d["complaint"]["refunded_fen"], 1999);
    assert_eq!(actions(&d, "reply").len(), 1);
    assert_eq!(dead["items"].as_array().map(Vec::len), Some(0), "{dead}");
    stop.cancel();
}
