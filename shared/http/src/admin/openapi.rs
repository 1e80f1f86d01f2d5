//! The OpenAPI document, generated from the handlers' annotations and the types, and for the
//! complaint actions from the registered platforms' action descriptions
//! ([`super::action_document`]).

use super::action_document::{
    add_account_actions, add_account_kinds, add_actions, merged, operation_id,
};
use super::page::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX};
use super::path_ids::{ID_MAX_LEN, MEDIA_POSITION_MAX, id_pattern};
use super::validate;
use super::{
    accounts, complaints, dead_letters, media, notifications, reconcile, sandbox, sub_merchants,
    test_notice, tokens,
};
use axum::Json;
use desk_core::platform::Platforms;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "complaint desk admin API",
        description = "Accounts, credentials, sub-merchants, staff notifications, tokens and operations. Errors: {\"error\":{\"code\",\"message\",\"field\"}}. A scoped token sees only its scope; anything else answers 404. A token's role decides what it may do there: `viewer` reads, `agent` also acts on complaints and uploads media, `admin` does everything; each operation states the role it needs (`x-required-role`), and a role too low answers 403 naming it."
    ),
    modifiers(&Bearer),
    paths(
        accounts::create_account, accounts::list_accounts, accounts::get_account,
        accounts::patch_account, accounts::delete_account, accounts::put_credentials,
        reconcile::reconcile_account, reconcile::account_health,
        sub_merchants::list_sub_merchants, sub_merchants::create_sub_merchant,
        sub_merchants::get_sub_merchant, sub_merchants::patch_sub_merchant,
        sub_merchants::delete_sub_merchant,
        notifications::get_account_notifications, notifications::put_account_notifications,
        notifications::get_sub_merchant_notifications, notifications::put_sub_merchant_notifications,
        test_notice::test_account_notifications, test_notice::test_sub_merchant_notifications,
        tokens::create_token, tokens::list_tokens, tokens::delete_token,
        dead_letters::list_dead_letters, dead_letters::replay_dead_letter,
        complaints::list_complaints, complaints::get_complaint,
        media::upload_media, media::download_media, media::download_history_media,
        complaints::list_violations, complaints::list_deliveries,
        sandbox::list_sandbox_accounts, sandbox::push_sandbox_complaint,
    ),
    // Schemas referenced only from query parameters (`value_type`), which the paths do not
    // collect.
    components(schemas(complaints::ComplaintOrder)),
)]
pub struct ApiDoc;

/// The document as served: the annotations' document, the account kinds, complaint actions and
/// account routes of `platforms` ([`add_account_kinds`], [`add_actions`],
/// [`add_account_actions`]), completed by [`conform`]. Built once per router.
pub fn document(platforms: &Platforms) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| {
        // Serializing our own document cannot fail; a broken one would be served empty.
        tracing::error!(error = %e, "the OpenAPI document could not be written");
        Value::Null
    });
    for field in add_account_kinds(&mut doc, platforms) {
        // A platform's settings rule names a field its settings schema lacks: a test of the
        // built-in platforms fails on it; the rule is left out of the document.
        tracing::error!(
            field,
            "a settings rule names no field of its kind's settings"
        );
    }
    super::deadline_settings::document_rules(&mut doc);
    add_actions(&mut doc, platforms);
    add_account_actions(&mut doc, platforms);
    name_the_served(&mut doc, platforms);
    conform(&mut doc, &rate_limited_operations(platforms));
    super::roles::mark(&mut doc);
    doc
}

/// The platforms and account kinds this build serves, as the enums of their schemas (the types
/// themselves are open names: which ones a request may use depends on the registry).
fn name_the_served(doc: &mut Value, platforms: &Platforms) {
    let schemas = &mut doc["components"]["schemas"];
    for (name, values, what) in [
        (
            "Platform",
            platforms.names(),
            "A platform this build serves.",
        ),
        (
            "AccountKind",
            platforms.account_kind_names(),
            "An account kind of a platform this build serves.",
        ),
    ] {
        schemas[name] = json!({"type": "string", "enum": values, "description": what});
    }
}

