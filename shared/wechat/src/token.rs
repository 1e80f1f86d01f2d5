//! Access tokens behind one cache, shared by official-account messages and mini programs.
//!
//! The cache is the caller's ([`TokenCache`]: a key-value store with versions). A cached token
//! is only ever used with the credentials that obtained it: every key carries a fingerprint of
//! those credentials and of the API base URL they are sent to ([`TokenCache::fingerprint`], a
//! keyed MAC that does not reveal the secret). Keys:
//! `stable:{appid}:{fp(appid, secret, base)}` (an app with its own secret,
//! `POST /cgi-bin/stable_token`), `ticket:{component_appid}` (the latest
//! `component_verify_ticket`, pushed by WeChat to the one account that owns the component
//! appid), `component:{component_appid}:{fp(component appid, component secret, base)}`
//! (`component_access_token`), `authorizer:{appid}:{fp(appid, component appid, base)}` (an
//! authorised app's access token and refresh token; the record also names the fingerprint of the
//! component credentials that obtained the access token, which is used only by a caller holding
//! the same ones: another secret first proves itself by refreshing with the refresh token, which
//! WeChat accepts only with a component token obtained with the right secret). An app that
//! withdrew its authorisation keeps a record marked `revoked` under that key until it is
//! authorised again; `authorizer:{appid}` (tokens cached before keys named credentials) is
//! adopted only by an app with no record at all.
//!
//! One fetch per key at a time, across processes: a caller that finds no fresh token claims
//! the fetch with a compare-and-set on the record (`refreshing_until`), fetches and writes the
//! token the same way; the others wait for its result (or take over when the claim runs out).
//! The authorizer refresh token rotates, so the same claim keeps two workers refreshing at
//! once from losing it. A caller whose token WeChat refused passes it as `rejected`: it is
//! replaced only if it is still the cached one (someone else may already have refreshed).

use crate::error::{WechatError, send_json};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A cached value and its version (for compare-and-set).
#[derive(Clone)]
pub struct Cached {
    pub value: Value,
    pub expires_at: Option<i64>,
    pub version: u64,
}

/// Where tokens live: the caller's store.
#[async_trait]
pub trait TokenCache: Send + Sync {
    async fn load(&self, key: &str) -> Result<Option<Cached>, String>;
    /// Create (`expected` None) or replace the version `expected`. `Ok(Some(version))`: the
    /// version written; `Ok(None)`: someone else wrote first.
    async fn store(
        &self,
        key: &str,
        value: Value,
        expires_at: Option<i64>,
        expected: Option<u64>,
    ) -> Result<Option<u64>, String>;
    /// Delete `key` whatever its version (nothing there is fine).
    async fn remove(&self, key: &str) -> Result<(), String>;
    /// A fingerprint of `material` (credentials and the API base they go to) for cache keys:
    /// the same material gives the same fingerprint, and it must not reveal the material (a
    /// keyed MAC under a key of this installation, hex; at least 128 bits).
    fn fingerprint(&self, material: &[u8]) -> String;
}

/// Secrets are held only as long as a call needs them.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A third-party platform (第三方平台).
#[derive(Clone, Debug)]
pub struct Component {
    pub appid: String,
    pub secret: Secret,
}

/// How an app's access token is obtained.
#[derive(Clone, Debug)]
pub enum Access {
    /// The app's own AppSecret (`stable_token`).
    Own { appid: String, secret: Secret },
    /// Authorised to a third-party platform (authorizer token).
    Authorizer { component: Component, appid: String },
}

impl Access {
    pub fn appid(&self) -> &str {
        match self {
            Access::Own { appid, .. } | Access::Authorizer { appid, .. } => appid,
        }
    }
}

/// Fetches and caches tokens. Cheap to clone.
#[derive(Clone)]
pub struct Tokens {
    pub(crate) http: reqwest::Client,
    pub(crate) base: url::Url,
    cache: Arc<dyn TokenCache>,
    now: Arc<dyn Fn() -> i64 + Send + Sync>,
}

