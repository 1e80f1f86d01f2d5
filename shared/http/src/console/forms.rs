//! The forms of a complaint's actions, built from the schemas the platforms give their action
//! bodies (no form is written by hand for a platform): each property of an action's body is a
//! field whose input follows its schema (text, a text area, a link, a number, an amount in
//! yuan for a `_fen` field, a checkbox, a choice, image files), with the limits the schema
//! states. [`ActionForm::body`] turns what a browser submits into the JSON body the admin API
//! action takes, refusing in words (naming the field) what breaks those limits before anything
//! is sent; [`ActionForm::render`] writes the form's HTML.
//!
//! The rules a platform states between fields (`dependentRequired`; `if` one field has a value
//! `then` others are required) are checked when they have those simple shapes and shown as
//! help; anything else is left to the action, whose refusal the page shows.

use super::Lang;
use askama::Template;
use desk_core::platform::Platforms;
use desk_core::staff_actions::StaffAction;
use domain::complaint::Platform;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// The image types an upload may have (the platforms take JPEG, PNG and BMP).
pub const IMAGE_TYPES: &str = "image/jpeg,image/png,image/bmp";

/// A text field with at least this `maxLength` is a text area.
const TEXTAREA_FROM: u64 = 100;

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

/// Values shown in a form's fields when it is drawn (what is left to refund, or what staff
/// typed before a refusal). Money is given in yuan as staff type it ([`yuan`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefill(BTreeMap<String, String>);

impl Prefill {
    pub fn new() -> Self {
        Self::default()
    }

    /// `field` shows `value`.
    pub fn with(mut self, field: &str, value: impl Into<String>) -> Self {
        self.0.insert(field.to_string(), value.into());
        self
    }

    /// What a browser submitted, shown again (a name given twice keeps the last).
    pub fn from_submitted(values: &[(String, String)]) -> Self {
        Self(values.iter().cloned().collect())
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }
}

/// `1250` fen → `12.50`.
pub fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// The form of one action of a platform.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionForm {
    /// The action's name (its path segment: `refund-progress`).
    pub name: &'static str,
    /// The platform's one line about it.
    pub summary: &'static str,
    pub fields: Vec<Field>,
    pub rules: Vec<Rule>,
    /// Whether the action needs a body (when not, an empty form sends `{}`).
    pub body_required: bool,
}

impl ActionForm {
    /// The form of `platform`'s `action`, if the platform is registered and offers it.
    pub fn for_action(
        platforms: &Platforms,
        platform: Platform,
        action: &str,
    ) -> Option<ActionForm> {
        platforms
            .get(platform)?
            .staff_actions()
            .actions()
            .iter()
            .find(|a| a.name == action)
            .map(ActionForm::from_action)
    }

