//! A form's fields ([`Field`], how each is entered: [`InputKind`]) and what the form refuses
//! ([`FormError`]).

use super::words::field_label;
use crate::console::Lang;
use serde_json::{Number, Value};

/// How a field is entered.
#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    /// One line of text.
    Text,
    /// Several lines (line breaks kept as `\n`).
    Textarea,
    /// An `http(s)` link (`format: uri`).
    Url,
    /// A whole number.
    Integer,
    /// A number.
    Number,
    /// An amount staff type in yuan (`12.50`), sent in fen (a field ending `_fen`).
    Money,
    /// Yes or no.
    Checkbox,
    /// One of the schema's values.
    Select(Vec<Choice>),
    /// Image files, sent as the media ids they were uploaded as (`images`).
    Images,
}

/// A value of a choice, with its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The value as the form sends it.
    pub value: String,
    /// The value as the body carries it.
    pub json: Value,
    pub label_zh: String,
    pub label_en: String,
}

impl Choice {
    pub fn label(&self, lang: Lang) -> &str {
        if lang.is_en() {
            &self.label_en
        } else {
            &self.label_zh
        }
    }
}

/// One field of a form: a property of the action's body.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The property's name (also the input's `name`).
    pub name: String,
    pub kind: InputKind,
    pub required: bool,
    /// In characters.
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    /// For numbers; for money, in fen.
    pub minimum: Option<Number>,
    pub maximum: Option<Number>,
    pub max_items: Option<u64>,
    /// The schema's `pattern` (checked before sending where the `regex` crate reads it).
    pub pattern: Option<String>,
    /// The schema's description (help text).
    pub description: Option<String>,
}

impl Field {
    /// The field's name in words.
    pub fn label(&self, lang: Lang) -> String {
        match field_label(&self.name) {
            Some((zh, en)) => lang.t(zh, en).to_string(),
            None => self.name.clone(),
        }
    }
}

/// What the form refuses, naming the field in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    /// The property's name.
    pub field: String,
    pub message_zh: String,
    pub message_en: String,
}

impl FormError {
    pub fn message(&self, lang: Lang) -> &str {
        if lang.is_en() {
            &self.message_en
        } else {
            &self.message_zh
        }
    }
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message_en)
    }
}

impl std::error::Error for FormError {}

/// `f`'s refusal: its name in words, then what is wrong.
pub fn error(f: &Field, zh: String, en: String) -> FormError {
    FormError {
        field: f.name.clone(),
        message_zh: format!("{}：{zh}", f.label(Lang::Zh)),
        message_en: format!("{}: {en}", f.label(Lang::En)),
    }
}

/// The words of `value` of the choice field `f` (the value itself when it has none).
pub fn choice_words(f: &Field, value: &Value) -> (String, String) {
    if let InputKind::Select(choices) = &f.kind
        && let Some(c) = choices.iter().find(|c| c.json == *value)
    {
        return (c.label_zh.clone(), c.label_en.clone());
    }
    let raw = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    (raw.clone(), raw)
}
