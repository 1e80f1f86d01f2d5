//! Account kinds come from the registered platforms: a platform written here, in the test
//! file, brings a kind of its own (settings and credentials checked by its own code, its own
//! callback family and platform id field), and the admin API creates, reads, lists, patches
//! and deletes such accounts and sets their credentials through the generic code alone. A
//! kind no registered platform brings is refused, naming the field.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use desk_core::Error;
use desk_core::accounts::{
    AccountKindSpec, BoxFuture, CredentialsChange, GuardedSetting, ReferenceCheck,
};
use desk_core::platform::{Platform, Platforms};
use desk_core::repo::AccountRepo;
use desk_core::schema::SchemaOf;
use desk_core::state::Services;
use desk_core::worker::JobRegistry;
use domain::Sensitive;
use domain::account::{
    AccountKind, AccountKindFacts, AccountSettings, Credentials, CredentialsStatus,
    OpenCredentials, SecretStatus,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const TOY: domain::complaint::Platform = domain::complaint::Platform::new("toy");
const TOY_SHOP: AccountKind = AccountKind::new("toy_shop");
const TOY_MALL: AccountKind = AccountKind::new("toy_mall");

/// Only a scope-`all` token may point the toy's keys at another host.
const GUARDED: &[GuardedSetting] = &[GuardedSetting::destination("api_host")];

/// A platform with two account kinds: `toy_shop` (callbacks at `/callbacks/toyland/{shop}`)
/// and `toy_mall`, whose accounts have sub-merchants (callbacks at `/callbacks/toymall/{mall}`).
struct Toy;

impl Platform for Toy {
    fn name(&self) -> domain::complaint::Platform {
        TOY
    }

    fn register_jobs(&self, _: &mut JobRegistry, _: &Services) {}

    fn account_kinds(&self) -> Vec<AccountKindSpec> {
        vec![
            AccountKindSpec {
                facts: AccountKindFacts {
                    kind: TOY_SHOP,
                    platform: TOY,
                    has_complaints: true,
                    callback_family: "toyland",
                    platform_id_field: "shop",
                    has_sub_merchants: false,
                    budget_by_account_id: false,
                },
                settings_schema: SchemaOf::of::<ToyShopSettings>(),
                settings_rules: Some(|| {
                    json!({"properties": {
                        "shop": {"pattern": "^toy-[0-9]+$"},
                        "greeting": {"maxLength": 20},
                    }})
                }),
                settings: toy_settings,
                check_settings: check_toy_settings,
                credentials: toy_credentials,
                credentials_schema: Some(SchemaOf::of::<ToyShopCredentials>()),
                empty_credentials: |_| CredentialsStatus {
                    complete: false,
                    missing: vec!["api_key".into()],
                    ..CredentialsStatus::default()
                },
                guarded: GUARDED,
                check_references: Some(toy_references),
                refresh_violations: None,
            },
            AccountKindSpec {
                facts: AccountKindFacts {
                    kind: TOY_MALL,
                    platform: TOY,
                    has_complaints: true,
                    callback_family: "toymall",
                    platform_id_field: "mall",
                    has_sub_merchants: true,
                    budget_by_account_id: false,
                },
                settings_schema: SchemaOf::of::<ToyMallSettings>(),
                // A rule naming a field the settings lack is reported and left out.
                settings_rules: Some(|| json!({"properties": {"mal": {"minLength": 1}}})),
                settings: mall_settings,
                check_settings: |_| Ok(()),
                credentials: no_credentials,
                credentials_schema: None,
                empty_credentials: |_| CredentialsStatus {
                    complete: true,
                    ..CredentialsStatus::default()
                },
                guarded: &[],
                check_references: None,
                refresh_violations: None,
            },
        ]
    }
}

/// `toy_shop` settings, as the document shows them (read by [`toy_settings`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ToyShopSettings {
    /// `toy-` and digits.
    shop: String,
    greeting: Option<String>,
    api_host: Option<String>,
    partner: Option<String>,
}