/// `GET /admin/v1/openapi.json` (no token needed).
pub async fn serve(document: Arc<Value>) -> Json<Value> {
    Json(Value::clone(&document))
}

pub fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// The desk's own routes that call a platform (through the platform of the complaint or
/// account they name), so answer 429 when the call is over its rate-limit budget or the
/// platform throttles (see `admin::budget`), by operation id. The platforms' complaint actions
/// and account routes say it themselves ([`rate_limited_operations`]).
pub const RATE_LIMITED_ROUTES: [&str; 3] = [
    "download_media",
    "download_history_media",
    "list_violations",
];

/// Every operation of the document that answers 429, by operation id: [`RATE_LIMITED_ROUTES`],
/// the complaint actions of `platforms` that spend a call budget
/// (`StaffAction::spends_budget`; an action several platforms offer, when any of them does)
/// and their account routes that do (`AccountAction::spends_budget`).
pub fn rate_limited_operations(platforms: &Platforms) -> Vec<String> {
    let mut ids: Vec<String> = RATE_LIMITED_ROUTES.map(String::from).to_vec();
    let mut add = |id: String| {
        if !ids.contains(&id) {
            ids.push(id);
        }
    };
    for p in platforms.iter() {
        for a in p.staff_actions().actions() {
            if a.spends_budget {
                add(operation_id(a.name));
            }
        }
        for a in p.account_actions().actions() {
            if a.spends_budget {
                add(a.operation_id.to_string());
            }
        }
    }
    ids
}

/// 429 with the envelope and `Retry-After`.
fn rate_limited_response() -> Value {
    let mut r = error_response(
        "A platform call this needs is over its per-minute budget for the merchant (shared with automatic handling), or the platform asked for fewer calls; nothing was sent or changed. Retry after `Retry-After` seconds",
    );
    r["headers"] = json!({
        "Retry-After": {
            "description": "Seconds (whole, rounded up) until a retry can be granted",
            "schema": {"type": "integer", "minimum": 1}
        }
    });
    r
}

/// What every operation shares, stated once here instead of in each annotation: the answers
/// the router gives before or around any handler (401 without a valid token, 400 for a path
/// parameter, query string or body that does not parse, 403 and 404 for the token's role and
/// scope, 408, 413 and 415 for bodies, 503 when the store is unavailable, 429 on the
/// `rate_limited` operations), and the rules of the path parameters and of `limit`, taken from
/// the constants the checks use.
pub fn conform(doc: &mut Value, rate_limited: &[String]) {
    apply_field_rules(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                continue;
            }
            conform_operation(op, rate_limited);
            let conflict = if path.contains("/sub-merchants") {
                Some("The account's kind has no sub-merchants, or a secret must be sent again")
            } else if method == "put" && path.ends_with("/notifications") {
                Some(
                    "A secret must be sent: nothing is stored to keep, or its destination changed (`field` names it)",
                )
            } else {
                None
            };
            if let Some(description) = conflict
                && op["responses"].get("409").is_none()
            {
                op["responses"]["409"] = error_response(description);
            }
        }
    }
}

