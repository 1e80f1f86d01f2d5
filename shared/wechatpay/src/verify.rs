//! Verification of WeChat Pay responses and callbacks, in both key modes at once: platform
//! certificates (by certificate serial) and the WeChat Pay public key (by `PUB_KEY_ID_...`).

use base64::Engine;
use chrono::{DateTime, Utc};
use crypto::PublicKey;
use std::collections::HashMap;
use std::sync::RwLock;
use x509_cert::Certificate;
use x509_cert::der::Decode;

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
/// and `PUB_KEY_ID_...` ids. Keys are parsed when added; verifying reads no PEM or DER.
#[derive(Default)]
pub struct Verifier {
    keys: RwLock<HashMap<String, PublicKey>>,
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
    /// WeChat Pay's keys are 2048-bit (`SHA256-RSA2048`).
    #[error("an RSA key of fewer than 2048 bits")]
    TooSmall,
}

impl KeyError {
    fn from_crypto(e: crypto::KeyError, otherwise: KeyError) -> KeyError {
        match e {
            crypto::KeyError::TooSmall => KeyError::TooSmall,
            _ => otherwise,
        }
    }
}

/// A platform certificate's serial (as WeChat Pay writes it: upper-case hex of the number, no
/// leading zeros) and RSA public key.
pub fn certificate_key(pem: &str) -> Result<(String, PublicKey), KeyError> {
    let der = crypto::pem::blocks(pem, "CERTIFICATE")
        .and_then(|b| b.into_iter().next())
        .ok_or(KeyError::Certificate)?;
    let cert = Certificate::from_der(&der).map_err(|_| KeyError::Certificate)?;
    let serial = crate::serial::from_der_integer(cert.tbs_certificate.serial_number.as_bytes());
    let key = PublicKey::from_certificate(&cert)
        .map_err(|e| KeyError::from_crypto(e, KeyError::Certificate))?;
    Ok((serial, key))
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust the WeChat Pay public key with its id (`PUB_KEY_ID_...`).
    pub fn add_public_key(&self, id: &str, pem: &str) -> Result<(), KeyError> {
        let key =
            PublicKey::parse(pem).map_err(|e| KeyError::from_crypto(e, KeyError::PublicKey))?;
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

    pub fn insert(&self, serial: String, key: PublicKey) {
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(crate::serial::key(&serial), key);
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
            .map_err(|_| VerifyError::BadSignature)?;
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
        if key.verify_sha256(&message, &sig) {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPrivateKey;
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};

    const KEY: &str = include_str!("../tests/data/sign_test_key.pem");

    /// The key as another implementation reads it: signatures in these tests come from it.
    fn key() -> RsaPrivateKey {
        RsaPrivateKey::from_pkcs8_pem(KEY).expect("key")
    }

    fn their_signature(key: &RsaPrivateKey, message: &str) -> String {
        use rsa::signature::{SignatureEncoding, Signer};
        let sig =
            rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone()).sign(message.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())
    }

    fn signed(ts: i64, body: &str, serial: &str) -> SignedHeaders {
        let sig = their_signature(&key(), &format!("{ts}\nnonce-1\n{body}\n"));
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

    #[test]
    fn keys_come_as_spki_pkcs1_or_certificate_and_bad_ones_are_refused() {
        let platform =
            RsaPrivateKey::from_pkcs8_pem(include_str!("../tests/data/platform_key.pem"))
                .expect("key");
        let now = Utc::now();
        let body = r#"{"id":"EV-2"}"#;
        let msg = format!("{}\nnonce-1\n{body}\n", now.timestamp());
        let headers = |serial: &str, signature: String| SignedHeaders {
            timestamp: now.timestamp().to_string(),
            nonce: "nonce-1".into(),
            signature,
            serial: serial.into(),
        };
        // A platform certificate (serial 008F3A0C in DER, 8F3A0C as WeChat Pay writes it).
        let v = Verifier::new();
        assert_eq!(
            v.add_certificate(include_str!("../tests/data/platform_cert.pem"))
                .as_deref(),
            Ok("8F3A0C")
        );
        let good = their_signature(&platform, &msg);
        assert_eq!(
            v.verify(&headers("8F3A0C", good.clone()), body.as_bytes(), now),
            Ok(())
        );
        // Signed by another key, not base64, cut short, empty: a bad signature, not a crash.
        let other = their_signature(&key(), &msg);
        for sig in [
            other,
            "%%%".into(),
            good[..good.len() / 2].to_string(),
            "AAAA".into(),
        ] {
            assert_eq!(
                v.verify(&headers("8F3A0C", sig), body.as_bytes(), now),
                Err(VerifyError::BadSignature)
            );
        }
        // The WeChat Pay public key as SubjectPublicKeyInfo or PKCS#1 PEM.
        use rsa::pkcs1::EncodeRsaPublicKey;
        let pkcs1 = platform
            .to_public_key()
            .to_pkcs1_pem(LineEnding::CRLF)
            .expect("pem");
        let id = "PUB_KEY_ID_0114232134912410000000000001";
        v.add_public_key(id, &pkcs1).expect("PKCS#1 public key");
        assert_eq!(v.verify(&headers(id, good), body.as_bytes(), now), Ok(()));
        // Malformed keys and certificates, a private key where a public one belongs, a small key.
        for bad in [
            "",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            KEY,
        ] {
            assert_eq!(v.add_public_key(id, bad), Err(KeyError::PublicKey));
        }
        let small = RsaPrivateKey::from_pkcs8_pem(include_str!("../tests/data/small_key.pem"))
            .expect("small")
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem");
        assert_eq!(v.add_public_key(id, &small), Err(KeyError::TooSmall));
        for bad in [
            "",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            KEY,
        ] {
            assert_eq!(v.add_certificate(bad), Err(KeyError::Certificate));
        }
    }
}
