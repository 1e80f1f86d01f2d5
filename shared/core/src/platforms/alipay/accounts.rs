//! The Alipay platform's account kind: an Alipay open-platform app (`alipay_app`).

use crate::accounts::fields::{base_url, digits, reply_text};
use crate::accounts::{AccountKindSpec, GuardedSetting, typed_settings};
use crate::credentials::validate;
use crate::error::Error;
use domain::account::{AccountKind, AccountKindFacts, AccountSettings, CredentialsStatus};
use domain::complaint::Platform;

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
    settings: |v| typed_settings(v, AccountSettings::AlipayApp),
    check_settings,
    credentials: validate::alipay,
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

fn empty_credentials(_: &AccountSettings) -> CredentialsStatus {
    validate::nothing_set(&["mode"])
}
