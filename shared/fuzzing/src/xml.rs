//! XML and JSON message bodies: `wechat::xml` (check_xml, to_json_within, check_json) and
//! `wechat::crypt::parse`, the reader every message push goes through.

use serde_json::Value;
use wechat::xml::{LIMITS, Limits, check_json, check_xml, to_json_within};

/// Small bounds, so that the fuzzer reaches every limit with short inputs.
const SMALL: Limits = Limits {
    max_bytes: 512,
    max_depth: 4,
    max_elements: 24,
};

/// Nesting of objects and arrays (a scalar is 0).
fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Objects only: an XML element with children is an object, repeated children an array.
fn object_depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(object_depth).max().unwrap_or(0),
        Value::Array(a) => a.iter().map(object_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Values (containers and scalars).
fn count(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(count).sum::<usize>(),
        Value::Array(a) => 1 + a.iter().map(count).sum::<usize>(),
        _ => 1,
    }
}

pub fn xml_reader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for limits in [LIMITS, SMALL] {
        let checked = check_xml(text, &limits);
        if let Ok(v) = to_json_within(text, &limits) {
            assert!(
                checked.is_ok(),
                "parsed what the pre-check refuses: {checked:?}"
            );
            assert!(v.is_object() || v.is_string(), "root as {v}");
            // The pre-check never counts less nesting than the parser sees.
            assert!(
                object_depth(&v) < limits.max_depth,
                "nested {} deep within {limits:?}",
                object_depth(&v)
            );
        }
        if check_json(text, &limits).is_ok()
            && let Ok(v) = serde_json::from_str::<Value>(text)
        {
            assert!(
                depth(&v) <= limits.max_depth,
                "JSON nested {} deep passed {limits:?}",
                depth(&v)
            );
            // check_json counts containers and commas: one fewer than the values.
            assert!(
                count(&v) - 1 <= limits.max_elements,
                "JSON with {} values passed {limits:?}",
                count(&v)
            );
        }
    }
    // What the push handlers call on a body: an object or a clean error.
    if let Ok(v) = wechat::crypt::parse(text) {
        assert!(v.is_object());
    }
}
