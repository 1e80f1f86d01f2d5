//! The mini-program platform's account kinds: a mini program (`wxmini_app`, onboarded by hand
//! or authorised through a third-party platform) and the third-party platform itself
//! (`wxopen_component`), whose mini programs are accounts of their own.

use super::credentials::WechatAppCredentialsInput;
use crate::accounts::fields::{
    base_url, digits, stored_url_schema, text_controls, wx_appid, wx_appid_schema,
};
use crate::accounts::{
    AccountKindSpec, BoxFuture, CredentialsChange, GuardedSetting, ReferenceCheck,
    RefreshViolations, typed_settings,
};
use crate::complaints::ComplaintRepo;
use crate::credentials::validate;
use crate::error::Error;
use crate::repo::AccountRepo;
use crate::schema::SchemaOf;
use domain::account::{
    AccountKind, AccountKindFacts, AccountSettings, Credentials, CredentialsStatus,
    WxminiAppSettings, WxminiMode, WxopenComponentSettings,
};
use domain::complaint::Platform;
use serde_json::{Value, json};

/// `wxmini_app`: callbacks at `/callbacks/wxmini/{appid}`.
pub const WXMINI_APP: AccountKindSpec = AccountKindSpec {
    facts: AccountKindFacts {
        kind: AccountKind::WxminiApp,
        platform: Platform::Wxmini,
        has_complaints: true,
        callback_family: "wxmini",
        platform_id_field: "appid",
        has_sub_merchants: false,
        // As its worker counts them.
        budget_by_account_id: true,
    },
    settings_schema: SchemaOf::of::<WxminiAppSettings>(),
    settings_rules: Some(
        || json!({"properties": {"appid": wx_appid_schema(), "api_base_url": stored_url_schema()}}),
    ),
    settings: |v| typed_settings(v, AccountSettings::WxminiApp),
    check_settings: check_app,
    credentials: app_credentials,
    credentials_schema: Some(SchemaOf::of::<WechatAppCredentialsInput>()),
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
    check_references: Some(app_references),
    refresh_violations: REFRESH_VIOLATIONS,
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
        budget_by_account_id: false,
    },
    settings_schema: SchemaOf::of::<WxopenComponentSettings>(),
    settings_rules: Some(component_rules),
    settings: |v| typed_settings(v, AccountSettings::WxopenComponent),
    check_settings: check_component,
    credentials: super::credentials::credentials,
    credentials_schema: Some(SchemaOf::of::<WechatAppCredentialsInput>()),
    empty_credentials: |_| validate::nothing_set(&WECHAT_APP_SECRETS),
    guarded: &[
        GuardedSetting::destination("api_base_url"),
        GuardedSetting::destination("auth_page_base_url"),
    ],
    check_references: None,
    refresh_violations: None,
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
    super::credentials::credentials(change)
}

fn app_empty_credentials(settings: &AccountSettings) -> CredentialsStatus {
    if authorised(settings) {
        validate::nothing_set(&[])
    } else {
        validate::nothing_set(&WECHAT_APP_SECRETS)
    }
}

/// What [`check_component`] checks, as JSON Schema.
fn component_rules() -> Value {
    json!({"properties": {
        "component_appid": wx_appid_schema(),
        "api_base_url": stored_url_schema(),
        "auth_page_base_url": stored_url_schema(),
    }})
}

fn check_component(settings: &AccountSettings) -> Result<(), Error> {
    if let AccountSettings::WxopenComponent(s) = settings {
        wx_appid("settings.component_appid", &s.component_appid)?;
        base_url("settings.api_base_url", &s.api_base_url)?;
        base_url("settings.auth_page_base_url", &s.auth_page_base_url)?;
    }
    Ok(())
}

