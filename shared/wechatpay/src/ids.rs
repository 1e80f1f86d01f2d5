//! Ids that go into a WeChat Pay API path or query. Percent-encoding would keep `../` from
//! changing the path only in some places; an id that is not what WeChat Pay issues is refused
//! before any request is built.

use crate::PlatformError;

/// What an id may be: its name (for messages), the longest it may be, and which bytes.
struct Shape {
    max: usize,
    allowed: fn(u8) -> bool,
    what: &'static str,
}

fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn digit(b: u8) -> bool {
    b.is_ascii_digit()
}

/// Merchant order and refund numbers: letters, digits and `_-|*@` (WeChat Pay's own rule).
fn order_no(b: u8) -> bool {
    word(b) || matches!(b, b'|' | b'*' | b'@')
}

const COMPLAINT_ID: Shape = Shape {
    max: 64,
    allowed: word,
    what: "1 to 64 letters, digits, _ or -",
};
const MCHID: Shape = Shape {
    max: 32,
    allowed: digit,
    what: "1 to 32 digits",
};
const TRANSACTION_ID: Shape = Shape {
    max: 32,
    allowed: word,
    what: "1 to 32 letters, digits, _ or -",
};
const ORDER_NO: Shape = Shape {
    max: 64,
    allowed: order_no,
    what: "1 to 64 letters, digits or _-|*@",
};

fn check<'a>(field: &str, v: &'a str, shape: &Shape) -> Result<&'a str, PlatformError> {
    if (1..=shape.max).contains(&v.len()) && v.bytes().all(shape.allowed) {
        Ok(v)
    } else {
        // The value itself is not repeated: it came from outside and may hold anything.
        Err(PlatformError::Invalid(format!(
            "{field} is not a WeChat Pay id ({})",
            shape.what
        )))
    }
}

/// A complaint id (`complaint_id`, 投诉单号).
pub fn complaint_id(v: &str) -> Result<&str, PlatformError> {
    check("complaint_id", v, &COMPLAINT_ID)
}

/// A merchant number (`mchid`, `sub_mchid`, `complainted_mchid`).
pub fn mchid<'a>(field: &str, v: &'a str) -> Result<&'a str, PlatformError> {
    check(field, v, &MCHID)
}

/// WeChat Pay's order number (`transaction_id`).
pub fn transaction_id(v: &str) -> Result<&str, PlatformError> {
    check("transaction_id", v, &TRANSACTION_ID)
}

/// A merchant order or refund number (`out_trade_no`, `out_refund_no`).
pub fn order_number<'a>(field: &str, v: &'a str) -> Result<&'a str, PlatformError> {
    check(field, v, &ORDER_NO)
}

/// Is `v` a complaint id WeChat Pay could have issued?
pub fn is_complaint_id(v: &str) -> bool {
    complaint_id(v).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_refuse_anything_that_could_leave_the_segment() {
        assert!(complaint_id("200201820200101080076610000").is_ok());
        assert!(order_number("out_refund_no", "R2026|a*b@c_-1").is_ok());
        assert!(mchid("sub_mchid", "1900000109").is_ok());
        for bad in [
            "",
            "../../v3/refund/domestic/refunds",
            "..",
            "a/b",
            "a?b=c",
            "a#b",
            "a%2F..",
            "a b",
            "a\0",
            "a\r\nb",
            "投诉",
        ] {
            assert!(complaint_id(bad).is_err(), "{bad:?}");
            assert!(order_number("out_refund_no", bad).is_err(), "{bad:?}");
            assert!(transaction_id(bad).is_err(), "{bad:?}");
        }
        assert!(complaint_id(&"1".repeat(65)).is_err());
        assert!(mchid("sub_mchid", "19000&x=1").is_err());
        let msg = complaint_id("../x").expect_err("bad").to_string();
        assert!(!msg.contains("../x"), "{msg}");
    }
}
