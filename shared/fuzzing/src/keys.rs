//! Test keys, made for fuzzing only.

use rsa::RsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use std::sync::OnceLock;

/// A 512-bit RSA key: signs WeChat Pay notifications, Alipay messages and Alipay answers.
/// Small on purpose: the fuzzers sign most inputs (at 1024 bits, signing held a target to
/// about 130 inputs a second); the parsers behind the signature do not care about its size.
pub fn rsa() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        RsaPrivateKey::from_pkcs8_pem(include_str!("../data/test_key.pem"))
            .unwrap_or_else(|e| panic!("the built-in test key: {e}"))
    })
}

/// The message-push Token, EncodingAESKey and appid.
pub const WX_TOKEN: &str = "fuzztoken";
pub const WX_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const WX_APPID: &str = "wx0123456789abcdef";

/// The WeChat Pay API v3 key and key id.
pub const APIV3_KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
pub const WECHATPAY_KEY_ID: &str = "PUB_KEY_ID_0000000000000000000000000000";

/// The fixed "now" of every target (2025-11-24T16:00:00Z), so runs are reproducible.
pub const NOW: i64 = 1_764_000_000;

pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(NOW, 0).unwrap_or_default()
}
