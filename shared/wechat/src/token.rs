//! Access tokens behind one cache, shared by official-account messages and mini programs.
//!
//! The cache is the caller's ([`TokenCache`]: a key-value store with versions). Keys:
//! `stable:{appid}` (an app with its own secret, `POST /cgi-bin/stable_token`),
//! `ticket:{component_appid}` (the latest `component_verify_ticket`),
//! `component:{component_appid}` (`component_access_token`), `authorizer:{appid}` (an authorised
//! app's access token and refresh token). The refresh token rotates: one worker at a time claims
//! the refresh with a compare-and-set on the record and writes the new pair the same way, so two
//! workers refreshing at once cannot lose it. A caller whose token WeChat refused passes it as
//! `rejected`: it is replaced only if it is still the cached one (someone else may already have
//! refreshed).

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
    /// Create (`expected` None) or replace the version `expected`. `Ok(false)`: someone else
    /// wrote first.
    async fn store(
        &self,
        key: &str,
        value: Value,
        expires_at: Option<i64>,
        expected: Option<u64>,
    ) -> Result<bool, String>;
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

    async fn load(&self, key: &str) -> Result<Option<Cached>, WechatError> {
        self.cache.load(key).await.map_err(WechatError::Cache)
    }

    async fn store(
        &self,
        key: &str,
        value: Value,
        expires_at: Option<i64>,
        expected: Option<u64>,
    ) -> Result<bool, WechatError> {
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

    /// `POST /cgi-bin/stable_token` (force_refresh only when the cached token was refused).
    pub async fn stable_token(
        &self,
        appid: &str,
        secret: &Secret,
        rejected: Option<&str>,
    ) -> Result<String, WechatError> {
        let key = format!("stable:{appid}");
        let cached = self.load(&key).await?;
        let now = self.now();
        if let Some(c) = &cached
            && let Some(t) = Self::fresh(c, "access_token", now, rejected)
        {
            return Ok(t);
        }
        // Force a new token only if the refused one is still what we hold (or we hold none).
        let force = rejected.is_some()
            && cached
                .as_ref()
                .is_none_or(|c| c.value["access_token"].as_str() == rejected);
        let v = self
            .post(
                "cgi-bin/stable_token",
                &[],
                &json!({"grant_type": "client_credential", "appid": appid, "secret": secret.expose(), "force_refresh": force}),
            )
            .await?;
        let (token, exp) = token_of(&v, "access_token")?;
        let exp = now + exp;
        let stored = json!({"access_token": token, "expires_at": exp});
        if let Err(e) = self
            .store(&key, stored, Some(exp), cached.map(|c| c.version))
            .await
        {
            tracing::warn!(%appid, error = %e, "could not cache the access token");
        }
        tracing::info!(%appid, force, "WeChat access token fetched");
        Ok(token)
    }

    /// Keep the latest `component_verify_ticket` (pushed every 10 minutes).
    pub async fn put_ticket(&self, component_appid: &str, ticket: &str) -> Result<(), WechatError> {
        let value = json!({"ticket": ticket, "received_at": self.now()});
        self.replace(&format!("ticket:{component_appid}"), value)
            .await
    }

    /// Write `value` under `key` whatever was there (retried over concurrent writers).
    async fn replace(&self, key: &str, value: Value) -> Result<(), WechatError> {
        for _ in 0..5 {
            let cached = self.load(key).await?;
            if self
                .store(key, value.clone(), None, cached.map(|c| c.version))
                .await?
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
        let key = format!("component:{}", component.appid);
        let cached = self.load(&key).await?;
        let now = self.now();
        if let Some(c) = &cached
            && let Some(t) = Self::fresh(c, "component_access_token", now, rejected)
        {
            return Ok(t);
        }
        let ticket = self
            .load(&format!("ticket:{}", component.appid))
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
        let (token, exp) = token_of(&v, "component_access_token")?;
        let exp = now + exp;
        let stored = json!({"component_access_token": token, "expires_at": exp});
        if let Err(e) = self
            .store(&key, stored, Some(exp), cached.map(|c| c.version))
            .await
        {
            tracing::warn!(component_appid = %component.appid, error = %e, "could not cache the component token");
        }
        tracing::info!(component_appid = %component.appid, "component access token fetched");
        Ok(token)
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
        appid: &str,
        access_token: &str,
        refresh_token: &str,
        expires_in: i64,
    ) -> Result<(), WechatError> {
        let value = json!({"access_token": access_token, "refresh_token": refresh_token,
            "expires_at": self.now() + expires_in, "refreshing_until": 0});
        self.replace(&format!("authorizer:{appid}"), value).await
    }

    /// An authorised app's access token, refreshed with the stored refresh token when needed.
    pub async fn authorizer_token(
        &self,
        component: &Component,
        appid: &str,
        rejected: Option<&str>,
    ) -> Result<String, WechatError> {
        let key = format!("authorizer:{appid}");
        for _ in 0..100 {
            let Some(c) = self.load(&key).await? else {
                return Err(WechatError::Invalid(format!(
                    "{appid} has not been authorised to {} (no refresh token)",
                    component.appid
                )));
            };
            let now = self.now();
            if let Some(t) = Self::fresh(&c, "access_token", now, rejected) {
                return Ok(t);
            }
            if c.value["refreshing_until"].as_i64().unwrap_or(0) > now {
                // Another worker holds the refresh; wait for its result.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let mut claim = c.value.clone();
            claim["refreshing_until"] = json!(now + 15);
            if !self
                .store(&key, claim.clone(), None, Some(c.version))
                .await?
            {
                continue;
            }
            let claimed = c.version + 1;
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
                "expires_at": now + exp, "refreshing_until": 0});
            if !self.store(&key, value, None, Some(claimed)).await? {
                // Our claim was overwritten (a new authorisation, or the claim ran out): the
                // stored pair is newer than ours.
                tracing::warn!(%appid, "authorizer tokens changed during the refresh; using the stored ones");
                continue;
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
