//! WeChat server APIs used by complaint desk, free of our storage and queue types:
//!
//! - [`crypt`]: message push verification and decryption (URL check, `msg_signature`,
//!   AES-256-CBC with the EncodingAESKey and 32-byte PKCS#7 blocks), XML and JSON bodies.
//! - [`token`]: access tokens behind one cache ([`token::TokenCache`], implemented by the
//!   caller): `stable_token` for apps with their own secret, and the third-party platform's
//!   `component_access_token` and authorizer tokens. Keys name a fingerprint of the credentials
//!   and API base that obtained each token; one fetch per key at a time (a claim written with
//!   compare-and-set, which also keeps the rotated refresh token).
//! - [`component`]: the third-party platform calls (pre-auth code, authorisation URL, query
//!   auth, authorizer info).
//! - [`mini`]: mini-program trade complaints, media, trade experience score and violation
//!   records; every call refreshes the token once on 40001/42001/40014.

pub mod component;
pub mod crypt;
pub mod error;
pub mod mini;
pub mod observe;
pub mod token;
pub mod xml;

pub use error::WechatError;

/// `https://api.weixin.qq.com/`.
pub const PRODUCTION: &str = "https://api.weixin.qq.com/";
