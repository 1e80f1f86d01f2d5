//! Asynchronous messages (form POST). The documented rule for notify-style messages (V1) drops
//! `sign` and `sign_type`; gateway messages (V2) drop only `sign`. Which one Alipay uses for
//! `msg_method` messages is unconfirmed, so V1 is tried first, then V2, and the caller learns
//! which matched.

use crypto::PublicKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `sign` and `sign_type` excluded.
    V1,
    /// Only `sign` excluded.
    V2,
}

/// Alipay's messages have a couple of dozen form fields; more is refused before verifying.
pub const MAX_FORM_FIELDS: usize = 200;

/// Why a message body was refused before its signature was checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("message with more than {0} form fields")]
    TooManyFields(usize),
    #[error("message without a signature")]
    NoSignature,
    /// A parameter name that comes twice: the signature covers one of its values, and a reader
    /// could take the other (a signed message with `biz_content=...&` put in front of it still
    /// verified, and its first, unsigned `biz_content` was the one queued).
    #[error("form field {0:?} is repeated")]
    Repeated(String),
}

/// The form parameters of a message body (`application/x-www-form-urlencoded`), decoded, in
/// order; at most [`MAX_FORM_FIELDS`], each name once, and with a `sign`.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    if url::form_urlencoded::parse(body)
        .nth(MAX_FORM_FIELDS)
        .is_some()
    {
        return Err(FormError::TooManyFields(MAX_FORM_FIELDS));
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let mut seen = std::collections::HashSet::new();
    if let Some((name, _)) = params.iter().find(|(k, _)| !seen.insert(k.as_str())) {
        return Err(FormError::Repeated(name.clone()));
    }
    if !params.iter().any(|(k, _)| k == "sign") {
        return Err(FormError::NoSignature);
    }
    Ok(params)
}

/// Verify decoded form parameters; the rule that matched.
pub fn verify(params: &[(String, String)], key: &PublicKey) -> Option<Rule> {
    let sign = params
        .iter()
        .find(|(k, _)| k == "sign")
        .map(|(_, v)| v.as_str())?;
    let pairs = || params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let v1 = crate::sign::sign_content(pairs(), &["sign_type"]);
    if crate::sign::verify(key, v1.as_bytes(), sign) {
        return Some(Rule::V1);
    }
    let v2 = crate::sign::sign_content(pairs(), &[]);
    crate::sign::verify(key, v2.as_bytes(), sign).then_some(Rule::V2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto::PrivateKey;

    #[test]
    fn a_form_is_bounded_named_once_and_signed() {
        assert_eq!(
            parse_form(b"a=1&b=x%20y&sign=s"),
            Ok(vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("sign".into(), "s".into())
            ])
        );
        assert_eq!(parse_form(b"a=1&b=2"), Err(FormError::NoSignature));
        assert_eq!(
            parse_form(b"biz_content=forged&a=1&biz_content=signed&sign=s"),
            Err(FormError::Repeated("biz_content".into()))
        );
        // Percent-encoding does not hide a repeat.
        assert_eq!(
            parse_form(b"app_id=1&app%5Fid=2&sign=s"),
            Err(FormError::Repeated("app_id".into()))
        );
        let many = "a=1&".repeat(MAX_FORM_FIELDS) + "sign=s";
        assert_eq!(
            parse_form(many.as_bytes()),
            Err(FormError::TooManyFields(MAX_FORM_FIELDS))
        );
    }

    #[test]
    fn v1_first_then_v2() {
        let key = PrivateKey::parse(include_str!("../tests/data/test_app_key.pem")).expect("key");
        let base = vec![
            (
                "msg_method".to_string(),
                "alipay.merchant.tradecomplain.changed".to_string(),
            ),
            ("app_id".to_string(), "2021000000000001".to_string()),
            (
                "biz_content".to_string(),
                "{\"complain_event_id\":\"2021\"}".to_string(),
            ),
            ("sign_type".to_string(), "RSA2".to_string()),
            ("notify_id".to_string(), "n1".to_string()),
        ];
        let pairs = |b: &Vec<(String, String)>| {
            b.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        let mut v1 = pairs(&base);
        let c = crate::sign::sign_content(
            base.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &["sign_type"],
        );
        v1.push(("sign".into(), crate::sign::sign(&key, &c).expect("sign")));
        assert_eq!(verify(&v1, key.public_key()), Some(Rule::V1));
        let mut v2 = pairs(&base);
        let c = crate::sign::sign_content(base.iter().map(|(k, v)| (k.as_str(), v.as_str())), &[]);
        v2.push(("sign".into(), crate::sign::sign(&key, &c).expect("sign")));
        assert_eq!(verify(&v2, key.public_key()), Some(Rule::V2));
        let mut tampered = v2.clone();
        tampered[1].1 = "2021000000000002".into();
        assert_eq!(verify(&tampered, key.public_key()), None);
    }
}
