//! The WeChat server message push protocol (mini programs, official accounts, third-party
//! platforms): URL check, plaintext, compatible and safe modes.
//!
//! - URL check: `signature = sha1(sorted(token, timestamp, nonce).join(""))`, answer `echostr`.
//! - Safe mode: `msg_signature = sha1(sorted(token, timestamp, nonce, Encrypt).join(""))`;
//!   `Encrypt` is AES-256-CBC under `base64(EncodingAESKey + "=")`, IV = the key's first 16
//!   bytes, PKCS#7 with 32-byte blocks, plaintext `random(16) || len(4, big-endian) || msg ||
//!   appid`.
//! - Compatible mode carries plaintext fields and `Encrypt`: the encrypted copy is the one
//!   believed.
//! - Plaintext mode is signed by `signature` alone, which covers no body and never expires:
//!   anyone who saw one signed query (proxy logs keep query strings) could post any body with
//!   it. [`Crypto::open`] refuses plaintext unless the caller opts in ([`Plaintext::Allowed`]),
//!   and then only within a timestamp window; refusing a replayed (timestamp, nonce,
//!   signature) with another body needs storage and is the caller's part.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine;
use serde_json::Value;
use sha1::{Digest, Sha1};

type Dec = cbc::Decryptor<aes::Aes256>;
type Enc = cbc::Encryptor<aes::Aes256>;

/// Why a push was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("signature does not verify")]
    BadSignature,
    #[error("message is for appid {0}, not this one")]
    WrongAppid(String),
    #[error("malformed push: {0}")]
    Malformed(String),
    /// A plaintext push where only encrypted, signed ones are accepted.
    #[error("plaintext push where encryption is required")]
    PlaintextRefused,
    /// A plaintext push whose timestamp is outside the accepted window.
    #[error("plaintext push timestamp outside the accepted window")]
    Stale,
}

/// What [`Crypto::open`] accepts besides encrypted pushes whose `msg_signature` verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plaintext {
    /// Nothing else: `encrypt_type=aes` is required (third-party platforms always; manual mini
    /// programs unless they opted in).
    Refused,
    /// Plaintext too, when its `signature` verifies and its `timestamp` is within
    /// `window_secs` of `now` (Unix seconds).
    Allowed { now: i64, window_secs: i64 },
}

/// An opened push.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// The message (from the ciphertext when there is one).
    pub message: Value,
    /// It came in plaintext: its signature covers no body, so the caller must refuse a replayed
    /// (timestamp, nonce, signature) that carries another body.
    pub plaintext: bool,
}

fn sha1_sorted(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

/// `signature` of the URL check and of plaintext pushes.
pub fn url_signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sha1_sorted(&mut [token, timestamp, nonce])
}

/// `msg_signature` of an encrypted push.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sha1_sorted(&mut [token, timestamp, nonce, encrypt])
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y.to_ascii_lowercase()))
            == 0
}

/// The query parameters WeChat adds to a push.
#[derive(Debug, Clone, Default)]
pub struct PushQuery {
    pub signature: Option<String>,
    pub timestamp: String,
    pub nonce: String,
    pub encrypt_type: Option<String>,
    pub msg_signature: Option<String>,
    pub echostr: Option<String>,
}

impl PushQuery {
    /// The parameters of a push's raw query string (`None`: no query at all), URL-decoded;
    /// unknown parameters are ignored.
    pub fn from_query(raw: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        Self::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut q = PushQuery::default();
        for (k, v) in pairs {
            let v = v.to_string();
            match k {
                "signature" => q.signature = Some(v),
                "timestamp" => q.timestamp = v,
                "nonce" => q.nonce = v,
                "encrypt_type" => q.encrypt_type = Some(v),
                "msg_signature" => q.msg_signature = Some(v),
                "echostr" => q.echostr = Some(v),
                _ => {}
            }
        }
        q
    }
}

/// One app's message push settings: Token, EncodingAESKey (optional in plaintext mode) and the
/// appid the encrypted messages must name (a third-party platform's: its component appid).
pub struct Crypto {
    token: String,
    key: Option<[u8; 32]>,
    appid: String,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crypto({}, [redacted])", self.appid)
    }
}

/// `base64(EncodingAESKey + "=")`: 43 characters → 32 bytes. WeChat's keys are often not
/// canonical base64 (non-zero trailing bits, including the official sample), so decoding is
/// lenient about those bits.
pub fn aes_key(encoding_aes_key: &str) -> Result<[u8; 32], String> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if encoding_aes_key.len() != 43 {
        return Err("EncodingAESKey must be 43 characters".into());
    }
    LENIENT
        .decode(format!("{encoding_aes_key}="))
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| "EncodingAESKey is not base64 of 32 bytes".into())
}

impl Crypto {
    pub fn new(token: &str, encoding_aes_key: Option<&str>, appid: &str) -> Result<Self, String> {
        Ok(Self {
            token: token.to_string(),
            key: encoding_aes_key.map(aes_key).transpose()?,
            appid: appid.to_string(),
        })
    }

