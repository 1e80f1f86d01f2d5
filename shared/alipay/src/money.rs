//! Alipay amounts are yuan strings (`"0.01"`); we keep fen as integers. Exact, no floats.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a yuan amount: {0:?}")]
pub struct AmountError(pub String);

/// `"12.3"` → 1230, `"0.01"` → 1, `"5"` → 500. More than two decimals, signs, exponents and
/// anything else are refused.
pub fn yuan_to_fen(s: &str) -> Result<u64, AmountError> {
    let err = || AmountError(s.to_string());
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(err());
    }
    let yuan: u64 = int.parse().map_err(|_| err())?;
    let fen: u64 = format!("{frac:0<2}").parse().map_err(|_| err())?;
    yuan.checked_mul(100)
        .and_then(|y| y.checked_add(fen))
        .ok_or_else(err)
}

/// 1230 → `"12.30"`.
pub fn fen_to_yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_exact() {
        for (s, f) in [
            ("0.01", 1),
            ("12.3", 1230),
            ("5", 500),
            ("19.99", 1999),
            ("100.00", 10_000),
        ] {
            assert_eq!(yuan_to_fen(s), Ok(f), "{s}");
        }
        assert_eq!(fen_to_yuan(1999), "19.99");
        assert_eq!(fen_to_yuan(5), "0.05");
        for bad in ["", "-1", "1.234", "1e3", "abc", ".5", "1,00"] {
            assert!(yuan_to_fen(bad).is_err(), "{bad}");
        }
    }
}
