//! Alipay open-platform pieces, usable on their own: RSA2 request signing over
//! the sorted parameter string ([`sign`]), certificate SNs for public-key certificate mode
//! ([`cert`]), the complaint lists with their paging rules ([`lists`]), verification of
//! responses over the exact raw `*_response` text ([`response`]) and of asynchronous messages ([`notify`]), and exact yuan ↔ fen conversion ([`money`]).

/// RSA keys, parsed once (PEM or bare base64; PKCS#8, PKCS#1, SubjectPublicKeyInfo,
/// certificates).
pub use crypto::{KeyError as KeyParseError, PrivateKey, PublicKey};

pub mod cert;
pub mod client;
pub mod lists;
pub mod money;
pub mod notify;
pub mod response;
pub mod sign;