/// `toy_shop` credentials (read by [`toy_credentials`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ToyShopCredentials {
    /// At least 16 characters.
    api_key: Option<String>,
}

/// `toy_mall` settings (read by [`mall_settings`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ToyMallSettings {
    mall: String,
}

/// The toy's settings: `shop` (`toy-` and digits), an optional `greeting`, an optional
/// `api_host`, an optional `partner` (our id of another toy shop); nothing else.
fn toy_settings(value: Value) -> Result<AccountSettings, Error> {
    let Value::Object(map) = value else {
        return Err(Error::field("settings", "must be an object"));
    };
    if let Some(k) = map
        .keys()
        .find(|k| !["shop", "greeting", "api_host", "partner"].contains(&k.as_str()))
    {
        return Err(Error::field(
            format!("settings.{k}"),
            "is not a toy setting",
        ));
    }
    if !map.get("shop").is_some_and(Value::is_string) {
        return Err(Error::field("settings.shop", "is required (a string)"));
    }
    AccountSettings::from_parts(TOY_SHOP, Value::Object(map))
        .map_err(|m| Error::field("settings", m))
}

/// A mall's settings: `mall` (a string).
fn mall_settings(value: Value) -> Result<AccountSettings, Error> {
    let Some(Value::String(_)) = value.get("mall") else {
        return Err(Error::field("settings.mall", "is required (a string)"));
    };
    AccountSettings::from_parts(TOY_MALL, value).map_err(|m| Error::field("settings", m))
}

fn no_credentials(_: CredentialsChange<'_>) -> Result<(Credentials, CredentialsStatus), Error> {
    Err(Error::Conflict("a toy mall has no credentials".into()))
}

fn check_toy_settings(settings: &AccountSettings) -> Result<(), Error> {
    let AccountSettings::Open(s) = settings else {
        return Err(Error::field("settings", "not toy settings"));
    };
    let shop = s.settings.get("shop").and_then(Value::as_str).unwrap_or("");
    let digits = shop.strip_prefix("toy-").unwrap_or("");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::field("settings.shop", "must be toy- and digits"));
    }
    if let Some(g) = s.settings.get("greeting")
        && g.as_str().is_none_or(|g| g.chars().count() > 20)
    {
        return Err(Error::field(
            "settings.greeting",
            "must be at most 20 characters",
        ));
    }
    Ok(())
}

