//! Interop with an independent peer: wechatpayv3 from PyPI (installed into `.venv-test` by
//! `./scripts/test`). Its `Core.callback` accepts callbacks our simulator built (in each key
//! mode); our verifier and decryption accept a callback built with its primitives; our
//! Authorization header carries the same fields and values as the one it builds for the same
//! time and nonce.

use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use sandbox::wechatpay::{KeyMode, PlatformKeys, WechatPaySim};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use wechatpay::notify::Envelope;
use wechatpay::{MerchantSigner, SignedHeaders, Verifier};

const MCHID: &str = "1900000109";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";

/// Run the peer with one JSON request; its JSON answer.
fn peer(req: Value) -> Value {
    sandbox::peer::run("peer_wechatpayv3.py", &req)
}

fn merchant_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen"))
}

fn pem(key: &RsaPrivateKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string()
}

fn headers(n: &sandbox::wechatpay::Notification) -> Value {
    n.headers
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[tokio::test]
async fn wechatpayv3_accepts_our_simulators_callbacks_in_each_key_mode() {
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    let plaintext =
        json!({"complaint_id": "200201820200101080076610000", "action_type": "CREATE_COMPLAINT"});
    for mode in [KeyMode::PublicKey, KeyMode::Certificate] {
        let n = sim.notification(APIV3, "COMPLAINT.CREATE", "complaint", &plaintext, mode, 0);
        let mut req = json!({
            "op": "accept-callback", "mchid": MCHID, "serial_no": SERIAL,
            "private_key_pem": pem(merchant_key()), "apiv3_key": APIV3,
            "headers": headers(&n), "body": n.body,
        });
        match mode {
            KeyMode::PublicKey => {
                req["public_key_pem"] = json!(sim.keys().public_key_pem());
                req["public_key_id"] = json!(sim.keys().pub_key_id);
            }
            KeyMode::Certificate => {
                req["certificate_pem"] = json!(sim.keys().cert_pem);
                req["certificate_serial"] = json!(sim.keys().cert_serial);
            }
        }
        let answer = peer(req.clone());
        assert_eq!(answer["accepted"], true, "{mode:?}: {answer}");
        assert_eq!(answer["result"]["resource"], plaintext, "{mode:?}");
        assert_eq!(answer["result"]["event_type"], "COMPLAINT.CREATE");

        // The peer is not a rubber stamp: a changed body is refused.
        let mut tampered = req;
        tampered["body"] = json!(n.body.replace("COMPLAINT.CREATE", "COMPLAINT.STATE_CHANGE"));
        assert_eq!(peer(tampered)["accepted"], false, "{mode:?}");
    }
}

#[test]
fn we_accept_a_callback_built_with_the_peers_primitives() {
    let keys = PlatformKeys::generate();
    let plaintext =
        json!({"complaint_id": "200201820200101080076610001", "action_type": "USER_RESPONSE"});
    let built = peer(json!({
        "op": "build-callback", "platform_private_key_pem": pem(&keys.pub_key),
        "serial": keys.pub_key_id, "apiv3_key": APIV3, "plaintext": plaintext,
        "event_type": "COMPLAINT.STATE_CHANGE",
    }));
    let body = built["body"].as_str().expect("body");
    let h = &built["headers"];
    let signed = SignedHeaders::read(|name| h[name].as_str()).expect("headers");
    let verifier = Verifier::new();
    verifier
        .add_public_key(&keys.pub_key_id, &keys.public_key_pem())
        .expect("public key");
    verifier
        .verify(&signed, body.as_bytes(), chrono::Utc::now())
        .expect("our verifier accepts the peer's signature");
    let envelope = Envelope::parse(body.as_bytes()).expect("envelope");
    let decrypted = envelope.decrypt(APIV3.as_bytes()).expect("decrypt");
    assert_eq!(
        serde_json::from_str::<Value>(&decrypted).expect("json"),
        plaintext
    );
    // And a wrong key fails, so the check above means something.
    assert!(
        envelope
            .decrypt(b"ZYXWVUTSRQPONMLKJIHGFEDCBA987654")
            .is_err()
    );
}

fn fields(header: &str) -> BTreeMap<String, String> {
    let (scheme, rest) = header.split_once(' ').expect("scheme");
    let mut m: BTreeMap<String, String> = rest
        .split(',')
        .map(|kv| {
            let (k, v) = kv.trim().split_once('=').expect("k=v");
            (k.to_string(), v.trim_matches('"').to_string())
        })
        .collect();
    m.insert("scheme".into(), scheme.into());
    m
}

#[test]
fn our_authorization_header_matches_the_peers() {
    let key = wechatpay::PrivateKey::parse(&pem(merchant_key())).expect("our key");
    let signer = MerchantSigner::new(MCHID, SERIAL, key);
    for (method, path, body) in [
        (
            "GET",
            "/v3/merchant-service/complaints-v2?limit=50&offset=0&begin_date=2026-11-01&end_date=2026-11-22",
            "",
        ),
        (
            "POST",
            "/v3/merchant-service/complaints-v2/200201820200101080076610000/response",
            r#"{"complainted_mchid":"1900000201","response_content":"您好，已为您退款"}"#,
        ),
    ] {
        let ours = signer
            .authorization(
                method,
                path,
                1_763_800_000,
                "593BEC0C930BF1AFEB40B4A08C8FB242",
                body,
            )
            .expect("sign");
        let theirs = peer(json!({
            "op": "authorization", "path": path, "method": method, "mchid": MCHID,
            "serial_no": SERIAL, "private_key_pem": pem(merchant_key()), "body": body,
            "timestamp": 1_763_800_000, "nonce": "593BEC0C930BF1AFEB40B4A08C8FB242",
        }));
        let theirs = theirs["authorization"].as_str().expect("header");
        // Same scheme, fields and values (the two order the fields differently, which the
        // platform ignores).
        assert_eq!(fields(&ours), fields(theirs), "{method} {path}");
    }
}
