//! The real `complaint-desk` binary with the Alipay simulator: a crash injected between the
//! refund and the finishing feedback, then a restart: the refund is found by its request number
//! and not asked for again, and the complaint is finished.

use e2e_tests::Server;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim, SimApp};
use serde_json::{Value, json};
use std::time::Duration;

const ADMIN: &str = "e2e-admin-token-0123456789abcdef";
const APP_ID: &str = "2021000000000001";

async fn admin(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    s.admin(ADMIN, method, path, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_refund_and_feedback_never_refunds_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    sim.add_app(SimApp {
        app_id: APP_ID.into(),
        public_key: key.to_public_key(),
        app_cert_sn: None,
    });
    sim.add_trade_complaint(json!({"complain_event_id": "2024052100009", "status": "MERCHANT_PROCESSING",
        "trade_no": "2024052122001400009", "gmt_create": "2024-05-21 10:00:00", "content": "未收到货", "trade_amount": "25.00"}));
    let env = [
        ("ADMIN_TOKEN", ADMIN),
        ("JOB_VISIBILITY_SECS", "2"),
        ("COMPLAINT_DESK_FAULT", "after_refund"),
    ];
    let mut server = Server::start(dir.path(), &env);
    let (s, b) = admin(&server, reqwest::Method::POST, "/accounts", Some(json!({
        "kind": "alipay_app", "name": "Crash test app",
        "settings": {"app_id": APP_ID, "reply_text": "您好，已为您退款。", "auto_refund": true, "api_base_url": sim.gateway_url()},
        "credentials": {"mode": "public_key", "app_private_key": key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
                        "alipay_public_key": sim.keys().alipay_key.to_public_key().to_public_key_pem(LineEnding::LF).expect("pem")}
    }))).await;
    assert_eq!(s, 201, "{b}");
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100009"}),
    );
    let res = reqwest::Client::new()
        .post(server.url(&format!("/callbacks/alipay/{APP_ID}")))
        .form(&msg)
        .send()
        .await
        .expect("post");
    assert_eq!(res.text().await.expect("body"), "success");

    let status = server.wait_exit(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| !s.success()),
        "the fault point was not reached: {}",
        server.output_text()
    );
    assert_eq!(sim.refund_count(), 1);
    assert!(
        sim.calls("alipay.merchant.tradecomplain.feedback.submit")
            .is_empty()
    );
    drop(server);

    let server = Server::start(dir.path(), &env[..2]);
    let mut finished = false;
    for _ in 0..100 {
        if sim
            .calls("alipay.merchant.tradecomplain.feedback.submit")
            .len()
            == 1
        {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        finished,
        "not finished after the restart: {}",
        server.output_text()
    );
    assert_eq!(
        sim.calls("alipay.trade.refund").len(),
        1,
        "the refund was not asked for again"
    );
    assert_eq!(sim.refund_count(), 1);
    assert_eq!(
        sim.calls("alipay.merchant.tradecomplain.reply.submit")
            .len(),
        1,
        "one reply"
    );
    let (_, list) = admin(
        &server,
        reqwest::Method::GET,
        "/complaints?platform=alipay",
        None,
    )
    .await;
    let cid = list["items"][0]["id"].as_str().expect("complaint");
    let (_, d) = admin(
        &server,
        reqwest::Method::GET,
        &format!("/complaints/{cid}"),
        None,
    )
    .await;
    let refund_log: Vec<&Value> = d["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["action"] == "refund")
        .collect();
    assert_eq!(refund_log.len(), 1, "{refund_log:?}");
    assert_eq!(refund_log[0]["outcome"], "already_done");
    assert_eq!(d["complaint"]["refunded_fen"], 2500);
}
