//! A WeChat Pay API v3 client for what complaint handling needs: request signing
//! (`WECHATPAY2-SHA256-RSA2048`), verification of responses and callbacks in both key modes at
//! once (platform certificates and the WeChat Pay public key `PUB_KEY_ID_...`), AEAD_AES_256_GCM
//! resources, RSA-OAEP sensitive fields, consumer complaints 2.0, refunds and notification URLs.
//!
//! It has no storage or queue dependency: give it keys, get typed answers.

pub mod aead;
pub mod client;
pub mod error;
pub mod ids;
pub mod model;
pub mod notify;
pub mod oaep;
pub mod observe;
pub mod serial;
pub mod sign;
pub mod verify;

pub use client::{Client, ClientConfig};
/// RSA keys, parsed once (PEM or bare base64; PKCS#8, PKCS#1, SubjectPublicKeyInfo,
/// certificates).
pub use crypto::{KeyError as KeyParseError, PrivateKey, PublicKey};
pub use error::PlatformError;
pub use sign::MerchantSigner;
pub use verify::{SignedHeaders, Verifier, VerifyError};
