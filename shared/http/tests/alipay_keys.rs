//! RSA keys as the credentials endpoint takes them (every form an operator may paste, the same
//! fingerprint for each), the keys it refuses, and an Alipay app's verifying key, which the
//! callback keeps parsed: a new key replaces it at once.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim};
use serde_json::json;

const APP_ID: &str = "2021000000000001";
const PATH: &str = "/callbacks/alipay/2021000000000001";

fn bare(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

async fn post(h: &Harness, msg: &[(String, String)]) -> (StatusCode, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(msg)
        .finish();
    let (s, b) = h
        .raw(
            Method::POST,
            PATH,
            None,
            Some(body),
            "application/x-www-form-urlencoded",
        )
        .await;
    (s, String::from_utf8_lossy(&b).into_owned())
}

async fn alipay_app(h: &Harness, sim: &AlipaySim) -> String {
    sim.add_app(sandbox::alipay::SimApp {
        app_id: APP_ID.into(),
        public_key: rsa_key().to_public_key(),
        app_cert_sn: None,
    });
    h.create(json!({"kind": "alipay_app", "name": "Alipay app",
                    "settings": {"app_id": APP_ID, "api_base_url": sim.gateway_url()},
                    "credentials": {"mode": "public_key", "app_private_key": private_pem(rsa_key()),
                                    "alipay_public_key": sim.keys().alipay_public_key_pem()}}))
        .await
}

#[tokio::test]
async fn keys_are_taken_in_every_form_with_one_fingerprint() {
    let h = harness();
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    let id = alipay_app(&h, &sim).await;
    let path = format!("/admin/v1/accounts/{id}/credentials");
    let key = second_rsa_key();
    let pkcs1 = key.to_pkcs1_pem(LineEnding::CRLF).expect("pem").to_string();
    let spki = public_pem(key);
    let pkcs1_public = key
        .to_public_key()
        .to_pkcs1_pem(LineEnding::LF)
        .expect("pem");
    for (private, public) in [
        (private_pem(key), spki.clone()),
        (pkcs1.clone(), pkcs1_public.clone()),
        (bare(&private_pem(key)), bare(&spki)),
        (bare(&pkcs1), bare(&pkcs1_public)),
    ] {
        let (s, status) = h
            .admin(
                Method::PUT,
                &path,
                Some(json!({"app_private_key": private, "alipay_public_key": public})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{status}");
        for field in ["app_private_key", "alipay_public_key"] {
            assert_eq!(
                status["fields"][field]["fingerprint"],
                spki_sha256(key),
                "{field}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_wrong_kind_and_small_keys_are_refused_by_field() {
    let h = harness();
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    let id = alipay_app(&h, &sim).await;
    let path = format!("/admin/v1/accounts/{id}/credentials");
    let small = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("keygen");
    let small_public = small
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let small_private = private_pem(&small);
    let cases = [
        (
            "app_private_key",
            "not a key".to_string(),
            "is not an RSA private key",
        ),
        (
            "app_private_key",
            public_pem(rsa_key()),
            "is not an RSA private key",
        ),
        (
            "app_private_key",
            small_private.clone(),
            "at least 2048 bits",
        ),
        (
            "alipay_public_key",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".to_string(),
            "is not an RSA public key",
        ),
        (
            "alipay_public_key",
            private_pem(rsa_key()),
            "is not an RSA public key",
        ),
        // A 1024-bit Alipay key was taken before; RSA2 keys are 2048-bit and the verifier
        // refuses smaller ones, so it is refused here, where the operator sees why.
        (
            "alipay_public_key",
            small_public.clone(),
            "at least 2048 bits",
        ),
    ];
    for (field, value, why) in cases {
        let (s, err) = h
            .admin(Method::PUT, &path, Some(json!({ field: value })))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(field) && text.contains(why),
            "{field}: {text}"
        );
        assert!(!text.contains("MII"), "no key material in {text}");
    }
    // Nothing was changed: the stored key still verifies the app's messages.
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100001"}),
    );
    assert_eq!(post(&h, &msg).await, (StatusCode::OK, "success".into()));
}

#[tokio::test]
async fn a_new_alipay_key_replaces_the_parsed_one_at_once() {
    let h = harness();
    let old = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    let id = alipay_app(&h, &old).await;
    let msg = |sim: &AlipaySim, n: &str| {
        sim.message(
            APP_ID,
            "alipay.merchant.tradecomplain.changed",
            &json!({"complain_event_id": format!("202405210000{n}")}),
        )
    };
    // The first message parses the key; the second is verified with the parsed one.
    assert_eq!(post(&h, &msg(&old, "1")).await.1, "success");
    assert_eq!(post(&h, &msg(&old, "2")).await.1, "success");
    // Alipay's key changes: messages signed with the old one are refused from now on.
    let new = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    let (s, status) = h
        .admin(
            Method::PUT,
            &format!("/admin/v1/accounts/{id}/credentials"),
            Some(json!({"alipay_public_key": new.keys().alipay_public_key_pem()})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(
        post(&h, &msg(&old, "3")).await,
        (StatusCode::BAD_REQUEST, "fail".into())
    );
    assert_eq!(post(&h, &msg(&new, "4")).await.1, "success");
    // And back: the first key is known again (its parsed form may be reused, never a stale one).
    let (s, _) = h
        .admin(
            Method::PUT,
            &format!("/admin/v1/accounts/{id}/credentials"),
            Some(json!({"alipay_public_key": old.keys().alipay_public_key_pem()})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        post(&h, &msg(&new, "5")).await,
        (StatusCode::BAD_REQUEST, "fail".into())
    );
    assert_eq!(post(&h, &msg(&old, "6")).await.1, "success");
}
