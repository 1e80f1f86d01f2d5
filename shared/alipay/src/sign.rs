//! RSA2 (SHA256withRSA, PKCS#1 v1.5) over Alipay's sign content: every parameter except `sign`
//! with a non-empty value, sorted by key (ASCII), joined `k=v&...` with raw (not URL-encoded)
//! values.

use base64::Engine;
use crypto::{PrivateKey, PublicKey, SignError};
use std::collections::BTreeMap;

/// The request sign content (`sign_type` included, as the SDKs do on the request side).
pub fn sign_content<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    exclude: &[&str],
) -> String {
    let sorted: BTreeMap<&str, &str> = params
        .into_iter()
        .filter(|(k, v)| !v.is_empty() && *k != "sign" && !exclude.contains(k))
        .collect();
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// SHA256withRSA (PKCS#1 v1.5) over `content`, base64.
pub fn sign(key: &PrivateKey, content: &str) -> Result<String, SignError> {
    Ok(base64::engine::general_purpose::STANDARD.encode(key.sign_sha256(content.as_bytes())?))
}

/// Whether `sign_b64` is the RSA2 signature of `content` by `key`.
pub fn verify(key: &PublicKey, content: &[u8], sign_b64: &str) -> bool {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(sign_b64.trim()) else {
        return false;
    };
    key.verify_sha256(content, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_sorts_drops_empty_values_and_sign() {
        let c = sign_content(
            [
                ("method", "a.b"),
                ("app_id", "2021"),
                ("sign", "x"),
                ("notify_url", ""),
                ("biz_content", "{\"k\":\"v w\"}"),
            ],
            &[],
        );
        assert_eq!(c, "app_id=2021&biz_content={\"k\":\"v w\"}&method=a.b");
    }
}
