//! Ids that come from outside (platform pushes, API paths) and end up in a platform request or a
//! record key.

/// 1 to 64 ASCII letters, digits, `_` or `-`: what every platform id we store or send looks
/// like. Nothing else (no `/`, `.`, `%`, spaces or controls) is accepted.
pub fn is_platform_id(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    #[test]
    fn platform_ids_are_plain_words() {
        assert!(super::is_platform_id("2019112200001234"));
        assert!(super::is_platform_id("acc_0190a1b2-x"));
        for bad in [
            "",
            "../x",
            "a/b",
            "a.b",
            "a%2F",
            "a b",
            "a\n",
            &"1".repeat(65),
        ] {
            assert!(!super::is_platform_id(bad), "{bad:?}");
        }
    }
}
