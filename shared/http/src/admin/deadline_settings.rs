//! `settings.deadlines` of an account and `deadlines` of a sub-merchant: the checks serde
//! cannot express (400 naming the field), and the same rules in the OpenAPI document.
//!
//! The escalation recipients are staff contacts reached over the account's own notification
//! channels, checked as the notification settings check theirs (e-mail addresses, E.164
//! numbers, openids). They are set through `PATCH /accounts/{id}` (role `admin`, the token's
//! scope covering the account, as `PUT .../notifications`); a sub-merchant has none of its own
//! (its escalations go to the provider's staff), so a sub-merchant token cannot add recipients
//! to the provider's channels.

use super::validate;
use crate::ApiError;
use domain::account::AccountSettings;
use domain::deadline::DeadlineSettings;
use serde_json::{Value, json};
use std::collections::HashSet;

/// The most thresholds of each kind.
pub const MAX_THRESHOLDS: usize = 5;
/// The longest "minutes before" a reminder may be: a week.
pub const MAX_MINUTES_BEFORE: u32 = 10_080;
/// The most escalation recipients of each kind (as a notification channel's list).
pub const MAX_RECIPIENTS: usize = 50;

fn no_repeats<T: std::hash::Hash + Eq>(field: &str, items: &[T]) -> Result<(), ApiError> {
    let mut seen = HashSet::new();
    for (i, v) in items.iter().enumerate() {
        if !seen.insert(v) {
            return Err(ApiError::field(format!("{field}[{i}]"), "is listed twice"));
        }
    }
    Ok(())
}

fn recipients(
    field: &str,
    items: &[String],
    check: impl Fn(&str, &str) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    if items.len() > MAX_RECIPIENTS {
        return Err(ApiError::field(
            field,
            format!("must list at most {MAX_RECIPIENTS} recipients"),
        ));
    }
    for (i, v) in items.iter().enumerate() {
        check(&format!("{field}[{i}]"), v)?;
    }
    no_repeats(field, items)
}

/// `HH:MM`, 00:00 to 23:59.
fn local_time(field: &str, v: &str) -> Result<(), ApiError> {
    let ok = v.len() == 5
        && v.as_bytes()[2] == b':'
        && v[..2].parse::<u8>().is_ok_and(|h| h < 24)
        && v[3..].parse::<u8>().is_ok_and(|m| m < 60)
        && v.bytes()
            .enumerate()
            .all(|(i, b)| i == 2 || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "must be a Beijing time of day as HH:MM (00:00 to 23:59)",
        ))
    }
}

/// Check deadline settings; fields are named under `prefix` (`settings.deadlines`).
pub fn check(prefix: &str, s: &DeadlineSettings) -> Result<(), ApiError> {
    let f = |name: &str| format!("{prefix}.{name}");
    if s.remind_at_percent.len() > MAX_THRESHOLDS {
        return Err(ApiError::field(
            f("remind_at_percent"),
            format!("must list at most {MAX_THRESHOLDS} percentages"),
        ));
    }
    for (i, p) in s.remind_at_percent.iter().enumerate() {
        if !(1..=99).contains(p) {
            return Err(ApiError::field(
                format!("{}[{i}]", f("remind_at_percent")),
                "must be a percentage of the deadline's window, 1 to 99",
            ));
        }
    }
    no_repeats(&f("remind_at_percent"), &s.remind_at_percent)?;
    if s.remind_before_minutes.len() > MAX_THRESHOLDS {
        return Err(ApiError::field(
            f("remind_before_minutes"),
            format!("must list at most {MAX_THRESHOLDS} times"),
        ));
    }
    for (i, m) in s.remind_before_minutes.iter().enumerate() {
        if !(1..=MAX_MINUTES_BEFORE).contains(m) {
            return Err(ApiError::field(
                format!("{}[{i}]", f("remind_before_minutes")),
                format!("must be 1 to {MAX_MINUTES_BEFORE} minutes (a week)"),
            ));
        }
    }
    no_repeats(&f("remind_before_minutes"), &s.remind_before_minutes)?;
    let r = &s.escalation_recipients;
    recipients(
        &f("escalation_recipients.emails"),
        &r.emails,
        validate::email,
    )?;
    recipients(
        &f("escalation_recipients.phones"),
        &r.phones,
        validate::phone,
    )?;
    recipients(
        &f("escalation_recipients.oa_openids"),
        &r.oa_openids,
        |field, v| validate::non_empty(field, v, 64),
    )?;
    local_time(&f("digest.local_time"), &s.digest.local_time)
}

