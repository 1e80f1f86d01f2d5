//! The inputs of an account form as the templates draw them: settings with their values,
//! credentials always empty (write-only) with what is stored shown as status and fingerprint,
//! each with its help and, after a refusal, its error.

use super::form::{CREDENTIAL, Errors, KindForm, Refund, SETTING, Submitted};
use super::guide;
use crate::console::Lang;
use crate::console::forms::{Field, InputKind};
use domain::account::CredentialsStatus;
use serde_json::Value;
use std::collections::BTreeMap;

pub struct OptionView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One input.
pub struct InputView {
    pub name: String,
    pub id: String,
    pub label: String,
    /// `text`, `url`, `password`, `textarea`, `pem` (a text area with a file picker),
    /// `select`, `checkbox`.
    pub control: &'static str,
    pub required: bool,
    pub readonly: bool,
    pub maxlength: Option<u64>,
    pub value: String,
    pub checked: bool,
    pub options: Vec<OptionView>,
    pub help: Vec<String>,
    pub error: Option<String>,
    /// A stored credential: "set · fingerprint" (credentials only).
    pub status: Option<String>,
}

/// A settings value as an input shows it.
fn shown(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Settings values of stored settings, by field name.
pub fn values_of(settings: &Value) -> BTreeMap<String, String> {
    settings
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), shown(v)))
        .collect()
}

/// The settings values typed into a submitted form.
pub fn values_typed(form: &KindForm, given: &Submitted) -> BTreeMap<String, String> {
    form.settings
        .iter()
        .filter_map(|f| {
            given
                .get(&format!("{SETTING}{}", f.name))
                .map(|v| (f.name.clone(), v.to_string()))
        })
        .collect()
}

fn help_of(f: &Field, lang: Lang) -> Vec<String> {
    let mut help = Vec::new();
    if let Some(max) = f.max_length {
        help.push(match lang {
            Lang::Zh => format!("最多 {max} 个字"),
            Lang::En => format!("At most {max} characters"),
        });
    }
    match f.name.as_str() {
        "reply_text" => help.push(
            lang.t(
                "新投诉到达时自动发给买家；留空则不自动回复。服务商：只用于服务商自己的投诉。",
                "Sent to the buyer when a complaint arrives; empty: no automatic reply. A service provider: only for its own complaints.",
            )
            .into(),
        ),
        "default_reply_text" => help.push(
            lang.t(
                "用于没有在本系统添加的子商户，以及已添加但没填自己回复内容的子商户；留空则它们不自动回复。",
                "For sub-merchants not added here, and for added ones with no reply text of their own; empty: no automatic reply for them.",
            )
            .into(),
        ),
        "api_base_url" | "auth_page_base_url" => help.push(
            lang.t(
                "只在测试或沙箱环境时填写。",
                "Only for a test or sandbox environment.",
            )
            .into(),
        ),
        _ => {}
    }
    help
}

