//! The wechatpay client against the simulator, in each key mode and mixed: requests are
//! checked by the simulator's own code, answers by the client's.

use rsa::RsaPrivateKey;
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::json;
use wechatpay::{Client, ClientConfig, PlatformError};

const MCHID: &str = "1900000109";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";

struct Setup {
    sim: WechatPaySim,
    merchant_key: RsaPrivateKey,
}

async fn setup(mode: KeyMode) -> Setup {
    setup_with(PlatformKeys::generate(), mode).await
}

async fn setup_with(keys: PlatformKeys, mode: KeyMode) -> Setup {
    let merchant_key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    let sim = WechatPaySim::start(keys, mode).await.expect("simulator");
    sim.add_merchant(SimMerchant {
        mchid: MCHID.into(),
        serial_no: SERIAL.into(),
        public_key: merchant_key.to_public_key(),
        apiv3_key: APIV3.into(),
    });
    sim.add_complaint(json!({
        "complaint_id": "200201820200101080076610000",
        "complaint_time": "2026-11-22T10:00:00+08:00",
        "complaint_detail": "没有收到货",
        "complaint_state": "PENDING",
        "complainted_mchid": "1900000201",
        "complaint_order_info": [{"transaction_id": "4200000000000000000000000001", "out_trade_no": "T1", "amount": 1999}],
        "problem_type": "REFUND",
        "apply_refund_amount": 1999,
        "need_immediate_service": false
    }));
    Setup { sim, merchant_key }
}

/// The same key as our client reads it (from the PKCS#8 PEM an operator would paste).
fn ours(key: &RsaPrivateKey) -> wechatpay::PrivateKey {
    let pem =
        rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(key, rsa::pkcs8::LineEnding::LF).expect("pem");
    wechatpay::PrivateKey::parse(&pem).expect("our key")
}

fn client(s: &Setup, key: &RsaPrivateKey, public_key: bool) -> Client {
    Client::new(config(s, key, public_key, SERIAL)).expect("client")
}

fn config(s: &Setup, key: &RsaPrivateKey, public_key: bool, serial_no: &str) -> ClientConfig {
    ClientConfig {
        base_url: s.sim.base_url().parse().expect("url"),
        mchid: MCHID.into(),
        serial_no: serial_no.into(),
        private_key: ours(key),
        apiv3_key: APIV3.as_bytes().to_vec(),
        public_key: public_key.then(|| {
            (
                s.sim.keys().pub_key_id.clone(),
                s.sim.keys().public_key_pem(),
            )
        }),
        platform_certificates: vec![],
    }
}

#[tokio::test]
async fn public_key_mode_needs_no_certificate_download() {
    let s = setup(KeyMode::PublicKey).await;
    let c = client(&s, &s.merchant_key, true);
    let got = c
        .complaint("200201820200101080076610000")
        .await
        .expect("detail");
    assert_eq!(got.complaint_order_info[0].amount, 1999);
    assert_eq!(got.problem_type, "REFUND");
    assert_eq!(s.sim.certificate_downloads(), 0);
}

#[tokio::test]
async fn certificate_mode_downloads_certificates_once() {
    let s = setup(KeyMode::Certificate).await;
    let c = client(&s, &s.merchant_key, false);
    for _ in 0..3 {
        let got = c
            .complaint("200201820200101080076610000")
            .await
            .expect("detail");
        assert_eq!(got.complaint_state, "PENDING");
    }
    assert_eq!(
        s.sim.certificate_downloads(),
        1,
        "an unknown serial causes exactly one download"
    );
}

/// The DER content bytes of the simulator's certificate serial.
fn der_serial(pem: &str) -> Vec<u8> {
    use x509_cert::der::DecodePem;
    x509_cert::Certificate::from_pem(pem.as_bytes())
        .expect("certificate")
        .tbs_certificate
        .serial_number
        .as_bytes()
        .to_vec()
}

/// A platform certificate whose serial has its top bit set is `00 8F ...` in DER but `8F...`
/// on the wire (and one with a zero nibble `0A ...` is `A...`): the download is accepted, its
/// certificate is known under the serial WeChat Pay sends, and answers signed with it verify.
#[tokio::test]
async fn certificate_serials_are_numbers_not_der_bytes() {
    let top_bit = [
        0x8f, 0x3a, 0x5c, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
    ];
    let zero_nibble = [
        0x0a, 0x3a, 0x5c, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
    ];
    for (number, der_first, wire) in [
        (&top_bit[..], 0x00, "8F3A5C0011223344556677 88"),
        (&zero_nibble[..], 0x0a, "A3A5C0011223344556677 88"),
    ] {
        let wire = wire.replace(' ', "");
        let s = setup_with(
            PlatformKeys::generate_with_serial(number),
            KeyMode::Certificate,
        )
        .await;
        assert_eq!(
            s.sim.keys().cert_serial,
            wire,
            "the simulator's Wechatpay-Serial"
        );
        assert_eq!(der_serial(&s.sim.keys().cert_pem)[0], der_first);
        let c = client(&s, &s.merchant_key, false);
        for _ in 0..2 {
            let got = c
                .complaint("200201820200101080076610000")
                .await
                .expect("an answer signed with the downloaded certificate");
            assert_eq!(got.complaint_state, "PENDING");
        }
        assert_eq!(s.sim.certificate_downloads(), 1);
        assert!(c.verifier().knows(&wire));
        assert!(c.verifier().knows(&format!("00{}", wire.to_lowercase())));
        // Configured up front (as an operator uploads it): no download at all.
        let s2 = setup_with(
            PlatformKeys::generate_with_serial(number),
            KeyMode::Certificate,
        )
        .await;
        let mut cfg = config(&s2, &s2.merchant_key, false, SERIAL);
        cfg.platform_certificates = vec![s2.sim.keys().cert_pem.clone()];
        let c2 = Client::new(cfg).expect("client");
        c2.complaint("200201820200101080076610000")
            .await
            .expect("verified with the configured certificate");
        assert_eq!(s2.sim.certificate_downloads(), 0);
    }
}

