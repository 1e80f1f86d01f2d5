//! WeChat server API clients built from accounts: the one token cache (records store), the
//! mini-program client of a `wxmini_app` (own secret or through its third-party platform) and
//! the third-party platform of a `wxopen_component`.
//!
//! Cache records: `WXTOKEN#{key}` / `TOKEN` with a version for compare-and-set; keys as in
//! [`wechat::token`] (`stable:{appid}:{fp}`, `ticket:{component}`, `component:{component}:{fp}`,
//! `authorizer:{appid}:{fp}`), where `fp` is an HMAC under a key derived from the installation
//! key of the credentials and API base URL that obtained the token (so a tenant that names
//! another tenant's appid never gets its token, and the key shows no secret). Their values
//! (access tokens, the refresh token, the ticket) are sealed with AES-256-GCM under another key
//! derived from the installation key, the record key as associated data: a read of the table
//! shows none of them.

use crate::repo::AccountRepo;
use crate::state::Services;
use async_trait::async_trait;
use domain::account::{Account, AccountSettings, Credentials, WxminiMode};
use domain::ports::{Item, RecordStore, StoreError};
use serde_json::Value;
use std::sync::Arc;
use wechat::token::{Access, Cached, Component, Secret, TokenCache, Tokens};

/// The token cache in the records store, values sealed.
pub struct RecordsTokenCache {
    pub records: Arc<dyn RecordStore>,
    key: [u8; 32],
    fingerprints: crate::fingerprint::Fingerprinter,
}

impl RecordsTokenCache {
    pub fn new(
        records: Arc<dyn RecordStore>,
        fingerprints: &crate::fingerprint::Fingerprinter,
    ) -> Self {
        Self {
            records,
            key: fingerprints.derive_key("wechat-token-cache-v1"),
            fingerprints: fingerprints.clone(),
        }
    }

    fn seal(&self, pk: &str, value: &Value) -> Result<Value, String> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let cipher = aes_gcm::Aes256Gcm::new(&self.key.into());
        let nonce: [u8; 12] = rand::random();
        let plain = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(
                    &nonce.into(),
                    Payload {
                        msg: &plain,
                        aad: pk.as_bytes(),
                    },
                )
                .map_err(|_| "cannot seal the token".to_string())?,
        );
        use base64::Engine;
        Ok(serde_json::json!({"sealed": base64::engine::general_purpose::STANDARD.encode(out)}))
    }

    /// The value, or None when it cannot be opened (sealed under another key): a cache miss.
    fn open(&self, pk: &str, data: &Value) -> Option<Value> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(data["sealed"].as_str()?)
            .ok()?;
        if raw.len() < 12 {
            return None;
        }
        let cipher = aes_gcm::Aes256Gcm::new(&self.key.into());
        let nonce: [u8; 12] = raw[..12].try_into().ok()?;
        let plain = cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &raw[12..],
                    aad: pk.as_bytes(),
                },
            )
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

fn pk(key: &str) -> String {
    format!("WXTOKEN#{key}")
}

#[async_trait]
impl TokenCache for RecordsTokenCache {
    async fn load(&self, key: &str) -> Result<Option<Cached>, String> {
        let pk = pk(key);
        let Some(i) = self
            .records
            .get(&pk, "TOKEN")
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let value = self.open(&pk, &i.data).unwrap_or_else(|| {
            tracing::warn!(key, "a cached WeChat token cannot be opened (another installation key?); treated as missing");
            Value::Null
        });
        Ok(Some(Cached {
            value,
            expires_at: i.expires_at,
            version: i.version,
        }))
    }

