//! WeChat's XML messages as JSON values: an element with child elements becomes an object, one
//! with only text becomes a string (CDATA included), a repeated child name becomes an array.
//! JSON-format pushes use the same keys, so the rest of the code reads one shape.

use serde_json::{Map, Value};

/// The root element's children as a JSON object.
pub fn to_json(text: &str) -> Result<Value, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("XML: {e}"))?;
    Ok(element(doc.root_element()))
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
}
