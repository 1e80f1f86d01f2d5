//! Account kinds as platforms bring them ([`AccountKindSpec`], returned by
//! [`crate::platform::Platform::account_kinds`]): the facts generic code needs, how a kind's
//! settings and credentials are checked, and which settings only a scope-`all` token may
//! change. The admin API looks kinds up in the registry and never names one.

use crate::error::Error;
use crate::fingerprint::Fingerprinter;
use chrono::{DateTime, Utc};
use domain::account::{AccountKindFacts, AccountSettings, Credentials, CredentialsStatus};
use serde_json::Value;

pub mod fields;

/// One account kind of a platform.
#[derive(Debug, Clone, Copy)]
pub struct AccountKindSpec {
    /// Its facts (the registry sets `platform` to the name of the platform that brings it).
    pub facts: AccountKindFacts,
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
    /// The credential status of a new account without credentials: what it still needs.
    pub empty_credentials: fn(&AccountSettings) -> CredentialsStatus,
    /// Settings only a token with scope `all` may change (403 naming the first one that
    /// differs), in the order they are checked.
    pub guarded: &'static [GuardedSetting],
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
