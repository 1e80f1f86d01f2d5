//! WeChat's XML messages as JSON values: an element with child elements becomes an object, one
//! with only text becomes a string (CDATA included), a repeated child name becomes an array.
//! JSON-format pushes use the same keys, so the rest of the code reads one shape.
//!
//! Message bodies come from anyone who can reach a callback URL, before any signature is
//! checked, so they are bounded before they are parsed ([`LIMITS`]: size, nesting depth, element
//! count). The XML parser underneath recurses once per nesting level: a body is scanned for its
//! depth first, so a deeply nested one is refused without ever reaching it.

use serde_json::{Map, Value};

/// How big a message may be. WeChat's messages are a few hundred bytes, four levels deep and
/// a few dozen elements; these bounds leave ample room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of text.
    pub max_bytes: usize,
    /// Nesting depth (the root element, or a JSON document's outer object, is level 1).
    pub max_depth: usize,
    /// Elements (XML) or values (JSON).
    pub max_elements: usize,
}

/// The bounds on every message body (the outer body and the decrypted message alike).
pub const LIMITS: Limits = Limits {
    max_bytes: 64 * 1024,
    max_depth: 32,
    max_elements: 2_000,
};

/// Why a message was refused before or while it was parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message is larger than {0} bytes")]
    TooLarge(usize),
    #[error("message is nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("message has more than {0} elements")]
    TooManyElements(usize),
    #[error("XML: {0}")]
    Xml(String),
    #[error("a document type declaration is not accepted")]
    Doctype,
}

/// Find `needle` at or after `from`; the index just past it.
fn skip_past(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p + needle.len())
}

/// Check an XML text's size, depth and element count without building anything. Conservative:
/// it never counts less nesting than a parser would see (markup it cannot follow is left to the
/// parser, which refuses it).
pub fn check_xml(text: &str, limits: &Limits) -> Result<(), ParseError> {
    if text.len() > limits.max_bytes {
        return Err(ParseError::TooLarge(limits.max_bytes));
    }
    let b = text.as_bytes();
    let (mut i, mut depth, mut elements) = (0usize, 0usize, 0usize);
    let unterminated = || ParseError::Xml("unterminated markup".into());
    while let Some(p) = b.get(i..).and_then(|r| r.iter().position(|&c| c == b'<')) {
        i += p;
        let rest = &b[i..];
        if rest.starts_with(b"<!--") {
            i = skip_past(b, i + 4, b"-->").ok_or_else(unterminated)?;
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_past(b, i + 9, b"]]>").ok_or_else(unterminated)?;
        } else if rest.starts_with(b"<!") {
            return Err(ParseError::Doctype);
        } else if rest.starts_with(b"<?") {
            i = skip_past(b, i + 2, b"?>").ok_or_else(unterminated)?;
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i = skip_past(b, i + 2, b">").ok_or_else(unterminated)?;
        } else {
            // A start tag: find its end outside quoted attribute values.
            let mut j = i + 1;
            let mut quote = None;
            let end = loop {
                let Some(&c) = b.get(j) else {
                    return Err(unterminated());
                };
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (None, b'"' | b'\'') => quote = Some(c),
                    (None, b'>') => break j,
                    _ => {}
                }
                j += 1;
            };
            elements += 1;
            if elements > limits.max_elements {
                return Err(ParseError::TooManyElements(limits.max_elements));
            }
            if b[end - 1] != b'/' {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(ParseError::TooDeep(limits.max_depth));
                }
            }
            i = end + 1;
        }
    }
    Ok(())
}

/// The root element's children as a JSON object, within [`LIMITS`].
pub fn to_json(text: &str) -> Result<Value, ParseError> {
    to_json_within(text, &LIMITS)
}

/// [`to_json`] with other bounds.
pub fn to_json_within(text: &str, limits: &Limits) -> Result<Value, ParseError> {
    check_xml(text, limits)?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        // Elements plus their text, comments and the like.
        nodes_limit: u32::try_from(limits.max_elements.saturating_mul(4)).unwrap_or(u32::MAX),
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| ParseError::Xml(e.to_string()))?;
    Ok(element(doc.root_element()))
}