/// Check an account's `settings.deadlines` (an open kind's object is read here first: a
/// kind's platform does not know the field).
pub fn check_account(settings: &AccountSettings) -> Result<(), ApiError> {
    const PREFIX: &str = "settings.deadlines";
    if let AccountSettings::Open(open) = settings
        && let Some(v) = open.settings.get("deadlines")
    {
        let s: DeadlineSettings = desk_core::error::from_value_at(PREFIX, v.clone())?;
        return check(PREFIX, &s);
    }
    check(PREFIX, &settings.deadlines())
}

/// Check a sub-merchant's `deadlines`: no escalation recipients of its own.
pub fn check_sub_merchant(s: &DeadlineSettings) -> Result<(), ApiError> {
    check("deadlines", s)?;
    if !s.escalation_recipients.is_empty() {
        return Err(ApiError::field(
            "deadlines.escalation_recipients",
            "must be empty: a sub-merchant's missed deadlines are escalated to its provider's staff (set extra recipients on the provider account)",
        ));
    }
    Ok(())
}

/// A sub-merchant's `deadlines` after a patch that sets them: `patch` (an object) is a JSON
/// merge patch onto what applies now (its own, else the provider's without the provider's
/// recipients). (`null` clears them: the provider's apply again.)
pub fn patched_sub_merchant(
    current: Option<&DeadlineSettings>,
    provider: &DeadlineSettings,
    patch: &Value,
) -> Result<DeadlineSettings, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::field(
            "deadlines",
            "must be a JSON object (a merge patch) or null",
        ));
    }
    let base = match current {
        Some(s) => s.clone(),
        None => DeadlineSettings {
            escalation_recipients: Default::default(),
            ..provider.clone()
        },
    };
    let mut value = serde_json::to_value(base).map_err(ApiError::internal)?;
    validate::merge_patch(&mut value, patch);
    let s: DeadlineSettings = desk_core::error::from_value_at("deadlines", value)?;
    check_sub_merchant(&s)?;
    Ok(s)
}

/// Merge `rules` into the component schema `name` of `doc`, property by property.
fn merge_into(doc: &mut Value, name: &str, rules: Value) {
    let Some(props) = doc["components"]["schemas"][name]
        .get_mut("properties")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (field, rule) in rules.as_object().into_iter().flatten() {
        if let (Some(p), Some(r)) = (
            props.get_mut(field).and_then(Value::as_object_mut),
            rule.as_object(),
        ) {
            p.extend(r.clone());
        }
    }
}

/// The schema of a JSON merge patch (RFC 7396) of an object `schema` (components resolved):
/// every field optional, `null` to remove it (its default applies again), objects patched
/// field by field, no field the object lacks.
fn merge_patch_of(doc: &Value, schema: &Value) -> Value {
    let resolved = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/components/schemas/")
            .map(|name| doc["components"]["schemas"][name].clone())
            .unwrap_or(Value::Null),
        None => schema.clone(),
    };
    match resolved.get("properties").and_then(Value::as_object) {
        Some(props) => {
            let patched: serde_json::Map<String, Value> = props
                .iter()
                .map(|(k, v)| (k.clone(), merge_patch_of(doc, v)))
                .collect();
            let mut out = json!({
                "type": ["object", "null"],
                "properties": patched,
                "additionalProperties": false
            });
            if let Some(d) = resolved.get("description") {
                out["description"] = d.clone();
            }
            out
        }
        None => json!({"anyOf": [resolved, {"type": "null"}]}),
    }
}

