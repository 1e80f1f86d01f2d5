//! Checks on settings that serde cannot express. Each error names its field.

use crate::ApiError;

use desk_core::accounts::fields;

pub use fields::{
    NO_CONTROL, PLATFORM_NUMBER_PATTERN, REPLY_TEXT_MAX, TEXT_CHAR, VISIBLE, is_platform_number,
    stored_url_schema, text_schema, wx_appid_schema,
};

/// Control characters (C0, DEL, C1) have no place in names, hosts, addresses or URLs.
pub fn no_controls(field: &str, v: &str) -> Result<(), ApiError> {
    Ok(fields::no_controls(field, v)?)
}

/// Texts buyers read may have line breaks (`\n`); every other control character is refused.
pub fn text_controls(field: &str, v: &str) -> Result<(), ApiError> {
    Ok(fields::text_controls(field, v)?)
}

/// A host name or IP address: letters, digits, `.`, `-`, and `:`/`[]` for IPv6.
pub fn host(field: &str, v: &str) -> Result<(), ApiError> {
    let ok = (1..=253).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "must be a host name or IP address (letters, digits, . and -)",
        ))
    }
}

/// The most characters a name has.
pub const NAME_MAX: usize = 100;

pub fn name(field: &str, v: &str) -> Result<(), ApiError> {
    no_controls(field, v)?;
    if v.trim().is_empty() || v.chars().count() > NAME_MAX {
        return Err(ApiError::field(field, "must be 1 to 100 characters"));
    }
    Ok(())
}

pub fn digits(field: &str, v: &str, what: &str) -> Result<(), ApiError> {
    Ok(fields::digits(field, v, what)?)
}

/// WeChat appids: `wx` and 16 letters or digits.
pub fn wx_appid(field: &str, v: &str) -> Result<(), ApiError> {
    Ok(fields::wx_appid(field, v)?)
}

/// Texts sent to buyers: the platforms cap them (WeChat Pay response_content: 200).
pub fn reply_text(field: &str, v: &Option<String>) -> Result<(), ApiError> {
    Ok(fields::reply_text(field, v)?)
}

pub fn base_url(field: &str, v: &Option<String>) -> Result<(), ApiError> {
    Ok(fields::base_url(field, v)?)
}

pub fn email(field: &str, v: &str) -> Result<(), ApiError> {
    no_controls(field, v)?;
    let ok = v.chars().count() <= 254
        && v.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>' || c == ',');
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(field, "must be an e-mail address"))
    }
}

/// E.164 phone numbers: `+` and 6 to 15 digits.
pub fn phone(field: &str, v: &str) -> Result<(), ApiError> {
    let ok = v
        .strip_prefix('+')
        .is_some_and(|d| (6..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "must be an E.164 number such as +8613800000000",
        ))
    }
}

pub fn non_empty(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    no_controls(field, v)?;
    if v.trim().is_empty() || v.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(())
}

pub fn identifier(field: &str, v: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "must be 1 to 64 letters, digits, - or _",
        ))
    }
}

/// RFC 7396 JSON merge patch.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match patch {
        serde_json::Value::Object(p) => {
            if !target.is_object() {
                *target = serde_json::Value::Object(Default::default());
            }
            if let serde_json::Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// [`non_empty`] and [`name`]: no control character, not blank, at most `max` characters.
pub fn line_schema(max: usize) -> serde_json::Value {
    serde_json::json!({
        "minLength": 1,
        "maxLength": max,
        "pattern": format!("^{NO_CONTROL}*{VISIBLE}{NO_CONTROL}*$"),
    })
}

/// [`text_controls`] with a length cap, blank allowed.
pub fn free_text_schema(max: usize) -> serde_json::Value {
    serde_json::json!({"maxLength": max, "pattern": format!("^{TEXT_CHAR}*$")})
}

/// [`email`]: `local@domain.tld`, no spaces, `<`, `>` or `,`.
pub fn email_schema() -> serde_json::Value {
    let c = r"[^@\s<>,\x00-\x1f\x7f-\x9f]";
    let d = r"[^.@\s<>,\x00-\x1f\x7f-\x9f]";
    let any = r"[^\s<>,\x00-\x1f\x7f-\x9f]";
    serde_json::json!({
        "maxLength": 254,
        "pattern": format!("^{c}+@{d}{any}*\\.{any}*{d}$"),
    })
}

/// [`host`].
pub fn host_schema() -> serde_json::Value {
    serde_json::json!({"pattern": r"^[A-Za-z0-9.:\[\]-]{1,253}$"})
}

/// [`phone`].
pub fn phone_schema() -> serde_json::Value {
    serde_json::json!({"pattern": r"^\+[0-9]{6,15}$"})
}

/// [`identifier`].
pub fn identifier_schema() -> serde_json::Value {
    serde_json::json!({"pattern": "^[A-Za-z0-9_-]{1,64}$"})
}

/// [`base_url`]: the document states a plain subset (`http(s)://host[:port][/path]`, host
/// names starting with a letter); the server accepts any http(s) URL with a host.
pub fn base_url_schema() -> serde_json::Value {
    serde_json::json!({
        "format": "uri",
        "maxLength": 2048,
        "pattern": r"^https?://[A-Za-z][A-Za-z0-9-]{0,62}(\.[A-Za-z][A-Za-z0-9-]{0,62}){0,8}(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*){0,16}$",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        merge_patch(
            &mut t,
            &json!({"a": null, "b": {"c": 9}, "e": [2, 3], "f": "x"}),
        );
        assert_eq!(t, json!({"b": {"c": 9, "d": 3}, "e": [2, 3], "f": "x"}));
    }

    #[test]
    fn field_checks() {
        assert!(wx_appid("f", "wx2c2769f8efd9abc2").is_ok());
        assert!(wx_appid("f", "wx2c27").is_err());
        assert!(digits("f", "1900000109", "mchid").is_ok());
        assert!(digits("f", "19x0000109", "mchid").is_err());
        assert!(phone("f", "+8613800000000").is_ok());
        assert!(phone("f", "13800000000").is_err());
        assert!(email("f", "ops@163.com").is_ok());
        assert!(email("f", "ops@163").is_err());
        assert!(base_url("f", &Some("http://127.0.0.1:9000".into())).is_ok());
        assert!(base_url("f", &Some("ftp://x".into())).is_err());
        assert!(reply_text("f", &Some("".into())).is_err());
        assert!(reply_text("f", &Some("您好".repeat(100))).is_ok());
        assert!(reply_text("f", &Some("您好".repeat(101))).is_err());
        assert!(reply_text("f", &Some("line one\nline two".into())).is_ok());
        for bad in ["a\0b", "a\rb", "a\r\nb", "a\tb", "a\u{7f}b"] {
            assert!(reply_text("f", &Some(bad.into())).is_err(), "{bad:?}");
        }
        for bad in ["a\0b", "a\rb", "a\nb", "a\tb"] {
            assert!(name("f", bad).is_err(), "{bad:?}");
            assert!(non_empty("f", bad, 100).is_err(), "{bad:?}");
            assert!(email("f", &format!("ops{bad}@163.com")).is_err(), "{bad:?}");
            assert!(
                base_url("f", &Some(format!("https://h{bad}.example/x"))).is_err(),
                "{bad:?}"
            );
            assert!(host("f", &format!("smtp{bad}.163.com")).is_err(), "{bad:?}");
        }
        assert!(host("f", "smtp.163.com").is_ok());
        assert!(host("f", "127.0.0.1").is_ok());
    }
}
