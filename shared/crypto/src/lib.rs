//! The crypto backend of the production crates, on aws-lc-rs (the library the AWS SDK's TLS
//! stack already links, so one copy of it is built).
//!
//! - [`PrivateKey`] and [`PublicKey`]: RSA keys parsed once, from PEM or bare base64 DER in
//!   every form the platforms hand out (PKCS#8 and PKCS#1 private keys; SubjectPublicKeyInfo
//!   and PKCS#1 public keys; the key of an X.509 certificate), for SHA256withRSA (PKCS#1 v1.5)
//!   signing and verification and RSAES-OAEP (SHA-1, MGF1-SHA1) decryption. Keep the parsed
//!   key: no PEM or DER is read on the hot path.
//! - [`aead`]: AES-GCM opening.
//! - [`tls`]: the process's rustls crypto provider (aws-lc-rs).
//!
//! Errors say what is wrong with a key, never its bytes.

pub mod aead;
mod keys;
pub mod pem;
pub mod tls;

pub use keys::{KeyError, MIN_BITS, PrivateKey, PublicKey, SignError};
