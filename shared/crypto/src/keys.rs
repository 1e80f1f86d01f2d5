//! RSA keys: parsed once from the forms the platforms hand out, then used for SHA256withRSA
//! (PKCS#1 v1.5) signatures and RSAES-OAEP-SHA1 decryption.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::rsa::{
    KeyPair, OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey,
};
use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use std::sync::Arc;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

/// The smallest RSA key accepted, for signing and for verifying (the platforms' RSA2 and
/// `SHA256-RSA2048` schemes are 2048-bit).
pub const MIN_BITS: usize = 2048;

/// `rsaEncryption`: the algorithm of a SubjectPublicKeyInfo that holds an RSA key.
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// Why a key was refused. The text never holds key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not an RSA private key (PKCS#8 or PKCS#1, as PEM or bare base64)")]
    NotPrivateKey,
    #[error("not an RSA public key (PEM or bare base64)")]
    NotPublicKey,
    #[error("not a certificate")]
    NotCertificate,
    #[error("the certificate's key is not RSA")]
    NotRsa,
    #[error("an RSA key of fewer than 2048 bits")]
    TooSmall,
    #[error("an RSA key of more than 8192 bits")]
    TooLarge,
}

/// Signing failed inside the library (no outside input causes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("RSA signing failed")]
pub struct SignError;

/// Decryption failed: not for this key, or tampered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("RSA-OAEP decryption failed")]
pub struct DecryptError;

/// A size problem if aws-lc said so, else `otherwise`.
fn size_or(e: KeyRejected, otherwise: KeyError) -> KeyError {
    match e.description_() {
        "TooSmall" => KeyError::TooSmall,
        "TooLarge" => KeyError::TooLarge,
        _ => otherwise,
    }
}

/// PEM (any of `labels`) or bare base64: the DER inside; `None` if it is neither.
fn der_of(text: &str, labels: &[&str]) -> Option<Vec<u8>> {
    let t = text.trim();
    if t.starts_with("-----BEGIN") {
        let (label, der) = crate::pem::first(t)?;
        labels.contains(&label.as_str()).then_some(der)
    } else {
        crate::pem::base64_body(t)
    }
}

/// An RSA private key (2048 to 8192 bits), ready to sign and to decrypt. Cheap to clone.
#[derive(Clone)]
pub struct PrivateKey(Arc<PrivateInner>);

struct PrivateInner {
    pair: KeyPair,
    oaep: OaepPrivateDecryptingKey,
    public: PublicKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("bits", &self.bits())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// PKCS#8 `PrivateKeyInfo` DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = KeyPair::from_pkcs8(der).map_err(|e| size_or(e, KeyError::NotPrivateKey))?;
        Self::new(pair)
    }

    /// PKCS#1 `RSAPrivateKey` DER.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = KeyPair::from_der(der).map_err(|e| size_or(e, KeyError::NotPrivateKey))?;
        Self::new(pair)
    }

    /// PKCS#8 or PKCS#1 DER.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        match Self::from_pkcs8_der(der) {
            Ok(k) => Ok(k),
            Err(KeyError::NotPrivateKey) => Self::from_pkcs1_der(der),
            Err(e) => Err(e),
        }
    }

    /// PEM (`PRIVATE KEY` or `RSA PRIVATE KEY`) or bare base64 DER (what Alipay's key tool
    /// gives), PKCS#8 or PKCS#1.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let der =
            der_of(text, &["PRIVATE KEY", "RSA PRIVATE KEY"]).ok_or(KeyError::NotPrivateKey)?;
        Self::from_der(&der)
    }

    fn new(pair: KeyPair) -> Result<Self, KeyError> {
        let pkcs8 = pair.as_der().map_err(|_| KeyError::NotPrivateKey)?;
        let oaep = PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref())
            .map_err(|e| size_or(e, KeyError::NotPrivateKey))
            .and_then(|k| OaepPrivateDecryptingKey::new(k).map_err(|_| KeyError::NotPrivateKey))?;
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| KeyError::NotPrivateKey)?;
        let public = PublicKey::from_spki_der(spki.as_ref())?;
        Ok(Self(Arc::new(PrivateInner { pair, oaep, public })))
    }

    /// The key size in bits.
    pub fn bits(&self) -> usize {
        self.0.pair.public_modulus_len() * 8
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.0.public
    }

    /// SHA256withRSA (PKCS#1 v1.5) over `message`: deterministic.
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut sig = vec![0u8; self.0.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.0
            .pair
            .sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
            .map_err(|_| SignError)?;
        Ok(sig)
    }

    /// RSAES-OAEP with SHA-1 and MGF1-SHA1, no label (WeChat Pay's sensitive fields).
    pub fn decrypt_oaep_sha1(&self, ciphertext: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let mut out = vec![0u8; self.0.oaep.min_output_size()];
        let n = self
            .0
            .oaep
            .decrypt(&OAEP_SHA1_MGF1SHA1, ciphertext, &mut out, None)
            .map_err(|_| DecryptError)?
            .len();
        out.truncate(n);
        Ok(out)
    }
}

/// An RSA public key (2048 to 8192 bits), ready to verify. Cheap to clone.
#[derive(Clone)]
pub struct PublicKey {
    parsed: ParsedPublicKey,
    spki: Arc<[u8]>,
    bits: usize,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    /// SubjectPublicKeyInfo (`PUBLIC KEY`) or PKCS#1 `RSAPublicKey` DER.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = aws_lc_rs::rsa::PublicKey::from_der(der).map_err(|_| KeyError::NotPublicKey)?;
        let spki = key.as_der().map_err(|_| KeyError::NotPublicKey)?;
        Self::from_spki_der(spki.as_ref())
    }

    fn from_spki_der(spki: &[u8]) -> Result<Self, KeyError> {
        let bits = PublicEncryptingKey::from_der(spki)
            .map_err(|e| size_or(e, KeyError::NotPublicKey))?
            .key_size_bits();
        let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki)
            .map_err(|e| size_or(e, KeyError::NotPublicKey))?;
        Ok(Self {
            parsed,
            spki: spki.into(),
            bits,
        })
    }

    /// PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`) or bare base64 DER.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let der = der_of(text, &["PUBLIC KEY", "RSA PUBLIC KEY"]).ok_or(KeyError::NotPublicKey)?;
        Self::from_der(&der)
    }

    /// The key a certificate certifies (it must be an RSA key).
    pub fn from_certificate(cert: &Certificate) -> Result<Self, KeyError> {
        let spki = &cert.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid.to_string() != RSA_ENCRYPTION {
            return Err(KeyError::NotRsa);
        }
        let der = spki.to_der().map_err(|_| KeyError::NotCertificate)?;
        Self::from_der(&der).map_err(|e| match e {
            KeyError::NotPublicKey => KeyError::NotCertificate,
            other => other,
        })
    }

    /// The key of a DER certificate.
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, KeyError> {
        let cert = Certificate::from_der(der).map_err(|_| KeyError::NotCertificate)?;
        Self::from_certificate(&cert)
    }

    /// SubjectPublicKeyInfo DER (what fingerprints are taken over).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Whether `signature` is SHA256withRSA (PKCS#1 v1.5) over `message` by this key.
    pub fn verify_sha256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.parsed.verify_sig(message, signature).is_ok()
    }
}