fn toy_references(check: ReferenceCheck<'_>) -> BoxFuture<'_, Result<(), Error>> {
    Box::pin(check_partner(check))
}

/// `settings.partner` must name another toy shop that the caller may see.
async fn check_partner(check: ReferenceCheck<'_>) -> Result<(), Error> {
    let AccountSettings::Open(s) = check.new else {
        return Err(Error::field("settings", "not toy settings"));
    };
    let Some(partner) = s.settings.get("partner") else {
        return Ok(());
    };
    let Some(partner) = partner.as_str() else {
        return Err(Error::field("settings.partner", "must be an account id"));
    };
    if partner == check.account_id {
        return Err(Error::field(
            "settings.partner",
            "must be another account than this one",
        ));
    }
    let found = if check.scope.covers_account(partner) {
        AccountRepo::new(&*check.services.ports.records)
            .get(partner)
            .await?
    } else {
        None
    };
    if found.is_none_or(|(a, _)| a.kind() != TOY_SHOP) {
        return Err(Error::field(
            "settings.partner",
            format!("{partner} is not a toy_shop account"),
        ));
    }
    Ok(())
}

/// One secret, `api_key` (at least 16 characters), described by its short fingerprint.
fn toy_credentials(
    change: CredentialsChange<'_>,
) -> Result<(Credentials, CredentialsStatus), Error> {
    let mut fields = match change.existing {
        Some(Credentials::Open(c)) => c.fields,
        _ => BTreeMap::new(),
    };
    let Value::Object(body) = change.body else {
        return Err(Error::field("api_key", "credentials must be an object"));
    };
    for (k, v) in body {
        match (k.as_str(), v) {
            ("api_key", Value::Null) => {
                fields.remove("api_key");
            }
            ("api_key", Value::String(key)) if key.len() >= 16 => {
                fields.insert("api_key".into(), Sensitive::new(key));
            }
            ("api_key", _) => {
                return Err(Error::field("api_key", "must be at least 16 characters"));
            }
            (other, _) => return Err(Error::field(other, "is not a toy credential")),
        }
    }
    let mut status = CredentialsStatus {
        updated_at: Some(change.now),
        ..CredentialsStatus::default()
    };
    match fields.get("api_key") {
        Some(key) => {
            status.fields.insert(
                "api_key".into(),
                SecretStatus::set(change.fingerprints.short(key.expose())),
            );
            status.complete = true;
        }
        None => {
            status
                .fields
                .insert("api_key".into(), SecretStatus::unset());
            status.missing.push("api_key".into());
        }
    }
    let bundle = Credentials::Open(OpenCredentials {
        kind: TOY_SHOP.as_str().into(),
        fields,
    });
    Ok((bundle, status))
}

/// The harness with the built-in platforms and the toy.
fn toy_harness() -> Harness {
    let mut h = harness();
    let mut platforms: Platforms = desk_core::platforms::builtin();
    platforms.register(Arc::new(Toy));
    h.state.callbacks.platforms = Arc::new(platforms);
    h.router = desk_http::router::router(h.state.clone());
    h
}

fn toy_body(shop: &str) -> Value {
    json!({"kind": "toy_shop", "name": "Toy shop", "settings": {"shop": shop, "greeting": "hello"}})
}

async fn found_by_callback_path(h: &Harness, shop: &str) -> Option<String> {
    AccountRepo::new(&*h.state.ports.records)
        .find_by_platform_id("toyland", shop)
        .await
        .expect("lookup")
        .map(|a| a.id)
}

#[tokio::test]
async fn a_registered_platform_brings_its_own_account_kind_through_the_admin_api() {
    let h = toy_harness();

    // Create: the toy's own checks run, and its facts decide where callbacks find it.
    let (s, res) = h
        .admin(Method::POST, "/admin/v1/accounts", Some(toy_body("toy-x1")))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{res}");
    assert_eq!(res["error"]["field"], "settings.shop", "{res}");
    let (s, created) = h
        .admin(
            Method::POST,
            "/admin/v1/accounts",
            Some(toy_body("toy-0001")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["kind"], "toy_shop");
    assert_eq!(
        created["settings"],
        json!({"shop": "toy-0001", "greeting": "hello"})
    );
    assert_eq!(created["credentials"]["missing"], json!(["api_key"]));
    assert_eq!(
        found_by_callback_path(&h, "toy-0001").await,
        Some(id.clone())
    );
    // The platform id is unique on the kind's callback path.
    let (s, res) = h
        .admin(
            Method::POST,
            "/admin/v1/accounts",
            Some(toy_body("toy-0001")),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{res}");
    for (settings, field) in [
        (
            json!({"shop": "toy-0002", "greeting": "x".repeat(21)}),
            "settings.greeting",
        ),
        (
            json!({"shop": "toy-0002", "colour": "red"}),
            "settings.colour",
        ),
        (json!({"greeting": "hi"}), "settings.shop"),
    ] {
        let (s, res) = h
            .admin(
                Method::POST,
                "/admin/v1/accounts",
                Some(json!({"kind": "toy_shop", "name": "T", "settings": settings})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{res}");
        assert_eq!(res["error"]["field"], field, "{res}");
    }

    // Read and list.
    let path = format!("/admin/v1/accounts/{id}");
    let (s, read) = h.admin(Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::OK, "{read}");
    assert_eq!(read, created);
    let (s, list) = h
        .admin(Method::GET, "/admin/v1/accounts?kind=toy_shop", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["items"][0]["id"], id.as_str());

    // Patch: merged, checked by the toy, the platform id kept, guarded settings guarded.
    let (s, patched) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"settings": {"greeting": "welcome", "api_host": "https://toy.example"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["settings"],
        json!({"shop": "toy-0001", "greeting": "welcome", "api_host": "https://toy.example"})
    );
    let (s, res) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"settings": {"greeting": "y".repeat(21)}})),
        )
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("settings.greeting"))
    );
    let (s, res) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"settings": {"shop": "toy-0009"}})),
        )
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("settings.shop")),
        "{res}"
    );
    let scoped = h.token(json!({"type": "account", "account_id": id})).await;
    let (s, res) = h
        .call(
            Method::PATCH,
            &path,
            Some(&scoped),
            Some(json!({"settings": {"api_host": "https://elsewhere.example"}})),
        )
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::FORBIDDEN, Some("settings.api_host")),
        "{res}"
    );
    let (s, res) = h
        .call(
            Method::PATCH,
            &path,
            Some(&scoped),
            Some(json!({"settings": {"greeting": "hi"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{res}");

    // Credentials: checked by the toy, kept in the secret store, described by fingerprint.
    let creds = format!("{path}/credentials");
    let (s, res) = h
        .admin(Method::PUT, &creds, Some(json!({"api_key": "short"})))
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("api_key")),
        "{res}"
    );
    let key = "toy-key-0123456789abcdef";
    let (s, status) = h
        .admin(Method::PUT, &creds, Some(json!({"api_key": key})))
        .await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(status["complete"], true, "{status}");
    assert_eq!(status["fields"]["api_key"]["set"], true, "{status}");
    assert!(
        !status.to_string().contains(key),
        "never the value: {status}"
    );
    let stored = desk_core::credentials::load(&*h.state.ports.secrets, &id)
        .await
        .expect("secret store");
    let Some(Credentials::Open(bundle)) = stored else {
        panic!("the toy's bundle is stored as its own");
    };
    assert_eq!(
        bundle.fields.get("api_key").map(Sensitive::expose),
        Some(key)
    );
    let (_, read) = h.admin(Method::GET, &path, None).await;
    assert_eq!(read["credentials"], status);

    // Delete: gone, and its platform id free again.
    let (s, _) = h.admin(Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h.admin(Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(found_by_callback_path(&h, "toy-0001").await, None);
    let again = h.create(toy_body("toy-0001")).await;
    assert_eq!(found_by_callback_path(&h, "toy-0001").await, Some(again));
}

#[tokio::test]
async fn a_kinds_own_reference_check_runs_on_create_and_patch_with_the_callers_scope() {
    let h = toy_harness();
    let first = h.create(toy_body("toy-0001")).await;
    let component = h
        .create(json!({
            "kind": "wxopen_component", "name": "Component",
            "settings": {"component_appid": "wx2c2769f8efd9abc2"}
        }))
        .await;
    let with_partner = |shop: &str, partner: &str| json!({"kind": "toy_shop", "name": "Toy", "settings": {"shop": shop, "partner": partner}});
    let refused = |res: &Value, message: &str| {
        assert_eq!(res["error"]["field"], "settings.partner", "{res}");
        assert_eq!(res["error"]["message"], message, "{res}");
    };

    // Create: the partner must be a stored toy shop.
    for (partner, message) in [
        (
            "acc_nobody",
            "acc_nobody is not a toy_shop account".to_string(),
        ),
        (
            component.as_str(),
            format!("{component} is not a toy_shop account"),
        ),
    ] {
        let (s, res) = h
            .admin(
                Method::POST,
                "/admin/v1/accounts",
                Some(with_partner("toy-0002", partner)),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{res}");
        refused(&res, &message);
    }
    assert_eq!(found_by_callback_path(&h, "toy-0002").await, None);
    let (s, second) = h
        .admin(
            Method::POST,
            "/admin/v1/accounts",
            Some(with_partner("toy-0002", &first)),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    let second = second["id"].as_str().expect("id").to_string();

    // Patch: the merged settings are checked again, knowing which account they belong to.
    let path = format!("/admin/v1/accounts/{second}");
    let (s, res) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"settings": {"partner": second}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{res}");
    refused(&res, "must be another account than this one");
    let (s, res) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"settings": {"partner": "acc_gone"}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{res}");
    refused(&res, "acc_gone is not a toy_shop account");
    let (_, read) = h.admin(Method::GET, &path, None).await;
    assert_eq!(read["settings"]["partner"], first.as_str(), "unchanged");

    // The check sees the caller's scope: a token for the third shop cannot name the first.
    let third = h.create(toy_body("toy-0003")).await;
    let third_path = format!("/admin/v1/accounts/{third}");
    let scoped = h
        .token(json!({"type": "account", "account_id": third}))
        .await;
    let (s, res) = h
        .call(
            Method::PATCH,
            &third_path,
            Some(&scoped),
            Some(json!({"settings": {"partner": first}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{res}");
    refused(&res, &format!("{first} is not a toy_shop account"));
    let (s, res) = h
        .admin(
            Method::PATCH,
            &third_path,
            Some(json!({"settings": {"partner": first}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{res}");
    assert_eq!(res["settings"]["partner"], first.as_str());
}

#[tokio::test]
async fn a_sub_merchant_token_needs_a_kind_whose_platform_gives_it_sub_merchants() {
    let h = toy_harness();
    let mall = h
        .create(json!({"kind": "toy_mall", "name": "Mall", "settings": {"mall": "mall-1"}}))
        .await;
    let shop = h.create(toy_body("toy-0001")).await;
    let (s, res) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{mall}/sub-merchants"),
            Some(json!({"sub_mchid": "12345678", "name": "Stall"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{res}");

    let token = |account: &str, sub: &str| json!({"name": "stall", "scope": {"type": "sub_merchant", "account_id": account, "sub_mchid": sub}});
    let (s, res) = h
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(token(&mall, "12345678")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{res}");
    assert_eq!(res["scope"]["account_id"], mall.as_str(), "{res}");
    assert_eq!(res["scope"]["sub_mchid"], "12345678", "{res}");
    let (s, res) = h
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(token(&mall, "87654321")),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{res}");
    // A shop's kind has no sub-merchants: no token for one.
    let (s, res) = h
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(token(&shop, "12345678")),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{res}");
    assert_eq!(
        res["error"]["message"],
        format!("sub-merchant 12345678 of account {shop} not found"),
        "{res}"
    );
}

#[tokio::test]
async fn a_kind_no_registered_platform_brings_is_400_naming_the_field() {
    let h = toy_harness();
    let (s, res) = h
        .admin(
            Method::POST,
            "/admin/v1/accounts",
            Some(json!({"kind": "bank_branch", "name": "B", "settings": {"shop": "toy-0001"}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{res}");
    assert_eq!(res["error"]["field"], "kind", "{res}");
    let message = res["error"]["message"].as_str().unwrap_or("");
    for served in [
        "toy_shop",
        "alipay_app",
        "wechatpay_provider",
        "wxopen_component",
    ] {
        assert!(message.contains(served), "lists {served}: {message}");
    }
    let (s, res) = h
        .admin(Method::GET, "/admin/v1/accounts?kind=bank_branch", None)
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("kind"))
    );
    // Without the toy registered, its kind is just as unknown.
    let plain = harness();
    let (s, res) = plain
        .admin(
            Method::POST,
            "/admin/v1/accounts",
            Some(toy_body("toy-0001")),
        )
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("kind")),
        "{res}"
    );
    let (_, list) = plain.admin(Method::GET, "/admin/v1/accounts", None).await;
    assert_eq!(list["items"], json!([]), "nothing was created");
}

#[tokio::test]
async fn complaint_lists_filter_by_any_registered_platform() {
    let h = toy_harness();
    let (s, res) = h
        .admin(Method::GET, "/admin/v1/complaints?platform=toy", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{res}");
    assert_eq!(res["items"], json!([]));
    let (s, res) = harness()
        .admin(Method::GET, "/admin/v1/complaints?platform=toy", None)
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("platform")),
        "{res}"
    );
}

#[test]
fn an_open_kinds_settings_are_stored_like_any_others() {
    let settings =
        AccountSettings::from_parts(TOY_SHOP, json!({"shop": "toy-0001"})).expect("an object");
    let v = serde_json::to_value(&settings).expect("serialise");
    assert_eq!(
        v,
        json!({"kind": "toy_shop", "settings": {"shop": "toy-0001"}})
    );
    let back: AccountSettings = serde_json::from_value(v).expect("deserialise");
    assert_eq!(back, settings);
    assert_eq!(back.kind(), TOY_SHOP);
}

#[tokio::test]
async fn the_document_shows_each_kinds_settings_and_credentials_as_its_platform_gives_them() {
    let h = toy_harness();
    let (s, doc) = h
        .call(Method::GET, "/admin/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let schemas = &doc["components"]["schemas"];
    let reference = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    // The kind's settings schema, with the rules its platform states merged in.
    let shop = &schemas["ToyShopSettings"];
    assert_eq!(shop["required"], json!(["shop"]), "{shop}");
    assert_eq!(
        shop["properties"]["shop"]["pattern"], "^toy-[0-9]+$",
        "{shop}"
    );
    assert_eq!(shop["properties"]["greeting"]["maxLength"], 20, "{shop}");
    assert!(
        schemas["ToyMallSettings"]["properties"]
            .get("mal")
            .is_none(),
        "a rule for no field is left out: {}",
        schemas["ToyMallSettings"]
    );
    assert!(schemas["ToyShopCredentials"]["properties"]["api_key"].is_object());
    // An account as shown: one object per kind, the built-in ones as well.
    let shown = schemas["AccountSettings"]["oneOf"]
        .as_array()
        .expect("oneOf");
    let of = |kind: &str| {
        shown
            .iter()
            .find(|o| o["properties"]["kind"]["enum"] == json!([kind]))
            .map(|o| o["properties"]["settings"].clone())
    };
    assert_eq!(of("toy_shop"), Some(reference("ToyShopSettings")));
    assert_eq!(of("toy_mall"), Some(reference("ToyMallSettings")));
    assert_eq!(of("alipay_app"), Some(reference("AlipayAppSettings")));
    assert_eq!(shown.len(), h.state.platforms().account_kind_names().len());
    // The bodies that take settings and credentials.
    let create = &schemas["CreateAccount"]["properties"];
    let settings = create["settings"]["anyOf"].as_array().expect("anyOf");
    assert!(
        settings.contains(&reference("ToyShopSettings")),
        "{settings:?}"
    );
    assert!(settings.contains(&reference("WxopenComponentSettings")));
    let credentials = create["credentials"]["anyOf"].as_array().expect("anyOf");
    assert!(credentials.contains(&reference("ToyShopCredentials")));
    assert!(credentials.contains(&json!({"type": "null"})));
    let kind = create["kind"]["description"].as_str().unwrap_or_default();
    assert!(
        kind.contains("`toy_shop`: settings ToyShopSettings, credentials ToyShopCredentials")
            && kind.contains("`toy_mall`: settings ToyMallSettings, no credentials"),
        "{kind}"
    );
    let put = &doc["paths"]["/admin/v1/accounts/{id}/credentials"]["put"]["requestBody"];
    let bodies = put["content"]["application/json"]["schema"]["anyOf"]
        .as_array()
        .expect("anyOf");
    assert!(bodies.contains(&reference("ToyShopCredentials")), "{put}");
    assert!(
        bodies.contains(&reference("WechatpayCredentialsInput")),
        "{put}"
    );
    // What the document reports about the toy's rule for no field.
    let mut bare =
        serde_json::to_value(<desk_http::admin::openapi::ApiDoc as utoipa::OpenApi>::openapi())
            .expect("doc");
    let missing =
        desk_http::admin::action_document::add_account_kinds(&mut bare, h.state.platforms());
    assert_eq!(missing, vec!["ToyMallSettings.mal".to_string()]);
}

/// Settings types whose names clash: with each other, and with one of the desk's own schemas.
mod clashing {
    #[derive(utoipa::ToSchema)]
    #[schema(as = ClashSettings)]
    #[allow(dead_code)]
    pub struct One {
        pub x: String,
    }

    #[derive(utoipa::ToSchema)]
    #[schema(as = ClashSettings)]
    #[allow(dead_code)]
    pub struct Two {
        pub y: u32,
    }

    #[derive(utoipa::ToSchema)]
    #[schema(as = ErrorBody)]
    #[allow(dead_code)]
    pub struct Mine {
        pub z: String,
    }
}

/// A platform whose kinds' schemas cannot all be documented as stated.
struct Clash;

fn clash_kind(
    kind: &'static str,
    schema: SchemaOf,
    rules: Option<fn() -> Value>,
) -> AccountKindSpec {
    AccountKindSpec {
        facts: AccountKindFacts {
            kind: AccountKind::new(kind),
            platform: domain::complaint::Platform::new("clash"),
            has_complaints: true,
            callback_family: "clash",
            platform_id_field: "x",
            has_sub_merchants: false,
            budget_by_account_id: false,
        },
        settings_schema: schema,
        settings_rules: rules,
        settings: |_| Err(Error::field("settings", "not used")),
        check_settings: |_| Ok(()),
        credentials: no_credentials,
        credentials_schema: None,
        empty_credentials: |_| CredentialsStatus::default(),
        guarded: &[],
        check_references: None,
        refresh_violations: None,
    }
}

impl Platform for Clash {
    fn name(&self) -> domain::complaint::Platform {
        domain::complaint::Platform::new("clash")
    }

    fn register_jobs(&self, _: &mut JobRegistry, _: &Services) {}

    fn account_kinds(&self) -> Vec<AccountKindSpec> {
        vec![
            clash_kind(
                "clash_one",
                SchemaOf::of::<clashing::One>(),
                Some(|| json!({"properties": {"x": {"minLength": 1}}})),
            ),
            // Another type of the same name, with other rules.
            clash_kind(
                "clash_two",
                SchemaOf::of::<clashing::Two>(),
                Some(|| json!({"properties": {"x": {"minLength": 2}}})),
            ),
            // The same type again, with the same rules: documented once, no problem.
            clash_kind(
                "clash_three",
                SchemaOf::of::<clashing::One>(),
                Some(|| json!({"properties": {"x": {"minLength": 1}}})),
            ),
            clash_kind("clash_four", SchemaOf::of::<clashing::Mine>(), None),
        ]
    }
}

#[test]
fn schemas_that_cannot_be_documented_as_stated_are_reported() {
    let mut doc =
        serde_json::to_value(<desk_http::admin::openapi::ApiDoc as utoipa::OpenApi>::openapi())
            .expect("doc");
    let error_body = doc["components"]["schemas"]["ErrorBody"].clone();
    let problems = desk_http::admin::action_document::add_account_kinds(
        &mut doc,
        &Platforms::new().with(Clash),
    );
    assert_eq!(
        problems,
        vec![
            "ClashSettings: two different schemas have this name".to_string(),
            "ClashSettings: kinds of this settings type state different rules".to_string(),
            "ErrorBody: the name of one of the desk's own schemas".to_string(),
        ]
    );
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["ClashSettings"]["properties"]["x"]["minLength"], 1);
    assert_eq!(
        schemas["ErrorBody"], error_body,
        "the desk's own schema stays"
    );
}