    /// The forms of every action `platform` offers, in its order.
    pub fn all_for(platforms: &Platforms, platform: Platform) -> Vec<ActionForm> {
        platforms
            .get(platform)
            .map(|p| {
                p.staff_actions()
                    .actions()
                    .iter()
                    .map(ActionForm::from_action)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The form of an action, from its body's schema and rules.
    pub fn from_action(action: &StaffAction) -> ActionForm {
        let nested: Map<String, Value> = action
            .body
            .nested()
            .into_iter()
            .map(|(name, s)| (name, serde_json::to_value(s).unwrap_or(Value::Null)))
            .collect();
        let own = serde_json::to_value(action.body.schema()).unwrap_or(Value::Null);
        let mut schema = resolve(&own, &nested).clone();
        let rules = action.body_rules.map(|r| r()).unwrap_or(Value::Null);
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
        let mut fields: Vec<Field> = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, p)| field_of(name, p, required.contains(&name.as_str()), &nested))
            .collect();
        // Choices first, the amount, the words, other details, the images last (the schema's
        // properties come in name order).
        fields.sort_by_key(|f| rank(&f.kind));
        ActionForm {
            name: action.name,
            summary: action.summary,
            fields,
            rules: rules_of(&rules),
            body_required: action.body_required,
        }
    }

    /// The action's name in words (its summary for an action we have no words for).
    pub fn title(&self, lang: Lang) -> &'static str {
        match action_title(self.name) {
            Some((zh, en)) => lang.t(zh, en),
            None => self.summary,
        }
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The most images the form takes (`None` when it takes none).
    pub fn max_images(&self) -> Option<u64> {
        self.image_field().map(|f| f.max_items.unwrap_or(u64::MAX))
    }

    fn image_field(&self) -> Option<&Field> {
        self.fields.iter().find(|f| f.kind == InputKind::Images)
    }

    /// Refuse `count` images before any is uploaded: more than the platform takes, any for
    /// a form without images, none where they are required.
    pub fn check_image_count(&self, count: usize) -> Result<(), FormError> {
        let Some(f) = self.image_field() else {
            return match count {
                0 => Ok(()),
                _ => Err(FormError {
                    field: "images".into(),
                    message_zh: "此操作不能附图片".into(),
                    message_en: "This action takes no images".into(),
                }),
            };
        };
        let count = count as u64;
        if let Some(max) = f.max_items
            && count > max
        {
            return Err(error(
                f,
                format!("最多 {max} 张（现在 {count} 张）"),
                format!("at most {max} images (now {count})"),
            ));
        }
        if f.required && count == 0 {
            return Err(error(f, "必填".into(), "required".into()));
        }
        Ok(())
    }

    /// The JSON body of the admin API action from the submitted form fields (strings; an
    /// unchecked checkbox absent; names the form lacks ignored) and the media ids of the
    /// uploaded images, checked against the platform's limits first.
    pub fn body(
        &self,
        values: &[(String, String)],
        image_ids: Vec<String>,
    ) -> Result<Value, FormError> {
        self.check_image_count(image_ids.len())?;
        let mut body = Map::new();
        for f in &self.fields {
            if f.kind == InputKind::Images {
                if !image_ids.is_empty() {
                    body.insert(
                        f.name.clone(),
                        image_ids.iter().cloned().map(Value::from).collect(),
                    );
                }
                continue;
            }
            let given = values
                .iter()
                .rev()
                .find(|(k, _)| *k == f.name)
                .map(|(_, v)| v.as_str());
            if let Some(v) = value_of(f, given)? {
                body.insert(f.name.clone(), v);
            }
        }
        self.check_rules(&body)?;
        Ok(Value::Object(body))
    }

    fn check_rules(&self, body: &Map<String, Value>) -> Result<(), FormError> {
        let named = |name: &str| self.field(name);
        for rule in &self.rules {
            match rule {
                Rule::Needs { field, needs } if body.contains_key(field) => {
                    for n in needs.iter().filter(|n| !body.contains_key(n.as_str())) {
                        if let (Some(f), Some(given)) = (named(n), named(field)) {
                            return Err(error(
                                f,
                                format!("填写「{}」时必填", given.label(Lang::Zh)),
                                format!("required with {}", given.label(Lang::En)),
                            ));
                        }
                    }
                }
                Rule::RequiredWhen {
                    field,
                    value,
                    required,
                } if body.get(field) == Some(value) => {
                    for n in required.iter().filter(|n| !body.contains_key(n.as_str())) {
                        if let (Some(f), Some(given)) = (named(n), named(field)) {
                            let (zh, en) = choice_words(given, value);
                            return Err(error(
                                f,
                                format!("「{}」为「{zh}」时必填", given.label(Lang::Zh)),
                                format!("required when {} is {en}", given.label(Lang::En)),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The form's HTML, posting to `post_to` with the session's CSRF token.
    pub fn render(&self, lang: Lang, csrf: &str, post_to: &str) -> String {
        self.render_with(lang, csrf, post_to, &Prefill::default(), None)
    }

    /// The form's HTML with values shown in its fields and, after a refusal, the error at its
    /// field.
    pub fn render_with(
        &self,
        lang: Lang,
        csrf: &str,
        post_to: &str,
        prefill: &Prefill,
        error: Option<&FormError>,
    ) -> String {
        let id = format!("action-{}", self.name);
        let fields = self
            .fields
            .iter()
            .map(|f| self.view(f, lang, &id, prefill, error))
            .collect();
        let t = FormTemplate {
            id,
            name: self.name,
            title: self.title(lang),
            summary: match (lang, action_title(self.name)) {
                (Lang::En, Some(_)) => Some(self.summary),
                _ => None,
            },
            csrf,
            post_to,
            fields,
            error: error
                .filter(|e| self.field(&e.field).is_none())
                .map(|e| e.message(lang).to_string()),
            submit: lang.t("提交", "Send"),
        };
        // The template only writes strings; it cannot fail but for a formatter error.
        t.render().unwrap_or_default()
    }

    fn view(
        &self,
        f: &Field,
        lang: Lang,
        form_id: &str,
        prefill: &Prefill,
        error: Option<&FormError>,
    ) -> FieldView {
        let value = prefill.get(&f.name).unwrap_or("").to_string();
        let (input_type, control) = match &f.kind {
            InputKind::Text => ("text", Control::Input),
            InputKind::Textarea => ("text", Control::Textarea),
            InputKind::Url => ("url", Control::Input),
            InputKind::Integer | InputKind::Number | InputKind::Money => ("number", Control::Input),
            InputKind::Checkbox => ("checkbox", Control::Checkbox),
            InputKind::Select(_) => ("", Control::Select),
            InputKind::Images => ("file", Control::Files),
        };
        let options = match &f.kind {
            InputKind::Select(choices) => choices
                .iter()
                .map(|c| OptionView {
                    value: c.value.clone(),
                    label: c.label(lang).to_string(),
                    selected: c.value == value,
                })
                .collect(),
            _ => Vec::new(),
        };
        let (min, max, step) = match &f.kind {
            InputKind::Money => (
                f.minimum.as_ref().and_then(|n| fen_bound(n)).map(yuan),
                f.maximum
                    .as_ref()
                    .and_then(|n| fen_bound(n))
                    .filter(|m| *m < SHOWN_MAX)
                    .map(yuan),
                Some("0.01"),
            ),
            InputKind::Integer => (
                f.minimum.as_ref().map(Number::to_string),
                f.maximum.as_ref().map(Number::to_string),
                Some("1"),
            ),
            InputKind::Number => (
                f.minimum.as_ref().map(Number::to_string),
                f.maximum.as_ref().map(Number::to_string),
                Some("any"),
            ),
            _ => (None, None, None),
        };
        let mut help = limits_help(f, lang);
        help.extend(self.rules_help(f, lang));
        if let Some(d) = &f.description {
            help.push(d.replace('`', ""));
        }
        let id = format!("{form_id}-{}", f.name);
        FieldView {
            name: f.name.clone(),
            label: f.label(lang),
            input_type,
            is_textarea: control == Control::Textarea,
            is_select: control == Control::Select,
            is_checkbox: control == Control::Checkbox,
            is_files: control == Control::Files,
            // A checkbox that must be sent is sent unchecked as `false`: the browser must not
            // insist on a tick.
            required: f.required && control != Control::Checkbox,
            minlength: f.min_length,
            maxlength: f.max_length,
            min,
            max,
            step,
            inputmode: (f.kind == InputKind::Money).then_some("decimal"),
            accept: (control == Control::Files).then_some(IMAGE_TYPES),
            max_items: f.max_items,
            checked: control == Control::Checkbox && checked(Some(value.as_str())),
            value,
            options,
            help_id: format!("{id}-help"),
            id,
            help,
            error: error
                .filter(|e| e.field == f.name)
                .map(|e| e.message(lang).to_string()),
        }
    }

    /// The rules that concern `f`, in words.
    fn rules_help(&self, f: &Field, lang: Lang) -> Vec<String> {
        let label = |name: &str| match self.field(name) {
            Some(other) => other.label(lang),
            None => name.to_string(),
        };
        let mut out = Vec::new();
        for rule in &self.rules {
            match rule {
                Rule::Needs { field, needs } if *field == f.name => {
                    let others: Vec<String> = needs.iter().map(|n| label(n)).collect();
                    out.push(match lang {
                        Lang::Zh => format!("需与「{}」一起填写", others.join("」「")),
                        Lang::En => format!("Goes with {}", others.join(", ")),
                    });
                }
                Rule::RequiredWhen {
                    field,
                    value,
                    required,
                } if required.contains(&f.name) => {
                    let words = match self.field(field) {
                        Some(given) => choice_words(given, value),
                        None => (value.to_string(), value.to_string()),
                    };
                    out.push(match lang {
                        Lang::Zh => format!("「{}」为「{}」时必填", label(field), words.0),
                        Lang::En => format!("Required when {} is {}", label(field), words.1),
                    });
                }
                _ => {}
            }
        }
        out
    }
}

/// A money maximum at or above this (in fen) is the type's range, not a limit worth showing.
const SHOWN_MAX: u64 = 1 << 53;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Input,
    Textarea,
    Select,
    Checkbox,
    Files,
}

struct OptionView {
    value: String,
    label: String,
    selected: bool,
}

struct FieldView {
    name: String,
    id: String,
    label: String,
    input_type: &'static str,
    is_textarea: bool,
    is_select: bool,
    is_checkbox: bool,
    is_files: bool,
    required: bool,
    minlength: Option<u64>,
    maxlength: Option<u64>,
    min: Option<String>,
    max: Option<String>,
    step: Option<&'static str>,
    inputmode: Option<&'static str>,
    accept: Option<&'static str>,
    max_items: Option<u64>,
    value: String,
    checked: bool,
    options: Vec<OptionView>,
    help_id: String,
    help: Vec<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/action_form.html")]
struct FormTemplate<'a> {
    id: String,
    name: &'static str,
    title: &'static str,
    summary: Option<&'static str>,
    csrf: &'a str,
    post_to: &'a str,
    fields: Vec<FieldView>,
    error: Option<String>,
    submit: &'static str,
}

/// The limits of `f` in words.
fn limits_help(f: &Field, lang: Lang) -> Vec<String> {
    let mut out = Vec::new();
    let en = lang.is_en();
    match (&f.kind, f.min_length, f.max_length) {
        (InputKind::Images, ..) => {
            if let Some(n) = f.max_items {
                out.push(if en {
                    format!("JPEG, PNG or BMP, at most {n}")
                } else {
                    format!("JPEG、PNG 或 BMP，最多 {n} 张")
                });
            }
        }
        (_, Some(min), Some(max)) if min > 1 => out.push(if en {
            format!("{min} to {max} characters")
        } else {
            format!("{min} 至 {max} 个字")
        }),
        (_, _, Some(max)) => out.push(if en {
            format!("At most {max} characters")
        } else {
            format!("最多 {max} 个字")
        }),
        _ => {}
    }
    if f.kind == InputKind::Money {
        out.push(
            lang.t(
                "以元为单位，最多两位小数，如 12.50",
                "In yuan, at most two decimals, e.g. 12.50",
            )
            .to_string(),
        );
    }
    out
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
        minimum: number("minimum"),
        maximum: number("maximum"),
        max_items: count("maxItems"),
        pattern: pattern.map(str::to_string),
        description: description_of(p),
    }
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

/// The words of `value` of the choice field `f` (the value itself when it has none).
fn choice_words(f: &Field, value: &Value) -> (String, String) {
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

fn error(f: &Field, zh: String, en: String) -> FormError {
    FormError {
        field: f.name.clone(),
        message_zh: format!("{}：{zh}", f.label(Lang::Zh)),
        message_en: format!("{}: {en}", f.label(Lang::En)),
    }
}

/// Whether a checkbox was ticked (a browser sends a ticked one, `on` unless it has a value).
fn checked(given: Option<&str>) -> bool {
    matches!(given, Some(v) if !matches!(v.trim(), "" | "false" | "off" | "0"))
}

/// The JSON value of field `f` from what was submitted (`None`: left out).
fn value_of(f: &Field, given: Option<&str>) -> Result<Option<Value>, FormError> {
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
fn matches(pattern: &str, text: &str) -> Option<bool> {
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
fn fen_bound(n: &Number) -> Option<u64> {
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
    let (whole, cents) = match text.split_once('.') {
        Some((w, c)) => (w, c),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(cents) || cents.len() > 2 {
        return Err(format());
    }
    if text.ends_with('.') {
        return Err(format());
    }
    let whole: u64 = whole.parse().map_err(|_| too_large())?;
    let cents: u64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<u64>().map_err(|_| format())? * 10,
        _ => cents.parse().map_err(|_| format())?,
    };
    let fen = whole
        .checked_mul(100)
        .and_then(|f| f.checked_add(cents))
        .ok_or_else(too_large)?;
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

/// The actions' names in words.
fn action_title(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "reply" => ("回复", "Reply"),
        "refund" => ("退款", "Refund"),
        "complete" => ("完结", "Complete"),
        "refund-progress" => ("处理退款申请", "Refund request"),
        "feedback" => ("反馈", "Feedback"),
        "supplement" => ("补充凭证", "Supplement"),
        "refund-evidence" => ("退款凭证", "Refund evidence"),
        "appeal" => ("申诉", "Appeal"),
        _ => return None,
    })
}

/// The fields' names in words.
fn field_label(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "text" => ("内容", "Text"),
        "images" => ("图片", "Images"),
        "amount_fen" => ("金额（元）", "Amount (yuan)"),
        "reason" => ("原因", "Reason"),
        "transaction_id" => ("支付订单号", "Transaction id"),
        "code" => ("处理结果", "Result code"),
        "decision" => ("是否和解", "Settlement"),
        "action" => ("处理", "Decision"),
        "launch_refund_day" => ("几天后退款", "Days until the refund"),
        "reject_reason" => ("拒绝原因", "Reason for rejecting"),
        "remark" => ("备注", "Remark"),
        "goods_received" => ("已收到退货", "Returned goods received"),
        "jump_url" => ("跳转链接", "Link"),
        "jump_url_text" => ("链接文字", "Link text"),
        _ => return None,
    })
}

/// The words of a choice's value, by its field.
fn choice_label(field: &str, value: &str) -> Option<(&'static str, &'static str)> {
    Some(match (field, value) {
        ("action", "approve") => ("同意退款", "Approve"),
        ("action", "reject") => ("拒绝退款", "Reject"),
        ("decision", "agree") => ("同意和解", "Agree to settle"),
        ("decision", "refuse") => ("拒绝和解", "Refuse to settle"),
        // Alipay's `feedback_code`.
        ("code", "00") => (
            "00 使用体验保障金退款",
            "00 Refunded from the guarantee fund",
        ),
        ("code", "02") => ("02 通过其他方式退款", "02 Refunded another way"),
        ("code", "03") => ("03 已发货", "03 Shipped"),
        ("code", "04") => ("04 其他", "04 Other"),
        ("code", "05") => ("05 已完成售后服务", "05 After-sales service done"),
        ("code", "06") => ("06 非我方责任范围", "06 Not our responsibility"),
        _ => return None,
    })
}
