//! Certificate serial numbers as WeChat Pay writes them: the plain upper-case hex of the number,
//! without leading zeros (`Wechatpay-Serial`, the certificate list's `serial_no`, the merchant
//! certificate serial in `Authorization`).
//!
//! A certificate's DER serial is a signed INTEGER: a number whose top bit is set carries a
//! leading `00` byte, and a number below 2^(8n-4) starts with a zero nibble. Naming a
//! certificate by its DER bytes would give `00…` or `0…` where WeChat Pay says `…`, so serials
//! are compared in this one form everywhere.

/// `serial` (hex, any case, leading zeros or not) in WeChat Pay's form; `None` if it is not a
/// hex number.
pub fn normalise(serial: &str) -> Option<String> {
    let t = serial.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digits = t.trim_start_matches('0');
    Some(if digits.is_empty() {
        "0".to_string()
    } else {
        digits.to_ascii_uppercase()
    })
}

/// The serial of a certificate from the content bytes of its DER INTEGER.
pub fn from_der_integer(bytes: &[u8]) -> String {
    normalise(&hex::encode_upper(bytes)).unwrap_or_else(|| "0".to_string())
}

/// The key a serial is looked up by: a hex serial in WeChat Pay's form, anything else (a
/// `PUB_KEY_ID_...`) in upper case.
pub(crate) fn key(serial: &str) -> String {
    normalise(serial).unwrap_or_else(|| serial.trim().to_uppercase())
}

/// Whether two serials name the same number (`PUB_KEY_ID_...` ids: the same id).
pub fn same(a: &str, b: &str) -> bool {
    key(a) == key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_compared_as_numbers() {
        assert_eq!(
            normalise("008f3a0c").as_deref(),
            Some("8F3A0C"),
            "DER's sign byte"
        );
        assert_eq!(normalise("0A5B").as_deref(), Some("A5B"), "a zero nibble");
        assert_eq!(normalise("5157F09E").as_deref(), Some("5157F09E"));
        assert_eq!(normalise("000").as_deref(), Some("0"));
        assert_eq!(normalise(""), None);
        assert_eq!(normalise("PUB_KEY_ID_01"), None);
        assert_eq!(from_der_integer(&[0x00, 0x8f, 0x01]), "8F01");
        assert_eq!(from_der_integer(&[0x0a, 0x01]), "A01");
        assert!(same("008F01", "8f01"));
        assert!(same("pub_key_id_01", "PUB_KEY_ID_01"));
        assert!(!same("8F01", "8F010"));
    }
}