/// Renew tokens this many seconds before WeChat's expiry.
const MARGIN: i64 = 300;
/// How long a claim to fetch a token holds (a token call times out after 10 s).
const CLAIM_SECS: i64 = 15;
/// How often a caller waiting for someone else's fetch looks again.
const POLL: Duration = Duration::from_millis(50);
/// How many times a caller looks before giving up (longer than a claim holds).
const ROUNDS: usize = 400;

impl Tokens {
    /// `base`: `https://api.weixin.qq.com/` (or a simulator); `now`: unix seconds.
    pub fn new(
        http: reqwest::Client,
        base: url::Url,
        cache: Arc<dyn TokenCache>,
        now: Arc<dyn Fn() -> i64 + Send + Sync>,
    ) -> Self {
        Self {
            http,
            base,
            cache,
            now,
        }
    }

    pub fn base(&self) -> &url::Url {
        &self.base
    }

    fn now(&self) -> i64 {
        (self.now)()
    }

    /// The cache's fingerprint of `parts` (length-prefixed, so no two lists share an encoding).
    fn fingerprint(&self, parts: &[&str]) -> String {
        let mut material = Vec::new();
        for p in parts {
            material.extend_from_slice(&(p.len() as u64).to_be_bytes());
            material.extend_from_slice(p.as_bytes());
        }
        self.cache.fingerprint(&material)
    }

    /// Cache key of an app's own `stable_token`: its appid, secret and this API base.
    pub fn stable_key(&self, appid: &str, secret: &Secret) -> String {
        let fp = self.fingerprint(&["stable", appid, secret.expose(), self.base.as_str()]);
        format!("stable:{appid}:{fp}")
    }

    /// Fingerprint of a third-party platform's credentials at this API base.
    fn component_credentials(&self, c: &Component) -> String {
        self.fingerprint(&["component", &c.appid, c.secret.expose(), self.base.as_str()])
    }

    /// Cache key of a `component_access_token`: component appid, secret and this API base.
    pub fn component_key(&self, c: &Component) -> String {
        format!("component:{}:{}", c.appid, self.component_credentials(c))
    }

    /// Cache key of an authorised app's tokens: its appid, the component appid and this API
    /// base (the record names the component credentials that obtained its access token).
    pub fn authorizer_key(&self, c: &Component, appid: &str) -> String {
        self.authorizer_key_of(&c.appid, appid)
    }

    fn authorizer_key_of(&self, component_appid: &str, appid: &str) -> String {
        let fp = self.fingerprint(&["authorizer", appid, component_appid, self.base.as_str()]);
        format!("authorizer:{appid}:{fp}")
    }

    /// Cache key of an authorised app's tokens cached before keys named the credentials.
    pub fn legacy_authorizer_key(appid: &str) -> String {
        format!("authorizer:{appid}")
    }

    /// Cache key of the latest `component_verify_ticket`.
    pub fn ticket_key(component_appid: &str) -> String {
        format!("ticket:{component_appid}")
    }

    async fn load(&self, key: &str) -> Result<Option<Cached>, WechatError> {
        self.cache.load(key).await.map_err(WechatError::Cache)
    }

    /// The version written, or None when someone else wrote first.
    async fn store(
        &self,
        key: &str,
        value: Value,
        expires_at: Option<i64>,
        expected: Option<u64>,
    ) -> Result<Option<u64>, WechatError> {
        self.cache
            .store(key, value, expires_at, expected)
            .await
            .map_err(WechatError::Cache)
    }

    /// `POST` JSON to a `cgi-bin/...` path, `errcode` checked.
    pub(crate) async fn post(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: &Value,
    ) -> Result<Value, WechatError> {
        let mut url = self
            .base
            .join(path)
            .map_err(|e| WechatError::Invalid(e.to_string()))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        send_json(
            self.http
                .post(url)
                .json(body)
                .timeout(Duration::from_secs(10)),
        )
        .await
    }

    /// The access token of an app; `rejected`: the token WeChat just refused (replaced only if
    /// it is still the cached one).
    pub async fn token(
        &self,
        access: &Access,
        rejected: Option<&str>,
    ) -> Result<String, WechatError> {
        match access {
            Access::Own { appid, secret } => self.stable_token(appid, secret, rejected).await,
            Access::Authorizer { component, appid } => {
                self.authorizer_token(component, appid, rejected).await
            }
        }
    }