    async fn store(
        &self,
        key: &str,
        value: Value,
        expires_at: Option<i64>,
        expected: Option<u64>,
    ) -> Result<Option<u64>, String> {
        let pk = pk(key);
        let sealed = self.seal(&pk, &value)?;
        let mut item = Item::new(pk, "TOKEN", sealed);
        if let Some(e) = expires_at {
            item = item.expiring_at(e);
        }
        let r = match expected {
            None => self.records.create(item).await,
            Some(v) => self.records.update(item, v).await,
        };
        match r {
            Ok(written) => Ok(Some(written.version)),
            Err(StoreError::VersionConflict { .. } | StoreError::AlreadyExists { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn remove(&self, key: &str) -> Result<(), String> {
        self.records
            .delete(&pk(key), "TOKEN", None)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// HMAC-SHA256 under the installation key (purpose-separated), first 128 bits in hex.
    fn fingerprint(&self, material: &[u8]) -> String {
        hex::encode(&self.fingerprints.mac("wechat-token-cache-key-v1", material)[..16])
    }
}

/// The token source for one API base (`https://api.weixin.qq.com/` or a simulator).
pub fn tokens(state: &Services, base: Option<&str>) -> Result<Tokens, String> {
    let base: url::Url = base
        .unwrap_or(wechat::PRODUCTION)
        .parse()
        .map_err(|e| format!("api_base_url: {e}"))?;
    let clock = state.ports.clock.clone();
    Ok(Tokens::new(
        state.http.clone(),
        base,
        Arc::new(RecordsTokenCache::new(
            state.ports.records.clone(),
            &state.fingerprints,
        )),
        Arc::new(move || clock.now().timestamp()),
    ))
}

/// A third-party platform account: its component appid, secret and push settings.
pub struct ComponentAccount {
    pub account: Account,
    pub component: Component,
    pub token: String,
    pub encoding_aes_key: Option<String>,
    pub api_base_url: Option<String>,
}

/// The `wxopen_component` account with this id.
pub async fn component_account(state: &Services, id: &str) -> Result<ComponentAccount, String> {
    let (account, _) = AccountRepo::new(&*state.ports.records)
        .get(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("third-party platform account {id} does not exist"))?;
    component_of(state, account).await
}

/// The `wxopen_component` account of a component appid.
pub async fn component_by_appid(
    state: &Services,
    component_appid: &str,
) -> Result<Option<ComponentAccount>, String> {
    // A callback path: the cached lookup (see crate::account_cache).
    let Some(account) = state
        .accounts
        .find(&*state.ports.records, "wxopen", component_appid)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    component_of(state, Account::clone(&account))
        .await
        .map(Some)
}

async fn component_of(state: &Services, account: Account) -> Result<ComponentAccount, String> {
    let AccountSettings::WxopenComponent(s) = &account.settings else {
        return Err(format!("{} is not a wxopen_component account", account.id));
    };
    let bundle = state
        .accounts
        .credentials(&*state.ports.secrets, &account)
        .await;
    let Ok(Some(Credentials::WechatApp(c))) = bundle.as_ref().map(|b| b.as_deref()) else {
        return Err(format!(
            "third-party platform {}: credentials are not set",
            s.component_appid
        ));
    };
    let secret = c
        .secret
        .as_ref()
        .map(|s| Secret::new(s.expose()))
        .ok_or_else(|| {
            format!(
                "third-party platform {}: secret is not set",
                s.component_appid
            )
        })?;
    Ok(ComponentAccount {
        component: Component {
            appid: s.component_appid.clone(),
            secret,
        },
        token: c
            .token
            .as_ref()
            .map(|t| t.expose().to_string())
            .unwrap_or_default(),
        encoding_aes_key: c.encoding_aes_key.as_ref().map(|k| k.expose().to_string()),
        api_base_url: s.api_base_url.clone(),
        account,
    })
}

/// The mini-program client of a `wxmini_app`.
pub async fn mini_client(
    state: &Services,
    account: &Account,
) -> Result<wechat::mini::Client, String> {
    let AccountSettings::WxminiApp(s) = &account.settings else {
        return Err(format!("{} is not a mini program", account.id));
    };
    match s.mode {
        WxminiMode::Manual => {
            let Ok(Some(Credentials::WechatApp(c))) =
                crate::credentials::load(&*state.ports.secrets, &account.id).await
            else {
                return Err(format!("mini program {}: credentials are not set", s.appid));
            };
            let secret = c
                .secret
                .as_ref()
                .map(|s| Secret::new(s.expose()))
                .ok_or_else(|| format!("mini program {}: secret is not set", s.appid))?;
            Ok(wechat::mini::Client::new(
                tokens(state, s.api_base_url.as_deref())?,
                Access::Own {
                    appid: s.appid.clone(),
                    secret,
                },
            ))
        }
        WxminiMode::Authorised => {
            let cid = s
                .component_account_id
                .as_deref()
                .ok_or("an authorised mini program needs component_account_id")?;
            let c = component_account(state, cid).await?;
            Ok(wechat::mini::Client::new(
                tokens(state, c.api_base_url.as_deref())?,
                Access::Authorizer {
                    component: c.component,
                    appid: s.appid.clone(),
                },
            ))
        }
    }
}

/// A failed WeChat call as a job's failure: throttled (back off with jitter), worth retrying,
/// or permanent.
pub fn job_error(e: wechat::WechatError) -> crate::worker::JobError {
    use crate::worker::JobError;
    if e.is_throttled() {
        JobError::throttled(e)
    } else if e.is_retryable() {
        JobError::retryable(e)
    } else {
        JobError::Permanent(e.to_string())
    }
}
