//! Alipay: messages (`notify::parse_form` on the urlencoded body, `notify::verify`, then
//! `biz_content` as JSON, as the callback handler reads them) and gateway answers
//! (`Client::verify_response`: the raw `*_response` text, `sign`, the JSON inside).

use crate::input::{line, mode};
use crate::keys::rsa;
use alipay::client::{Client, ClientConfig, KeyMode};
use alipay::notify::{MAX_FORM_FIELDS, Rule, parse_form, verify};
use alipay::response::{node, raw_value, string_field};
use serde_json::Value;
use std::sync::OnceLock;

fn public_key() -> &'static crypto::PublicKey {
    static K: OnceLock<crypto::PublicKey> = OnceLock::new();
    K.get_or_init(|| rsa().public_key().clone())
}

/// What the handler does with a body, up to the job it queues: the value of every parameter
/// it reads, and the message's `biz_content`.
fn receive(body: &[u8]) -> Option<(Rule, Vec<(String, String)>)> {
    let params = parse_form(body).ok()?;
    assert!(params.len() <= MAX_FORM_FIELDS);
    let rule = verify(&params, public_key())?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let _ = serde_json::from_str::<Value>(get("biz_content").unwrap_or_default());
    Some((rule, params))
}

/// Modes: 0 the raw body; 1 and 2 the input as a form whose parameters (without `sign`) are
/// signed by the test key under rule V1 or V2 and sent again, urlencoded.
pub fn alipay_notify(data: &[u8]) {
    let Some((m, rest)) = mode(data) else { return };
    if m % 3 == 0 {
        receive(rest);
        return;
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(rest)
        .into_owned()
        .filter(|(k, _)| k != "sign")
        .take(MAX_FORM_FIELDS - 1)
        .collect();
    let exclude: &[&str] = if m % 3 == 1 { &["sign_type"] } else { &[] };
    let content = alipay::sign::sign_content(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        exclude,
    );
    let sign = alipay::sign::sign(rsa(), &content)
        .unwrap_or_else(|e| panic!("the built-in test key: {e}"));
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &params {
        body.append_pair(k, v);
    }
    body.append_pair("sign", &sign);
    let body = body.finish();
    let Some((rule, got)) = receive(body.as_bytes()) else {
        // A message we signed is refused only where the form itself is refused.
        assert!(
            parse_form(body.as_bytes()).is_err(),
            "a signed message did not verify"
        );
        return;
    };
    if m % 3 == 1 {
        assert_eq!(rule, Rule::V1);
    }
    // What the handler reads (the first of each name) is what the signature covers (the
    // last of each name): a name that comes twice must not pass.
    for (k, v) in &got {
        let first = got.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(first, Some(v.as_str()), "{k} read unsigned");
    }
}

fn client() -> &'static Client {
    static C: OnceLock<Client> = OnceLock::new();
    C.get_or_init(|| {
        Client::new(ClientConfig {
            gateway: url::Url::parse("https://openapi.alipay.com/gateway.do")
                .unwrap_or_else(|e| panic!("the built-in gateway URL: {e}")),
            app_id: "2021000000000000".into(),
            private_key: rsa().clone(),
            mode: KeyMode::PublicKey(public_key().clone()),
        })
    })
}

const METHOD: &str = "alipay.merchant.tradecomplain.query";

/// Modes: 0 the raw answer (a method name, `\n`, the body); 1 the input as the text of a
/// `*_response` value that the test key signs, in a body laid out as the gateway does.
pub fn alipay_response(data: &[u8]) {
    let Some((m, rest)) = mode(data) else { return };
    if m % 2 == 0 {
        let (method, body) = line(rest);
        let (Ok(method), Ok(body)) = (std::str::from_utf8(method), std::str::from_utf8(body))
        else {
            return;
        };
        for key in [
            node(method).as_str(),
            "error_response",
            "sign",
            "alipay_cert_sn",
        ] {
            if let Some(raw) = raw_value(body, key) {
                // A slice of the body that is one whole object or string.
                assert!(body.contains(raw));
                assert!(raw.starts_with('{') || raw.starts_with('"'));
                assert!(raw.ends_with('}') || raw.ends_with('"'));
                assert!(raw.len() >= 2);
            }
            let _ = string_field(body, key);
        }
        let _ = client().verify_response(method, body);
        return;
    }
    let Ok(inner) = std::str::from_utf8(rest) else {
        return;
    };
    // The value's text: whitespace around it belongs to the body, not to what is signed.
    let inner = inner.trim_matches([' ', '\t', '\n', '\r']);
    let Ok(Value::Object(expected)) = serde_json::from_str::<Value>(inner) else {
        return;
    };
    let sign =
        alipay::sign::sign(rsa(), inner).unwrap_or_else(|e| panic!("the built-in test key: {e}"));
    let escaped = sign.replace('/', "\\/");
    let body = if m & 2 == 0 {
        format!(
            "{{\"{}\":{inner},\"alipay_cert_sn\":\"fuzz\",\"sign\":\"{escaped}\"}}",
            node(METHOD)
        )
    } else {
        format!("{{\"sign\":\"{escaped}\",\"{}\":{inner}}}", node(METHOD))
    };
    match client().verify_response(METHOD, &body) {
        Ok(v) => {
            assert_eq!(v, Value::Object(expected.clone()));
            assert_eq!(v["code"].as_str(), Some("10000"));
        }
        Err(alipay::client::AlipayError::Api { code, .. }) => {
            assert_ne!(expected.get("code").and_then(Value::as_str), Some("10000"));
            assert_eq!(
                code,
                expected
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
        }
        Err(e) => panic!("a signed answer was refused: {e}"),
    }
}
