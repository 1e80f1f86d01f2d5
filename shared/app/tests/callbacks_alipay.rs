//! `POST /callbacks/alipay/{app_id}` with messages built and signed by the Alipay simulator, in
//! key mode and certificate mode: accepted ones are queued once (deduped on `notify_id`), bad
//! ones get DESIGN.md's answer and queue nothing.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use domain::job::{JobEnvelope, queues};
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim};
use serde_json::json;
use std::time::Duration;

const APP_ID: &str = "2021000000000001";
const PATH: &str = "/callbacks/alipay/2021000000000001";

async fn setup(mode: AlipayMode) -> (Harness, AlipaySim) {
    let h = harness();
    let sim = AlipaySim::start(AlipayKeys::generate(), mode)
        .await
        .expect("sim");
    let creds = match mode {
        AlipayMode::PublicKey => {
            json!({"mode": "public_key", "app_private_key": private_pem(rsa_key()),
                                        "alipay_public_key": sim.keys().alipay_public_key_pem()})
        }
        AlipayMode::Certificate => {
            let (app_cert, _) = sim.keys().issue_app_cert(&rsa_key().to_public_key());
            json!({"mode": "certificate", "app_private_key": private_pem(rsa_key()), "app_cert": app_cert,
                   "alipay_cert": sim.keys().alipay_cert_pem, "alipay_root_cert": sim.keys().root_pem})
        }
    };
    h.create(json!({"kind": "alipay_app", "name": "Alipay app",
                    "settings": {"app_id": APP_ID, "reply_text": "您好，已收到", "api_base_url": sim.gateway_url()},
                    "credentials": creds}))
        .await;
    (h, sim)
}

fn form(p: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p)
        .finish()
}

async fn post(h: &Harness, path: &str, body: String) -> (StatusCode, String) {
    let (s, b) = h
        .raw(
            Method::POST,
            path,
            None,
            Some(body),
            "application/x-www-form-urlencoded",
        )
        .await;
    (s, String::from_utf8_lossy(&b).into_owned())
}

async fn queued(h: &Harness) -> Vec<JobEnvelope> {
    let msgs = h
        .state
        .ports
        .queue
        .receive(
            queues::EVENTS,
            10,
            Duration::from_secs(30),
            Duration::from_millis(300),
        )
        .await
        .expect("receive");
    msgs.iter()
        .map(|m| serde_json::from_str(&m.body).expect("job"))
        .collect()
}

async fn accepted_once(mode: AlipayMode) {
    let (h, sim) = setup(mode).await;
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100001"}),
    );
    let body = form(&msg);
    assert_eq!(
        post(&h, PATH, body.clone()).await,
        (StatusCode::OK, "success".to_string())
    );
    let jobs = queued(&h).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].job_type, "alipay.trade_complaint");
    assert_eq!(jobs[0].payload["biz"]["complain_event_id"], "2024052100001");
    // Retried by Alipay (hours later is fine: no timestamp window), twice at once: no new job.
    let (a, b) = tokio::join!(post(&h, PATH, body.clone()), post(&h, PATH, body));
    assert_eq!((a.1.as_str(), b.1.as_str()), ("success", "success"));
    assert!(queued(&h).await.is_empty());
    let risk = sim.message(
        APP_ID,
        "alipay.security.risk.complaints.merchants.notify",
        &json!({"complaint_id": 24646950354_i64}),
    );
    assert_eq!(post(&h, PATH, form(&risk)).await.1, "success");
    assert_eq!(queued(&h).await[0].job_type, "alipay.risk_complaint");
}

#[tokio::test]
async fn a_verified_message_is_queued_once_in_key_mode() {
    accepted_once(AlipayMode::PublicKey).await;
}

#[tokio::test]
async fn a_verified_message_is_queued_once_in_certificate_mode() {
    accepted_once(AlipayMode::Certificate).await;
}

#[tokio::test]
async fn bad_messages_get_the_designed_answer_and_queue_nothing() {
    let (h, sim) = setup(AlipayMode::PublicKey).await;
    let good = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100001"}),
    );
    let mut tampered = good.clone();
    tampered[2].1 = json!({"complain_event_id": "2024052100002"}).to_string();
    let stranger = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    let wrong_key = stranger.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100001"}),
    );
    let unsigned: Vec<(String, String)> =
        good.iter().filter(|(k, _)| k != "sign").cloned().collect();
    for (name, body, path, want) in [
        ("tampered", form(&tampered), PATH, StatusCode::BAD_REQUEST),
        (
            "signed by another key",
            form(&wrong_key),
            PATH,
            StatusCode::BAD_REQUEST,
        ),
        ("unsigned", form(&unsigned), PATH, StatusCode::BAD_REQUEST),
        (
            "unknown app",
            form(&good),
            "/callbacks/alipay/2021999999999999",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (s, b) = post(&h, path, body).await;
        assert_eq!((s, b.as_str()), (want, "fail"), "{name}");
    }
    // An unknown message method is acknowledged, not queued.
    let other = sim.message(APP_ID, "alipay.open.app.something.changed", &json!({}));
    assert_eq!(
        post(&h, PATH, form(&other)).await,
        (StatusCode::OK, "success".to_string())
    );
    assert!(queued(&h).await.is_empty());
}
