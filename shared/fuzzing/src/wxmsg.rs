//! Message pushes (mini programs, third-party platforms): `PushQuery::from_query` on the raw
//! query string and `Crypto::open` on the body, as the callback handlers call them.

use crate::input::{line, mode};
use crate::keys::{NOW, WX_AES_KEY, WX_APPID, WX_TOKEN};
use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine;
use std::sync::OnceLock;
use wechat::crypt::{
    Crypto, Opened, Plaintext, PushError, PushQuery, msg_signature, parse, url_signature,
};

/// The window the server uses by default (15 minutes).
const WINDOW: i64 = 900;
const TIMESTAMP: &str = "1764000000";
const NONCE: &str = "fuzznonce";

fn crypto() -> &'static Crypto {
    static C: OnceLock<Crypto> = OnceLock::new();
    C.get_or_init(|| {
        Crypto::new(WX_TOKEN, Some(WX_AES_KEY), WX_APPID)
            .unwrap_or_else(|e| panic!("the built-in test key: {e}"))
    })
}

fn allowed() -> Plaintext {
    Plaintext::Allowed {
        now: NOW,
        window_secs: WINDOW,
    }
}

fn same_ignoring_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// What any open must satisfy, whatever came in: a plaintext push only where allowed, with a
/// signature by our Token and a timestamp in the window; an encrypted one signed over its
/// ciphertext by our Token; the message always an object.
fn check_opened(q: &PushQuery, body: &[u8], rule: Plaintext, got: &Result<Opened, PushError>) {
    let Ok(o) = got else { return };
    assert!(o.message.is_object());
    if o.plaintext {
        assert!(
            matches!(rule, Plaintext::Allowed { .. }),
            "plaintext let through"
        );
        assert_ne!(q.encrypt_type.as_deref(), Some("aes"));
        let sig = q.signature.as_deref().unwrap_or_default();
        assert!(same_ignoring_case(
            &url_signature(WX_TOKEN, &q.timestamp, &q.nonce),
            sig
        ));
        let ts: i64 = q.timestamp.trim().parse().unwrap_or(i64::MIN);
        assert!(
            NOW.abs_diff(ts) <= WINDOW.unsigned_abs(),
            "stale plaintext accepted"
        );
    } else {
        let text = std::str::from_utf8(body).unwrap_or_default();
        let outer = parse(text).unwrap_or_default();
        let encrypt = outer["Encrypt"].as_str().unwrap_or_default();
        let sig = q.msg_signature.as_deref().unwrap_or_default();
        assert!(!encrypt.is_empty(), "opened without a ciphertext");
        assert!(same_ignoring_case(
            &msg_signature(WX_TOKEN, &q.timestamp, &q.nonce, encrypt),
            sig
        ));
    }
}

/// The raw wire: the query string, `\n`, the body.
fn raw(data: &[u8], rule: Plaintext) {
    let (query, body) = line(data);
    let query = String::from_utf8_lossy(query);
    let q = PushQuery::from_query(Some(&query));
    let got = crypto().open(&q, body, rule);
    check_opened(&q, body, rule, &got);
    // The URL check on the same query.
    if let Ok(echo) = crypto().verify_url(&q) {
        assert_eq!(Some(echo), q.echostr);
    }
}

