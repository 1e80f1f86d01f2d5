//! What a WeChat Pay callback costs in port calls over the AWS adapters (DynamoDB, SQS,
//! Secrets Manager on moto server), counted by decorators over the real adapters: at most one
//! account read (none while cached), the credentials once, and the inbox's PENDING → send →
//! ENQUEUED; a duplicate is one failed create and one read, and sends nothing.

#[path = "../../../shared/http/tests/common/counting.rs"]
mod counting;

use aws::AwsPorts;
use aws::testing as moto;
use axum::body::Body;
use counting::{CallLog, counted_record_queue_inbox};
use desk_core::fingerprint::Fingerprinter;
use desk_http::auth::AdminAuth;
use http_body_util::BodyExt;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use sandbox::wechatpay::{KeyMode, Notification, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN: &str = "moto-admin-token-0123456789";
const MCHID: &str = "1900000109";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";

async fn call(
    router: &axum::Router,
    path: &str,
    headers: &[(String, String)],
    body: String,
) -> (u16, Value) {
    let mut req = axum::http::Request::builder().method("POST").uri(path);
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

fn push(sim: &WechatPaySim, n: u32) -> Notification {
    sim.notification(
        APIV3,
        "COMPLAINT.CREATE",
        "complaint",
        &json!({"complaint_id": format!("20020182026112608000000{n:04}"), "action_type": "CREATE_COMPLAINT"}),
        KeyMode::PublicKey,
        0,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_on_aws_reads_its_account_once_then_only_the_inbox() {
    let config = moto::deployment(ADMIN).await;
    let sdk = moto::sdk_config().await;
    let log = CallLog::default();
    let ports = counted_record_queue_inbox(runtime::ports(&AwsPorts::new(&config, &sdk)), &log);
    let state = desk_http::AppState::new(
        desk_core::Services::new(ports, Fingerprinter::new([7; 32])),
        AdminAuth::from_hash(desk_http::auth::hash(ADMIN)),
    )
    .with_platforms(desk_core::platforms::builtin());
    let router = desk_http::router::router(state.clone());

    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    sim.add_merchant(SimMerchant {
        mchid: MCHID.into(),
        serial_no: SERIAL.into(),
        public_key: key.to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let admin = vec![
        ("authorization".to_string(), format!("Bearer {ADMIN}")),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    let (s, account) = call(
        &router,
        "/admin/v1/accounts",
        &admin,
        json!({"kind": "wechatpay_provider", "name": "moto provider",
               "settings": {"mchid": MCHID, "appid": "wx2c2769f8efd9abc2", "merchant_serial_no": SERIAL,
                            "api_base_url": sim.base_url()},
               "credentials": {"private_key": key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
                               "apiv3_key": APIV3, "wechatpay_public_key": sim.keys().public_key_pem(),
                               "wechatpay_public_key_id": sim.keys().pub_key_id}})
        .to_string(),
    )
    .await;
    assert_eq!(s, 201, "{account}");
    let id = account["id"].as_str().expect("id");
    log.take();

    let path = format!("/callbacks/wechatpay/{MCHID}/complaints");
    let first = push(&sim, 1);
    let (s, b) = call(&router, &path, &first.headers, first.body.clone()).await;
    assert_eq!(s, 204, "{b}");
    assert_eq!(
        log.take(),
        [
            "records.get PLATFORM".to_string(),
            format!("secrets.get accounts/{id}/credentials"),
            "records.create INBOX".to_string(),
            "queue.send events".to_string(),
            "records.update INBOX".to_string(),
        ]
    );
    let second = push(&sim, 2);
    let (s, b) = call(&router, &path, &second.headers, second.body.clone()).await;
    assert_eq!(s, 204, "{b}");
    assert_eq!(
        log.take(),
        [
            "records.create INBOX",
            "queue.send events",
            "records.update INBOX"
        ]
    );
    let (s, b) = call(&router, &path, &second.headers, second.body.clone()).await;
    assert_eq!(s, 204, "{b}");
    assert_eq!(log.take(), ["records.create INBOX", "records.get INBOX"]);
}