fn conform_operation(op: &mut Value, rate_limited: &[String]) {
    if op["operationId"] == "list_violations"
        && let Some(params) = op["parameters"].as_array_mut()
    {
        for p in params.iter_mut().filter(|p| p["name"] == "account") {
            p["required"] = json!(true);
            p["description"] = json!(
                "Our account id. Required with a scope-`all` token (400 naming it); a scoped token may omit it."
            );
        }
    }
    let rate_limited = op["operationId"]
        .as_str()
        .is_some_and(|id| rate_limited.iter().any(|r| r == id));
    let secured = op.get("security").is_some();
    let has_body = op.get("requestBody").is_some();
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params {
            conform_parameter(p);
        }
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    let mut add = |status: &str, description: &str| {
        match responses.get_mut(status) {
            // Keep the annotation's own description; every error has the envelope.
            Some(r) if status != "200" && status.starts_with(['4', '5']) => {
                r["content"] = error_response("")["content"].take();
            }
            Some(_) => {}
            None => {
                responses.insert(status.to_string(), error_response(description));
            }
        }
    };
    add(
        "400",
        "A path parameter, query parameter or body field is not valid (`field` names it), or the body is not JSON",
    );
    if secured {
        add(
            "401",
            "No `Authorization: Bearer <token>`, or the token is not valid",
        );
        add(
            "403",
            "The token's role is below the one this needs (`x-required-role`; the message names it), or its scope does not allow this (`field` names a field it may not write)",
        );
        add("404", "Not found, or outside the token's scope");
    }
    if has_body {
        add(
            "413",
            "The body is larger than the limit (1 MiB; evidence images 2 MiB)",
        );
        add("415", "The body is not of the documented content type");
        add("408", "The body did not arrive in time");
    }
    add(
        "503",
        "The store, queue or secret store is unavailable, or the server is at a limit; retry later",
    );
    if rate_limited {
        responses.insert("429".to_string(), rate_limited_response());
    }
}

fn conform_parameter(p: &mut Value) {
    // A query parameter is absent or a string: never JSON null (utoipa writes `Option<T>` as
    // `[T, "null"]`; "absent" is `required: false`).
    if let Some(types) = p["schema"]["type"].as_array()
        && types.len() == 2
        && let Some(t) = types.iter().find(|t| *t != "null")
    {
        p["schema"]["type"] = t.clone();
    }
    let name = p["name"].as_str().unwrap_or_default().to_string();
    match (p["in"].as_str(), name.as_str()) {
        (Some("path"), "sub_mchid") => {
            p["schema"] = json!({
                "type": "string",
                "pattern": validate::PLATFORM_NUMBER_PATTERN,
            });
        }
        (Some("path"), "n") => {
            p["schema"] = json!({
                "type": "integer",
                "minimum": 0,
                "maximum": MEDIA_POSITION_MAX,
            });
        }
        (Some("path"), _) => {
            p["schema"] = json!({
                "type": "string",
                "minLength": 1,
                "maxLength": ID_MAX_LEN,
                "pattern": id_pattern(),
            });
        }
        (Some("query"), "limit") => {
            p["schema"] = json!({
                "type": "integer",
                "minimum": 1,
                "maximum": PAGE_LIMIT_MAX,
                "default": PAGE_LIMIT_DEFAULT,
            });
        }
        _ => {}
    }
}

