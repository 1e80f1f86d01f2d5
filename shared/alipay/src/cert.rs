//! Public-key certificate mode: `app_cert_sn`, `alipay_root_cert_sn` and the Alipay
//! certificate's key.
//!
//! `cert_sn = lower_hex(MD5(issuer DN in RFC 2253 order + decimal serial number))`; the root SN
//! joins with `_` the SNs of the root file's RSA certificates only (its SM2 and ECDSA roots are
//! skipped, not fatal).

use base64::Engine;
use crypto::PublicKey;
use md5::{Digest, Md5};
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
    /// RSA2 keys are 2048-bit.
    #[error("the certificate's RSA key has fewer than 2048 bits")]
    TooSmall,
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
    decimal(cert.tbs_certificate.serial_number.as_bytes())
}

/// An unsigned big-endian number in decimal (serials are at most 20 bytes).
fn decimal(bytes: &[u8]) -> String {
    // Little-endian limbs of nine decimal digits each.
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = vec![0];
    for &b in bytes {
        let mut carry = u64::from(b);
        for limb in limbs.iter_mut() {
            let v = *limb * 256 + carry;
            *limb = v % BASE;
            carry = v / BASE;
        }
        while carry > 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
    }
    let mut out = limbs.last().copied().unwrap_or_default().to_string();
    for limb in limbs.iter().rev().skip(1) {
        out.push_str(&format!("{limb:09}"));
    }
    out
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

/// The RSA public key of a certificate, parsed.
pub fn public_key(cert: &Certificate) -> Result<PublicKey, CertError> {
    PublicKey::from_certificate(cert).map_err(|e| match e {
        crypto::KeyError::NotRsa => CertError::NotRsa,
        crypto::KeyError::TooSmall => CertError::TooSmall,
        _ => CertError::Malformed,
    })
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

    #[test]
    fn serials_in_decimal() {
        assert_eq!(decimal(&[]), "0");
        assert_eq!(decimal(&[0]), "0");
        assert_eq!(decimal(&[0x00, 0xff]), "255");
        assert_eq!(decimal(&[0x3b, 0x9a, 0xca, 0x00]), "1000000000");
        // 2^128 - 1
        assert_eq!(
            decimal(&[0xff; 16]),
            "340282366920938463463374607431768211455"
        );
        assert_eq!(
            decimal(&[
                0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ]),
            "5708990770823839524233143877797980545530986496",
            "2^152"
        );
        // Against an independent big-number implementation.
        for len in 0..=20usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + len * 11) as u8 ^ 0xa5).collect();
            assert_eq!(
                decimal(&bytes),
                rsa::BigUint::from_bytes_be(&bytes).to_string()
            );
        }
    }

    #[test]
    fn certificate_keys_that_are_not_rsa_or_not_readable_are_refused() {
        let root = certificates(ROOT).expect("certs");
        // The root file's SM2 and ECDSA roots.
        let not_rsa = root
            .iter()
            .filter(|c| public_key(c) == Err(CertError::NotRsa))
            .count();
        assert_eq!(not_rsa, 2);
        assert_eq!(
            certificates("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").err(),
            Some(CertError::Malformed)
        );
        assert_eq!(certificates("nothing").err(), Some(CertError::Empty));
    }
}
