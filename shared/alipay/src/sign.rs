//! RSA2 (SHA256withRSA, PKCS#1 v1.5) over Alipay's sign content: every parameter except `sign`
//! with a non-empty value, sorted by key (ASCII), joined `k=v&...` with raw (not URL-encoded)
//! values.

use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
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

pub fn sign(key: &RsaPrivateKey, content: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(
        SigningKey::<Sha256>::new(key.clone())
            .sign(content.as_bytes())
            .to_bytes(),
    )
}

pub fn verify(key: &RsaPublicKey, content: &[u8], sign_b64: &str) -> bool {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(sign_b64.trim()) else {
        return false;
    };
    let Ok(sig) = Signature::try_from(bytes.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(content, &sig)
        .is_ok()
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