/// An encrypted push of `inner`, signed, in an outer body: XML or JSON, with the plaintext
/// fields of compatible mode (`fields`, XML elements or JSON members) before `Encrypt`.
fn envelope(inner: &str, fields: &str, json: bool) -> (PushQuery, String, String) {
    let encrypt = crypto()
        .encrypt(inner)
        .unwrap_or_else(|e| panic!("encrypt: {e}"));
    let body = if json {
        let sep = if fields.is_empty() { "" } else { "," };
        format!("{{{fields}{sep}\"Encrypt\":\"{encrypt}\"}}")
    } else {
        format!("<xml>{fields}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    };
    let q = PushQuery {
        timestamp: TIMESTAMP.into(),
        nonce: NONCE.into(),
        encrypt_type: Some("aes".into()),
        msg_signature: Some(msg_signature(WX_TOKEN, TIMESTAMP, NONCE, &encrypt)),
        ..Default::default()
    };
    (q, body, encrypt)
}

/// A signed, encrypted push opens to exactly its inner message, or fails as that message
/// would fail to parse.
fn sealed(inner: &str, fields: &str, json: bool, rule: Plaintext) {
    let (q, body, encrypt) = envelope(inner, fields, json);
    let got = crypto().open(&q, body.as_bytes(), rule);
    check_opened(&q, body.as_bytes(), rule, &got);
    let outer_ok = parse(&body).is_ok_and(|o| o["Encrypt"] == encrypt.as_str());
    match (&got, parse(inner)) {
        (Ok(o), Ok(expected)) => {
            assert!(!o.plaintext);
            assert_eq!(
                o.message, expected,
                "the encrypted copy is the one believed"
            );
        }
        (Ok(o), Err(e)) => panic!("opened {} although the message is {e}", o.message),
        (Err(e), Ok(_)) if outer_ok => panic!("a well-formed signed push refused: {e}"),
        (Err(_), _) => {}
    }
}

/// `AES-CBC(random(16) || len || msg || appid || padding)` with `data` (zero-extended to whole
/// blocks) as the whole decrypted layout: decrypting never panics, and what opens is exactly
/// the message the layout holds, followed by our appid and valid padding.
fn layout(data: &[u8]) {
    let Ok(key) = wechat::crypt::aes_key(WX_AES_KEY) else {
        return;
    };
    let mut plain = data.to_vec();
    plain.resize(data.len().div_ceil(16).max(1) * 16, 0);
    let copy = plain.clone();
    let len = plain.len();
    let iv: [u8; 16] = key[..16].try_into().unwrap_or_default();
    let Ok(ct) = cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut plain, len)
        .map(|c| c.to_vec())
    else {
        return;
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(ct);
    if let Ok(msg) = crypto().decrypt(&b64) {
        let pad = usize::from(copy[len - 1]);
        assert!((1..=32).contains(&pad), "padding {pad} accepted");
        let body = &copy[..len - pad];
        let n = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
        assert_eq!(msg.as_bytes(), &body[20..20 + n]);
        assert_eq!(&body[20 + n..], WX_APPID.as_bytes());
    }
}

/// Plaintext mode: the raw wire (allowed), or a body under a valid plaintext signature.
pub fn wxmsg_plaintext(data: &[u8]) {
    let Some((m, rest)) = mode(data) else { return };
    match m % 2 {
        0 => raw(rest, allowed()),
        _ => {
            let q = PushQuery {
                signature: Some(url_signature(WX_TOKEN, TIMESTAMP, NONCE)),
                timestamp: TIMESTAMP.into(),
                nonce: NONCE.into(),
                ..Default::default()
            };
            let got = crypto().open(&q, rest, allowed());
            check_opened(&q, rest, allowed(), &got);
            let Ok(text) = std::str::from_utf8(rest) else {
                assert!(got.is_err());
                return;
            };
            let parsed = parse(text);
            let ciphertext = parsed
                .as_ref()
                .is_ok_and(|v| v["Encrypt"].as_str().is_some_and(|s| !s.is_empty()));
            match (&got, parsed) {
                (Ok(o), Ok(v)) if !ciphertext => {
                    assert!(o.plaintext);
                    assert_eq!(o.message, v);
                }
                (Err(e), Ok(_)) if !ciphertext => panic!("a signed plaintext push refused: {e}"),
                (Ok(_), Err(e)) => panic!("opened a body that does not parse: {e}"),
                _ => {}
            }
            // Refused where plaintext is not opted in, however well signed (a body that does
            // not even parse is refused as malformed first).
            let refused = crypto().open(&q, rest, Plaintext::Refused);
            match refused {
                Err(PushError::PlaintextRefused) => {}
                Err(PushError::Malformed(_)) if got.is_err() => {}
                other => panic!("a plaintext push where it is refused: {other:?}"),
            }
        }
    }
}

/// Compatible mode: plaintext fields from the input next to the encrypted message.
pub fn wxmsg_compatible(data: &[u8]) {
    let Some((m, rest)) = mode(data) else { return };
    let (fields, inner) = line(rest);
    let fields = String::from_utf8_lossy(fields);
    let inner = String::from_utf8_lossy(inner);
    let rule = if m & 2 == 0 {
        Plaintext::Refused
    } else {
        allowed()
    };
    match m % 4 {
        0 | 2 => sealed(&inner, &fields, false, rule),
        _ => sealed(&inner, &fields, true, rule),
    }
}

/// Safe mode: the raw wire (encryption required), a signed encrypted message from the input,
/// or the input as the decrypted layout.
pub fn wxmsg_safe(data: &[u8]) {
    let Some((m, rest)) = mode(data) else { return };
    match m % 4 {
        0 => raw(rest, Plaintext::Refused),
        1 => sealed(
            &String::from_utf8_lossy(rest),
            "",
            false,
            Plaintext::Refused,
        ),
        2 => sealed(&String::from_utf8_lossy(rest), "", true, Plaintext::Refused),
        _ => layout(rest),
    }
}
