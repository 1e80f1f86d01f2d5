//! The WeChat Pay platform's account kinds: a direct merchant (`wechatpay_merchant`) and a
//! service provider with sub-merchants (`wechatpay_provider`). They share the callback path
//! `/callbacks/wechatpay/{mchid}`, so a mchid is unique across both.

use super::credentials::WechatpayCredentialsInput;
use crate::accounts::fields::{
    base_url, digits, hex_serial, hex_serial_schema, platform_number_schema, reply_text,
    reply_text_schema, stored_url_schema, wx_appid, wx_appid_schema,
};
use crate::accounts::{AccountKindSpec, GuardedSetting, typed_settings};
use crate::credentials::validate;
use crate::error::Error;
use crate::schema::SchemaOf;
use domain::account::{
    AccountKind, AccountKindFacts, AccountSettings, CredentialsStatus, WechatpayMerchantSettings,
    WechatpayProviderSettings,
};
use domain::complaint::Platform;
use serde_json::{Value, json};

const FACTS: AccountKindFacts = AccountKindFacts {
    kind: AccountKind::WechatpayMerchant,
    platform: Platform::Wechatpay,
    has_complaints: true,
    callback_family: "wechatpay",
    platform_id_field: "mchid",
    has_sub_merchants: false,
    budget_by_account_id: false,
};

const GUARDED: &[GuardedSetting] = &[GuardedSetting::destination("api_base_url")];

/// `wechatpay_merchant`.
pub const MERCHANT: AccountKindSpec = AccountKindSpec {
    facts: FACTS,
    settings_schema: SchemaOf::of::<WechatpayMerchantSettings>(),
    settings_rules: Some(merchant_rules),
    settings: |v| typed_settings(v, AccountSettings::WechatpayMerchant),
    check_settings: check_merchant,
    credentials: super::credentials::credentials,
    credentials_schema: Some(SchemaOf::of::<WechatpayCredentialsInput>()),
    empty_credentials,
    guarded: GUARDED,
    check_references: None,
    refresh_violations: None,
};

/// `wechatpay_provider`.
pub const PROVIDER: AccountKindSpec = AccountKindSpec {
    facts: AccountKindFacts {
        kind: AccountKind::WechatpayProvider,
        has_sub_merchants: true,
        ..FACTS
    },
    settings_schema: SchemaOf::of::<WechatpayProviderSettings>(),
    settings_rules: Some(provider_rules),
    settings: |v| typed_settings(v, AccountSettings::WechatpayProvider),
    check_settings: check_provider,
    credentials: super::credentials::credentials,
    credentials_schema: Some(SchemaOf::of::<WechatpayCredentialsInput>()),
    empty_credentials,
    guarded: GUARDED,
    check_references: None,
    refresh_violations: None,
};

/// What [`check_merchant`] checks, as JSON Schema.
fn merchant_rules() -> Value {
    json!({"properties": {
        "mchid": platform_number_schema(),
        "appid": wx_appid_schema(),
        "merchant_serial_no": hex_serial_schema(),
        "reply_text": reply_text_schema(),
        "api_base_url": stored_url_schema(),
    }})
}

/// What [`check_provider`] checks, as JSON Schema.
fn provider_rules() -> Value {
    let mut rules = merchant_rules();
    rules["properties"]["default_reply_text"] = reply_text_schema();
    rules
}

fn check_merchant(settings: &AccountSettings) -> Result<(), Error> {
    if let AccountSettings::WechatpayMerchant(s) = settings {
        digits("settings.mchid", &s.mchid, "merchant number")?;
        wx_appid("settings.appid", &s.appid)?;
        hex_serial("settings.merchant_serial_no", &s.merchant_serial_no)?;
        reply_text("settings.reply_text", &s.reply_text)?;
        base_url("settings.api_base_url", &s.api_base_url)?;
    }
    Ok(())
}

fn check_provider(settings: &AccountSettings) -> Result<(), Error> {
    if let AccountSettings::WechatpayProvider(s) = settings {
        digits("settings.mchid", &s.mchid, "merchant number")?;
        wx_appid("settings.appid", &s.appid)?;
        hex_serial("settings.merchant_serial_no", &s.merchant_serial_no)?;
        reply_text("settings.reply_text", &s.reply_text)?;
        reply_text("settings.default_reply_text", &s.default_reply_text)?;
        base_url("settings.api_base_url", &s.api_base_url)?;
    }
    Ok(())
}

fn empty_credentials(_: &AccountSettings) -> CredentialsStatus {
    validate::nothing_set(&["apiv3_key", "private_key"])
}
