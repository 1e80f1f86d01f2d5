//! The alipay client against the Alipay simulator, in key mode and certificate mode: requests
//! are checked by the simulator's own code (signature, app and root certificate SNs), answers
//! (unevenly formatted, with \u escapes) by the client's.

use alipay::client::{AlipayError, Client, ClientConfig, KeyMode};
use rsa::RsaPrivateKey;
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim, SimApp};
use serde_json::json;
use std::collections::HashMap;

const APP_ID: &str = "2021000000000001";

fn app_key() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen")
}

/// A key as our client reads it (from the PKCS#8 PEM an operator would paste).
fn ours(key: &RsaPrivateKey) -> alipay::PrivateKey {
    let pem =
        rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(key, rsa::pkcs8::LineEnding::LF).expect("pem");
    alipay::PrivateKey::parse(&pem).expect("our key")
}

fn our_public(key: &rsa::RsaPublicKey) -> alipay::PublicKey {
    let pem = rsa::pkcs8::EncodePublicKey::to_public_key_pem(key, rsa::pkcs8::LineEnding::LF)
        .expect("pem");
    alipay::PublicKey::parse(&pem).expect("our key")
}

fn complaint() -> serde_json::Value {
    json!({"complain_event_id": "2024052100001", "status": "MERCHANT_PROCESSING", "trade_no": "2024052122001400001",
           "merchant_order_no": "T1", "gmt_create": "2024-05-21 10:00:00", "complain_reason": "未收到货",
           "content": "商品一直没有发货，要求退款", "trade_amount": "19.99", "target_type": "APPID", "target_id": APP_ID})
}

async fn key_mode() -> (AlipaySim, Client, RsaPrivateKey) {
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    let key = app_key();
    sim.add_app(SimApp {
        app_id: APP_ID.into(),
        public_key: key.to_public_key(),
        app_cert_sn: None,
    });
    sim.add_trade_complaint(complaint());
    let alipay_key = alipay::PublicKey::parse(&sim.keys().alipay_public_key_pem()).expect("key");
    let client = Client::new(ClientConfig {
        gateway: sim.gateway_url().parse().expect("url"),
        app_id: APP_ID.into(),
        private_key: ours(&key),
        mode: KeyMode::PublicKey(alipay_key),
    });
    (sim, client, key)
}

#[tokio::test]
async fn key_mode_query_reply_and_idempotent_refund() {
    let (sim, client, _) = key_mode().await;
    let c = client
        .tradecomplain_query("2024052100001")
        .await
        .expect("query verifies");
    assert_eq!(c["content"], "商品一直没有发货，要求退款");
    assert_eq!(
        alipay::money::yuan_to_fen(c["trade_amount"].as_str().expect("amount")),
        Ok(1999)
    );
    client
        .tradecomplain_reply("2024052100001", "您好，已为您退款", &[])
        .await
        .expect("reply");
    let r1 = client
        .trade_refund("2024052122001400001", 1999, "CDREF1", "投诉退款")
        .await
        .expect("refund");
    let r2 = client
        .trade_refund("2024052122001400001", 1999, "CDREF1", "投诉退款")
        .await
        .expect("same number again");
    assert_eq!(
        (r1["fund_change"].as_str(), r2["fund_change"].as_str()),
        (Some("Y"), Some("N"))
    );
    assert_eq!(sim.refund_count(), 1);
    client
        .tradecomplain_feedback("2024052100001", "00", "已退款", &[])
        .await
        .expect("feedback");
    assert_eq!(
        sim.trade_complaint("2024052100001").expect("c")["status"],
        "MERCHANT_FEEDBACKED"
    );
    match client.tradecomplain_query("no-such").await {
        Err(AlipayError::Api { code, sub_code, .. }) => assert_eq!(
            (code.as_str(), sub_code.as_str()),
            ("40004", "COMPLAIN_NOT_EXIST")
        ),
        other => panic!("{other:?}"),
    }
    assert!(sim.rejected().is_empty());
}

