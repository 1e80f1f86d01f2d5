//! Checks on single settings that serde cannot express, shared by the platforms' settings
//! checks and the admin API. Each error names its field and never echoes a secret.

use crate::error::Error;

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
