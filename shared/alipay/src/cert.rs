//! Public-key certificate mode: `app_cert_sn`, `alipay_root_cert_sn` and the Alipay
//! certificate's key.
//!
//! `cert_sn = lower_hex(MD5(issuer DN in RFC 2253 order + decimal serial number))`; the root SN
//! joins with `_` the SNs of the root file's RSA certificates only (its SM2 and ECDSA roots are
//! skipped, not fatal).

use base64::Engine;
use md5::{Digest, Md5};
use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    #[error("no certificate in the text")]
    Empty,
    #[error("a certificate cannot be read")]
    Malformed,
    #[error("the certificate's key is not RSA")]
    NotRsa,
}

/// Every certificate in a PEM text. Alipay's files use 76-column lines and sometimes stray
/// whitespace, which strict RFC 7468 readers refuse, so the blocks are cut here.
pub fn certificates(pem: &str) -> Result<Vec<Certificate>, CertError> {
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
        let end = body
            .find("-----END CERTIFICATE-----")
            .ok_or(CertError::Malformed)?;
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| CertError::Malformed)?;
        out.push(Certificate::from_der(&der).map_err(|_| CertError::Malformed)?);
        rest = &body[end..];
    }
    if out.is_empty() {
        Err(CertError::Empty)
    } else {
        Ok(out)
    }
}

/// The issuer DN as Java's `getIssuerX500Principal().getName()` writes it (RFC 2253: most
/// specific first, `,` without spaces).
pub fn issuer_string(cert: &Certificate) -> String {
    cert.tbs_certificate.issuer.to_string()
}

/// The serial number in decimal.
pub fn serial_decimal(cert: &Certificate) -> String {
    rsa::BigUint::from_bytes_be(cert.tbs_certificate.serial_number.as_bytes()).to_string()
}

pub fn cert_sn(cert: &Certificate) -> String {
    let mut h = Md5::new();
    h.update(issuer_string(cert).as_bytes());
    h.update(serial_decimal(cert).as_bytes());
    format!("{:0>32}", hex::encode(h.finalize()))
}

/// RSA signatures (OIDs under 1.2.840.113549.1.1, as Alipay's Java SDK checks).
fn rsa_signed(cert: &Certificate) -> bool {
    cert.signature_algorithm
        .oid
        .to_string()
        .starts_with("1.2.840.113549.1.1.")
}

/// `alipay_root_cert_sn` of a root certificate file.
pub fn root_cert_sn(pem: &str) -> Result<String, CertError> {
    let sns: Vec<String> = certificates(pem)?
        .iter()
        .filter(|c| rsa_signed(c))
        .map(cert_sn)
        .collect();
    if sns.is_empty() {
        return Err(CertError::Empty);
    }
    Ok(sns.join("_"))
}

/// `app_cert_sn` (or the SN of the Alipay certificate): the first certificate of the file.
pub fn first_cert_sn(pem: &str) -> Result<String, CertError> {
    Ok(cert_sn(certificates(pem)?.first().ok_or(CertError::Empty)?))
}

/// The RSA public key of a certificate.
pub fn public_key(cert: &Certificate) -> Result<RsaPublicKey, CertError> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid.to_string() != "1.2.840.113549.1.1.1" {
        return Err(CertError::NotRsa);
    }
    let der = spki.subject_public_key.raw_bytes();
    RsaPublicKey::from_pkcs1_der(der).map_err(|_| CertError::Malformed)
}

/// DER of a certificate (for fingerprints).
pub fn der(cert: &Certificate) -> Vec<u8> {
    cert.to_der().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = include_str!("../tests/data/alipayRootCert.crt");
    const APP: &str = include_str!("../tests/data/appPublicCert.crt");
    const ALIPAY: &str = include_str!("../tests/data/alipayPublicCert.crt");

    /// Test vector from gopay's fixture files.
    #[test]
    fn root_cert_sn_counts_only_the_rsa_roots() {
        assert_eq!(
            root_cert_sn(ROOT).expect("root SN"),
            "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6"
        );
        // The file holds four roots; the SM2 and ECDSA ones are skipped, not fatal.
        assert_eq!(certificates(ROOT).expect("certs").len(), 4);
    }

    #[test]
    fn app_and_alipay_cert_sns() {
        assert_eq!(
            first_cert_sn(APP).expect("app"),
            "f5476a255774929671073404f7af2b90"
        );
        assert_eq!(
            first_cert_sn(ALIPAY).expect("alipay"),
            "b09baa7d1d5b198c713b230c5a6ec8e7"
        );
        assert!(public_key(&certificates(ALIPAY).expect("certs")[0]).is_ok());
    }
}
