//! The mini-program platform's account kinds: a mini program (`wxmini_app`, onboarded by hand
//! or authorised through a third-party platform) and the third-party platform itself
//! (`wxopen_component`), whose mini programs are accounts of their own.

use crate::accounts::fields::{base_url, text_controls, wx_appid};
use crate::accounts::{AccountKindSpec, CredentialsChange, GuardedSetting, typed_settings};
use crate::credentials::validate;
use crate::error::Error;
use domain::account::{
    AccountKind, AccountKindFacts, AccountSettings, Credentials, CredentialsStatus, WxminiMode,
};
use domain::complaint::Platform;

/// `wxmini_app`: callbacks at `/callbacks/wxmini/{appid}`.
pub const WXMINI_APP: AccountKindSpec = AccountKindSpec {
    facts: AccountKindFacts {
        kind: AccountKind::WxminiApp,
        platform: Platform::Wxmini,
        has_complaints: true,
        callback_family: "wxmini",
        platform_id_field: "appid",
        has_sub_merchants: false,
    },
    settings: |v| typed_settings(v, AccountSettings::WxminiApp),
    check_settings: check_app,
    credentials: app_credentials,
    empty_credentials: app_empty_credentials,
    guarded: &[
        GuardedSetting {
            path: "allow_plaintext",
            why: "decides whether unencrypted pushes, whose signature covers no body, are trusted; only a token with scope \"all\" may change it",
        },
        GuardedSetting::destination("api_base_url"),
        GuardedSetting::destination("component_account_id"),
        // Whose money the linked provider's keys move.
        GuardedSetting::destination("payment.account_id"),
        GuardedSetting::destination("payment.sub_mchid"),
    ],
};

/// `wxopen_component`: callbacks at `/callbacks/wxopen/{component_appid}`; no complaints of
/// its own.
pub const WXOPEN_COMPONENT: AccountKindSpec = AccountKindSpec {
    facts: AccountKindFacts {
        kind: AccountKind::WxopenComponent,
        platform: Platform::Wxmini,
        has_complaints: false,
        callback_family: "wxopen",
        platform_id_field: "component_appid",
        has_sub_merchants: false,
    },
    settings: |v| typed_settings(v, AccountSettings::WxopenComponent),
    check_settings: check_component,
    credentials: validate::wechat_app,
    empty_credentials: |_| validate::nothing_set(&WECHAT_APP_SECRETS),
    guarded: &[
        GuardedSetting::destination("api_base_url"),
        GuardedSetting::destination("auth_page_base_url"),
    ],
};

const WECHAT_APP_SECRETS: [&str; 3] = ["encoding_aes_key", "secret", "token"];

fn check_app(settings: &AccountSettings) -> Result<(), Error> {
    let AccountSettings::WxminiApp(s) = settings else {
        return Ok(());
    };
    wx_appid("settings.appid", &s.appid)?;
    base_url("settings.api_base_url", &s.api_base_url)?;
    match (s.mode, &s.component_account_id) {
        (WxminiMode::Manual, Some(_)) => {
            return Err(Error::field(
                "settings.component_account_id",
                "only an authorised mini program has a third-party platform",
            ));
        }
        (WxminiMode::Authorised, None) => {
            return Err(Error::field(
                "settings.component_account_id",
                "is required in authorised mode (our id of the wxopen_component account)",
            ));
        }
        _ => {}
    }
    if s.allow_plaintext && s.mode == WxminiMode::Authorised {
        return Err(Error::field(
            "settings.allow_plaintext",
            "only a manual mini program may accept plaintext pushes (a third-party platform's pushes are always encrypted)",
        ));
    }
    if let Some(r) = &s.auto_response {
        text_controls("settings.auto_response.text", &r.text)?;
        if r.text.chars().count() > 500 {
            return Err(Error::field(
                "settings.auto_response.text",
                "must be at most 500 characters",
            ));
        }
        if r.enabled && r.text.trim().is_empty() {
            return Err(Error::field(
                "settings.auto_response.text",
                "is required when the automatic response is enabled",
            ));
        }
        if r.images.len() > 9 {
            return Err(Error::field(
                "settings.auto_response.images",
                "at most 9 images",
            ));
        }
    }
    Ok(())
}

fn authorised(settings: &AccountSettings) -> bool {
    matches!(settings, AccountSettings::WxminiApp(s) if s.mode == WxminiMode::Authorised)
}

fn app_credentials(
    change: CredentialsChange<'_>,
) -> Result<(Credentials, CredentialsStatus), Error> {
    if authorised(change.settings) {
        return Err(Error::Conflict(
            "an authorised mini program is reached through its third-party platform and has no credentials of its own".into(),
        ));
    }
    validate::wechat_app(change)
}

fn app_empty_credentials(settings: &AccountSettings) -> CredentialsStatus {
    if authorised(settings) {
        validate::nothing_set(&[])
    } else {
        validate::nothing_set(&WECHAT_APP_SECRETS)
    }
}

fn check_component(settings: &AccountSettings) -> Result<(), Error> {
    if let AccountSettings::WxopenComponent(s) = settings {
        wx_appid("settings.component_appid", &s.component_appid)?;
        base_url("settings.api_base_url", &s.api_base_url)?;
        base_url("settings.auth_page_base_url", &s.auth_page_base_url)?;
    }
    Ok(())
}
