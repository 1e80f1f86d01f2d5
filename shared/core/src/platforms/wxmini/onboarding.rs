//! Onboarding a mini program authorised to our third-party platform (used by the
//! authorisation page and by the `authorized` event's job alike): the signed `state` of an
//! authorisation link, the claim on an auth code, creating or re-enabling the account, and
//! withdrawing it on `unauthorized`.
//!
//! Each auth code is claimed once (a record keyed by the code), so whichever comes first wins
//! and the second changes nothing: a second exchange would rotate the refresh token under the
//! first.

use crate::complaints::derived_id;
use crate::platforms::wechat::{ComponentAccount, tokens};
use crate::repo::AccountRepo;
use crate::state::Services;
use crate::worker::JobError;
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountSettings, AuthorizationInfo, WxminiAppSettings, WxminiMode};
use domain::ports::{Item, StoreError};
use serde_json::json;

/// How long an authorisation link works.
pub const STATE_SECONDS: i64 = 600;

const PURPOSE: &str = "wxopen-authorization-state-v1";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// A signed state for a component account, valid until `now + STATE_SECONDS`.
pub fn sign_state(state: &Services, account_id: &str, now: DateTime<Utc>) -> String {
    let payload = format!(
        "{account_id}.{}.{}",
        now.timestamp() + STATE_SECONDS,
        uuid::Uuid::new_v4().simple()
    );
    let body = b64().encode(payload.as_bytes());
    let mac = state.fingerprints.mac(PURPOSE, body.as_bytes());
    format!("{body}.{}", b64().encode(mac))
}

/// The account id a state was made for, if its signature holds and it has not expired.
pub fn verify_state(state: &Services, s: &str, now: DateTime<Utc>) -> Result<String, &'static str> {
    let (body, mac) = s.split_once('.').ok_or("malformed")?;
    let given = b64().decode(mac).map_err(|_| "malformed")?;
    let want = state.fingerprints.mac(PURPOSE, body.as_bytes());
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_slice(),
        want.as_slice(),
    )) {
        return Err("signature does not verify");
    }
    let payload =
        String::from_utf8(b64().decode(body).map_err(|_| "malformed")?).map_err(|_| "malformed")?;
    let mut parts = payload.split('.');
    let (Some(account), Some(exp)) = (parts.next(), parts.next()) else {
        return Err("malformed");
    };
    let exp: i64 = exp.parse().map_err(|_| "malformed")?;
    if exp < now.timestamp() {
        return Err("expired");
    }
    Ok(account.to_string())
}