#[tokio::test]
async fn certificate_mode_sns_match_the_simulators_own() {
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::Certificate)
        .await
        .expect("sim");
    let key = app_key();
    let (app_cert, app_sn_by_sim) = sim.keys().issue_app_cert(&key.to_public_key());
    sim.add_app(SimApp {
        app_id: APP_ID.into(),
        public_key: key.to_public_key(),
        app_cert_sn: Some(app_sn_by_sim.clone()),
    });
    sim.add_trade_complaint(complaint());
    // Our SNs, computed from the PEM files the way Alipay does.
    let app_cert_sn = alipay::cert::first_cert_sn(&app_cert).expect("app sn");
    let root_sn = alipay::cert::root_cert_sn(&sim.keys().root_pem).expect("root sn");
    assert_eq!(app_cert_sn, app_sn_by_sim);
    assert_eq!(root_sn, sim.keys().root_sn);
    let alipay_cert = &alipay::cert::certificates(&sim.keys().alipay_cert_pem).expect("certs")[0];
    let mut keys = HashMap::new();
    keys.insert(
        alipay::cert::cert_sn(alipay_cert),
        alipay::cert::public_key(alipay_cert).expect("rsa"),
    );
    let config = |root: String, keys: HashMap<String, alipay::PublicKey>| ClientConfig {
        gateway: sim.gateway_url().parse().expect("url"),
        app_id: APP_ID.into(),
        private_key: ours(&key),
        mode: KeyMode::Certificate {
            app_cert_sn: app_cert_sn.clone(),
            alipay_root_cert_sn: root,
            alipay_keys: keys,
        },
    };
    let client = Client::new(config(root_sn.clone(), keys.clone()));
    client
        .tradecomplain_query("2024052100001")
        .await
        .expect("verified with the certificate named by alipay_cert_sn");

    // A wrong root SN is refused by the platform; an unknown Alipay certificate by us.
    let wrong_root = Client::new(config(
        "687b59193f3f462dd5336e5abf83c5d8_8af620707e5ddd8c7e76747e86a604dc".into(),
        keys,
    ));
    assert_eq!(
        wrong_root
            .tradecomplain_query("2024052100001")
            .await
            .expect_err("refused")
            .sub_code(),
        Some("isv.invalid-alipay-root-cert-sn")
    );
    let no_cert = Client::new(config(root_sn, HashMap::new()));
    assert!(matches!(
        no_cert.tradecomplain_query("2024052100001").await,
        Err(AlipayError::Verify(_))
    ));
}

#[tokio::test]
async fn bad_signatures_are_refused_both_ways() {
    let (sim, _, _) = key_mode().await;
    let alipay_key = alipay::PublicKey::parse(&sim.keys().alipay_public_key_pem()).expect("key");
    let stranger = Client::new(ClientConfig {
        gateway: sim.gateway_url().parse().expect("url"),
        app_id: APP_ID.into(),
        private_key: ours(&app_key()),
        mode: KeyMode::PublicKey(alipay_key),
    });
    assert_eq!(
        stranger
            .tradecomplain_query("2024052100001")
            .await
            .expect_err("refused")
            .sub_code(),
        Some("isv.invalid-signature")
    );
    assert_eq!(sim.rejected(), vec!["isv.invalid-signature".to_string()]);
    // An answer signed by someone else is not trusted.
    let (_, _, key) = key_mode().await;
    let fooled = Client::new(ClientConfig {
        gateway: sim.gateway_url().parse().expect("url"),
        app_id: APP_ID.into(),
        private_key: ours(&key),
        mode: KeyMode::PublicKey(our_public(&app_key().to_public_key())),
    });
    assert!(fooled.tradecomplain_query("2024052100001").await.is_err());
}

#[tokio::test]
async fn images_upload_with_the_file_part_unsigned() {
    let (sim, client, _) = key_mode().await;
    let id = client
        .image_upload("png", "evidence.png", b"\x89PNG\r\n\x1a\nimage".to_vec())
        .await
        .expect("upload");
    assert!(id.starts_with("IMG"));
    assert_eq!(sim.calls("alipay.merchant.image.upload").len(), 1);
}

#[tokio::test]
async fn complaints_are_listed_in_both_families_and_evidence_uploaded() {
    let (sim, client, _) = key_mode().await;
    let mut second = complaint();
    second["complain_event_id"] = json!("2024052100002");
    sim.add_trade_complaint(second);
    sim.add_risk_complaint(
        json!({"id": 1_i64, "status": "WAIT_PROCESS", "complain_amount": "1.00", "gmt_complain": "2024-05-21 09:00:00"}),
    );
    let may = |d: &str| alipay::lists::parse_china_time(d).expect("time");
    let trade = |page_num| alipay::lists::TradeComplainQuery {
        begin: may("2024-05-01 00:00:00"),
        end: may("2024-05-31 23:59:59"),
        status: None,
        page_num,
        page_size: 1,
    };
    let p1 = client
        .tradecomplain_batchquery(&trade(1))
        .await
        .expect("page 1");
    let p2 = client
        .tradecomplain_batchquery(&trade(2))
        .await
        .expect("page 2");
    assert_eq!((p1.total_num, p1.total_page_num), (2, 2));
    assert_ne!(p1.items[0].complain_event_id, p2.items[0].complain_event_id);
    let risk = client
        .risk_complaint_batchquery(&alipay::lists::RiskComplaintQuery {
            start: may("2024-05-01 00:00:00"),
            end: may("2024-05-31 23:59:59"),
            statuses: &[],
            page: 1,
            page_size: 10,
        })
        .await
        .expect("risk");
    assert_eq!(risk.items[0].id, 1);
    let key = client
        .risk_file_upload("proof.png", b"\x89PNG".to_vec())
        .await
        .expect("upload");
    assert!(key.starts_with("FK"));
}
