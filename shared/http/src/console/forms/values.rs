//! What a browser submitted, as the JSON values the action takes: each checked against the
//! field's limits first (lengths in characters, bounds, money in yuan with at most two
//! decimals, the schema's pattern).

use super::field::{Field, FormError, InputKind, error};
use serde_json::{Number, Value};

/// A money maximum at or above this (in fen) is the type's range, not a limit worth showing.
pub const SHOWN_MAX: u64 = 1 << 53;

/// `1250` fen → `12.50`.
pub fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Why typed yuan are not an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YuanError {
    /// Not digits with at most two decimals (`12.50`, `3`, `0.5`).
    Format,
    /// More fen than a `u64` holds.
    TooLarge,
}

/// Yuan as staff type them (`12.50`) → fen (`1250`): digits with at most two decimals, checked
/// arithmetic.
pub fn parse_yuan(text: &str) -> Result<u64, YuanError> {
    let (whole, cents) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits(whole)
        || !digits(cents)
        || cents.len() > 2
        || text.ends_with('.')
    {
        return Err(YuanError::Format);
    }
    let whole: u64 = whole.parse().map_err(|_| YuanError::TooLarge)?;
    let cents: u64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<u64>().map_err(|_| YuanError::Format)? * 10,
        _ => cents.parse().map_err(|_| YuanError::Format)?,
    };
    whole
        .checked_mul(100)
        .and_then(|f| f.checked_add(cents))
        .ok_or(YuanError::TooLarge)
}

/// Whether a checkbox was ticked (a browser sends a ticked one, `on` unless it has a value).
pub fn checked(given: Option<&str>) -> bool {
    matches!(given, Some(v) if !matches!(v.trim(), "" | "false" | "off" | "0"))
}

/// The JSON value of field `f` from what was submitted (`None`: left out).
pub fn value_of(f: &Field, given: Option<&str>) -> Result<Option<Value>, FormError> {
    if f.kind == InputKind::Checkbox {
        let on = checked(given);
        return Ok((on || f.required).then_some(Value::Bool(on)));
    }
    // A browser sends a text area's line breaks as CR LF; the platforms take `\n`.
    let text = given
        .unwrap_or("")
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    if text.trim().is_empty() {
        return match f.required {
            true => Err(error(f, "必填".into(), "required".into())),
            false => Ok(None),
        };
    }
    let value = match &f.kind {
        InputKind::Money => Value::from(money(f, text.trim())?),
        InputKind::Integer => integer(f, text.trim())?,
        InputKind::Number => number(f, text.trim())?,
        InputKind::Select(choices) => match choices.iter().find(|c| c.value == text.trim()) {
            Some(c) => c.json.clone(),
            None => {
                return Err(error(
                    f,
                    "请从选项中选择".into(),
                    "choose one of the options".into(),
                ));
            }
        },
        InputKind::Url => {
            let link = text.trim();
            let fine = url::Url::parse(link)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !fine {
                return Err(error(
                    f,
                    "请填写以 http:// 或 https:// 开头的链接".into(),
                    "enter a link starting with http:// or https://".into(),
                ));
            }
            lengths(f, link)?;
            patterned(f, link)?;
            Value::from(link)
        }
        _ => {
            lengths(f, &text)?;
            patterned(f, &text)?;
            Value::from(text)
        }
    };
    Ok(Some(value))
}

/// Whether `text` matches `pattern` (`None`: a pattern the `regex` crate does not read, left
/// to the action).
pub fn matches(pattern: &str, text: &str) -> Option<bool> {
    regex::Regex::new(pattern).ok().map(|re| re.is_match(text))
}

/// The schema's pattern, refused in the words of what is most likely wrong.
fn patterned(f: &Field, text: &str) -> Result<(), FormError> {
    let Some(p) = &f.pattern else {
        return Ok(());
    };
    if matches(p, text) != Some(false) {
        return Ok(());
    }
    let (zh, en) = if text.contains('\n') && matches(p, &text.replace('\n', " ")) == Some(true) {
        ("不能换行", "must be on one line")
    } else if text.chars().any(|c| c.is_control() && c != '\n') {
        (
            "不能包含控制字符（如制表符）",
            "must not contain control characters (such as tabs)",
        )
    } else {
        (
            "格式不符合平台的要求",
            "is not in the form the platform takes",
        )
    };
    Err(error(f, zh.into(), en.into()))
}

