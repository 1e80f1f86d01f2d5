//! Reading an action's body schema (utoipa's, as JSON, with the schemas it refers to and the
//! rules the platform states between fields) into fields and rules.

use super::field::{Choice, Field, InputKind};
use super::values::matches;
use super::words::choice_label;
use desk_core::staff_actions::StaffAction;
use serde_json::{Map, Number, Value};

/// A text field with at least this `maxLength` is a text area.
const TEXTAREA_FROM: u64 = 100;

/// A rule between fields the platform states, in a shape the form checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// When `field` is given, so must `needs` be (`dependentRequired`).
    Needs { field: String, needs: Vec<String> },
    /// When `field` is `value`, `required` must be given (`if`/`then`).
    RequiredWhen {
        field: String,
        value: Value,
        required: Vec<String>,
    },
}

/// The fields of `action`'s body, in the form's order, and the rules between them.
pub fn read(action: &StaffAction) -> (Vec<Field>, Vec<Rule>) {
    let (mut fields, rules) = read_schema(&action.body, action.body_rules);
    // Choices first, the amount, the words, other details, the images last (the schema's
    // properties come in name order).
    fields.sort_by_key(|f| rank(&f.kind));
    (fields, rules)
}

/// The fields of any schema a platform brings (an account kind's settings or credentials),
/// in the schema's order (properties in name order), with the rules `rules` states (merged
/// into the properties as the document merges them).
pub fn read_schema(
    body: &desk_core::schema::SchemaOf,
    body_rules: Option<fn() -> Value>,
) -> (Vec<Field>, Vec<Rule>) {
    let nested: Map<String, Value> = body
        .nested()
        .into_iter()
        .map(|(name, s)| (name, serde_json::to_value(s).unwrap_or(Value::Null)))
        .collect();
    let own = serde_json::to_value(body.schema()).unwrap_or(Value::Null);
    let mut schema = resolve(&own, &nested).clone();
    let rules = body_rules.map(|r| r()).unwrap_or(Value::Null);
    if let (Some(props), Some(extra)) = (
        schema.as_object_mut().map(|o| {
            o.entry("properties")
                .or_insert_with(|| Value::Object(Map::new()))
        }),
        rules.get("properties").and_then(Value::as_object),
    ) {
        for (field, r) in extra {
            let p = props[field.as_str()].take();
            props[field.as_str()] = crate::admin::action_document::merged(p, r.clone());
        }
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let fields: Vec<Field> = schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, p)| field_of(name, p, required.contains(&name.as_str()), &nested))
        .collect();
    (fields, rules_of(&rules))
}

/// The order of fields in a form.
fn rank(kind: &InputKind) -> u8 {
    match kind {
        InputKind::Select(_) => 0,
        InputKind::Checkbox => 1,
        InputKind::Money => 2,
        InputKind::Textarea => 3,
        InputKind::Text | InputKind::Url | InputKind::Integer | InputKind::Number => 4,
        InputKind::Images => 5,
    }
}

/// `s` itself, or the component it refers to (`$ref`), or the one non-null schema of a
/// `oneOf`/`anyOf`/`allOf`.
fn resolve<'a>(s: &'a Value, nested: &'a Map<String, Value>) -> &'a Value {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return match nested.get(name) {
            Some(target) if target != s => resolve(target, nested),
            _ => s,
        };
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(members) = s[key].as_array() {
            let mut real = members.iter().filter(|m| m["type"] != "null");
            if let (Some(one), None) = (real.next(), real.next()) {
                return resolve(one, nested);
            }
        }
    }
    s
}

/// The description of a property: its own, or that of the one non-null member it wraps.
fn description_of(p: &Value) -> Option<String> {
    if let Some(d) = p["description"].as_str() {
        return Some(d.to_string());
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for m in p[key].as_array().into_iter().flatten() {
            if let Some(d) = m["description"].as_str() {
                return Some(d.to_string());
            }
        }
    }
    None
}