/// The settings inputs, with `values`; `fixed` names the field that cannot change (the
/// platform id of a stored account), `locked` the guarded settings the caller may not change
/// (drawn read-only, saying who can).
pub fn settings_inputs(
    form: &KindForm,
    lang: Lang,
    values: &BTreeMap<String, String>,
    errors: &Errors,
    fixed: Option<&str>,
    locked: &[&str],
) -> Vec<InputView> {
    form.settings
        .iter()
        .map(|f| {
            let name = format!("{SETTING}{}", f.name);
            let value = values.get(&f.name).cloned().unwrap_or_default();
            let control = match &f.kind {
                InputKind::Textarea => "textarea",
                InputKind::Url => "url",
                InputKind::Checkbox => "checkbox",
                InputKind::Select(_) => "select",
                _ => "text",
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
            let is_locked = locked.contains(&f.name.as_str());
            let mut help = help_of(f, lang);
            if is_locked {
                help.push(
                    lang.t(
                        "只有范围为「全部账户」的令牌才能修改这一项。",
                        "Only a token whose scope is all accounts can change this.",
                    )
                    .into(),
                );
            }
            InputView {
                id: format!("input-{}", f.name.replace('_', "-")),
                label: guide::label(lang, &f.name),
                control,
                required: f.required && control != "checkbox",
                readonly: fixed == Some(f.name.as_str()) || is_locked,
                maxlength: f.max_length,
                checked: control == "checkbox" && matches!(value.as_str(), "true" | "on"),
                value,
                options,
                help,
                error: errors.of(&name, lang),
                status: None,
                name,
            }
        })
        .collect()
}

/// The credentials inputs: secrets empty (never echoed), the mode and public ids with what
/// was typed; with a stored status, each secret's status and fingerprint.
pub fn credential_inputs(
    form: &KindForm,
    lang: Lang,
    given: Option<&Submitted>,
    stored: Option<&CredentialsStatus>,
    errors: &Errors,
) -> Vec<InputView> {
    form.credentials
        .iter()
        .map(|f| {
            let name = format!("{CREDENTIAL}{}", f.name);
            let public = guide::is_public_credential(&f.name);
            let value = if public {
                given
                    .and_then(|g| g.get(&name))
                    .map(str::to_string)
                    .or_else(|| {
                        stored.and_then(|s| match f.name.as_str() {
                            "mode" => s.mode.clone(),
                            other => s.identifiers.get(other).cloned(),
                        })
                    })
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let control = match &f.kind {
                InputKind::Select(_) => "select",
                _ if public => "text",
                _ if guide::is_pem(&f.name) => "pem",
                _ => "password",
            };
            let options = match &f.kind {
                InputKind::Select(choices) => choices
                    .iter()
                    .map(|c| OptionView {
                        value: c.value.clone(),
                        label: mode_label(lang, &c.value),
                        selected: c.value == value,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let status = stored
                .filter(|_| !public)
                .map(|s| match s.fields.get(&f.name) {
                    Some(st) if st.set => match &st.fingerprint {
                        Some(fp) => match lang {
                            Lang::Zh => format!("已设置 · 指纹 {fp}"),
                            Lang::En => format!("Set · fingerprint {fp}"),
                        },
                        None => lang.t("已设置", "Set").to_string(),
                    },
                    _ => lang.t("未设置", "Not set").to_string(),
                });
            let mut help = Vec::new();
            if !public {
                help.push(if stored.is_some() {
                    lang.t(
                        "只写：不会显示已保存的值。留空表示保持不变。",
                        "Write-only: the stored value is never shown. Empty: keep it.",
                    )
                    .to_string()
                } else {
                    lang.t(
                        "只写：保存后不会再显示。",
                        "Write-only: never shown again once saved.",
                    )
                    .to_string()
                });
            }
            InputView {
                id: format!("input-{}", f.name.replace('_', "-")),
                label: guide::label(lang, &f.name),
                control,
                required: false,
                readonly: false,
                maxlength: None,
                checked: false,
                value,
                options,
                help,
                error: errors.of(&name, lang),
                status,
                name,
            }
        })
        .collect()
}

fn mode_label(lang: Lang, value: &str) -> String {
    match value {
        "certificate" => lang.t("公钥证书模式", "Certificate mode").into(),
        "public_key" => lang.t("公钥模式", "Public-key mode").into(),
        other => other.into(),
    }
}

/// The refund choice as drawn: which is chosen (none before the merchant chooses), the cap
/// typed, its errors.
pub struct RefundView {
    pub chosen: &'static str,
    pub cap: String,
    pub error: Option<String>,
    pub cap_error: Option<String>,
}

impl RefundView {
    pub fn new(
        chosen: Option<Refund>,
        typed: Option<&Submitted>,
        errors: &Errors,
        lang: Lang,
    ) -> Self {
        let typed_choice = typed.and_then(|g| g.get(super::form::REFUND));
        let (chosen, cap) = match (typed_choice, chosen) {
            (Some(c), _) => (
                match c {
                    "none" => "none",
                    "cap" => "cap",
                    "any" => "any",
                    _ => "",
                },
                typed
                    .and_then(|g| g.get(super::form::REFUND_CAP))
                    .unwrap_or_default()
                    .to_string(),
            ),
            (None, Some(Refund::None)) => ("none", String::new()),
            (None, Some(Refund::UpTo(fen))) => ("cap", crate::console::forms::yuan(fen)),
            (None, Some(Refund::Any)) => ("any", String::new()),
            (None, None) => ("", String::new()),
        };
        RefundView {
            chosen,
            cap,
            error: errors.of(super::form::REFUND, lang),
            cap_error: errors.of(super::form::REFUND_CAP, lang),
        }
    }
}

/// A provider's choice for sub-merchants not added here, as drawn: which is chosen (none
/// before the merchant chooses on a new account) and its error.
pub struct DefaultRefundView {
    pub chosen: &'static str,
    pub error: Option<String>,
}

impl DefaultRefundView {
    /// `stored`: the account's settings (none: a new account).
    pub fn new(
        stored: Option<&Value>,
        typed: Option<&Submitted>,
        errors: &Errors,
        lang: Lang,
    ) -> Self {
        let chosen = match typed.map(|g| g.get(super::form::DEFAULT_REFUND)) {
            Some(Some("none")) => "none",
            Some(Some("cap")) => "cap",
            Some(Some("any")) => "any",
            Some(_) => "",
            None => stored.map(super::form::default_refund_stored).unwrap_or(""),
        };
        DefaultRefundView {
            chosen,
            error: errors.of(super::form::DEFAULT_REFUND, lang),
        }
    }
}
