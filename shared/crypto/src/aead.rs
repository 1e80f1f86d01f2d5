//! AES-GCM opening (AES-256, and AES-128 for test data that uses 16-byte keys) with a 12-byte
//! nonce and the 16-byte tag after the ciphertext.

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AeadError {
    #[error("the key must be 32 bytes (or 16)")]
    KeyLength,
    #[error("the nonce must be 12 bytes")]
    NonceLength,
    /// Wrong key, wrong associated data, or tampered data.
    #[error("decryption failed")]
    Open,
}

/// Decrypt and authenticate `ciphertext_and_tag`; the plaintext.
pub fn open(
    key: &[u8],
    nonce: &[u8],
    associated_data: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Vec<u8>, AeadError> {
    let algorithm = match key.len() {
        32 => &AES_256_GCM,
        16 => &AES_128_GCM,
        _ => return Err(AeadError::KeyLength),
    };
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| AeadError::NonceLength)?;
    let key = LessSafeKey::new(UnboundKey::new(algorithm, key).map_err(|_| AeadError::KeyLength)?);
    let mut buf = ciphertext_and_tag.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(associated_data), &mut buf)
        .map_err(|_| AeadError::Open)?;
    let n = plain.len();
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{Aead, KeyInit, Payload};

    #[test]
    fn opens_what_an_independent_implementation_sealed() {
        let key = [7u8; 32];
        let nonce = *b"0123456789ab";
        let sealed = aes_gcm::Aes256Gcm::new_from_slice(&key)
            .expect("key")
            .encrypt(
                aes_gcm::Nonce::from_slice(&nonce),
                Payload {
                    msg: b"hello",
                    aad: b"ad",
                },
            )
            .expect("seal");
        assert_eq!(
            open(&key, &nonce, b"ad", &sealed).as_deref(),
            Ok(&b"hello"[..])
        );
        assert_eq!(open(&key, &nonce, b"other", &sealed), Err(AeadError::Open));
        assert_eq!(
            open(&[8u8; 32], &nonce, b"ad", &sealed),
            Err(AeadError::Open)
        );
        assert_eq!(
            open(&key, b"short", b"ad", &sealed),
            Err(AeadError::NonceLength)
        );
        assert_eq!(
            open(&key[..20], &nonce, b"ad", &sealed),
            Err(AeadError::KeyLength)
        );
        assert_eq!(
            open(&key, &nonce, b"ad", &sealed[..10]),
            Err(AeadError::Open)
        );
        assert_eq!(open(&key, &nonce, b"ad", &[]), Err(AeadError::Open));
    }
}
