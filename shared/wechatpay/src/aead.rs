//! AEAD_AES_256_GCM: callback resources and downloaded platform certificates.

use base64::Engine;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AeadError {
    #[error("the API v3 key must be 32 bytes (16-byte keys are accepted for AES-128 test data)")]
    KeyLength,
    #[error("the nonce must be 12 bytes")]
    NonceLength,
    #[error("the ciphertext is not base64")]
    Base64,
    /// Wrong API v3 key, wrong associated data, or tampered data.
    #[error("decryption failed (wrong API v3 key or tampered data)")]
    Decrypt,
    #[error("the plaintext is not UTF-8")]
    Utf8,
}

/// Decrypt a resource: key = API v3 key, nonce and associated data as UTF-8 bytes, ciphertext
/// base64 (encrypted bytes followed by the 16-byte tag).
pub fn decrypt(
    key: &[u8],
    nonce: &str,
    associated_data: &str,
    ciphertext_b64: &str,
) -> Result<String, AeadError> {
    if nonce.len() != 12 {
        return Err(AeadError::NonceLength);
    }
    let ct = base64::engine::general_purpose::STANDARD
        .decode(ciphertext_b64)
        .map_err(|_| AeadError::Base64)?;
    if !matches!(key.len(), 16 | 32) {
        return Err(AeadError::KeyLength);
    }
    let plain = crypto::aead::open(key, nonce.as_bytes(), associated_data.as_bytes(), &ct)
        .map_err(|e| match e {
            crypto::aead::AeadError::KeyLength => AeadError::KeyLength,
            crypto::aead::AeadError::NonceLength => AeadError::NonceLength,
            crypto::aead::AeadError::Open => AeadError::Decrypt,
        })?;
    String::from_utf8(plain).map_err(|_| AeadError::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_decrypts() {
        // Test vector from wechatpay-java AeadAesCipherTest.
        let out = decrypt(
            b"a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb",
            "uluk4a9R25RW",
            "associatedData",
            "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=",
        );
        assert_eq!(out.as_deref(), Ok("message"));
    }

    #[test]
    fn v5_decrypts_with_a_16_byte_key() {
        // Test vector from wechatpay-go utils/aes_test.go: AES-128.
        let out = decrypt(
            b"testAPIv3Key0000",
            "wCq51qZv4Yfg",
            "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
            "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC",
        );
        assert_eq!(out.as_deref(), Ok("Hello World"));
    }

    #[test]
    fn wrong_key_or_associated_data_fails() {
        let ct = "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=";
        assert_eq!(
            decrypt(
                b"b7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb",
                "uluk4a9R25RW",
                "associatedData",
                ct
            ),
            Err(AeadError::Decrypt)
        );
        assert_eq!(
            decrypt(b"a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb", "uluk4a9R25RW", "", ct),
            Err(AeadError::Decrypt)
        );
        assert_eq!(
            decrypt(b"short", "uluk4a9R25RW", "", ct),
            Err(AeadError::KeyLength)
        );
        assert_eq!(
            decrypt(b"a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb", "short", "", ct),
            Err(AeadError::NonceLength)
        );
    }
}
