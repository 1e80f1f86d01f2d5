//! Account kinds as platforms bring them ([`AccountKindSpec`], returned by
//! [`crate::platform::Platform::account_kinds`]): the facts generic code needs, how a kind's
//! settings and credentials are checked, and which settings only a scope-`all` token may
//! change. The admin API looks kinds up in the registry and never names one.

use crate::error::Error;
use crate::fingerprint::Fingerprinter;
use crate::schema::SchemaOf;
use crate::state::Services;
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountKindFacts, AccountSettings, Credentials, CredentialsStatus};
use domain::token::TokenScope;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

pub mod fields;

/// One account kind of a platform.
#[derive(Debug, Clone, Copy)]
pub struct AccountKindSpec {
    /// Its facts (the registry sets `platform` to the name of the platform that brings it).
    pub facts: AccountKindFacts,
    /// The schema of its settings object (`POST /accounts`' `settings`, an account's
    /// `settings` as shown): the OpenAPI document and the console's forms are built from it.
    pub settings_schema: SchemaOf,
    /// JSON Schema rules of the settings that the type's own schema cannot state (a field's
    /// pattern or length under `properties`, rules between fields), merged into its component
    /// schema; each states a check of [`Self::check_settings`] (see [`fields`]'s `*_schema`).
    pub settings_rules: Option<fn() -> Value>,
    /// Read the settings object a caller sent (or a merge-patched one): its shape. Errors
    /// name their field under `settings.` (`settings.app_id`).
    pub settings: fn(Value) -> Result<AccountSettings, Error>,
    /// Check the settings' values (called on what [`Self::settings`] read); errors name their
    /// field under `settings.`. Nothing stored is looked at.
    pub check_settings: fn(&AccountSettings) -> Result<(), Error>,
    /// Merge a credentials body into the stored bundle, check it, and describe the result
    /// (errors name their field without a prefix: `app_private_key`; never echo a value). A
    /// conflict when the account cannot have credentials of its own.
    pub credentials: fn(CredentialsChange<'_>) -> Result<(Credentials, CredentialsStatus), Error>,
    /// The schema of the credentials body (`PUT /accounts/{id}/credentials`, `POST /accounts`'
    /// `credentials`); none when the kind has no credentials of its own.
    pub credentials_schema: Option<SchemaOf>,
    /// The credential status of a new account without credentials: what it still needs.
    pub empty_credentials: fn(&AccountSettings) -> CredentialsStatus,
    /// Settings only a token with scope `all` may change (403 naming the first one that
    /// differs), in the order they are checked.
    pub guarded: &'static [GuardedSetting],
    /// Check what the settings refer to among stored records (other accounts, media the
    /// caller may use), after [`Self::check_settings`] and, on a change, after the guarded
    /// settings; errors name their field under `settings.`. None: the settings refer to
    /// nothing stored.
    pub check_references: Option<CheckReferences>,
    /// Read the violation records its platform keeps for an account into ours, before they
    /// are listed (`GET /violations?account=`, first page, enabled accounts); the number read.
    /// None: its violations arrive by push alone.
    pub refresh_violations: Option<RefreshViolations>,
}

/// A boxed future that may cross threads (what the kinds' async checks return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`AccountKindSpec::check_references`].
pub type CheckReferences = for<'a> fn(ReferenceCheck<'a>) -> BoxFuture<'a, Result<(), Error>>;

/// [`AccountKindSpec::refresh_violations`].
pub type RefreshViolations =
    for<'a> fn(&'a Services, &'a Account) -> BoxFuture<'a, Result<usize, Error>>;

/// What [`AccountKindSpec::check_references`] is given: the settings an account is about to
/// be created or changed with, and who asks.
#[derive(Clone, Copy)]
pub struct ReferenceCheck<'a> {
    pub services: &'a Services,
    /// The caller's scope (what it may see and use: media, other accounts).
    pub scope: &'a TokenScope,
    /// Our id of the account (chosen before a new account is checked).
    pub account_id: &'a str,
    /// Its stored settings; none when it is being created.
    pub old: Option<&'a AccountSettings>,
    /// The settings to store.
    pub new: &'a AccountSettings,
}

/// What [`AccountKindSpec::credentials`] is given.
pub struct CredentialsChange<'a> {
    /// The account's settings (a mode may decide which credentials it has).
    pub settings: &'a AccountSettings,
    /// The bundle stored now, if any.
    pub existing: Option<Credentials>,
    /// The caller's JSON object: omitted fields keep their value, `null` clears, a value
    /// replaces.
    pub body: Value,
    pub fingerprints: &'a Fingerprinter,
    pub now: DateTime<Utc>,
}

/// A setting only a scope-`all` token may change, and why (the 403's message).
#[derive(Debug, Clone, Copy)]
pub struct GuardedSetting {
    /// Its path under `settings`, `.`-separated (`payment.account_id`).
    pub path: &'static str,
    pub why: &'static str,
}

/// The reason most guarded settings give.
pub const SECRET_DESTINATION: &str = "decides where this account's stored secrets are sent; only a token with scope \"all\" may change it";

impl GuardedSetting {
    /// A setting that decides where the account's stored secrets go (an API host, an account
    /// whose credentials it borrows).
    pub const fn destination(path: &'static str) -> Self {
        Self {
            path,
            why: SECRET_DESTINATION,
        }
    }
}

/// The first guarded setting whose value differs between `old` and `new` (an omitted field
/// and `null` are the same), named as `settings.{path}`, with why it is guarded.
pub fn changed_guarded_setting(
    spec: &AccountKindSpec,
    old: &AccountSettings,
    new: &AccountSettings,
) -> Result<Option<(String, &'static str)>, Error> {
    let old = old.settings_value().map_err(Error::internal)?;
    let new = new.settings_value().map_err(Error::internal)?;
    let at = |v: &Value, path: &str| {
        let pointer = format!("/{}", path.replace('.', "/"));
        v.pointer(&pointer).cloned().unwrap_or(Value::Null)
    };
    Ok(spec
        .guarded
        .iter()
        .find(|g| at(&old, g.path) != at(&new, g.path))
        .map(|g| (format!("settings.{}", g.path), g.why)))
}

/// Settings of a typed kind from JSON, naming fields under `settings.`.
pub fn typed_settings<T: serde::de::DeserializeOwned>(
    value: Value,
    wrap: fn(T) -> AccountSettings,
) -> Result<AccountSettings, Error> {
    crate::error::from_value_at("settings", value).map(wrap)
}
