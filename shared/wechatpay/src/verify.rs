//! Verification of WeChat Pay responses and callbacks, in both key modes at once: platform
//! certificates (by certificate serial) and the WeChat Pay public key (by `PUB_KEY_ID_...`).

use base64::Engine;
use chrono::{DateTime, Utc};
use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier as _;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::RwLock;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

/// Signatures starting with this are WeChat Pay's probes: they must be rejected.
pub const PROBE_PREFIX: &str = "WECHATPAY/SIGNTEST/";

/// How far a `Wechatpay-Timestamp` may be from our clock.
pub const WINDOW_SECONDS: i64 = 300;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    /// A `WECHATPAY/SIGNTEST/` probe: reject it, raise no alarm.
    #[error("signature probe")]
    Probe,
    #[error("Wechatpay-Timestamp is not a number")]
    BadTimestamp,
    #[error("Wechatpay-Timestamp is {skew_seconds} s away from now (at most 300 s)")]
    Stale { skew_seconds: i64 },
    /// No key for this serial (download platform certificates once, then fail).
    #[error("no key for serial {0}")]
    UnknownSerial(String),
    #[error("the signature does not verify")]
    BadSignature,
}

/// The signature headers of a response or callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
    pub serial: String,
}

impl SignedHeaders {
    /// Read `Wechatpay-Timestamp`, `-Nonce`, `-Signature`, `-Serial` through `get` (which
    /// should match header names case-insensitively).
    pub fn read<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, VerifyError> {
        let h = |name: &'static str| {
            get(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
                .ok_or(VerifyError::MissingHeader(name))
        };
        Ok(Self {
            timestamp: h("Wechatpay-Timestamp")?,
            nonce: h("Wechatpay-Nonce")?,
            signature: h("Wechatpay-Signature")?,
            serial: h("Wechatpay-Serial")?,
        })
    }
}

/// Keys by serial: platform certificate serials (in WeChat Pay's form, see [`crate::serial`])
/// and `PUB_KEY_ID_...` ids.
#[derive(Default)]
pub struct Verifier {
    keys: RwLock<HashMap<String, VerifyingKey<Sha256>>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let serials: Vec<String> = self
            .keys
            .read()
            .map(|k| k.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("Verifier")
            .field("serials", &serials)
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("not a PEM public key")]
    PublicKey,
    #[error("not a PEM certificate with an RSA key")]
    Certificate,
}

/// A platform certificate's serial (as WeChat Pay writes it: upper-case hex of the number, no
/// leading zeros) and RSA public key.
pub fn certificate_key(pem: &str) -> Result<(String, RsaPublicKey), KeyError> {
    let der = pem_body(pem, "CERTIFICATE").ok_or(KeyError::Certificate)?;
    let cert = Certificate::from_der(&der).map_err(|_| KeyError::Certificate)?;
    let serial = crate::serial::from_der_integer(cert.tbs_certificate.serial_number.as_bytes());
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| KeyError::Certificate)?;
    let key = RsaPublicKey::from_public_key_der(&spki).map_err(|_| KeyError::Certificate)?;
    Ok((serial, key))
}

fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = pem[start..].find(&end)? + start;
    let b64: String = pem[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust the WeChat Pay public key with its id (`PUB_KEY_ID_...`).
    pub fn add_public_key(&self, id: &str, pem: &str) -> Result<(), KeyError> {
        let key = RsaPublicKey::from_public_key_pem(pem.trim()).map_err(|_| KeyError::PublicKey)?;
        self.insert(id.to_string(), key);
        Ok(())
    }

    /// Trust a platform certificate (its serial is read from it); the serial in WeChat Pay's
    /// form.
    pub fn add_certificate(&self, pem: &str) -> Result<String, KeyError> {
        let (serial, key) = certificate_key(pem)?;
        self.insert(serial.clone(), key);
        Ok(serial)
    }

    pub fn insert(&self, serial: String, key: RsaPublicKey) {
        self.keys.write().unwrap_or_else(|e| e.into_inner()).insert(
            crate::serial::key(&serial),
            VerifyingKey::<Sha256>::new(key),
        );
    }

    pub fn knows(&self, serial: &str) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&crate::serial::key(serial))
    }

    /// Check freshness, then the signature over `timestamp\nnonce\nbody\n` with the key the
    /// serial names. `body` is the raw bytes as received.
    pub fn verify(
        &self,
        h: &SignedHeaders,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        if h.signature.starts_with(PROBE_PREFIX) {
            return Err(VerifyError::Probe);
        }
        let ts: i64 = h.timestamp.parse().map_err(|_| VerifyError::BadTimestamp)?;
        let skew = (now.timestamp() - ts).abs();
        if skew >= WINDOW_SECONDS {
            return Err(VerifyError::Stale { skew_seconds: skew });
        }
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&h.signature)
            .ok()
            .and_then(|b| Signature::try_from(b.as_slice()).ok())
            .ok_or(VerifyError::BadSignature)?;
        let mut message = Vec::with_capacity(body.len() + 64);
        message.extend_from_slice(h.timestamp.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(h.nonce.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(body);
        message.push(b'\n');
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = keys
            .get(&crate::serial::key(&h.serial))
            .ok_or_else(|| VerifyError::UnknownSerial(h.serial.clone()))?;
        key.verify(&message, &sig)
            .map_err(|_| VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPrivateKey;
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};

    fn key() -> RsaPrivateKey {
        RsaPrivateKey::from_pkcs8_pem(include_str!("../tests/data/sign_test_key.pem")).expect("key")
    }

    fn signed(ts: i64, body: &str, serial: &str) -> SignedHeaders {
        let sig = crate::sign::sign(&key(), &format!("{ts}\nnonce-1\n{body}\n"));
        SignedHeaders {
            timestamp: ts.to_string(),
            nonce: "nonce-1".into(),
            signature: sig,
            serial: serial.into(),
        }
    }

    fn verifier() -> Verifier {
        let v = Verifier::new();
        let pem = key()
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem");
        v.add_public_key("PUB_KEY_ID_0114232134912410000000000000", &pem)
            .expect("key");
        v
    }

    #[test]
    fn accepts_a_fresh_signed_body_and_rejects_everything_else() {
        let v = verifier();
        let now = Utc::now();
        let body = r#"{"id":"EV-1","event_type":"COMPLAINT.CREATE"}"#;
        let id = "PUB_KEY_ID_0114232134912410000000000000";
        assert_eq!(
            v.verify(&signed(now.timestamp(), body, id), body.as_bytes(), now),
            Ok(())
        );
        // Tampered body, unknown serial, stale or future timestamps, probes.
        assert_eq!(
            v.verify(&signed(now.timestamp(), body, id), b"{}", now),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            v.verify(
                &signed(now.timestamp(), body, "5157F09EFDC096DE"),
                body.as_bytes(),
                now
            ),
            Err(VerifyError::UnknownSerial("5157F09EFDC096DE".into()))
        );
        let old = now.timestamp() - 301;
        assert_eq!(
            v.verify(&signed(old, body, id), body.as_bytes(), now),
            Err(VerifyError::Stale { skew_seconds: 301 })
        );
        let future = now.timestamp() + 400;
        assert!(matches!(
            v.verify(&signed(future, body, id), body.as_bytes(), now),
            Err(VerifyError::Stale { .. })
        ));
        let mut probe = signed(now.timestamp(), body, id);
        probe.signature = format!("{PROBE_PREFIX}{}", probe.signature);
        assert_eq!(
            v.verify(&probe, body.as_bytes(), now),
            Err(VerifyError::Probe)
        );
    }

    #[test]
    fn headers_are_required() {
        let got = SignedHeaders::read(|n| match n {
            "Wechatpay-Timestamp" => Some("1"),
            "Wechatpay-Nonce" => Some("n"),
            "Wechatpay-Signature" => Some(""),
            _ => None,
        });
        assert_eq!(got, Err(VerifyError::MissingHeader("Wechatpay-Signature")));
    }
}
