//! `POST /callbacks/wechatpay/{mchid}/...` with notifications built and signed by the
//! simulator: accepted ones are queued once; bad ones get the documented answer and queue nothing.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use domain::job::{JobEnvelope, queues, wechatpay as wechatpay_jobs};
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::json;

const MCHID: &str = "1900000109";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const PATH: &str = "/callbacks/wechatpay/1900000109/complaints";

async fn setup(mode: KeyMode, with_public_key: bool) -> (Harness, WechatPaySim) {
    let h = harness();
    let sim = WechatPaySim::start(PlatformKeys::generate(), mode)
        .await
        .expect("simulator");
    sim.add_merchant(SimMerchant {
        mchid: MCHID.into(),
        serial_no: SERIAL.into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let mut body = provider_body(MCHID);
    body["settings"]["api_base_url"] = json!(sim.base_url());
    let mut creds = json!({"private_key": private_pem(rsa_key()), "apiv3_key": APIV3});
    if with_public_key {
        creds["wechatpay_public_key"] = json!(sim.keys().public_key_pem());
        creds["wechatpay_public_key_id"] = json!(sim.keys().pub_key_id);
    }
    body["credentials"] = creds;
    h.create(body).await;
    (h, sim)
}

async fn queued(h: &Harness) -> Vec<JobEnvelope> {
    h.queued_jobs(queues::EVENTS).await
}

fn complaint() -> serde_json::Value {
    json!({"complaint_id": "200201820200101080076610000", "action_type": "CREATE_COMPLAINT"})
}

#[tokio::test]
async fn a_verified_complaint_push_is_queued_once() {
    let (h, sim) = setup(KeyMode::PublicKey, true).await;
    let n = sim.notification(
        APIV3,
        "COMPLAINT.CREATE",
        "complaint",
        &complaint(),
        KeyMode::PublicKey,
        0,
    );
    let (s, body) = h.post_with_headers(PATH, &n.headers, n.body.clone()).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let jobs = queued(&h).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].job_type, wechatpay_jobs::COMPLAINT.name());
    assert_eq!(
        jobs[0].payload["resource"]["complaint_id"],
        "200201820200101080076610000"
    );
    assert_eq!(jobs[0].payload["event_type"], "COMPLAINT.CREATE");
    // WeChat Pay delivers it again (twice, concurrently): answered, nothing more queued.
    let again = || h.post_with_headers(PATH, &n.headers, n.body.clone());
    let (a, b) = tokio::join!(again(), again());
    assert_eq!((a.0, b.0), (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT));
    assert!(queued(&h).await.is_empty());
}

#[tokio::test]
async fn bad_notifications_get_the_designed_answer_and_queue_nothing() {
    let (h, sim) = setup(KeyMode::PublicKey, true).await;
    let good = || {
        sim.notification(
            APIV3,
            "COMPLAINT.CREATE",
            "complaint",
            &complaint(),
            KeyMode::PublicKey,
            0,
        )
    };

    let mut tampered = good();
    tampered.body = tampered
        .body
        .replace("COMPLAINT.CREATE", "COMPLAINT.STATE_CHANGE");
    let stale = sim.notification(
        APIV3,
        "COMPLAINT.CREATE",
        "complaint",
        &complaint(),
        KeyMode::PublicKey,
        -301,
    );
    let mut probe = good();
    let sig = probe
        .header("Wechatpay-Signature")
        .unwrap_or_default()
        .to_string();
    probe.set_header("Wechatpay-Signature", format!("WECHATPAY/SIGNTEST/{sig}"));
    let wrong_key = sim.notification(
        "ZYXWVUTSRQPONMLKJIHGFEDCBA987654",
        "COMPLAINT.CREATE",
        "complaint",
        &complaint(),
        KeyMode::PublicKey,
        0,
    );
    let not_json = sim.sign_notification("{not json".into(), KeyMode::PublicKey, 0);
    let mut unsigned = good();
    unsigned.headers.retain(|(k, _)| k != "Wechatpay-Signature");

    for (name, n, path, want) in [
        (
            "tampered signature",
            tampered,
            PATH,
            StatusCode::UNAUTHORIZED,
        ),
        ("stale timestamp", stale, PATH, StatusCode::UNAUTHORIZED),
        ("SIGNTEST probe", probe, PATH, StatusCode::UNAUTHORIZED),
        (
            "missing signature",
            unsigned,
            PATH,
            StatusCode::UNAUTHORIZED,
        ),
        ("wrong API v3 key", wrong_key, PATH, StatusCode::BAD_REQUEST),
        ("malformed body", not_json, PATH, StatusCode::BAD_REQUEST),
        (
            "unknown mchid",
            good(),
            "/callbacks/wechatpay/1999999999/complaints",
            StatusCode::NOT_FOUND,
        ),
        (
            "violation on the complaint path",
            sim.notification(
                APIV3,
                "VIOLATION.PUNISH",
                "violation",
                &json!({"sub_mchid": "1900000201"}),
                KeyMode::PublicKey,
                0,
            ),
            PATH,
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (s, body) = h.post_with_headers(path, &n.headers, n.body.clone()).await;
        assert_eq!(s, want, "{name}: {body}");
        assert_eq!(body["code"], "FAIL", "{name}: {body}");
    }
    assert!(queued(&h).await.is_empty(), "nothing was queued");
    let (_, dl) = h.admin(Method::GET, "/admin/v1/dead-letters", None).await;
    assert_eq!(dl["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn an_unknown_certificate_serial_causes_exactly_one_download() {
    let (h, sim) = setup(KeyMode::Certificate, false).await;
    for i in 0..3 {
        let mut c = complaint();
        c["complaint_id"] = json!(format!("20020182020010108007661000{i}"));
        let n = sim.notification(
            APIV3,
            "COMPLAINT.STATE_CHANGE",
            "complaint",
            &c,
            KeyMode::Certificate,
            0,
        );
        let (s, body) = h.post_with_headers(PATH, &n.headers, n.body.clone()).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    }
    assert_eq!(sim.certificate_downloads(), 1);
    assert_eq!(queued(&h).await.len(), 3);
}

#[tokio::test]
async fn violation_notices_carry_the_sub_merchant() {
    let (h, sim) = setup(KeyMode::PublicKey, true).await;
    let v = json!({"sub_mchid": "1900000201", "company_name": "门店一", "record_id": "R1",
                   "punish_plan": "关闭支付权限", "risk_type": "FRAUD", "risk_description": "涉嫌欺诈"});
    let n = sim.notification(
        APIV3,
        "VIOLATION.INTERCEPT",
        "violation",
        &v,
        KeyMode::PublicKey,
        0,
    );
    let (s, body) = h
        .post_with_headers(
            "/callbacks/wechatpay/1900000109/violations",
            &n.headers,
            n.body.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let jobs = queued(&h).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].job_type, wechatpay_jobs::VIOLATION.name());
    assert_eq!(jobs[0].sub_mchid.as_deref(), Some("1900000201"));
}
