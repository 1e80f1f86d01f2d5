//! An account kind's form: its inputs read from the kind's settings and credentials schemas
//! (the console's schema reader, [`crate::console::forms`]), the automatic refund as an
//! explicit choice, and what a browser submits turned into the admin API's bodies. Secrets
//! are write-only: their inputs start empty, an empty one means "keep", and what was typed is
//! never drawn again.

use super::guide;
use crate::ApiError;
use crate::console::Lang;
use crate::console::forms::{Field, InputKind, parse_yuan, read_schema, value_of, yuan};
use desk_core::accounts::AccountKindSpec;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Settings the form does not draw as plain inputs: the refund (its own choice), and the
/// nested objects the admin API sets (deadlines, a mini program's automatic response and
/// payment account) or the authorisation flow does.
const NOT_INPUTS: &[&str] = &[
    "auto_refund",
    "refund_cap_fen",
    "default_auto_refund",
    "deadlines",
    "authorization",
    "auto_response",
    "payment",
];

/// Input names: settings `s.<name>`, credentials `c.<name>`.
pub const SETTING: &str = "s.";
pub const CREDENTIAL: &str = "c.";
/// The refund choice and its cap in yuan.
pub const REFUND: &str = "refund";
pub const REFUND_CAP: &str = "refund_cap";
/// A provider's refund for sub-merchants not added here: `none`, `cap` (under the provider's
/// cap) or `any`.
pub const DEFAULT_REFUND: &str = "default_refund";

/// What a browser submitted (a name given twice keeps the last).
pub struct Submitted(pub Vec<(String, String)>);

impl Submitted {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> String {
        self.get(name)
            .unwrap_or_default()
            .replace("\r\n", "\n")
            .trim()
            .to_string()
    }
}

/// Errors by input name, in the page's two languages.
#[derive(Default)]
pub struct Errors(pub BTreeMap<String, (String, String)>);