/// Check a JSON text's size, depth and value count without building anything (serde_json's
/// own recursion limit, 128, stays underneath as a second guard).
pub fn check_json(text: &str, limits: &Limits) -> Result<(), ParseError> {
    if text.len() > limits.max_bytes {
        return Err(ParseError::TooLarge(limits.max_bytes));
    }
    let (mut depth, mut values) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &c in text.as_bytes() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'{' | b'[' => {
                values += 1;
                if values > limits.max_elements {
                    return Err(ParseError::TooManyElements(limits.max_elements));
                }
                depth += 1;
                if depth > limits.max_depth {
                    return Err(ParseError::TooDeep(limits.max_depth));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => {
                values += 1;
                if values > limits.max_elements {
                    return Err(ParseError::TooManyElements(limits.max_elements));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn element(node: roxmltree::Node<'_, '_>) -> Value {
    let children: Vec<_> = node.children().filter(|c| c.is_element()).collect();
    if children.is_empty() {
        let text: String = node
            .children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect();
        return Value::String(text);
    }
    let mut map = Map::new();
    for c in children {
        let name = c.tag_name().name().to_string();
        let v = element(c);
        match map.get_mut(&name) {
            Some(Value::Array(list)) => list.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => {
                map.insert(name, v);
            }
        }
    }
    Value::Object(map)
}

/// A field that may be one object, a list of objects, or absent, as a list.
pub fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        Value::String(s) if s.is_empty() => vec![],
        other => vec![other.clone()],
    }
}

/// A field that may be a string or a number, as text.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A field that may be a string or a number, as an integer.
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_and_repeated_elements() {
        let v = to_json(
            "<xml><A><![CDATA[x<y]]></A><N>5</N><Info><id>1</id><history><t>1</t></history><history><t>2</t></history></Info></xml>",
        )
        .expect("test");
        assert_eq!(v["A"], "x<y");
        assert_eq!(int(&v["N"]), Some(5));
        assert_eq!(v["Info"]["history"], json!([{"t": "1"}, {"t": "2"}]));
        assert_eq!(list(&v["Info"]["history"]).len(), 2);
        assert_eq!(list(&v["Info"]["id"]), vec![json!("1")]);
        assert!(to_json("<xml><a></xml>").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        // Thousands of levels (about 22 KB) overflowed the parser's stack and aborted the
        // process; now it is a plain error, found without recursion.
        let deep = format!("{}{}", "<a>".repeat(5_000), "</a>".repeat(5_000));
        assert_eq!(to_json(&deep), Err(ParseError::TooDeep(LIMITS.max_depth)));
        let unclosed = "<a>".repeat(100_000);
        assert!(matches!(
            to_json(&unclosed),
            Err(ParseError::TooLarge(_) | ParseError::TooDeep(_))
        ));
        let within = format!("{}{}", "<a>".repeat(32), "</a>".repeat(32));
        assert!(to_json(&within).is_ok());
        let over = format!("{}{}", "<a>".repeat(33), "</a>".repeat(33));
        assert_eq!(to_json(&over), Err(ParseError::TooDeep(32)));
        // Markup that hides nothing: comments, CDATA, quoted '>' and self-closing tags.
        let tricky = format!(
            "<xml><!-- <a><a> --><b x=\"a>b\"/><![CDATA[<a><a>]]>{}{}</xml>",
            "<c>".repeat(30),
            "</c>".repeat(30)
        );
        assert!(to_json(&tricky).is_ok(), "{:?}", to_json(&tricky));
    }

    #[test]
    fn size_element_count_and_doctype_are_bounded() {
        let big = format!("<xml><a>{}</a></xml>", "x".repeat(LIMITS.max_bytes));
        assert_eq!(to_json(&big), Err(ParseError::TooLarge(LIMITS.max_bytes)));
        let many = format!("<xml>{}</xml>", "<a/>".repeat(LIMITS.max_elements));
        assert_eq!(
            to_json(&many),
            Err(ParseError::TooManyElements(LIMITS.max_elements))
        );
        let laughs = "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><xml><a>&a;</a></xml>";
        assert_eq!(to_json(laughs), Err(ParseError::Doctype));
    }

    #[test]
    fn json_depth_and_value_count_are_bounded() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            check_json(&deep, &LIMITS),
            Err(ParseError::TooDeep(LIMITS.max_depth))
        );
        // Brackets inside strings are text.
        let quoted = format!("{{\"a\":\"{}\\\"\"}}", "[".repeat(100));
        assert_eq!(check_json(&quoted, &LIMITS), Ok(()));
        let many = format!("[{}0]", "0,".repeat(LIMITS.max_elements));
        assert_eq!(
            check_json(&many, &LIMITS),
            Err(ParseError::TooManyElements(LIMITS.max_elements))
        );
    }
}
