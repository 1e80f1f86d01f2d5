//! Interop with an independent peer: python-alipay-sdk (PyPI, installed into `.venv-test` by
//! `./scripts/test`). Our request signature equals its `sign_data` for the same parameters; it
//! verifies a message we signed (V1 rule) and we verify one it signed; our certificate SNs equal
//! its `app_cert_sn` / `alipay_root_cert_sn` for Alipay's published files.

use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

fn peer(req: &Value) -> Value {
    sandbox::peer::run("peer_alipay.py", req)
}

fn pems(key: &RsaPrivateKey) -> (String, String) {
    (
        key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
        key.to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem"),
    )
}

#[test]
fn request_signatures_and_message_verification_agree_with_the_peer() {
    let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("keygen");
    let (private, public) = pems(&key);
    // Our keys, parsed from the same PEM texts the peer reads.
    let our_key = crypto::PrivateKey::parse(&private).expect("our private key");
    let our_public = crypto::PublicKey::parse(&public).expect("our public key");
    let params = [
        ("app_id", "2021000000000001"),
        ("method", "alipay.merchant.tradecomplain.query"),
        ("format", "JSON"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("timestamp", "2026-11-22 10:00:00"),
        ("version", "1.0"),
        (
            "biz_content",
            r#"{"complain_event_id":"2024052100001","memo":"投诉 & 退款"}"#,
        ),
    ];
    let ours =
        alipay::sign::sign(&our_key, &alipay::sign::sign_content(params, &[])).expect("sign");
    let map: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let theirs = peer(
        &json!({"op": "sign", "app_private_key": private, "app_public_key": public, "params": map}),
    );
    assert_eq!(
        theirs["sign"].as_str(),
        Some(ours.as_str()),
        "PKCS#1 v1.5 is deterministic: equal signatures"
    );

    // A message signed by us with the V1 rule, verified by the peer (and a changed one refused).
    let msg = [
        ("msg_method", "alipay.merchant.tradecomplain.changed"),
        ("app_id", "2021000000000001"),
        ("biz_content", r#"{"complain_event_id":"2024052100001"}"#),
        ("notify_id", "n-0001"),
        ("sign_type", "RSA2"),
    ];
    let sign = alipay::sign::sign(&our_key, &alipay::sign::sign_content(msg, &["sign_type"]))
        .expect("sign");
    let mut m: serde_json::Map<String, Value> =
        msg.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    m.insert("sign".into(), json!(sign));
    let v = peer(
        &json!({"op": "verify", "app_private_key": private, "alipay_public_key": public, "params": m.clone()}),
    );
    assert_eq!(v["verified"], true);
    m.insert("notify_id".into(), json!("n-0002"));
    let v = peer(
        &json!({"op": "verify", "app_private_key": private, "alipay_public_key": public, "params": m}),
    );
    assert_eq!(v["verified"], false);

    // And a message the peer signed is accepted by our verifier (V1).
    let peer_signed = peer(
        &json!({"op": "sign", "app_private_key": private, "app_public_key": public,
                                   "params": msg.iter().filter(|(k, _)| *k != "sign_type").map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()}),
    );
    let mut form: Vec<(String, String)> = msg
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    form.push((
        "sign".into(),
        peer_signed["sign"].as_str().expect("sign").to_string(),
    ));
    assert_eq!(
        alipay::notify::verify(&form, &our_public),
        Some(alipay::notify::Rule::V1)
    );
}

#[test]
fn certificate_sns_agree_with_the_peer() {
    let app = include_str!("data/appPublicCert.crt");
    let root = include_str!("data/alipayRootCert.crt");
    let theirs = peer(&json!({"op": "cert-sns", "app_cert": app, "root_cert": root}));
    assert_eq!(
        theirs["app_cert_sn"].as_str(),
        Some(alipay::cert::first_cert_sn(app).expect("ours").as_str())
    );
    assert_eq!(
        theirs["alipay_root_cert_sn"].as_str(),
        Some(alipay::cert::root_cert_sn(root).expect("ours").as_str())
    );
}