/// The merchant certificate serial goes out as WeChat Pay writes it, however the operator
/// copied it (lower case, DER's leading 00): the simulator knows it only in that form.
#[tokio::test]
async fn the_merchant_serial_is_sent_in_wechat_pays_form() {
    let s = setup(KeyMode::PublicKey).await;
    s.sim.add_merchant(SimMerchant {
        mchid: MCHID.into(),
        serial_no: "8F3A5C0011223344".into(),
        public_key: s.merchant_key.to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let c = Client::new(config(&s, &s.merchant_key, true, "008f3a5c0011223344")).expect("client");
    c.complaint("200201820200101080076610000")
        .await
        .expect("accepted by the simulator");
    assert_eq!(s.sim.rejected(), 0);
}

#[tokio::test]
async fn mixed_keys_verify_with_one_certificate_download() {
    let s = setup(KeyMode::PublicKey).await;
    let c = client(&s, &s.merchant_key, true);
    c.complaint("200201820200101080076610000")
        .await
        .expect("public key");
    s.sim.set_mode(KeyMode::Certificate);
    c.complaint("200201820200101080076610000")
        .await
        .expect("certificate after a download");
    s.sim.set_mode(KeyMode::PublicKey);
    c.complaint("200201820200101080076610000")
        .await
        .expect("public key again");
    s.sim.set_mode(KeyMode::Certificate);
    c.complaint("200201820200101080076610000")
        .await
        .expect("known certificate");
    assert_eq!(s.sim.certificate_downloads(), 1);
}

#[tokio::test]
async fn the_simulator_refuses_a_request_signed_with_another_key() {
    let s = setup(KeyMode::PublicKey).await;
    let other = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    let c = client(&s, &other, true);
    let err = c
        .complaint("200201820200101080076610000")
        .await
        .expect_err("refused");
    match &err {
        PlatformError::Api { status, code, .. } => {
            assert_eq!((*status, code.as_str()), (401, "SIGN_ERROR"))
        }
        other => panic!("unexpected: {other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(s.sim.rejected(), 1);
}

#[tokio::test]
async fn an_answer_signed_with_an_unexpected_key_is_not_trusted() {
    let s = setup(KeyMode::PublicKey).await;
    // The client trusts a different key under the simulator's public key id.
    let stranger = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    let pem = rsa::pkcs8::EncodePublicKey::to_public_key_pem(
        &stranger.to_public_key(),
        rsa::pkcs8::LineEnding::LF,
    )
    .expect("pem");
    let c = Client::new(ClientConfig {
        base_url: s.sim.base_url().parse().expect("url"),
        mchid: MCHID.into(),
        serial_no: SERIAL.into(),
        private_key: ours(&s.merchant_key),
        apiv3_key: APIV3.as_bytes().to_vec(),
        public_key: Some((s.sim.keys().pub_key_id.clone(), pem)),
        platform_certificates: vec![],
    })
    .expect("client");
    let err = c
        .complaint("200201820200101080076610000")
        .await
        .expect_err("not trusted");
    assert!(
        matches!(
            err,
            PlatformError::Verify(wechatpay::VerifyError::BadSignature)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unknown_complaint_is_the_platforms_404() {
    let s = setup(KeyMode::PublicKey).await;
    let c = client(&s, &s.merchant_key, true);
    let err = c.complaint("nope").await.expect_err("404");
    assert_eq!(err.code(), Some("RESOURCE_NOT_EXISTS"));
}

#[tokio::test]
async fn complaints_are_listed_in_windows_of_at_most_30_days_page_by_page() {
    let s = setup(KeyMode::PublicKey).await;
    // A provider lists its sub-merchants' complaints.
    s.sim.add_sub_merchant(MCHID, "1900000201");
    s.sim.add_sub_merchant(MCHID, "1900000202");
    s.sim.add_complaint(json!({
        "complaint_id": "200201820200101080076610002",
        "complaint_time": "2026-11-20T09:00:00+08:00",
        "complaint_state": "PENDING",
        "complainted_mchid": "1900000202",
        "complaint_order_info": [],
    }));
    let c = client(&s, &s.merchant_key, true);
    let first = c
        .list_complaints("2026-11-01", "2026-11-30", 1, 0, None)
        .await
        .expect("page 1");
    let second = c
        .list_complaints("2026-11-01", "2026-11-30", 1, 1, None)
        .await
        .expect("page 2");
    assert_eq!(first.total_count, Some(2));
    assert_eq!(first.data.len(), 1);
    assert_eq!(second.data.len(), 1);
    assert_ne!(first.data[0].complaint_id, second.data[0].complaint_id);
    let one_sub = c
        .list_complaints("2026-11-01", "2026-11-30", 10, 0, Some("1900000202"))
        .await
        .expect("filtered");
    assert_eq!(one_sub.data.len(), 1);
    match c
        .list_complaints("2026-10-01", "2026-11-30", 10, 0, None)
        .await
    {
        Err(PlatformError::Api {
            status: 400, code, ..
        }) => assert_eq!(code, "PARAM_ERROR"),
        other => panic!("a 60-day window must be refused: {other:?}"),
    }
    let history = c
        .negotiation_history("200201820200101080076610000", 50, 0)
        .await
        .expect("history");
    assert_eq!(history.data[0].operate_type, "USER_CREATE_COMPLAINT");
}