    fn fresh(c: &Cached, field: &str, now: i64, rejected: Option<&str>) -> Option<String> {
        let t = c.value[field].as_str()?;
        let exp = c.value["expires_at"].as_i64().or(c.expires_at)?;
        (exp - MARGIN > now && Some(t) != rejected).then(|| t.to_string())
    }

    /// Someone else claimed the fetch and the claim still holds.
    fn claimed(c: &Cached, now: i64) -> bool {
        c.value["refreshing_until"].as_i64().unwrap_or(0) > now
    }

    /// Claim the fetch of `key`: the claimed version, or None when someone else wrote first.
    /// The record keeps what it held (a refresh token, the refused token) and its expiry.
    async fn claim(
        &self,
        key: &str,
        cached: Option<&Cached>,
        now: i64,
    ) -> Result<Option<(u64, Value, Option<i64>)>, WechatError> {
        let mut claim = cached
            .map(|c| c.value.clone())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        claim["refreshing_until"] = json!(now + CLAIM_SECS);
        // A claim on a new record expires with it, so a claimer that died frees the key.
        let expires = match cached {
            Some(c) => c.expires_at.map(|e| e.max(now + CLAIM_SECS)),
            None => Some(now + CLAIM_SECS),
        };
        let version = self
            .store(key, claim.clone(), expires, cached.map(|c| c.version))
            .await?;
        Ok(version.map(|v| (v, claim, expires)))
    }

