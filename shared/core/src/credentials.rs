//! Credentials: reading an account's bundle from the secret store, parsing keys and
//! certificates, the Alipay verifying key a callback needs, the status of an account with none
//! yet. Validating what a caller sends is [`validate`] (the admin API's, every platform).

use crate::error::Error;
use crate::fingerprint::sha256_hex;
use crypto::{PrivateKey, PublicKey};
use domain::account::{Account, AlipayKeyMode, Credentials};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

pub mod validate;

/// An RSA private key (2048 to 8192 bits) from PKCS#8 or PKCS#1, PEM or bare base64 DER,
/// parsed once: keep it (the platform clients do) rather than parse it per request.
pub fn parse_rsa_private_key(text: &str) -> Option<PrivateKey> {
    PrivateKey::parse(text).ok()
}

/// An RSA public key (2048 to 8192 bits) from SubjectPublicKeyInfo or PKCS#1, PEM or bare
/// base64 DER.
pub fn parse_rsa_public_key(text: &str) -> Option<PublicKey> {
    PublicKey::parse(text).ok()
}

/// The DER bodies of every `-----BEGIN {label}-----` block, whatever the line length or line
/// endings (Alipay's files use 76-column lines, which strict RFC 7468 readers refuse).
pub fn pem_blocks(text: &str, label: &str) -> Option<Vec<Vec<u8>>> {
    crypto::pem::blocks(text, label)
}

/// Certificates in a PEM file (one or a bundle).
pub fn parse_certificates(text: &str) -> Option<Vec<Certificate>> {
    let certs = pem_blocks(text, "CERTIFICATE")?
        .iter()
        .map(|der| Certificate::from_der(der).ok())
        .collect::<Option<Vec<_>>>()?;
    (!certs.is_empty()).then_some(certs)
}

#[cfg(feature = "alipay")]
fn cert_spki_der(cert: &Certificate) -> Option<Vec<u8>> {
    cert.tbs_certificate.subject_public_key_info.to_der().ok()
}

fn certs_fingerprint(certs: &[Certificate]) -> Option<String> {
    let mut all = Vec::new();
    for c in certs {
        all.extend(c.to_der().ok()?);
    }
    Some(sha256_hex(&all))
}

/// Read an account's credential bundle from the secret store.
pub async fn load(
    secrets: &dyn domain::ports::SecretStore,
    account_id: &str,
) -> Result<Option<Credentials>, Error> {
    use secrecy::ExposeSecret;
    let Some(raw) = secrets
        .get(&crate::repo::secret_names::credentials(account_id))
        .await?
    else {
        return Ok(None);
    };
    serde_json::from_str(raw.expose_secret())
        .map(Some)
        .map_err(|_| {
            Error::Internal(format!("stored credentials of {account_id} cannot be read").into())
        })
}

/// Alipay verifying keys, parsed, by what the account record says they are: `mode:fingerprint`
/// (the fingerprint of `alipay_public_key` or `alipay_cert`). The name is the content's hash,
/// so an entry is never stale: new credentials have a new fingerprint, hence a new entry.
fn alipay_keys() -> &'static Mutex<HashMap<String, PublicKey>> {
    static KEYS: OnceLock<Mutex<HashMap<String, PublicKey>>> = OnceLock::new();
    KEYS.get_or_init(Mutex::default)
}

/// More entries than any desk has Alipay apps: past it the cache starts again.
const ALIPAY_KEYS_MAX: usize = 4096;

/// The key that verifies an Alipay app's messages (certificate mode: the Alipay certificate's
/// key; key mode: the Alipay public key), parsed once per credentials: a message whose account
/// record names a key seen before reads neither the secret store nor any PEM.
pub async fn alipay_verifying_key(
    secrets: &dyn domain::ports::SecretStore,
    account: &Account,
) -> Option<PublicKey> {
    let named = |mode: &str, fingerprint: &str| format!("{mode}:{fingerprint}");
    let recorded = account.credentials.mode.as_deref().and_then(|mode| {
        let field = if mode == AlipayKeyMode::Certificate.as_str() {
            "alipay_cert"
        } else {
            "alipay_public_key"
        };
        let fp = account
            .credentials
            .fields
            .get(field)?
            .fingerprint
            .as_deref()?;
        Some(named(mode, fp))
    });
    if let Some(name) = &recorded
        && let Some(key) = alipay_keys()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
    {
        return Some(key.clone());
    }
    let Ok(Some(Credentials::Alipay(c))) = load(secrets, &account.id).await else {
        return None;
    };
    let (mode, fingerprint, key) = match c.mode {
        Some(AlipayKeyMode::Certificate) => {
            let certs = parse_certificates(c.alipay_cert.as_ref()?.expose())?;
            let key = PublicKey::from_certificate(certs.first()?).ok()?;
            (AlipayKeyMode::Certificate, certs_fingerprint(&certs)?, key)
        }
        _ => {
            let key = parse_rsa_public_key(c.alipay_public_key.as_ref()?.expose())?;
            (AlipayKeyMode::PublicKey, sha256_hex(key.spki_der()), key)
        }
    };
    let mut keys = alipay_keys().lock().unwrap_or_else(|e| e.into_inner());
    if keys.len() >= ALIPAY_KEYS_MAX {
        keys.clear();
    }
    keys.insert(named(mode.as_str(), &fingerprint), key.clone());
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alipay_fixture_certificates_parse() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/fixtures/alipay");
        let count = |f: &str| {
            let text = std::fs::read_to_string(dir.join(f)).expect("fixture");
            parse_certificates(&text).map(|c| c.len())
        };
        assert_eq!(count("alipayPublicCert.crt"), Some(2));
        assert_eq!(count("alipayRootCert.crt"), Some(4));
        assert_eq!(count("appPublicCert.crt"), Some(1));
        assert_eq!(
            parse_certificates("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
            None
        );
        assert_eq!(parse_certificates("no pem here"), None);
    }
}
