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

mod field;
mod schema;
mod values;
mod words;

pub use field::{Choice, Field, FormError, InputKind};
pub use schema::{Rule, read_schema};
pub use values::{YuanError, parse_yuan, value_of, yuan};

use super::Lang;
use askama::Template;
use desk_core::platform::Platforms;
use desk_core::staff_actions::StaffAction;
use domain::complaint::Platform;
use field::{choice_words, error};
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;
use values::{SHOWN_MAX, checked, fen_bound};
use words::action_title;

/// The image types an upload may have (the platforms take JPEG, PNG and BMP).
pub const IMAGE_TYPES: &str = "image/jpeg,image/png,image/bmp";

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
        let (fields, rules) = schema::read(action);
        ActionForm {
            name: action.name,
            summary: action.summary,
            fields,
            rules,
            body_required: action.body_required,
        }
    }

    /// The action's name (its path segment).
    pub fn name(&self) -> &'static str {
        self.name
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

    /// The action's own refusal (its 400 naming `field`, such as `images[2]`, or a message
    /// without a field: the complaint's state, the platform's refusal), to show with the form:
    /// at the field it names, in the field's words, or above the fields.
    pub fn refusal(&self, field: Option<&str>, message: &str) -> FormError {
        let named = field
            .and_then(|f| f.split(['[', '.']).next())
            .and_then(|f| self.field(f));
        match named {
            Some(f) => error(f, message.to_string(), message.to_string()),
            None => FormError {
                field: field.unwrap_or_default().to_string(),
                message_zh: format!("未发送：{message}"),
                message_en: format!("Not sent: {message}"),
            },
        }
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
        t.render().unwrap_or_else(|e| {
            tracing::error!(error = %e, action = self.name, "an action form could not be drawn");
            String::new()
        })
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
                f.minimum.as_ref().and_then(fen_bound).map(yuan),
                f.maximum
                    .as_ref()
                    .and_then(fen_bound)
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