    /// The URL check (GET): the `echostr` to answer when the signature verifies.
    pub fn verify_url(&self, q: &PushQuery) -> Result<String, PushError> {
        let sig = q.signature.as_deref().ok_or(PushError::BadSignature)?;
        if !equal(&url_signature(&self.token, &q.timestamp, &q.nonce), sig) {
            return Err(PushError::BadSignature);
        }
        q.echostr
            .clone()
            .ok_or_else(|| PushError::Malformed("no echostr".into()))
    }

    /// Decrypt an `Encrypt` value; checks the trailing appid.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, PushError> {
        let key = self
            .key
            .ok_or_else(|| PushError::Malformed("encrypted push but no EncodingAESKey".into()))?;
        let mut buf = base64::engine::general_purpose::STANDARD
            .decode(encrypt.trim())
            .map_err(|_| PushError::Malformed("Encrypt is not base64".into()))?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(PushError::Malformed("Encrypt has a bad length".into()));
        }
        let iv: [u8; 16] = key[..16].try_into().expect("16 bytes");
        let plain = Dec::new(&key.into(), &iv.into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| PushError::Malformed("cannot decrypt".into()))?;
        let pad = *plain.last().unwrap_or(&0) as usize;
        if !(1..=32).contains(&pad) || pad > plain.len() {
            return Err(PushError::Malformed("bad padding".into()));
        }
        let body = &plain[..plain.len() - pad];
        if body.len() < 20 {
            return Err(PushError::Malformed("decrypted text too short".into()));
        }
        let len = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes")) as usize;
        if body.len() < 20 + len {
            return Err(PushError::Malformed("bad message length".into()));
        }
        let msg = std::str::from_utf8(&body[20..20 + len])
            .map_err(|_| PushError::Malformed("message is not UTF-8".into()))?;
        let appid = String::from_utf8_lossy(&body[20 + len..]).to_string();
        if appid != self.appid {
            return Err(PushError::WrongAppid(appid));
        }
        Ok(msg.to_string())
    }

    /// Encrypt a message (for encrypted replies and tests): base64 of the AES-CBC ciphertext.
    pub fn encrypt(&self, msg: &str) -> Result<String, String> {
        let key = self.key.ok_or("no EncodingAESKey")?;
        let mut plain = rand::random::<[u8; 16]>().to_vec();
        plain.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(self.appid.as_bytes());
        let pad = 32 - plain.len() % 32;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let len = plain.len();
        let iv: [u8; 16] = key[..16].try_into().expect("16 bytes");
        let out = Enc::new(&key.into(), &iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, len)
            .map_err(|_| "encrypt")?
            .to_vec();
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Verify and open a push (POST): safe or compatible mode (only the decrypted copy is
    /// read), or plaintext where `plaintext` allows it; XML or JSON body. The message as a JSON
    /// object (XML turned into JSON, see [`crate::xml`]).
    pub fn open(
        &self,
        q: &PushQuery,
        body: &[u8],
        plaintext: Plaintext,
    ) -> Result<Opened, PushError> {
        let text =
            std::str::from_utf8(body).map_err(|_| PushError::Malformed("not UTF-8".into()))?;
        let outer = parse(text)?;
        let encrypt = outer["Encrypt"].as_str().filter(|s| !s.is_empty());
        let aes = q.encrypt_type.as_deref() == Some("aes");
        match plaintext {
            Plaintext::Refused if !aes => return Err(PushError::PlaintextRefused),
            Plaintext::Allowed { now, window_secs } if !aes && encrypt.is_none() => {
                let sig = q.signature.as_deref().ok_or(PushError::BadSignature)?;
                if !equal(&url_signature(&self.token, &q.timestamp, &q.nonce), sig) {
                    return Err(PushError::BadSignature);
                }
                let ts: i64 = q.timestamp.trim().parse().map_err(|_| PushError::Stale)?;
                if now.abs_diff(ts) > window_secs.unsigned_abs() {
                    return Err(PushError::Stale);
                }
                return Ok(Opened {
                    message: outer,
                    plaintext: true,
                });
            }
            _ => {}
        }
        let encrypt = encrypt
            .ok_or_else(|| PushError::Malformed("encrypt_type=aes without Encrypt".into()))?;
        let sig = q.msg_signature.as_deref().ok_or(PushError::BadSignature)?;
        if !equal(
            &msg_signature(&self.token, &q.timestamp, &q.nonce, encrypt),
            sig,
        ) {
            return Err(PushError::BadSignature);
        }
        Ok(Opened {
            message: parse(&self.decrypt(encrypt)?)?,
            plaintext: false,
        })
    }
}

/// An XML or JSON message body as a JSON object, within [`crate::xml::LIMITS`] (size, depth,
/// element count), checked before anything is parsed.
pub fn parse(text: &str) -> Result<Value, PushError> {
    let malformed = |e: crate::xml::ParseError| PushError::Malformed(e.to_string());
    let t = text.trim_start();
    let v = if t.starts_with('<') {
        crate::xml::to_json(t).map_err(malformed)?
    } else {
        crate::xml::check_json(t, &crate::xml::LIMITS).map_err(malformed)?;
        serde_json::from_str(t).map_err(|e| PushError::Malformed(format!("JSON: {e}")))?
    };
    if !v.is_object() {
        return Err(PushError::Malformed("not an object".into()));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/fixtures/wxmsg/official_sample.json"
        );
        serde_json::from_str(&std::fs::read_to_string(p).expect("fixture")).expect("json")
    }

    #[test]
    fn official_sample_url_check_signature_and_decryption() {
        let f = fixture();
        let s = |k: &str| f[k].as_str().expect("test").to_string();
        assert_eq!(
            url_signature(&s("token"), &s("timestamp"), &s("nonce")),
            s("url_check_signature")
        );
        assert_eq!(
            msg_signature(&s("token"), &s("timestamp"), &s("nonce"), &s("encrypt")),
            s("msg_signature")
        );
        let c = Crypto::new(&s("token"), Some(&s("encoding_aes_key")), &s("appid")).expect("test");
        let plain = c.decrypt(&s("encrypt")).expect("test");
        assert!(plain.starts_with(&s("plaintext_starts_with")), "{plain}");
        let q = PushQuery {
            timestamp: s("timestamp"),
            nonce: s("nonce"),
            encrypt_type: Some("aes".into()),
            msg_signature: Some(s("msg_signature")),
            ..Default::default()
        };
        let body = format!(
            "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
            s("encrypt")
        );
        let opened = c
            .open(&q, body.as_bytes(), Plaintext::Refused)
            .expect("test");
        assert!(!opened.plaintext);
        let msg = opened.message;
        assert_eq!(msg["ToUserName"], "gh_10f6c3c3ac5a");
        // Another appid, another signature: refused.
        let other = Crypto::new(
            &s("token"),
            Some(&s("encoding_aes_key")),
            "wx0000000000000000",
        )
        .expect("test");
        assert_eq!(
            other.open(&q, body.as_bytes(), Plaintext::Refused),
            Err(PushError::WrongAppid(s("appid")))
        );
        let bad = PushQuery {
            msg_signature: Some("0".repeat(40)),
            ..q.clone()
        };
        assert_eq!(
            c.open(&bad, body.as_bytes(), Plaintext::Refused),
            Err(PushError::BadSignature)
        );
        let url = PushQuery {
            signature: Some(s("url_check_signature")),
            echostr: Some("hello".into()),
            ..q
        };
        assert_eq!(c.verify_url(&url).expect("test"), "hello");
    }

    #[test]
    fn round_trip_and_plaintext_mode() {
        let c = Crypto::new(
            "tok",
            Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
            "wx1",
        )
        .expect("test");
        for n in [0, 1, 11, 12, 31, 32, 33, 100] {
            let msg = "x".repeat(n);
            assert_eq!(
                c.decrypt(&c.encrypt(&msg).expect("test")).expect("test"),
                msg
            );
        }
        let q = PushQuery {
            signature: Some(url_signature("tok", "1000", "n")),
            timestamp: "1000".into(),
            nonce: "n".into(),
            ..Default::default()
        };
        let allowed = Plaintext::Allowed {
            now: 1000 + 900,
            window_secs: 900,
        };
        let v = c
            .open(&q, br#"{"MsgType":"event"}"#, allowed)
            .expect("test");
        assert!(v.plaintext);
        assert_eq!(v.message["MsgType"], "event");
        // Not opted in: refused, however well signed.
        assert_eq!(
            c.open(&q, br#"{"MsgType":"event"}"#, Plaintext::Refused),
            Err(PushError::PlaintextRefused)
        );
        // Outside the window, either side.
        for now in [1000 + 901, 1000 - 901] {
            assert_eq!(
                c.open(
                    &q,
                    br#"{"MsgType":"event"}"#,
                    Plaintext::Allowed {
                        now,
                        window_secs: 900
                    }
                ),
                Err(PushError::Stale)
            );
        }
        let wrong = PushQuery {
            signature: Some(url_signature("other", "1000", "n")),
            ..q.clone()
        };
        assert_eq!(
            c.open(&wrong, b"<xml><a>1</a></xml>", allowed),
            Err(PushError::BadSignature)
        );
        // A plaintext body under encrypt_type=aes is not let through on the plaintext rule.
        let aes = PushQuery {
            encrypt_type: Some("aes".into()),
            ..q
        };
        assert!(matches!(
            c.open(&aes, br#"{"MsgType":"event"}"#, allowed),
            Err(PushError::Malformed(_))
        ));
    }

    #[test]
    fn a_deeply_nested_body_is_malformed_not_a_crash() {
        let c = Crypto::new("tok", None, "wx1").expect("test");
        let q = PushQuery {
            signature: Some(url_signature("tok", "1", "n")),
            timestamp: "1".into(),
            nonce: "n".into(),
            ..Default::default()
        };
        let allowed = Plaintext::Allowed {
            now: 1,
            window_secs: 900,
        };
        for body in [
            format!("{}{}", "<a>".repeat(5_000), "</a>".repeat(5_000)),
            format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)),
        ] {
            assert!(matches!(
                c.open(&q, body.as_bytes(), allowed),
                Err(PushError::Malformed(_))
            ));
        }
    }
}
