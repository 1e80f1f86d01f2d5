//! Sensitive fields: RSAES-OAEP with SHA-1 and MGF1-SHA1, base64.

use base64::Engine;
use crypto::PrivateKey;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OaepError {
    #[error("the field is not base64")]
    Base64,
    #[error("the field cannot be decrypted with this merchant key")]
    Decrypt,
    #[error("the plaintext is not UTF-8")]
    Utf8,
}

/// Decrypt a downstream sensitive field (e.g. a complaint's `payer_phone`) with the merchant's
/// private key. Never log the result.
pub fn decrypt(key: &PrivateKey, ciphertext_b64: &str) -> Result<String, OaepError> {
    let ct = base64::engine::general_purpose::STANDARD
        .decode(ciphertext_b64)
        .map_err(|_| OaepError::Base64)?;
    let plain = key.decrypt_oaep_sha1(&ct).map_err(|_| OaepError::Decrypt)?;
    String::from_utf8(plain).map_err(|_| OaepError::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePrivateKey;

    #[test]
    fn decrypts_what_was_encrypted_with_the_merchant_public_key() {
        let pem = include_str!("../tests/data/sign_test_key.pem");
        let key = PrivateKey::parse(pem).expect("key");
        // Encrypted by another implementation, as WeChat Pay does: OAEP with SHA-1.
        let ct = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .expect("key")
            .to_public_key()
            .encrypt(
                &mut rand::thread_rng(),
                rsa::Oaep::new::<sha1::Sha1>(),
                "13800000000".as_bytes(),
            )
            .expect("encrypt");
        let b64 = base64::engine::general_purpose::STANDARD.encode(ct);
        assert_eq!(decrypt(&key, &b64).as_deref(), Ok("13800000000"));
        assert_eq!(decrypt(&key, "not base64!"), Err(OaepError::Base64));
        assert_eq!(decrypt(&key, "AAAA"), Err(OaepError::Decrypt));
    }
}