/// Lengths in characters, as the platforms count them.
fn lengths(f: &Field, text: &str) -> Result<(), FormError> {
    let n = text.chars().count() as u64;
    if let Some(max) = f.max_length
        && n > max
    {
        return Err(error(
            f,
            format!("最多 {max} 个字（现在 {n} 个）"),
            format!("at most {max} characters (now {n})"),
        ));
    }
    if let Some(min) = f.min_length
        && n < min
    {
        return Err(error(
            f,
            format!("至少 {min} 个字"),
            format!("at least {min} characters"),
        ));
    }
    Ok(())
}

/// A bound as a whole number (a fractional lower bound rounds up, an upper one down).
fn int_bound(n: &Number, lower: bool) -> Option<i128> {
    if let Some(i) = n.as_i64() {
        return Some(i.into());
    }
    if let Some(u) = n.as_u64() {
        return Some(u.into());
    }
    let f = n.as_f64()?;
    let r = if lower { f.ceil() } else { f.floor() };
    (r.is_finite() && r.abs() < 1e30).then_some(r as i128)
}

/// A money bound in fen, where it is a whole, non-negative number.
pub fn fen_bound(n: &Number) -> Option<u64> {
    n.as_u64()
}

/// Whole-number bounds of `f`, refusing `v` outside them.
fn bounded(f: &Field, v: i128) -> Result<(), FormError> {
    if let Some(min) = f.minimum.as_ref().and_then(|n| int_bound(n, true))
        && v < min
    {
        return Err(error(
            f,
            format!("不能小于 {min}"),
            format!("at least {min}"),
        ));
    }
    if let Some(max) = f.maximum.as_ref().and_then(|n| int_bound(n, false))
        && v > max
    {
        return Err(error(
            f,
            format!("不能大于 {max}"),
            format!("at most {max}"),
        ));
    }
    Ok(())
}

/// Yuan as staff type it (`12`, `12.5`, `12.50`) in fen, with checked arithmetic.
fn money(f: &Field, text: &str) -> Result<u64, FormError> {
    let format = || {
        error(
            f,
            "请填写以元为单位的金额，最多两位小数，如 12.50".into(),
            "enter an amount in yuan with at most two decimals, such as 12.50".into(),
        )
    };
    let too_large = || error(f, "金额过大".into(), "the amount is too large".into());
    let fen = match parse_yuan(text) {
        Ok(fen) => fen,
        Err(YuanError::Format) => return Err(format()),
        Err(YuanError::TooLarge) => return Err(too_large()),
    };
    if let Some(min) = f.minimum.as_ref().and_then(|n| int_bound(n, true))
        && i128::from(fen) < min
    {
        let m = u64::try_from(min)
            .map(yuan)
            .unwrap_or_else(|_| min.to_string());
        return Err(error(
            f,
            format!("不能小于 {m} 元"),
            format!("at least {m} yuan"),
        ));
    }
    if let Some(max) = f.maximum.as_ref().and_then(|n| int_bound(n, false))
        && i128::from(fen) > max
    {
        return Err(match u64::try_from(max) {
            // A limit the platform states, not the type's range.
            Ok(m) if m < SHOWN_MAX => {
                let m = yuan(m);
                error(f, format!("不能大于 {m} 元"), format!("at most {m} yuan"))
            }
            _ => too_large(),
        });
    }
    Ok(fen)
}

fn integer(f: &Field, text: &str) -> Result<Value, FormError> {
    let v: i128 = text
        .parse()
        .map_err(|e: std::num::ParseIntError| match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                error(f, "数值过大".into(), "the number is too large".into())
            }
            _ => error(f, "请填写整数".into(), "enter a whole number".into()),
        })?;
    bounded(f, v)?;
    if let Ok(u) = u64::try_from(v) {
        return Ok(Value::from(u));
    }
    i64::try_from(v)
        .map(Value::from)
        .map_err(|_| error(f, "数值过大".into(), "the number is too large".into()))
}

fn number(f: &Field, text: &str) -> Result<Value, FormError> {
    let v: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| error(f, "请填写数字".into(), "enter a number".into()))?;
    if let Some(min) = f.minimum.as_ref().and_then(Number::as_f64)
        && v < min
    {
        return Err(error(
            f,
            format!("不能小于 {min}"),
            format!("at least {min}"),
        ));
    }
    if let Some(max) = f.maximum.as_ref().and_then(Number::as_f64)
        && v > max
    {
        return Err(error(
            f,
            format!("不能大于 {max}"),
            format!("at most {max}"),
        ));
    }
    Ok(Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null))
}
