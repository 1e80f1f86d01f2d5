//! Fingerprints that let an operator check which secret is set without seeing it.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// HMAC-SHA256 under an installation key, for short secrets (a plain hash of a short secret
/// could be brute-forced).
#[derive(Clone)]
pub struct Fingerprinter {
    key: [u8; 32],
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprinter([redacted])")
    }
}

impl Fingerprinter {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// HMAC-SHA256(key, purpose || 0 || value): signatures of values we hand out and get back
    /// (the one-click authorisation `state`).
    pub fn mac(&self, purpose: &str, value: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC-SHA256 accepts a key of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value);
        mac.finalize().into_bytes().into()
    }

    /// A key for `purpose`, derived from the installation key (HMAC as the KDF).
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        self.mac(purpose, b"derived key")
    }

    /// First 8 hex characters of HMAC-SHA256(key, value).
    pub fn short(&self, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC-SHA256 accepts a key of any length");
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..4])
    }
}

/// SHA-256 (hex) of public material: a SubjectPublicKeyInfo DER or a certificate DER.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_fingerprint_depends_on_key_and_value() {
        let a = Fingerprinter::new([1; 32]);
        let b = Fingerprinter::new([2; 32]);
        assert_eq!(a.short("secret").len(), 8);
        assert_eq!(a.short("secret"), a.short("secret"));
        assert_ne!(a.short("secret"), a.short("secret2"));
        assert_ne!(a.short("secret"), b.short("secret"));
    }
}