impl Errors {
    pub fn add(&mut self, input: &str, zh: impl Into<String>, en: impl Into<String>) {
        self.0
            .entry(input.to_string())
            .or_insert((zh.into(), en.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn of(&self, input: &str, lang: Lang) -> Option<String> {
        self.0
            .get(input)
            .map(|(zh, en)| if lang.is_en() { en.clone() } else { zh.clone() })
    }

    /// The admin API's refusal at the input it names (`settings.mchid` → `s.mchid`); a
    /// refusal naming no input of the form goes under `""` (above the form).
    pub fn from_api(e: &ApiError, form: &KindForm) -> Self {
        let mut out = Errors::default();
        let message = e.message();
        let field = match e {
            ApiError::Invalid { field, .. } => field.clone(),
            ApiError::ForbiddenField { field, .. } | ApiError::ConflictField { field, .. } => {
                Some(field.clone())
            }
            _ => None,
        };
        let input = field.as_deref().and_then(|f| form.input_of(f));
        let input = input.unwrap_or_default();
        if matches!(e, ApiError::ForbiddenField { .. }) {
            out.add(
                &input,
                "只有范围为「全部账户」的令牌才能修改这一项：没有保存任何改动。",
                "Only a token whose scope is all accounts can change this: nothing was saved.",
            );
            return out;
        }
        out.add(&input, message.clone(), message);
        out
    }
}

/// The refund as chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refund {
    None,
    UpTo(u64),
    Any,
}

impl Refund {
    /// How stored settings set it.
    pub fn of(settings: &Value) -> Self {
        match (
            settings["auto_refund"].as_bool().unwrap_or(false),
            settings["refund_cap_fen"].as_u64(),
        ) {
            (false, _) => Refund::None,
            (true, Some(cap)) => Refund::UpTo(cap),
            (true, None) => Refund::Any,
        }
    }

    /// In words.
    pub fn words(self, lang: Lang) -> String {
        match self {
            Refund::None => lang.t("不自动退款", "No automatic refund").into(),
            Refund::UpTo(cap) => match lang {
                Lang::Zh => format!("自动退款，每笔不超过 {} 元", yuan(cap)),
                Lang::En => format!("Automatic refund up to {} yuan", yuan(cap)),
            },
            Refund::Any => lang
                .t("自动退款，不限金额", "Automatic refund of any amount")
                .into(),
        }
    }
}

/// The form of one account kind.
pub struct KindForm {
    pub spec: AccountKindSpec,
    pub settings: Vec<Field>,
    pub credentials: Vec<Field>,
    /// The kind refunds (its settings have `auto_refund`).
    pub refunds: bool,
    /// The kind refunds for sub-merchants not added here (`default_auto_refund`).
    pub default_refunds: bool,
    /// The refund is not offered: the kind refunds through a linked payment account
    /// (`payment`) and none is linked yet.
    pub refund_needs_payment: bool,
}

impl KindForm {
    pub fn of(spec: &AccountKindSpec) -> Self {
        let (all, _) = read_schema(&spec.settings_schema, spec.settings_rules);
        let refunds = all.iter().any(|f| f.name == "auto_refund");
        let default_refunds = all.iter().any(|f| f.name == "default_auto_refund");
        let mut settings: Vec<Field> = all
            .into_iter()
            .filter(|f| !NOT_INPUTS.contains(&f.name.as_str()))
            .collect();
        // The platform id first, the advanced addresses last.
        settings.sort_by_key(|f| match f.name.as_str() {
            n if n == spec.facts.platform_id_field => 0,
            "mode" => 1,
            n if n.ends_with("base_url") => 4,
            _ if f.kind == InputKind::Checkbox => 3,
            _ => 2,
        });
        let credentials = spec
            .credentials_schema
            .map(|s| read_schema(&s, None).0)
            .unwrap_or_default()
            .into_iter()
            // Platform certificates are downloaded when needed.
            .filter(|f| f.name != "platform_certificates")
            .collect();
        KindForm {
            spec: *spec,
            settings,
            credentials,
            refunds,
            default_refunds,
            refund_needs_payment: false,
        }
    }

    /// The form for an account whose settings are `stored` (none: a new one): a kind that
    /// refunds through a linked payment account (a mini program's `payment`) offers no refund
    /// choice until one is linked, since every automatic refund would be skipped.
    pub fn for_settings(mut self, stored: Option<&Value>) -> Self {
        let (all, _) = read_schema(&self.spec.settings_schema, self.spec.settings_rules);
        let pays_through_link = all.iter().any(|f| f.name == "payment");
        if self.refunds && pays_through_link && stored.is_none_or(|s| s["payment"].is_null()) {
            self.refunds = false;
            self.refund_needs_payment = true;
        }
        self
    }

    /// The form's input for an API field name (`settings.mchid`, `credentials.apiv3_key`,
    /// `name`, `settings.refund_cap_fen`).
    pub fn input_of(&self, api_field: &str) -> Option<String> {
        if api_field == "name" {
            return Some("name".into());
        }
        if let Some(rest) = api_field.strip_prefix("settings.") {
            let top = rest.split(['.', '[']).next().unwrap_or(rest);
            if matches!(top, "auto_refund" | "refund_cap_fen") {
                return Some(REFUND.into());
            }
            if top == "default_auto_refund" {
                return Some(DEFAULT_REFUND.into());
            }
            return self
                .settings
                .iter()
                .any(|f| f.name == top)
                .then(|| format!("{SETTING}{top}"));
        }
        if let Some(rest) = api_field.strip_prefix("credentials.") {
            let top = rest.split(['.', '[']).next().unwrap_or(rest);
            return self
                .credentials
                .iter()
                .any(|f| f.name == top)
                .then(|| format!("{CREDENTIAL}{top}"));
        }
        None
    }

    /// The settings object from the form; on a change (`patch`), an optional field left empty
    /// is sent as `null` (cleared) and an unticked box as `false`.
    pub fn settings_body(
        &self,
        given: &Submitted,
        patch: bool,
        errors: &mut Errors,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for f in &self.settings {
            let input = format!("{SETTING}{}", f.name);
            let raw = given.get(&input).map(|v| v.replace("\r\n", "\n"));
            match value_of(f, raw.as_deref()) {
                Ok(Some(v)) => {
                    out.insert(f.name.clone(), v);
                }
                Ok(None) if patch => {
                    let cleared = match f.kind {
                        InputKind::Checkbox => Value::Bool(false),
                        _ => Value::Null,
                    };
                    out.insert(f.name.clone(), cleared);
                }
                Ok(None) => {}
                Err(e) => {
                    let label_zh = guide::label(Lang::Zh, &f.name);
                    let label_en = guide::label(Lang::En, &f.name);
                    let strip = |m: &str| {
                        m.split_once('：')
                            .or_else(|| m.split_once(": "))
                            .map(|(_, r)| r.to_string())
                            .unwrap_or_else(|| m.to_string())
                    };
                    errors.add(
                        &input,
                        format!("{label_zh}：{}", strip(&e.message_zh)),
                        format!("{label_en}: {}", strip(&e.message_en)),
                    );
                }
            }
        }
        let refund = self.refunds.then(|| refund_of(given, errors)).flatten();
        if self.default_refunds
            && let Some(on) = default_refund_of(given, refund, errors)
        {
            out.insert("default_auto_refund".into(), Value::Bool(on));
        }
        if self.refunds {
            match refund {
                Some(Refund::None) => {
                    out.insert("auto_refund".into(), Value::Bool(false));
                    out.insert("refund_cap_fen".into(), Value::Null);
                }
                Some(Refund::UpTo(fen)) => {
                    out.insert("auto_refund".into(), Value::Bool(true));
                    out.insert("refund_cap_fen".into(), Value::from(fen));
                }
                Some(Refund::Any) => {
                    out.insert("auto_refund".into(), Value::Bool(true));
                    out.insert("refund_cap_fen".into(), Value::Null);
                }
                None => {}
            }
        }
        out
    }

    /// The credentials body from the form: only what was typed (empty: keep); `None` when
    /// nothing was.
    pub fn credentials_body(&self, given: &Submitted) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        for f in &self.credentials {
            let v = given.text(&format!("{CREDENTIAL}{}", f.name));
            if !v.is_empty() {
                out.insert(f.name.clone(), Value::String(v));
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

/// A provider's refund for sub-merchants not added here, as stored: `default_auto_refund`
/// under the provider's own cap, so "under the cap" needs a cap and "any amount" needs none.
pub fn default_refund_stored(settings: &Value) -> &'static str {
    match (
        settings["default_auto_refund"].as_bool().unwrap_or(false),
        settings["refund_cap_fen"].as_u64(),
    ) {
        (false, _) => "none",
        (true, Some(_)) => "cap",
        (true, None) => "any",
    }
}

/// The choice for sub-merchants not added here (required, nothing preselected), checked
/// against the provider's own `refund`: they are refunded under the provider's cap, so
/// "under the cap" is refused without one, and "any amount" with one. `None` when refused
/// (or when the provider's own choice was refused and cannot be checked against).
fn default_refund_of(
    given: &Submitted,
    refund: Option<Refund>,
    errors: &mut Errors,
) -> Option<bool> {
    let chosen = given.get(DEFAULT_REFUND).unwrap_or_default();
    match (chosen, refund) {
        ("none", _) => Some(false),
        ("cap", Some(Refund::UpTo(_))) | ("any", Some(Refund::None | Refund::Any)) => Some(true),
        (_, None) if matches!(chosen, "cap" | "any") => None,
        ("cap", Some(_)) => {
            errors.add(
                DEFAULT_REFUND,
                "本账户没有设退款上限，无法「按本账户的上限」退款：请先在上面选「自动退款，每笔不超过…元」，或在这里选「不自动退款」或「不限金额」。",
                "This account has no refund cap, so \"under this account's cap\" cannot apply: first choose \"Automatic refund up to … yuan\" above, or choose \"No automatic refund\" or \"any amount\" here.",
            );
            None
        }
        ("any", Some(_)) => {
            errors.add(
                DEFAULT_REFUND,
                "本账户设了退款上限，未登记子商户只能按这个上限退款：请选「按本账户的上限」，或在上面改为不限金额。",
                "This account has a refund cap and sub-merchants not added here are refunded under it: choose \"under this account's cap\", or choose any amount above.",
            );
            None
        }
        _ => {
            errors.add(
                DEFAULT_REFUND,
                "请选择未登记子商户是否自动退款（必选）",
                "Choose whether sub-merchants not added here are refunded automatically (required)",
            );
            None
        }
    }
}

/// The refund choice: required, nothing preselected; a cap in yuan, more than zero.
pub fn refund_of(given: &Submitted, errors: &mut Errors) -> Option<Refund> {
    let chosen = given.get(REFUND).unwrap_or_default();
    if matches!(chosen, "none" | "any") && !given.text(REFUND_CAP).is_empty() {
        // A cap typed under another choice would be dropped while the page says "saved".
        errors.add(
            REFUND_CAP,
            "您填了上限，但没有选「自动退款，每笔不超过…元」：要按上限退款请选它；否则请清空上限。",
            "You typed a cap but did not choose \"Automatic refund up to … yuan\": choose it to refund under the cap, or clear the cap.",
        );
        return None;
    }
    match chosen {
        "none" => Some(Refund::None),
        "any" => Some(Refund::Any),
        "cap" => match parse_yuan(given.text(REFUND_CAP).as_str()) {
            Ok(fen) if fen > 0 => Some(Refund::UpTo(fen)),
            Ok(_) => {
                errors.add(
                    REFUND_CAP,
                    "上限要大于 0；不想自动退款请选「不自动退款」",
                    "The cap must be more than 0; to refund nothing automatically choose \"No automatic refund\"",
                );
                None
            }
            Err(_) => {
                errors.add(
                    REFUND_CAP,
                    "请填写上限（元），最多两位小数，如 50 或 12.50",
                    "Type the cap in yuan with at most two decimals, such as 50 or 12.50",
                );
                None
            }
        },
        _ => {
            errors.add(
                REFUND,
                "请选择是否自动退款（必选）",
                "Choose whether to refund automatically (required)",
            );
            None
        }
    }
}