/// State [`check`]'s rules in the document's `DeadlineSettings`, `EscalationRecipients` and
/// `DigestSettings` schemas, and that a sub-merchant's settings have no recipients.
pub fn document_rules(doc: &mut Value) {
    let list =
        |max: usize, items: Value| json!({"maxItems": max, "uniqueItems": true, "items": items});
    merge_into(
        doc,
        "DeadlineSettings",
        json!({
            "remind_at_percent": list(MAX_THRESHOLDS, json!({"type": "integer", "minimum": 1, "maximum": 99})),
            "remind_before_minutes": list(MAX_THRESHOLDS, json!({"type": "integer", "minimum": 1, "maximum": MAX_MINUTES_BEFORE})),
        }),
    );
    let mut email = validate::email_schema();
    email["type"] = json!("string");
    let mut phone = validate::phone_schema();
    phone["type"] = json!("string");
    merge_into(
        doc,
        "EscalationRecipients",
        json!({
            "emails": list(MAX_RECIPIENTS, email),
            "phones": list(MAX_RECIPIENTS, phone),
            "oa_openids": list(MAX_RECIPIENTS, json!({"type": "string", "minLength": 1, "maxLength": 64})),
        }),
    );
    merge_into(
        doc,
        "DigestSettings",
        json!({"local_time": {"pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}}),
    );
    // A sub-merchant's own settings: the same, with no escalation recipients (its missed
    // deadlines go to the provider's staff), for the body that creates one.
    let mut own = doc["components"]["schemas"]["DeadlineSettings"].clone();
    if own.is_object() {
        let empty = json!({"type": "array", "maxItems": 0, "items": {"type": "string"}});
        own["properties"]["escalation_recipients"] = json!({
            "type": "object",
            "description": "Must stay empty: a sub-merchant's missed deadlines are escalated to its provider's staff (set extra recipients on the provider account).",
            "properties": {"emails": empty, "phones": empty, "oa_openids": empty},
            "additionalProperties": false
        });
        own["description"] = json!(
            "A sub-merchant's own deadline settings: those of an account, without escalation recipients."
        );
        own["additionalProperties"] = json!(false);
        let patch = merge_patch_of(doc, &own);
        doc["components"]["schemas"]["SubMerchantDeadlineSettings"] = own;
        doc["components"]["schemas"]["SubMerchantDeadlineSettingsPatch"] = patch;
        for (body, component) in [
            ("CreateSubMerchant", "SubMerchantDeadlineSettings"),
            ("PatchSubMerchant", "SubMerchantDeadlineSettingsPatch"),
        ] {
            if let Some(d) = doc["components"]["schemas"][body]["properties"].get_mut("deadlines") {
                let description = d.get("description").cloned().unwrap_or(Value::Null);
                *d = json!({
                    "oneOf": [
                        {"$ref": format!("#/components/schemas/{component}")},
                        {"type": "null"}
                    ]
                });
                if !description.is_null() {
                    d["description"] = description;
                }
            }
        }
    }
    if let Some(d) = doc["components"]["schemas"]["SubMerchant"]["properties"].get_mut("deadlines")
    {
        d["description"] = json!(
            "Its own deadline settings: what its own staff hear of its complaints (the provider's staff follow the provider's); null: the provider account's. Its missed deadlines are escalated to the provider's staff, so `escalation_recipients` stays empty. Its staff's digest comes with the provider's, at the provider's `local_time` (its own is not used); `digest.enabled: false` turns its staff's digest off."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<(), ApiError>) -> Option<String> {
        match r {
            Err(ApiError::Invalid { field, .. }) => field,
            _ => None,
        }
    }

    #[test]
    fn the_defaults_pass_and_each_rule_names_its_field() {
        let ok = DeadlineSettings::default();
        assert!(check("d", &ok).is_ok());
        let mut s = ok.clone();
        s.remind_at_percent = vec![50, 100];
        assert_eq!(
            field_of(check("d", &s)).as_deref(),
            Some("d.remind_at_percent[1]")
        );
        s.remind_at_percent = vec![0];
        assert_eq!(
            field_of(check("d", &s)).as_deref(),
            Some("d.remind_at_percent[0]")
        );
        s.remind_at_percent = vec![10, 20, 30, 40, 50, 60];
        assert_eq!(
            field_of(check("d", &s)).as_deref(),
            Some("d.remind_at_percent")
        );
        s.remind_at_percent = vec![50, 50];
        assert_eq!(
            field_of(check("d", &s)).as_deref(),
            Some("d.remind_at_percent[1]")
        );
        let mut s = ok.clone();
        s.remind_before_minutes = vec![10_081];
        assert_eq!(
            field_of(check("d", &s)).as_deref(),
            Some("d.remind_before_minutes[0]")
        );
        s.remind_before_minutes = vec![0];
        assert!(check("d", &s).is_err());
        s.remind_before_minutes = vec![1, 10_080];
        assert!(check("d", &s).is_ok());
        for bad in ["9:00", "24:00", "09:60", "0900", "09:0x", "+9:00"] {
            let mut s = ok.clone();
            s.digest.local_time = bad.into();
            assert_eq!(
                field_of(check("d", &s)).as_deref(),
                Some("d.digest.local_time"),
                "{bad}"
            );
        }
        let mut s = ok.clone();
        s.escalation_recipients.emails = vec!["boss@example.com".into(), "nope".into()];
        assert_eq!(
            field_of(check("d", &s)).as_deref(),
            Some("d.escalation_recipients.emails[1]")
        );
        let mut s = ok.clone();
        s.escalation_recipients.phones = vec!["13800000000".into()];
        assert_eq!(
            field_of(check("d", &s)).as_deref(),
            Some("d.escalation_recipients.phones[0]")
        );
        let mut s = ok;
        s.escalation_recipients.oa_openids = vec!["o1".into(), "o1".into()];
        assert_eq!(
            field_of(check("d", &s)).as_deref(),
            Some("d.escalation_recipients.oa_openids[1]")
        );
    }
}