fn app_references(check: ReferenceCheck<'_>) -> BoxFuture<'_, Result<(), Error>> {
    Box::pin(check_app_references(check))
}

/// What a mini program's settings name must exist: its third-party platform (authorised
/// mode), the WeChat Pay account it refunds through (a provider's with the sub-merchant), and
/// each new image of its automatic response.
async fn check_app_references(check: ReferenceCheck<'_>) -> Result<(), Error> {
    let AccountSettings::WxminiApp(s) = check.new else {
        return Ok(());
    };
    let repo = AccountRepo::new(&*check.services.ports.records);
    if let (WxminiMode::Authorised, Some(id)) = (s.mode, &s.component_account_id) {
        let ok = repo
            .get(id)
            .await?
            .is_some_and(|(a, _)| a.kind() == AccountKind::WxopenComponent);
        if !ok {
            return Err(Error::field(
                "settings.component_account_id",
                format!("{id} is not a wxopen_component account"),
            ));
        }
    }
    if let Some(p) = &s.payment {
        let target = repo.get(&p.account_id).await?.map(|(a, _)| a.kind());
        match (target, &p.sub_mchid) {
            (Some(AccountKind::WechatpayMerchant), None) => {}
            (Some(AccountKind::WechatpayMerchant), Some(_)) => {
                return Err(Error::field(
                    "settings.payment.sub_mchid",
                    "only a wechatpay_provider has sub-merchants",
                ));
            }
            (Some(AccountKind::WechatpayProvider), Some(sub)) => {
                digits("settings.payment.sub_mchid", sub, "sub-merchant number")?
            }
            (Some(AccountKind::WechatpayProvider), None) => {
                return Err(Error::field(
                    "settings.payment.sub_mchid",
                    "is required with a wechatpay_provider",
                ));
            }
            _ => {
                return Err(Error::field(
                    "settings.payment.account_id",
                    format!(
                        "{} is not a wechatpay_merchant or wechatpay_provider account",
                        p.account_id
                    ),
                ));
            }
        }
    }
    check_auto_response_media(check).await
}

/// Images of the automatic response must be media the caller may use for this account
/// (another scope's is answered like an unknown id); those already stored are not checked
/// again.
async fn check_auto_response_media(check: ReferenceCheck<'_>) -> Result<(), Error> {
    let images = |s: &AccountSettings| match s {
        AccountSettings::WxminiApp(s) => s
            .auto_response
            .as_ref()
            .map(|r| r.images.clone())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let kept = check.old.map(images).unwrap_or_default();
    let media = ComplaintRepo::new(&*check.services.ports.records);
    for (n, id) in images(check.new).iter().enumerate() {
        if kept.contains(id) {
            continue;
        }
        if media
            .media_for(id, check.scope, check.account_id, None)
            .await?
            .is_none()
        {
            return Err(Error::field(
                format!("settings.auto_response.images[{n}]"),
                format!("no media {id}"),
            ));
        }
    }
    Ok(())
}

#[cfg(feature = "wxmini")]
const REFRESH_VIOLATIONS: Option<RefreshViolations> = Some(violations::boxed);
/// The callback functions' build (no WeChat calls of the admin API) reads none.
#[cfg(not(feature = "wxmini"))]
const REFRESH_VIOLATIONS: Option<RefreshViolations> = None;

/// A mini program's violation records live on the platform: read those of the last 90 days
/// (and each one's appeal records) into ours.
#[cfg(feature = "wxmini")]
mod violations {
    use crate::complaints::{ComplaintRepo, violation_id};
    use crate::error::Error;
    use crate::platforms::wechat::mini_client;
    use crate::platforms::wxmini::limits as op;
    use crate::staff_actions::{state_conflict, take_budget, throttled};
    use crate::state::Services;
    use chrono::DateTime;
    use domain::account::Account;
    use domain::complaint::Violation;
    use wechat::WechatError;

    fn platform(e: WechatError) -> Error {
        if e.is_throttled() {
            throttled(e)
        } else if e.is_already_moved_on() {
            state_conflict(e)
        } else if e.is_retryable() {
            Error::Unavailable(Box::new(e))
        } else {
            Error::Platform(e.to_string())
        }
    }

    pub(super) fn boxed<'a>(
        services: &'a Services,
        a: &'a Account,
    ) -> crate::accounts::BoxFuture<'a, Result<usize, Error>> {
        Box::pin(refresh(services, a))
    }

    /// The number of violation records read. A mini program's calls are counted under our
    /// account id (as its worker counts them).
    async fn refresh(services: &Services, a: &Account) -> Result<usize, Error> {
        let client = mini_client(services, a)
            .await
            .map_err(|e| Error::Conflict(format!("cannot call WeChat: {e}")))?;
        let now = services.ports.clock.now();
        take_budget(services, &a.id, &[op::VIOLATION_RECORDS]).await?;
        let v = client
            .illegal_records(now.timestamp() - 90 * 86_400, now.timestamp())
            .await
            .map_err(platform)?;
        let repo = ComplaintRepo::new(&*services.ports.records);
        let records = v["records"].as_array().cloned().unwrap_or_default();
        for r in &records {
            let Some(record_id) = wechat::xml::text(&r["illegal_record_id"]) else {
                continue;
            };
            take_budget(services, &a.id, &[op::VIOLATION_RECORDS]).await?;
            let appeals = client.appeal_records(&record_id).await.map_err(platform)?;
            let occurred = r["create_time"]
                .as_i64()
                .and_then(|t| DateTime::from_timestamp(t, 0));
            let mut details = r.clone();
            details["appeal_records"] = appeals["records"].clone();
            repo.put_violation(&Violation {
                id: violation_id(&a.id, &format!("wxmini-illegal:{record_id}")),
                account_id: a.id.clone(),
                sub_mchid: None,
                event_type: "wxmini.illegal_record".into(),
                record_id: record_id.clone(),
                summary: [r["illegal_reason"].as_str(), r["rule_name"].as_str()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("; "),
                details,
                occurred_at: occurred,
                received_at: occurred.unwrap_or(now),
            })
            .await?;
        }
        tracing::info!(account_id = %a.id, count = records.len(), "mini-program violation records read");
        Ok(records.len())
    }
}
