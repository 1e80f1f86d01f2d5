//! The Alipay platform's account kind: an Alipay open-platform app (`alipay_app`).

use super::credentials::AlipayCredentialsInput;
use crate::accounts::fields::{
    base_url, digits, platform_number_schema, reply_text, reply_text_schema, stored_url_schema,
};
use crate::accounts::{AccountKindSpec, GuardedSetting, typed_settings};
use crate::credentials::validate;
use crate::error::Error;
use crate::schema::SchemaOf;
use domain::account::{
    AccountKind, AccountKindFacts, AccountSettings, AlipayAppSettings, CredentialsStatus,
};
use domain::complaint::Platform;
use serde_json::{Value, json};

/// `alipay_app`: callbacks at `/callbacks/alipay/{app_id}`.
pub const ALIPAY_APP: AccountKindSpec = AccountKindSpec {
    facts: AccountKindFacts {
        kind: AccountKind::AlipayApp,
        platform: Platform::Alipay,
        has_complaints: true,
        callback_family: "alipay",
        platform_id_field: "app_id",
        has_sub_merchants: false,
        budget_by_account_id: false,
    },
    settings_schema: SchemaOf::of::<AlipayAppSettings>(),
    settings_rules: Some(settings_rules),
    settings: |v| typed_settings(v, AccountSettings::AlipayApp),
    check_settings,
    credentials: super::credentials::credentials,
    credentials_schema: Some(SchemaOf::of::<AlipayCredentialsInput>()),
    empty_credentials,
    guarded: &[GuardedSetting::destination("api_base_url")],
    check_references: None,
    refresh_violations: None,
};

fn check_settings(settings: &AccountSettings) -> Result<(), Error> {
    if let AccountSettings::AlipayApp(s) = settings {
        digits("settings.app_id", &s.app_id, "Alipay app id")?;
        reply_text("settings.reply_text", &s.reply_text)?;
        reply_text("settings.refund_finish_text", &s.refund_finish_text)?;
        reply_text("settings.refund_finish_remark", &s.refund_finish_remark)?;
        base_url("settings.api_base_url", &s.api_base_url)?;
    }
    Ok(())
}

/// What [`check_settings`] checks, as JSON Schema.
fn settings_rules() -> Value {
    json!({"properties": {
        "app_id": platform_number_schema(),
        "reply_text": reply_text_schema(),
        "refund_finish_text": reply_text_schema(),
        "refund_finish_remark": reply_text_schema(),
        "api_base_url": stored_url_schema(),
    }})
}

fn empty_credentials(_: &AccountSettings) -> CredentialsStatus {
    validate::nothing_set(&["mode"])
}