    /// A token cached under `key` in `field`: the cached one while fresh, else one fetched by
    /// `fetch(force)` by whichever caller claims the fetch first (the others wait for it).
    /// `force`: the refused token is still what the cache holds (or it holds none).
    async fn cached_or_fetched<F, Fut>(
        &self,
        key: &str,
        field: &str,
        rejected: Option<&str>,
        fetch: F,
    ) -> Result<String, WechatError>
    where
        F: Fn(bool) -> Fut,
        Fut: std::future::Future<Output = Result<(String, i64), WechatError>>,
    {
        for _ in 0..ROUNDS {
            let cached = self.load(key).await?;
            let now = self.now();
            if let Some(c) = &cached {
                if let Some(t) = Self::fresh(c, field, now, rejected) {
                    return Ok(t);
                }
                if Self::claimed(c, now) {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            }
            let force = rejected.is_some()
                && cached
                    .as_ref()
                    .and_then(|c| c.value[field].as_str())
                    .is_none_or(|t| Some(t) == rejected);
            let Some((claimed, mut claim, expires)) = self.claim(key, cached.as_ref(), now).await?
            else {
                continue;
            };
            let (token, expires_in) = match fetch(force).await {
                Ok(t) => t,
                Err(e) => {
                    claim["refreshing_until"] = json!(0);
                    if let Err(release) = self.store(key, claim, expires, Some(claimed)).await {
                        tracing::warn!(error = %release, "could not release the token claim");
                    }
                    return Err(e);
                }
            };
            let exp = now + expires_in;
            let value = json!({field: token, "expires_at": exp, "refreshing_until": 0});
            match self.store(key, value, Some(exp), Some(claimed)).await {
                Ok(Some(_)) => {}
                Ok(None) => tracing::warn!("the token claim ran out before the token was cached"),
                Err(e) => tracing::warn!(error = %e, "could not cache the token"),
            }
            return Ok(token);
        }
        Err(WechatError::Cache(
            "another worker kept holding the token fetch".into(),
        ))
    }

    /// `POST /cgi-bin/stable_token` (force_refresh only when the cached token was refused).
    pub async fn stable_token(
        &self,
        appid: &str,
        secret: &Secret,
        rejected: Option<&str>,
    ) -> Result<String, WechatError> {
        let key = self.stable_key(appid, secret);
        self.cached_or_fetched(&key, "access_token", rejected, |force| async move {
            let v = self
                .post(
                    "cgi-bin/stable_token",
                    &[],
                    &json!({"grant_type": "client_credential", "appid": appid, "secret": secret.expose(), "force_refresh": force}),
                )
                .await?;
            tracing::info!(%appid, force, "WeChat access token fetched");
            token_of(&v, "access_token")
        })
        .await
    }

    /// Keep the latest `component_verify_ticket` (pushed every 10 minutes).
    pub async fn put_ticket(&self, component_appid: &str, ticket: &str) -> Result<(), WechatError> {
        let value = json!({"ticket": ticket, "received_at": self.now()});
        self.replace(&Self::ticket_key(component_appid), value)
            .await
    }

    /// Write `value` under `key` whatever was there (retried over concurrent writers).
    async fn replace(&self, key: &str, value: Value) -> Result<(), WechatError> {
        for _ in 0..5 {
            let cached = self.load(key).await?;
            if self
                .store(key, value.clone(), None, cached.map(|c| c.version))
                .await?
                .is_some()
            {
                return Ok(());
            }
        }
        Err(WechatError::Cache(format!("{key} kept changing")))
    }

    /// `component_access_token` from the latest ticket.
    pub async fn component_token(
        &self,
        component: &Component,
        rejected: Option<&str>,
    ) -> Result<String, WechatError> {
        let key = self.component_key(component);
        self.cached_or_fetched(&key, "component_access_token", rejected, |_| async {
            let ticket = self
                .load(&Self::ticket_key(&component.appid))
                .await?
                .and_then(|c| c.value["ticket"].as_str().map(String::from))
                .ok_or_else(|| {
                    WechatError::NotReady(format!(
                        "no component_verify_ticket received yet for {} (WeChat pushes one every 10 minutes to the events URL)",
                        component.appid
                    ))
                })?;
            let v = self
                .post(
                    "cgi-bin/component/api_component_token",
                    &[],
                    &json!({"component_appid": component.appid, "component_appsecret": component.secret.expose(), "component_verify_ticket": ticket}),
                )
                .await?;
            tracing::info!(component_appid = %component.appid, "component access token fetched");
            token_of(&v, "component_access_token")
        })
        .await
    }

    /// A `component_access_token` call that refreshes that token once if WeChat refuses it.
    pub(crate) async fn component_post(
        &self,
        component: &Component,
        path: &str,
        body: &Value,
    ) -> Result<Value, WechatError> {
        let mut rejected: Option<String> = None;
        loop {
            let t = self.component_token(component, rejected.as_deref()).await?;
            match self
                .post(path, &[("component_access_token", t.as_str())], body)
                .await
            {
                Err(e) if e.is_token_error() && rejected.is_none() => rejected = Some(t),
                other => return other,
            }
        }
    }

    /// Store an authorizer's tokens after `api_query_auth` (replaces what was there).
    pub async fn put_authorizer(
        &self,
        component: &Component,
        appid: &str,
        access_token: &str,
        refresh_token: &str,
        expires_in: i64,
    ) -> Result<(), WechatError> {
        let value = json!({"access_token": access_token, "refresh_token": refresh_token,
            "expires_at": self.now() + expires_in, "refreshing_until": 0,
            "credentials": self.component_credentials(component)});
        self.replace(&self.authorizer_key(component, appid), value)
            .await
    }

    /// Drop an authorised app's tokens (it withdrew its authorisation): its record is marked
    /// `revoked`, which no caller refreshes or replaces with a legacy record (only a new
    /// authorisation, [`Tokens::put_authorizer`], does), then the legacy record is deleted.
    /// Needs no secret: the record is found by the component appid. An error means the work is
    /// not finished (call again); once the mark is written, no token comes back either way.
    pub async fn forget_authorizer(
        &self,
        component_appid: &str,
        appid: &str,
    ) -> Result<(), WechatError> {
        self.replace(
            &self.authorizer_key_of(component_appid, appid),
            json!({"revoked": true}),
        )
        .await?;
        self.cache
            .remove(&Self::legacy_authorizer_key(appid))
            .await
            .map_err(WechatError::Cache)
    }

    /// Tokens cached before keys named credentials (`authorizer:{appid}`), for an app that has
    /// no record under `key` yet (never one that was forgotten): their refresh token is taken
    /// over without their access token, so the first use refreshes with the caller's component
    /// credentials. Whether there was one to take (a concurrent writer may have won the key:
    /// the caller reads it again either way).
    async fn adopt_legacy_authorizer(&self, key: &str, appid: &str) -> Result<bool, WechatError> {
        let legacy = self.load(&Self::legacy_authorizer_key(appid)).await?;
        let Some(refresh) = legacy
            .as_ref()
            .and_then(|c| c.value["refresh_token"].as_str())
        else {
            return Ok(false);
        };
        let value = json!({"refresh_token": refresh, "refreshing_until": 0, "credentials": "",
            "legacy": true});
        // Created only where nothing is: a record written meanwhile (a revocation, a new
        // authorisation) wins.
        self.store(key, value, None, None).await?;
        Ok(true)
    }

    /// An authorised app's access token, refreshed with the stored refresh token when needed
    /// (or when it was obtained with other component credentials).
    pub async fn authorizer_token(
        &self,
        component: &Component,
        appid: &str,
        rejected: Option<&str>,
    ) -> Result<String, WechatError> {
        let key = self.authorizer_key(component, appid);
        let credentials = self.component_credentials(component);
        for _ in 0..ROUNDS {
            let c = match self.load(&key).await? {
                Some(c) if c.value["revoked"] == true => {
                    return Err(WechatError::Invalid(format!(
                        "{appid} withdrew its authorisation from {}; it must be authorised again",
                        component.appid
                    )));
                }
                Some(c) if c.value["refresh_token"].is_string() => c,
                None if self.adopt_legacy_authorizer(&key, appid).await? => continue,
                _ => {
                    return Err(WechatError::Invalid(format!(
                        "{appid} has not been authorised to {} (no refresh token)",
                        component.appid
                    )));
                }
            };
            let now = self.now();
            if c.value["credentials"].as_str() == Some(&credentials)
                && let Some(t) = Self::fresh(&c, "access_token", now, rejected)
            {
                return Ok(t);
            }
            if Self::claimed(&c, now) {
                tokio::time::sleep(POLL).await;
                continue;
            }
            let Some((claimed, mut claim, _)) = self.claim(&key, Some(&c), now).await? else {
                continue;
            };
            let refresh = c.value["refresh_token"].as_str().unwrap_or_default();
            let answer = self
                .component_post(
                    component,
                    "cgi-bin/component/api_authorizer_token",
                    &json!({"component_appid": component.appid, "authorizer_appid": appid, "authorizer_refresh_token": refresh}),
                )
                .await;
            let v = match answer {
                Ok(v) => v,
                Err(e) => {
                    claim["refreshing_until"] = json!(0);
                    let _ = self.store(&key, claim, None, Some(claimed)).await;
                    return Err(e);
                }
            };
            let (token, exp) = token_of(&v, "authorizer_access_token")?;
            let new_refresh = v["authorizer_refresh_token"].as_str().unwrap_or(refresh);
            let value = json!({"access_token": token, "refresh_token": new_refresh,
                "expires_at": now + exp, "refreshing_until": 0, "credentials": credentials});
            if self
                .store(&key, value, None, Some(claimed))
                .await?
                .is_none()
            {
                // Our claim was overwritten (a new authorisation, or the claim ran out): the
                // stored pair is newer than ours.
                tracing::warn!(%appid, "authorizer tokens changed during the refresh; using the stored ones");
                continue;
            }
            if c.value["legacy"] == true
                && let Err(e) = self.cache.remove(&Self::legacy_authorizer_key(appid)).await
            {
                // Harmless: a legacy record is read only while the app has no record here.
                tracing::warn!(%appid, error = %e, "could not delete the legacy authorizer record");
            }
            tracing::info!(%appid, rotated = new_refresh != refresh, "authorizer access token refreshed");
            return Ok(token);
        }
        Err(WechatError::Cache(format!(
            "could not refresh the authorizer token of {appid}: another worker kept holding the refresh"
        )))
    }
}

fn token_of(v: &Value, field: &str) -> Result<(String, i64), WechatError> {
    match (v[field].as_str(), v["expires_in"].as_i64()) {
        (Some(t), Some(e)) => Ok((t.to_string(), e)),
        _ => Err(WechatError::Transport(format!("answer without {field}"))),
    }
}
