//! Credentials: reading an account's bundle from the secret store, parsing keys and
//! certificates. Checking what a caller sends is [`validate`], written once for every platform;
//! each platform's input and rules live in its own folder (`platforms/<name>/credentials.rs`).

use crate::error::Error;
use crate::fingerprint::sha256_hex;
use crypto::{PrivateKey, PublicKey};
use domain::account::Credentials;
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

pub fn cert_spki_der(cert: &Certificate) -> Option<Vec<u8>> {
    cert.tbs_certificate.subject_public_key_info.to_der().ok()
}

pub fn certs_fingerprint(certs: &[Certificate]) -> Option<String> {
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
