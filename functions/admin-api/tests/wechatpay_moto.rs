//! The WeChat Pay callback-to-record path over the AWS adapters on moto server: the callback
//! verifies and accepts a push through the DynamoDB + SQS inbox (once, however often it is
//! delivered), the worker's handler turns the queued job into a complaint record in DynamoDB,
//! acts on the simulator, and leaves the staff notices on the notify queue.

use aws::testing as moto;
use axum::body::Body;
use desk_core::worker::{Disposition, RetryPolicy};
use domain::job::queues;
use http_body_util::BodyExt;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

const ADMIN: &str = "moto-admin-token-0123456789";
const PROVIDER: &str = "1900000109";
const SUB: &str = "1900000201";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: String,
) -> (u16, Value) {
    let mut req = axum::http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let res = router
        .clone()
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("response");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn admin_headers() -> Vec<(String, String)> {
    vec![
        ("authorization".into(), format!("Bearer {ADMIN}")),
        ("content-type".into(), "application/json".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechatpay_push_becomes_a_complaint_record_in_dynamodb() {
    let config = moto::deployment(ADMIN).await;
    let sdk = moto::sdk_config().await;
    let state = runtime::admin::admin_state(&config, &sdk)
        .await
        .expect("state");
    let router = desk_http::router::router(state.clone());

    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    sim.add_merchant(SimMerchant {
        mchid: PROVIDER.into(),
        serial_no: SERIAL.into(),
        public_key: key.to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let (s, account) = call(
        &router,
        "POST",
        "/admin/v1/accounts",
        &admin_headers(),
        json!({"kind": "wechatpay_provider", "name": "moto provider",
               "settings": {"mchid": PROVIDER, "appid": "wx2c2769f8efd9abc2", "merchant_serial_no": SERIAL,
                            "api_base_url": sim.base_url()},
               "credentials": {"private_key": key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
                               "apiv3_key": APIV3, "wechatpay_public_key": sim.keys().public_key_pem(),
                               "wechatpay_public_key_id": sim.keys().pub_key_id}})
        .to_string(),
    )
    .await;
    assert_eq!(s, 201, "{account}");
    let id = account["id"].as_str().expect("id");
    let (s, b) = call(
        &router,
        "POST",
        &format!("/admin/v1/accounts/{id}/sub-merchants"),
        &admin_headers(),
        json!({"sub_mchid": SUB, "name": "门店", "reply_text": "您好，已为您退款。", "auto_refund": true}).to_string(),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let complaint_id = "200201820261122080000000042";
    sim.add_complaint_for(
        PROVIDER,
        json!({"complaint_id": complaint_id, "complaint_time": chrono::Utc::now().to_rfc3339(),
               "complaint_detail": "未收到商品", "complaint_state": "PENDING", "complainted_mchid": SUB,
               "complaint_order_info": [{"transaction_id": "4200000000202611220000000042", "out_trade_no": "T42", "amount": 990}],
               "problem_type": "OTHERS", "need_immediate_service": false}),
    );
    let push = sim.notification(
        APIV3,
        "COMPLAINT.CREATE",
        "complaint",
        &json!({"complaint_id": complaint_id, "action_type": "CREATE_COMPLAINT"}),
        KeyMode::PublicKey,
        0,
    );
    let path = format!("/callbacks/wechatpay/{PROVIDER}/complaints");
    for _ in 0..2 {
        let (s, b) = call(&router, "POST", &path, &push.headers, push.body.clone()).await;
        assert_eq!(s, 204, "{b}");
    }
    // A tampered one is refused and queues nothing.
    let (s, _) = call(
        &router,
        "POST",
        &path,
        &push.headers,
        push.body.replace("CREATE", "CREATF"),
    )
    .await;
    assert_eq!(s, 401);

    // Exactly one job on SQS; the worker's handler runs it.
    let queue = state.ports.queue.clone();
    let msgs = queue
        .receive(
            queues::EVENTS,
            10,
            Duration::from_secs(60),
            Duration::from_secs(1),
        )
        .await
        .expect("receive");
    assert_eq!(msgs.len(), 1, "one job for two deliveries");
    let registry = desk_core::policy::registry(&state, state.platforms());
    let d = desk_core::worker::decide(&registry, &RetryPolicy::default(), &msgs[0].body, 1).await;
    assert_eq!(d, Disposition::Done);
    queue
        .delete(queues::EVENTS, &msgs[0].receipt)
        .await
        .expect("delete");
    let again = queue
        .receive(
            queues::EVENTS,
            10,
            Duration::from_secs(60),
            Duration::from_millis(500),
        )
        .await
        .expect("receive");
    assert!(again.is_empty());

    // The record, its history, action log and notices are in DynamoDB.
    let (s, list) = call(
        &router,
        "GET",
        "/admin/v1/complaints",
        &admin_headers(),
        String::new(),
    )
    .await;
    assert_eq!(s, 200, "{list}");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["platform_complaint_id"], complaint_id);
    assert_eq!(items[0]["status"], "resolved");
    let cid = items[0]["id"].as_str().expect("id");
    let (_, d) = call(
        &router,
        "GET",
        &format!("/admin/v1/complaints/{cid}"),
        &admin_headers(),
        String::new(),
    )
    .await;
    assert_eq!(d["complaint"]["refunded_fen"], 990);
    assert_eq!(d["notifications"].as_array().map(Vec::len), Some(2));
    assert!(!d["history"].as_array().expect("history").is_empty());
    assert_eq!(sim.writes_to("/response").len(), 1);
    assert_eq!(sim.refunds().len(), 1);
    assert_eq!(sim.writes_to("/complete").len(), 1);
    let notices = queue
        .receive(
            queues::NOTIFY,
            10,
            Duration::from_secs(60),
            Duration::from_secs(1),
        )
        .await
        .expect("receive");
    assert_eq!(
        notices.len(),
        2,
        "staff notices for the provider and the sub-merchant"
    );
}
