//! The admin API's JSON bodies: the body extractor's parser (`desk_http::http::parse_json`, what
//! `ValidJson` runs on the bytes) into each request type, then the checks its handler makes
//! before anything is stored (settings, credentials, notification channels, names, texts).

use crate::input::mode;
use crate::keys::now;
use desk_core::accounts::CredentialsChange;
use desk_core::fingerprint::Fingerprinter;
use desk_core::platform::{AccountKindSpec, Platforms};
use desk_core::platforms::wechatpay::admin::{RefundBody, RefundProgressBody, ReplyBody};
use desk_http::ApiError;
use desk_http::admin::accounts::{
    CreateAccount, PatchAccount, check_setting_fields, has_authorization, parse_settings,
};
use desk_http::admin::notifications::{NotificationsInput, merge};
use desk_http::admin::sub_merchants::{CreateSubMerchant, PatchSubMerchant};
use desk_http::admin::tokens::CreateToken;
use desk_http::admin::validate;
use desk_http::http::parse_json;
use domain::account::{AccountKind, NotificationSecrets, Patch};
use serde_json::{Value, json};

/// Names of fields that carry secrets, in credentials and notification settings.
const SECRET_FIELDS: &[&str] = &[
    "app_private_key",
    "private_key",
    "apiv3_key",
    "secret",
    "token",
    "encoding_aes_key",
    "auth_code",
    "secret_key",
    "webhook_url",
    "signing_secret",
];

/// Member names and the strings that are not under a secret field's name.
fn other_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                match v {
                    Value::String(_) if SECRET_FIELDS.contains(&k.as_str()) => {}
                    v => other_strings(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| other_strings(v, out)),
        Value::String(s) => out.push(s.clone()),
        _ => {}
    }
}

/// The secrets a body sends that it does not also send in the open (as a member name or in
/// another field: an error may name those).
fn secrets_of(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let (mut secrets, mut open) = (Vec::new(), Vec::new());
    secrets_in(&v, &mut secrets);
    other_strings(&v, &mut open);
    secrets
        .into_iter()
        .filter(|s| s.trim().len() >= 6 && !open.iter().any(|o| o.contains(s.as_str())))
        .collect()
}

/// Every string under a secret field's name, anywhere in the body.
fn secrets_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if SECRET_FIELDS.contains(&k.as_str())
                    && let Value::String(s) = v
                {
                    out.push(s.clone());
                }
                secrets_in(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| secrets_in(v, out)),
        _ => {}
    }
}

/// What a refusal says: its field and message.
fn said(e: &ApiError) -> String {
    match e {
        ApiError::Invalid { field, message } => format!("{field:?} {message}"),
        ApiError::InvalidJson(m)
        | ApiError::Forbidden(m)
        | ApiError::NotFound(m)
        | ApiError::Conflict(m) => m.clone(),
        ApiError::ForbiddenField { field, message } => format!("{field} {message}"),
        other => format!("{other:?}"),
    }
}

/// `v` with every string under a secret field's name replaced by one of the same length that
/// shares no character position with it.
fn with_other_secrets(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                match v {
                    Value::String(s) if SECRET_FIELDS.contains(&k.as_str()) => {
                        *s = s
                            .chars()
                            .map(|c| if c == 'q' { 'x' } else { 'q' })
                            .collect();
                    }
                    v => with_other_secrets(v),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(with_other_secrets),
        _ => {}
    }
}

/// A refusal is a 4xx whose message never repeats a secret that was sent. A secret that the
/// message holds counts as repeated unless the same body with other secrets is refused with a
/// message that still holds it: then it is our own text (a field name in "expected one of
/// ...", say) that the secret happens to match.
fn check_refusal(op: impl Fn(&[u8]) -> Result<(), ApiError>, e: &ApiError, body: &[u8]) {
    assert!(e.status().is_client_error(), "{e:?} is not a 4xx");
    let message = said(e);
    let held: Vec<String> = secrets_of(body)
        .into_iter()
        .filter(|s| message.contains(s.as_str()))
        .collect();
    if held.is_empty() {
        return;
    }
    let again = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|mut v| {
            with_other_secrets(&mut v);
            let other = serde_json::to_vec(&v).ok()?;
            op(&other).err().map(|e| said(&e))
        });
    for s in held {
        assert!(
            again.as_deref().is_some_and(|m| m.contains(s.as_str())),
            "the error repeats a secret: {message}"
        );
    }
}

fn fingerprints() -> Fingerprinter {
    Fingerprinter::new([7; 32])
}

/// The platforms of the admin API (every one this crate is built with), made once.
fn platforms() -> &'static Platforms {
    static P: std::sync::OnceLock<Platforms> = std::sync::OnceLock::new();
    P.get_or_init(desk_core::platforms::builtin)
}

/// The account kinds the registered platforms bring, by name (the order the first byte of
/// an input picks from).
fn kinds() -> Vec<AccountKindSpec> {
    let mut kinds: Vec<AccountKindSpec> = platforms().account_kinds().copied().collect();
    kinds.sort_by_key(|k| k.facts.kind.as_str());
    kinds
}

/// The kind a request names, as the admin API looks it up.
fn kind_named(name: &str) -> Result<AccountKindSpec, ApiError> {
    platforms()
        .account_kind_named(name)
        .copied()
        .ok_or_else(|| ApiError::field("kind", "unknown account kind"))
}

