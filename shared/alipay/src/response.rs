//! Gateway responses: `{"<method>_response": {...}, "alipay_cert_sn": "...", "sign": "..."}`.
//! The signature covers the exact raw text of the `*_response` value as it is in the body
//! (never re-serialised: spacing and `\uXXXX` escapes matter).

/// The raw JSON text of the value of the top-level member `key` of the object `body` (an object
/// or a string; `None` for other values), found by walking the members with brace matching
/// that respects strings and escapes. Only top-level members count: a member of the same name
/// inside the `*_response` value (`"sign"` in the platform's data) is not the signature.
pub fn raw_value<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let b = body.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let name_end = string_end(body, i)?;
        let name = &body[i + 1..name_end];
        i = skip_ws(b, name_end + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, i + 1);
        let end = value_end(body, start)?;
        if name == key {
            return match b[start] {
                b'{' | b'"' => Some(&body[start..=end]),
                _ => None,
            };
        }
        i = skip_ws(b, end + 1);
        match b.get(i)? {
            b',' => i += 1,
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The index of the last byte of the JSON value that starts at `start`.
fn value_end(s: &str, start: usize) -> Option<usize> {
    match s.as_bytes().get(start)? {
        b'{' | b'[' => matching_brace(s, start),
        b'"' => string_end(s, start),
        _ => {
            let rest = &s.as_bytes()[start..];
            let n = rest
                .iter()
                .position(|&c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            (n > 0).then(|| start + n - 1)
        }
    }
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

/// The index of the bracket that closes the object or array opening at `start` (each closing
/// bracket must match the one it closes).
fn matching_brace(s: &str, start: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut open = Vec::new();
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => i = string_end(s, i)?,
            b'{' => open.push(b'}'),
            b'[' => open.push(b']'),
            c @ (b'}' | b']') => {
                if open.pop()? != c {
                    return None;
                }
                if open.is_empty() {
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
    use crypto::PrivateKey;

    fn test_key() -> PrivateKey {
        PrivateKey::parse(include_str!("../tests/data/test_app_key.pem")).expect("key")
    }

    #[test]
    fn the_raw_text_is_verified_as_sent() {
        let key = test_key();
        // Odd spacing, an escaped quote, a brace inside a string and \u escapes: a verifier that
        // re-serialises this would compute another text and fail.
        let inner = "{ \"code\" : \"10000\",\"msg\":\"Success\",  \"content\":\"\\u6295\\u8bc9 {x} \\\"q\\\"\" }";
        let sig = crate::sign::sign(&key, inner).expect("sign");
        let body = format!(
            "{{\"alipay_merchant_tradecomplain_query_response\":  {inner},\"alipay_cert_sn\":\"abc\",\"sign\":\"{}\"}}",
            sig.replace('/', "\\/")
        );
        let raw = raw_value(&body, &node("alipay.merchant.tradecomplain.query")).expect("node");
        assert_eq!(raw, inner);
        let sign = string_field(&body, "sign").expect("sign");
        assert!(crate::sign::verify(key.public_key(), raw.as_bytes(), &sign));
        assert_eq!(
            string_field(&body, "alipay_cert_sn").as_deref(),
            Some("abc")
        );
        // Re-serialised, it does not verify.
        let reserialised = serde_like_compact(inner);
        assert!(!crate::sign::verify(
            key.public_key(),
            reserialised.as_bytes(),
            &sign
        ));
    }

    #[test]
    fn only_top_level_members_are_read() {
        let key = test_key();
        // The platform's data has members named like the envelope's: they are not the
        // signature or the certificate SN (the first "sign" in the text used to be taken).
        let inner = r#"{"code":"10000","msg":"Success","sign":"c2_quer","alipay_cert_sn":"x","list":[{"sign":"y"}]}"#;
        let sig = crate::sign::sign(&key, inner).expect("sign");
        let name = node("alipay.merchant.tradecomplain.query");
        let body = format!(
            "{{\"{name}\":{inner},\"alipay_cert_sn\":\"abc\",\"sign\":\"{}\"}}",
            sig.replace('/', "\\/")
        );
        assert_eq!(raw_value(&body, &name), Some(inner));
        assert_eq!(string_field(&body, "sign"), Some(sig.clone()));
        assert_eq!(
            string_field(&body, "alipay_cert_sn").as_deref(),
            Some("abc")
        );
        assert_eq!(raw_value(&body, "code"), None);
        // Members in another order, spacing, scalars and arrays before the one asked for.
        let body = format!(
            "{{ \"sign\" : \"{}\" , \"n\": -1.5e3, \"a\": [1, {{\"b\": \"}}\"}}], \"t\": true, \"{name}\" : {inner} }}",
            sig
        );
        assert_eq!(raw_value(&body, &name), Some(inner));
        assert_eq!(string_field(&body, "sign"), Some(sig));
        // Not an object, or cut short: nothing.
        for bad in [
            "{\"sign\":{\"a\":1]}",
            "{\"error_response\":{\"code\":x]},\"sign\":\"s\"}",
            "",
            "[]",
            "\"sign\"",
            "{\"sign\"",
            "{\"sign\":",
            "{\"a\":1 \"sign\":\"s\"}",
        ] {
            assert_eq!(raw_value(bad, "sign"), None, "{bad}");
        }
    }

    fn serde_like_compact(s: &str) -> String {
        s.replace(" : ", ":")
            .replace(",  ", ",")
            .replace("{ ", "{")
            .replace(" }", "}")
    }
}
