//! WeChat Pay notifications, in the order the callback handler takes them: signature headers,
//! `Verifier::verify` over the raw body, `Envelope::parse`, the event type, `Envelope::decrypt`
//! (AEAD_AES_256_GCM with the API v3 key), the resource as JSON, then the worker's models.

use crate::input::{line, mode};
use crate::keys::{APIV3_KEY, NOW, WECHATPAY_KEY_ID, now};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::OnceLock;
use wechatpay::notify::Envelope;
use wechatpay::{SignedHeaders, Verifier, VerifyError};

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let v = Verifier::new();
        v.insert(
            WECHATPAY_KEY_ID.to_string(),
            crate::keys::rsa().public_key().clone(),
        );
        v
    })
}

/// How far a notification got.
#[derive(Debug, PartialEq)]
enum Reached {
    Headers,
    Verified,
    Parsed,
    Decrypted,
    Resource(Value),
}

/// The callback's path for `/complaints` (`COMPLAINT.`), `/violations` or `/refunds`, and the
/// worker's reading of the resource.
fn handle(get: &dyn Fn(&str) -> Option<String>, body: &[u8], prefix: &str) -> Reached {
    let values: Vec<(String, Option<String>)> = [
        "Wechatpay-Timestamp",
        "Wechatpay-Nonce",
        "Wechatpay-Signature",
        "Wechatpay-Serial",
    ]
    .iter()
    .map(|n| (n.to_string(), get(n)))
    .collect();
    let lookup = |n: &str| {
        values
            .iter()
            .find(|(k, _)| k == n)
            .and_then(|(_, v)| v.as_deref())
    };
    let Ok(h) = SignedHeaders::read(lookup) else {
        return Reached::Headers;
    };
    match verifier().verify(&h, body, now()) {
        Ok(()) => {
            // Only the test key signs, and only fresh timestamps pass.
            assert!(!h.signature.starts_with(wechatpay::verify::PROBE_PREFIX));
            let ts: i64 = h.timestamp.parse().unwrap_or(i64::MIN);
            assert!((NOW - ts).abs() < wechatpay::verify::WINDOW_SECONDS);
        }
        Err(VerifyError::Probe | VerifyError::BadTimestamp | VerifyError::Stale { .. }) => {
            return Reached::Headers;
        }
        Err(_) => return Reached::Headers,
    }
    let Ok(envelope) = Envelope::parse(body) else {
        return Reached::Verified;
    };
    if !envelope.event_type.starts_with(prefix) {
        return Reached::Parsed;
    }
    let Ok(plaintext) = envelope.decrypt(APIV3_KEY) else {
        return Reached::Parsed;
    };
    let Ok(resource) = serde_json::from_str::<Value>(&plaintext) else {
        return Reached::Decrypted;
    };
    // The worker: complaint and violation notices into their models, refund results by field.
    match prefix {
        "COMPLAINT." => {
            if let Ok(n) =
                serde_json::from_value::<wechatpay::model::ComplaintNotice>(resource.clone())
                && let Ok(id) = wechatpay::ids::complaint_id(&n.complaint_id)
            {
                assert!(
                    id.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                    "complaint id {id:?} would go into a URL path"
                );
            }
        }
        "VIOLATION." => {
            let _ = serde_json::from_value::<wechatpay::model::ViolationNotice>(resource.clone());
        }
        _ => {
            let _ = resource["out_refund_no"].as_str();
            let _ = resource["refund_status"].as_str();
        }
    }
    Reached::Resource(resource)
}

const PREFIXES: [&str; 3] = ["COMPLAINT.", "VIOLATION.", "REFUND."];

fn sign(ts: &str, nonce: &str, body: &[u8]) -> String {
    let mut message = format!("{ts}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    // The platform signs bytes; the crate's signer takes text, so sign the bytes directly.
    let sig = crate::keys::rsa()
        .sign_sha256(&message)
        .unwrap_or_else(|e| panic!("the built-in test key: {e}"));
    base64::engine::general_purpose::STANDARD.encode(sig)
}

/// Headers of a body signed now by the test key.
fn signed_headers(body: &[u8]) -> impl Fn(&str) -> Option<String> {
    let ts = NOW.to_string();
    let nonce = "fuzznonce".to_string();
    let sig = sign(&ts, &nonce, body);
    move |n: &str| match n {
        "Wechatpay-Timestamp" => Some(ts.clone()),
        "Wechatpay-Nonce" => Some(nonce.clone()),
        "Wechatpay-Signature" => Some(sig.clone()),
        "Wechatpay-Serial" => Some(WECHATPAY_KEY_ID.to_string()),
        _ => None,
    }
}

/// Modes: 0 the raw wire (timestamp, nonce, signature, serial, each a line, then the body);
/// 1 the body signed by the test key; 2 the resource plaintext, encrypted with the API v3 key
/// into an envelope that is then signed.
pub fn wechatpay_notify(data: &[u8]) {
    let Some((m, rest)) = mode(data) else { return };
    let prefix = PREFIXES[usize::from(m / 4) % 3];
    match m % 4 {
        0 => {
            let (ts, rest) = line(rest);
            let (nonce, rest) = line(rest);
            let (sig, rest) = line(rest);
            let (serial, body) = line(rest);
            let text = |b: &[u8]| Some(String::from_utf8_lossy(b).into_owned());
            let (ts, nonce, sig, serial) = (text(ts), text(nonce), text(sig), text(serial));
            let get = move |n: &str| match n {
                "Wechatpay-Timestamp" => ts.clone(),
                "Wechatpay-Nonce" => nonce.clone(),
                "Wechatpay-Signature" => sig.clone(),
                "Wechatpay-Serial" => serial.clone(),
                _ => None,
            };
            handle(&get, body, prefix);
        }
        1 => {
            let got = handle(&signed_headers(rest), rest, prefix);
            assert_ne!(
                got,
                Reached::Headers,
                "a body signed by the test key was refused"
            );
        }
        _ => {
            let nonce = "fuzznonce012";
            let associated = "transaction";
            let Ok(ct) = Aes256Gcm::new(APIV3_KEY.into()).encrypt(
                Nonce::from_slice(nonce.as_bytes()),
                Payload {
                    msg: rest,
                    aad: associated.as_bytes(),
                },
            ) else {
                return;
            };
            let envelope = json!({
                "id": "EV-fuzz",
                "create_time": "2025-11-24T16:00:00+08:00",
                "resource_type": "encrypt-resource",
                "event_type": format!("{prefix}FUZZ"),
                "summary": "fuzz",
                "resource": {
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64::engine::general_purpose::STANDARD.encode(ct),
                    "nonce": nonce,
                    "associated_data": associated,
                    "original_type": "fuzz",
                },
            });
            let body = envelope.to_string().into_bytes();
            let got = handle(&signed_headers(&body), &body, prefix);
            match (
                std::str::from_utf8(rest).map(serde_json::from_str::<Value>),
                got,
            ) {
                (Ok(Ok(v)), Reached::Resource(r)) => assert_eq!(v, r),
                (Ok(Ok(_)), other) => panic!("a sealed JSON resource stopped at {other:?}"),
                (Ok(Err(_)), got) => assert_eq!(got, Reached::Decrypted),
                (Err(_), got) => assert_eq!(got, Reached::Parsed, "non-UTF-8 plaintext"),
            }
        }
    }
}