/// Why onboarding or deauthorisation did not finish.
#[derive(Debug, thiserror::Error)]
pub enum OnboardError {
    #[error("WeChat: {0}")]
    Wechat(#[from] wechat::WechatError),
    #[error("store: {0}")]
    Store(String),
    #[error("another request is onboarding with this code; try again")]
    Busy,
    #[error("{0}")]
    Invalid(String),
}

impl OnboardError {
    pub fn into_job_error(self) -> JobError {
        match self {
            OnboardError::Wechat(e) => crate::platforms::wechat::job_error(e),
            OnboardError::Store(m) => JobError::Retryable {
                source: m.into(),
                retry_after: None,
            },
            OnboardError::Busy => JobError::Retryable {
                source: "another request is onboarding with this code".into(),
                retry_after: Some(std::time::Duration::from_secs(5)),
            },
            OnboardError::Invalid(m) => JobError::Permanent(m),
        }
    }
}

fn store(e: impl std::fmt::Display) -> OnboardError {
    OnboardError::Store(e.to_string())
}

/// Claim an auth code; `Ok(Err(account_id))` when another request already finished with it.
async fn claim(
    state: &Services,
    code: &str,
    via: &str,
) -> Result<Result<(), String>, OnboardError> {
    let records = &*state.ports.records;
    let pk = format!("WXAUTHCODE#{}", derived_id("", code));
    for _ in 0..150 {
        let now = state.ports.clock.now().timestamp();
        let item = Item::new(
            &pk,
            "CLAIM",
            json!({"state": "claimed", "via": via, "at": now}),
        )
        .expiring_at(now + 86_400);
        match records.get(&pk, "CLAIM").await.map_err(store)? {
            None => match records.create(item).await {
                Ok(_) => return Ok(Ok(())),
                Err(StoreError::AlreadyExists { .. }) => continue,
                Err(e) => return Err(store(e)),
            },
            Some(i) if i.data["state"] == "done" => {
                return Ok(Err(i.data["account_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()));
            }
            Some(i) if i.data["at"].as_i64().unwrap_or(0) < now - 60 => {
                // The holder gave up or crashed.
                match records.update(item, i.version).await {
                    Ok(_) => return Ok(Ok(())),
                    Err(StoreError::VersionConflict { .. }) => continue,
                    Err(e) => return Err(store(e)),
                }
            }
            Some(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    Err(OnboardError::Busy)
}

/// Exchange an auth code and create or re-enable the mini program's account (idempotent per
/// code). The account.
pub async fn onboard(
    state: &Services,
    c: &ComponentAccount,
    code: &str,
    via: &str,
) -> Result<Account, OnboardError> {
    let repo = AccountRepo::new(&*state.ports.records);
    if let Err(account_id) = claim(state, code, via).await? {
        tracing::info!(via, %account_id, "authorisation already handled; nothing more to do");
        return repo
            .get(&account_id)
            .await
            .map_err(store)?
            .map(|(a, _)| a)
            .ok_or_else(|| OnboardError::Invalid(format!("account {account_id} vanished")));
    }
    let t = tokens(state, c.api_base_url.as_deref()).map_err(OnboardError::Invalid)?;
    let auth = wechat::component::query_auth(&t, &c.component, code).await?;
    let appid = auth.authorizer_appid.clone();
    let info = wechat::component::authorizer_info(&t, &c.component, &appid).await?;
    let nick = info["authorizer_info"]["nick_name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(&appid)
        .to_string();
    if !auth.permission_sets.contains(&76) {
        tracing::warn!(%appid, granted = ?auth.permission_sets, "permission set 76 (trade complaints) was not granted: complaint calls will be refused");
    }
    let now = state.ports.clock.now();
    let authorization = AuthorizationInfo {
        permission_sets: auth.permission_sets.clone(),
        authorized_at: now,
        active: true,
    };
    let account = loop {
        match repo
            .find_by_platform_id("wxmini", &appid)
            .await
            .map_err(store)?
        {
            Some(found) => {
                let Some((mut a, version)) = repo.get(&found.id).await.map_err(store)? else {
                    continue;
                };
                let AccountSettings::WxminiApp(s) = &mut a.settings else {
                    return Err(OnboardError::Invalid(format!(
                        "{} is not a mini program",
                        a.id
                    )));
                };
                if s.mode == WxminiMode::Manual {
                    tracing::info!(account_id = %a.id, "mini program onboarded by hand is now authorised to the third-party platform");
                }
                s.mode = WxminiMode::Authorised;
                // Pushes now come through the platform, always encrypted.
                s.allow_plaintext = false;
                s.component_account_id = Some(c.account.id.clone());
                s.authorization = Some(authorization.clone());
                a.enabled = true;
                a.updated_at = now;
                a.credentials = (super::accounts::WXMINI_APP.empty_credentials)(&a.settings);
                match repo.update(&a, version).await {
                    Ok(_) => {
                        state.account_changed(&a);
                        break a;
                    }
                    Err(e) if e.is_conflict() => continue,
                    Err(e) => return Err(store(e)),
                }
            }
            None => {
                let settings = AccountSettings::WxminiApp(WxminiAppSettings {
                    appid: appid.clone(),
                    mode: WxminiMode::Authorised,
                    component_account_id: Some(c.account.id.clone()),
                    auto_response: None,
                    auto_refund: false,
                    refund_cap_fen: None,
                    payment: None,
                    authorization: Some(authorization.clone()),
                    api_base_url: None,
                    allow_plaintext: false,
                    deadlines: Default::default(),
                });
                let a = Account {
                    id: format!("acc_{}", uuid::Uuid::now_v7().simple()),
                    name: nick.clone(),
                    enabled: true,
                    credentials: (super::accounts::WXMINI_APP.empty_credentials)(&settings),
                    settings,
                    created_at: now,
                    updated_at: now,
                };
                match repo.create(&a).await {
                    Ok(()) => {
                        state.account_changed(&a);
                        break a;
                    }
                    Err(e) if e.is_conflict() => continue,
                    Err(e) => return Err(store(e)),
                }
            }
        }
    };
    let pk = format!("WXAUTHCODE#{}", derived_id("", code));
    state
        .ports
        .records
        .put(
            Item::new(
                &pk,
                "CLAIM",
                json!({"state": "done", "via": via, "account_id": account.id}),
            )
            .expiring_at(now.timestamp() + 86_400),
        )
        .await
        .map_err(store)?;
    tracing::info!(via, account_id = %account.id, %appid, permission_sets = ?auth.permission_sets, "mini program authorised");
    Ok(account)
}

/// `unauthorized`: the mini program withdrew; its account is disabled and its tokens dropped.
pub async fn deauthorize(
    state: &Services,
    component_account_id: &str,
    appid: &str,
) -> Result<(), OnboardError> {
    let repo = AccountRepo::new(&*state.ports.records);
    // Its tokens first, and any failure retried: once they are marked forgotten, no call gets a
    // token for it until it is authorised again (the component's secret is not needed).
    match repo.get(component_account_id).await.map_err(store)? {
        Some((c, _)) => match &c.settings {
            AccountSettings::WxopenComponent(s) => {
                let t = tokens(state, s.api_base_url.as_deref()).map_err(OnboardError::Invalid)?;
                t.forget_authorizer(&s.component_appid, appid).await?;
            }
            _ => {
                tracing::warn!(%appid, account_id = %c.id, "unauthorized through an account that is not a third-party platform: no tokens to drop")
            }
        },
        None => {
            tracing::warn!(%appid, account_id = %component_account_id, "unauthorized through a third-party platform that no longer exists: no tokens to drop")
        }
    }
    for _ in 0..10 {
        let Some(found) = repo
            .find_by_platform_id("wxmini", appid)
            .await
            .map_err(store)?
        else {
            tracing::info!(%appid, "unauthorized for a mini program we do not know; nothing to do");
            return Ok(());
        };
        let Some((mut a, version)) = repo.get(&found.id).await.map_err(store)? else {
            return Ok(());
        };
        let AccountSettings::WxminiApp(s) = &mut a.settings else {
            return Ok(());
        };
        if s.component_account_id.as_deref() != Some(component_account_id) {
            tracing::warn!(%appid, "unauthorized from a platform this mini program is not authorised to; ignored");
            return Ok(());
        }
        if let Some(auth) = &mut s.authorization {
            auth.active = false;
        }
        a.enabled = false;
        a.updated_at = state.ports.clock.now();
        match repo.update(&a, version).await {
            Ok(_) => {
                state.account_changed(&a);
                tracing::warn!(account_id = %a.id, %appid, "mini program withdrew its authorisation: account disabled");
                return Ok(());
            }
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(store(e)),
        }
    }
    Err(OnboardError::Store("account kept changing".into()))
}