/// Credentials checked by the kind's platform, for an account with the stored settings.
fn check_credentials(
    spec: &AccountKindSpec,
    body: Value,
) -> Result<domain::account::CredentialsStatus, ApiError> {
    let settings = (spec.settings)(stored(spec.facts.kind))?;
    let (_, status) = (spec.credentials)(CredentialsChange {
        settings: &settings,
        existing: None,
        body,
        fingerprints: &fingerprints(),
        now: now(),
    })?;
    Ok(status)
}

/// Stored settings of each kind that a PATCH merges into.
fn stored(kind: AccountKind) -> Value {
    match kind {
        AccountKind::AlipayApp => json!({"app_id": "2021000000000001"}),
        AccountKind::WechatpayMerchant | AccountKind::WechatpayProvider => json!({
            "mchid": "1900000109", "appid": "wx2c2769f8efd9abc2", "merchant_serial_no": "5157F09EFDC096DE"
        }),
        AccountKind::WxminiApp => json!({"appid": "wx2c2769f8efd9abc2", "mode": "manual"}),
        AccountKind::WxopenComponent => json!({"component_appid": "wx2c2769f8efd9abc2"}),
        _ => json!({}),
    }
}

fn create_account(body: &[u8]) -> Result<(), ApiError> {
    let b: CreateAccount = parse_json(body)?;
    validate::name("name", &b.name)?;
    if has_authorization(&b.settings) {
        return Err(ApiError::field("settings.authorization", "not by hand"));
    }
    let spec = kind_named(&b.kind)?;
    let settings = parse_settings(&spec, b.settings)?;
    check_setting_fields(&spec, &settings)?;
    assert_eq!(settings.kind(), spec.facts.kind);
    if let Some(c) = b.credentials {
        check_credentials(&spec, c)?;
    }
    Ok(())
}

fn patch_account(spec: &AccountKindSpec, body: &[u8]) -> Result<(), ApiError> {
    let p: PatchAccount = parse_json(body)?;
    if let Some(n) = &p.name {
        validate::name("name", n)?;
    }
    if let Some(s) = &p.settings {
        if !s.is_object() {
            return Err(ApiError::field("settings", "must be a JSON object"));
        }
        if has_authorization(s) {
            return Err(ApiError::field("settings.authorization", "not by hand"));
        }
        let mut current = stored(spec.facts.kind);
        validate::merge_patch(&mut current, s);
        let settings = parse_settings(spec, current)?;
        check_setting_fields(spec, &settings)?;
    }
    Ok(())
}

fn credentials(spec: &AccountKindSpec, body: &[u8]) -> Result<(), ApiError> {
    let v: Value = parse_json(body)?;
    let status = check_credentials(spec, v)?;
    // The status describes what is set by fingerprint, never by value.
    let shown = serde_json::to_string(&status).unwrap_or_default();
    for s in secrets_of(body) {
        assert!(!shown.contains(s.as_str()), "the status shows a secret");
    }
    Ok(())
}

fn notifications(body: &[u8]) -> Result<(), ApiError> {
    let input: NotificationsInput = parse_json(body)?;
    merge(input, NotificationSecrets::default(), now())?;
    Ok(())
}

fn sub_merchants(create: bool, body: &[u8]) -> Result<(), ApiError> {
    if create {
        let b: CreateSubMerchant = parse_json(body)?;
        validate::digits("sub_mchid", &b.sub_mchid, "sub-merchant number")?;
        validate::name("name", &b.name)?;
        validate::reply_text("reply_text", &b.reply_text)?;
    } else {
        let p: PatchSubMerchant = parse_json(body)?;
        if let Some(n) = &p.name {
            validate::name("name", n)?;
        }
        if let Patch::Set(t) = &p.reply_text {
            validate::reply_text("reply_text", &Some(t.clone()))?;
        }
    }
    Ok(())
}

fn complaint_actions(which: u8, body: &[u8]) -> Result<(), ApiError> {
    match which % 3 {
        0 => {
            let b: ReplyBody = parse_json(body)?;
            validate::text_controls("text", &b.text)?;
        }
        1 => {
            let _: RefundBody = parse_json(body)?;
        }
        _ => {
            let b: RefundProgressBody = parse_json(body)?;
            if !matches!(b.action.as_str(), "approve" | "reject") {
                return Err(ApiError::field("action", "must be approve or reject"));
            }
        }
    }
    Ok(())
}

/// The first byte picks the body (and the account kind where it matters); the rest is the
/// JSON as sent.
pub fn admin_json(data: &[u8]) {
    let Some((m, body)) = mode(data) else { return };
    let kinds = kinds();
    let Some(kind) = kinds.get(usize::from(m / 8) % kinds.len().max(1)) else {
        return;
    };
    let op = |body: &[u8]| match m % 8 {
        0 => create_account(body),
        1 => patch_account(kind, body),
        2 => credentials(kind, body),
        3 => notifications(body),
        4 => parse_json::<CreateToken>(body).and_then(|t| validate::name("name", &t.name)),
        5 => sub_merchants(true, body),
        6 => sub_merchants(false, body),
        _ => complaint_actions(m / 8, body),
    };
    if let Err(e) = &op(body) {
        check_refusal(op, e, body);
    }
}