/// The field of property `name` (schema `p`).
fn field_of(name: &str, p: &Value, required: bool, nested: &Map<String, Value>) -> Field {
    let s = resolve(p, nested);
    let types: Vec<&str> = match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let is = |t: &str| types.contains(&t);
    let number = |key: &str| s[key].as_number().cloned();
    let count = |key: &str| s[key].as_u64();
    let pattern = s["pattern"].as_str();
    let kind = if let Some(values) = s["enum"].as_array() {
        InputKind::Select(
            values
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| choice(name, v))
                .collect(),
        )
    } else if is("boolean") {
        InputKind::Checkbox
    } else if (is("integer") || is("number")) && name.ends_with("_fen") {
        InputKind::Money
    } else if is("integer") {
        InputKind::Integer
    } else if is("number") {
        InputKind::Number
    } else if is("array") && name == "images" {
        InputKind::Images
    } else if s["format"] == "uri" {
        InputKind::Url
    } else if (name == "text" || count("maxLength").is_some_and(|m| m >= TEXTAREA_FROM))
        && pattern.is_none_or(|p| matches(p, "a\nb") != Some(false))
    {
        // Several lines, unless the schema's pattern refuses a line break.
        InputKind::Textarea
    } else {
        InputKind::Text
    };
    Field {
        name: name.to_string(),
        kind,
        required,
        min_length: count("minLength"),
        max_length: count("maxLength"),
        minimum: number("minimum").or_else(|| format_range(s).map(|r| r.0)),
        maximum: number("maximum").or_else(|| format_range(s).map(|r| r.1)),
        max_items: count("maxItems"),
        pattern: pattern.map(str::to_string),
        description: description_of(p),
    }
}

/// The range of an integer `format` (`uint32`: what the action's type can hold), for a
/// schema that states no bounds of its own. utoipa writes an unsigned type as `int32` or
/// `int64` with a minimum of 0; read as the document reads it (`uint32`, `uint64`).
fn format_range(s: &Value) -> Option<(Number, Number)> {
    let unsigned = s["minimum"].as_u64().is_some();
    let format = match (s["format"].as_str()?, unsigned) {
        ("int32", true) => "uint32",
        ("int64", true) => "uint64",
        (f, _) => f,
    };
    let (min, max): (i64, u64) = match format {
        "int8" => (i8::MIN.into(), i8::MAX as u64),
        "uint8" => (0, u8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX as u64),
        "uint16" => (0, u16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX as u64),
        "uint32" => (0, u32::MAX.into()),
        "int64" => (i64::MIN, i64::MAX as u64),
        "uint64" => (0, u64::MAX),
        _ => return None,
    };
    Some((min.into(), max.into()))
}

fn choice(field: &str, v: &Value) -> Choice {
    let value = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (zh, en) = match choice_label(field, &value) {
        Some((zh, en)) => (zh.to_string(), en.to_string()),
        None => (value.clone(), value.clone()),
    };
    Choice {
        value,
        json: v.clone(),
        label_zh: zh,
        label_en: en,
    }
}

/// The rules of the simple shapes the form checks.
fn rules_of(rules: &Value) -> Vec<Rule> {
    let mut out = Vec::new();
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    for (field, needs) in rules["dependentRequired"].as_object().into_iter().flatten() {
        out.push(Rule::Needs {
            field: field.clone(),
            needs: names(needs),
        });
    }
    // `if` one property is a constant `then` some are required.
    if let Some(conditions) = rules["if"]["properties"].as_object()
        && conditions.len() == 1
        && let Some((field, condition)) = conditions.iter().next()
        && let Some(value) = condition.get("const")
    {
        let required = names(&rules["then"]["required"]);
        if !required.is_empty() {
            out.push(Rule::RequiredWhen {
                field: field.clone(),
                value: value.clone(),
                required,
            });
        }
    }
    out
}
