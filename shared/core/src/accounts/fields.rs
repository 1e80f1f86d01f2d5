//! Checks on single settings that serde cannot express, shared by the platforms' settings
//! checks and the admin API, and the same rules as JSON Schema for the OpenAPI document (the
//! `*_schema` functions, merged into a field's schema). Each error names its field and never
//! echoes a secret.

use crate::error::Error;
use serde_json::{Value, json};

/// Control characters (C0, DEL, C1) have no place in names, hosts, addresses or URLs: NUL ends
/// strings elsewhere, CR and LF split SMTP commands and HTTP headers.
pub fn no_controls(field: &str, v: &str) -> Result<(), Error> {
    if v.chars().any(char::is_control) {
        return Err(Error::field(
            field,
            "must not contain control characters (NUL, CR, LF, tab, ...)",
        ));
    }
    Ok(())
}

/// Texts buyers read may have line breaks (`\n`); every other control character (CR included:
/// send `\n` alone) is refused.
pub fn text_controls(field: &str, v: &str) -> Result<(), Error> {
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::field(
            field,
            "must not contain control characters other than line breaks (\\n)",
        ));
    }
    Ok(())
}

/// Platform numbers (merchant and sub-merchant numbers, Alipay app ids): 8 to 32 digits.
pub const PLATFORM_NUMBER_PATTERN: &str = "^[0-9]{8,32}$";

/// Whether `v` is a platform number ([`PLATFORM_NUMBER_PATTERN`]).
pub fn is_platform_number(v: &str) -> bool {
    (8..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit())
}

pub fn digits(field: &str, v: &str, what: &str) -> Result<(), Error> {
    if is_platform_number(v) {
        Ok(())
    } else {
        Err(Error::field(
            field,
            format!("must be the {what} (8 to 32 digits)"),
        ))
    }
}

/// WeChat appids: `wx` and 16 letters or digits.
pub fn wx_appid(field: &str, v: &str) -> Result<(), Error> {
    let ok =
        v.len() == 18 && v.starts_with("wx") && v[2..].bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            field,
            "must be a WeChat appid (wx and 16 letters or digits)",
        ))
    }
}

pub fn hex_serial(field: &str, v: &str) -> Result<(), Error> {
    if (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::field(
            field,
            "must be the certificate serial number in hex",
        ))
    }
}

/// The most characters of a text sent to buyers (WeChat Pay response_content: 200).
pub const REPLY_TEXT_MAX: usize = 200;

/// Texts sent to buyers: the platforms cap them (WeChat Pay response_content: 200).
pub fn reply_text(field: &str, v: &Option<String>) -> Result<(), Error> {
    if let Some(t) = v {
        text_controls(field, t)?;
        if t.trim().is_empty() || t.chars().count() > REPLY_TEXT_MAX {
            return Err(Error::field(
                field,
                "must be 1 to 200 characters (or null for none)",
            ));
        }
    }
    Ok(())
}

pub fn base_url(field: &str, v: &Option<String>) -> Result<(), Error> {
    if let Some(u) = v {
        // The URL parser drops tabs and line breaks silently: refuse them first.
        no_controls(field, u)?;
        let ok = u.chars().count() <= 2048
            && url::Url::parse(u)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            return Err(Error::field(field, "must be an http(s) URL"));
        }
    }
    Ok(())
}

// The same rules as JSON Schema. A character class of "no control character" is
// `[^\x00-\x1f\x7f-\x9f]` (what `char::is_control` means); texts allow `\n`.

/// No control character.
pub const NO_CONTROL: &str = r"[^\x00-\x1f\x7f-\x9f]";
/// No control character other than a line break.
pub const TEXT_CHAR: &str = r"[^\x00-\x09\x0b-\x1f\x7f-\x9f]";
/// Neither a control character nor white space.
pub const VISIBLE: &str = r"[^\s\x00-\x1f\x7f-\x9f]";

/// [`digits`] ([`PLATFORM_NUMBER_PATTERN`]).
pub fn platform_number_schema() -> Value {
    json!({"pattern": PLATFORM_NUMBER_PATTERN})
}

/// [`reply_text`]: like a line, with line breaks, not blank, at most `max` characters.
pub fn text_schema(max: usize) -> Value {
    json!({
        "minLength": 1,
        "maxLength": max,
        "pattern": format!("^{TEXT_CHAR}*{VISIBLE}{TEXT_CHAR}*$"),
    })
}

/// [`reply_text`] ([`REPLY_TEXT_MAX`]).
pub fn reply_text_schema() -> Value {
    text_schema(REPLY_TEXT_MAX)
}

/// [`wx_appid`].
pub fn wx_appid_schema() -> Value {
    json!({"pattern": "^wx[A-Za-z0-9]{16}$"})
}

/// [`hex_serial`].
pub fn hex_serial_schema() -> Value {
    json!({"pattern": "^[0-9A-Fa-f]{1,64}$"})
}

/// [`base_url`] as stored settings show it (shared by requests and answers): any http(s) URL
/// with a host, at most 2048 characters.
pub fn stored_url_schema() -> Value {
    json!({
        "maxLength": 2048,
        "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#\x00-\x1f\x7f-\x9f]",
    })
}
