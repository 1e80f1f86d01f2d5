//! Test keys, made for fuzzing only.

use crypto::PrivateKey;
use std::sync::OnceLock;

/// A 2048-bit RSA key: signs WeChat Pay notifications, Alipay messages and Alipay answers.
/// 2048 bits because the production verifiers (aws-lc-rs) refuse smaller keys; aws-lc-rs signs
/// one in well under a millisecond, so the fuzzers, which sign most inputs, stay fast.
pub fn rsa() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        PrivateKey::parse(include_str!("../data/test_key.pem"))
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