/// What the validators check on each field of a request body, stated in the component schemas
/// (merged into the field's schema). Built from the validators' own constants and patterns
/// (`validate::*_schema`), so the two cannot drift; [`apply_field_rules`] reports a rule whose
/// field no longer exists.
pub fn field_rules() -> Vec<(&'static str, &'static str, Value)> {
    use validate::*;
    let string = |rule: Value| merged(json!({"type": "string"}), rule);
    let list = |items: Value, max: usize| json!({"minItems": 1, "maxItems": max, "uniqueItems": true, "items": items});
    let u64_max = json!({"maximum": u64::MAX});
    vec![
        ("CreateToken", "name", line_schema(NAME_MAX)),
        (
            "CreateSubMerchant",
            "sub_mchid",
            json!({"pattern": PLATFORM_NUMBER_PATTERN}),
        ),
        ("CreateSubMerchant", "name", line_schema(NAME_MAX)),
        (
            "CreateSubMerchant",
            "reply_text",
            text_schema(REPLY_TEXT_MAX),
        ),
        ("CreateSubMerchant", "refund_cap_fen", u64_max.clone()),
        ("PatchSubMerchant", "name", line_schema(NAME_MAX)),
        (
            "PatchSubMerchant",
            "reply_text",
            text_schema(REPLY_TEXT_MAX),
        ),
        ("PatchSubMerchant", "refund_cap_fen", u64_max),
        ("PatchAccount", "name", line_schema(NAME_MAX)),
        (
            "PushTestComplaint",
            "text",
            text_schema(crate::try_it::MAX_TEXT_CHARS),
        ),
        ("CreateAccount", "name", line_schema(NAME_MAX)),
        ("EmailInput", "host", host_schema()),
        (
            "EmailInput",
            "port",
            json!({"minimum": 1, "maximum": 65535}),
        ),
        ("EmailInput", "sender", email_schema()),
        ("EmailInput", "username", line_schema(254)),
        ("EmailInput", "recipients", list(string(email_schema()), 50)),
        (
            "EmailInput",
            "tls_root_pem",
            json!({"pattern": r"^[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"}),
        ),
        ("EmailInput", "auth_code", line_schema(256)),
        ("OaTemplateInput", "appid", wx_appid_schema()),
        ("OaTemplateInput", "template_id", line_schema(128)),
        (
            "OaTemplateInput",
            "openids",
            list(string(line_schema(64)), 50),
        ),
        (
            "OaTemplateInput",
            "field_mapping",
            json!({"additionalProperties": string(line_schema(64))}),
        ),
        ("OaTemplateInput", "api_base_url", base_url_schema()),
        // Never null: a channel cannot do without its secret (switch the channel off).
        (
            "OaTemplateInput",
            "secret",
            json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"}),
        ),
        ("SmsInput", "secret_id", line_schema(128)),
        ("SmsInput", "sdk_app_id", line_schema(32)),
        ("SmsInput", "sign_name", line_schema(64)),
        ("SmsInput", "template_id", line_schema(32)),
        (
            "SmsInput",
            "phone_numbers",
            list(string(phone_schema()), 50),
        ),
        ("SmsInput", "region", identifier_schema()),
        ("SmsInput", "api_base_url", base_url_schema()),
        ("SmsInput", "secret_key", string(line_schema(128))),
        ("BotInput", "id", identifier_schema()),
        ("BotInput", "webhook_url", string(base_url_schema())),
    ]
}

/// Write [`field_rules`] and the rules between fields into the component schemas; the rules
/// that found no field (a renamed field: a test fails on them).
pub fn apply_field_rules(doc: &mut Value) -> Vec<String> {
    let mut missing = Vec::new();
    let schemas = &mut doc["components"]["schemas"];
    for (schema, field, rule) in field_rules() {
        match schemas[schema]["properties"].get_mut(field) {
            Some(prop) => {
                *prop = merged(prop.take(), rule);
            }
            None => missing.push(format!("{schema}.{field}")),
        }
    }
    // Unsigned integers (money in fen, days): utoipa writes `format: int64` / `int32`, which read
    // as at most 2^63 - 1 / 2^31 - 1; the server takes any u64 / u32.
    unsigned_64(schemas);
    // A WeCom bot has no signing secret.
    if let Some(bot) = schemas["BotInput"].as_object_mut() {
        bot.insert(
            "if".into(),
            json!({"properties": {"kind": {"const": "wecom"}}, "required": ["kind"]}),
        );
        bot.insert(
            "then".into(),
            json!({"properties": {"signing_secret": {"type": "null"}}}),
        );
    }
    missing
}

fn unsigned_64(v: &mut Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                let unsigned = map.get("minimum").and_then(Value::as_u64).is_some();
                // `int64` and `int32` would cap them at 2^63 - 1 and 2^31 - 1.
                match map.get("format").and_then(Value::as_str) {
                    Some("int64") if unsigned => {
                        map.insert("format".into(), json!("uint64"));
                        map.entry("maximum").or_insert(json!(u64::MAX));
                    }
                    Some("int32") if unsigned => {
                        map.insert("format".into(), json!("uint32"));
                        map.entry("maximum").or_insert(json!(u32::MAX));
                    }
                    _ => {}
                }
                stack.extend(map.values_mut());
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}
