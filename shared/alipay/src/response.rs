//! Gateway responses: `{"<method>_response": {...}, "alipay_cert_sn": "...", "sign": "..."}`.
//! The signature covers the exact raw text of the `*_response` value as it is in the body
//! (never re-serialised: spacing and `\uXXXX` escapes matter).

/// The raw JSON text of the value under `key`, found by brace matching that respects strings
/// and escapes.
pub fn raw_value<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\"");
    let mut from = 0;
    while let Some(pos) = body[from..].find(&needle) {
        let after = from + pos + needle.len();
        let rest = body[after..].trim_start();
        if let Some(value) = rest.strip_prefix(':') {
            let value = value.trim_start();
            let start = body.len() - value.len();
            return match value.as_bytes().first()? {
                b'{' => matching_brace(body, start).map(|end| &body[start..=end]),
                b'"' => string_end(body, start).map(|end| &body[start..=end]),
                _ => None,
            };
        }
        from = after;
    }
    None
}

fn string_end(s: &str, start: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn matching_brace(s: &str, start: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => i = string_end(s, i)?,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A top-level string field (`sign`, `alipay_cert_sn`), unescaped enough for base64 and hex.
pub fn string_field(body: &str, key: &str) -> Option<String> {
    raw_value(body, key)
        .and_then(|raw| raw.strip_prefix('"')?.strip_suffix('"'))
        .map(|s| s.replace("\\/", "/"))
}

/// The node name of a method's response.
pub fn node(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPrivateKey;

    #[test]
    fn the_raw_text_is_verified_as_sent() {
        let key = RsaPrivateKey::new(&mut rand_core(), 1024).expect("key");
        // Odd spacing, an escaped quote, a brace inside a string and \u escapes: a verifier that
        // re-serialises this would compute another text and fail.
        let inner = "{ \"code\" : \"10000\",\"msg\":\"Success\",  \"content\":\"\\u6295\\u8bc9 {x} \\\"q\\\"\" }";
        let sig = crate::sign::sign(&key, inner);
        let body = format!(
            "{{\"alipay_merchant_tradecomplain_query_response\":  {inner},\"alipay_cert_sn\":\"abc\",\"sign\":\"{}\"}}",
            sig.replace('/', "\\/")
        );
        let raw = raw_value(&body, &node("alipay.merchant.tradecomplain.query")).expect("node");
        assert_eq!(raw, inner);
        let sign = string_field(&body, "sign").expect("sign");
        assert!(crate::sign::verify(
            &key.to_public_key(),
            raw.as_bytes(),
            &sign
        ));
        assert_eq!(
            string_field(&body, "alipay_cert_sn").as_deref(),
            Some("abc")
        );
        // Re-serialised, it does not verify.
        let reserialised = serde_like_compact(inner);
        assert!(!crate::sign::verify(
            &key.to_public_key(),
            reserialised.as_bytes(),
            &sign
        ));
    }

    fn serde_like_compact(s: &str) -> String {
        s.replace(" : ", ":")
            .replace(",  ", ",")
            .replace("{ ", "{")
            .replace(" }", "}")
    }

    fn rand_core() -> impl rsa::rand_core::CryptoRngCore {
        rsa::rand_core::OsRng
    }
}
