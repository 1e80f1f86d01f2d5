//! What a callback needs before it can verify: the account its path names and that account's
//! credential bundle, from small in-memory caches, so a steady stream of callbacks reads the
//! record store and the secret store once per account and time-to-live instead of on every
//! delivery.
//!
//! - **Accounts** by (callback family, platform id). An entry lives [`ACCOUNT_TTL`]: that
//!   bounds how long another process (another Lambda instance, or the admin-api function) may
//!   answer with an account that was changed elsewhere. In this process every account change
//!   (create, update, enable or disable, delete, credentials) calls
//!   [`crate::Services::account_changed`], which drops the entry at once, so the embedded
//!   binary (one process) never answers with a stale account. Unknown platform ids are not
//!   cached: an account created a moment ago is found on its first callback, and a flood of
//!   made-up ids cannot push real accounts out of the cache.
//! - **Credentials** by account id, valid only while the account's credential status (the
//!   fingerprints and time of the last credentials change, kept on the account record) is the
//!   one the bundle was read under: a credentials change moves the status, so the next callback
//!   reads the new bundle.
//!
//! A lookup that raced with a change is not remembered: every change bumps a generation
//! counter, and an answer read before the bump is used once but not kept.

use crate::error::Error;
use crate::repo::{AccountRepo, RepoError};
use domain::account::{Account, Credentials, CredentialsStatus};
use domain::ports::{RecordStore, SecretStore};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a cached account is used without reading the store again. Long enough that a busy
/// account costs one read per instance every few seconds; short enough that a change made by
/// another process (disabling plaintext pushes, a new key, a deleted account) reaches every
/// Lambda instance within seconds. Callbacks that arrive in that window are still checked
/// against the platform's signature, and platforms retry what we refuse (WeChat Pay for days,
/// Alipay for about 25 hours).
pub const ACCOUNT_TTL: Duration = Duration::from_secs(15);

/// At most this many accounts (and as many credential bundles) are kept; the cache is for the
/// accounts that are receiving callbacks now, not for every account of an installation.
pub const CAPACITY: usize = 1024;

struct Entry<T> {
    value: Arc<T>,
    at: Instant,
}

struct Inner {
    /// Bumped by every change; a fill that read before the bump is not kept.
    generation: u64,
    /// family → platform id → account.
    accounts: HashMap<String, HashMap<String, Entry<Account>>>,
    /// account id → (the credential status it was read under, the bundle).
    credentials: HashMap<String, (CredentialsStatus, Entry<Credentials>)>,
}

pub struct AccountCache {
    ttl: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Default for AccountCache {
    fn default() -> Self {
        Self::new(ACCOUNT_TTL, CAPACITY)
    }
}

impl AccountCache {
    /// A cache keeping at most `capacity` accounts for `ttl` each (a zero `ttl` or capacity
    /// keeps nothing: every lookup reads the stores).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            inner: Mutex::new(Inner {
                generation: 0,
                accounts: HashMap::new(),
                credentials: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fresh(&self, at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(at) < self.ttl
    }

    /// The account a callback path names (`/callbacks/{family}/{platform_id}`): from the cache
    /// when it is there and fresh, else from the record store (and then kept).
    pub async fn find(
        &self,
        records: &dyn RecordStore,
        family: &str,
        platform_id: &str,
    ) -> Result<Option<Arc<Account>>, RepoError> {
        let generation = {
            let inner = self.lock();
            let now = Instant::now();
            if let Some(e) = inner.accounts.get(family).and_then(|m| m.get(platform_id))
                && self.fresh(e.at, now)
            {
                return Ok(Some(e.value.clone()));
            }
            inner.generation
        };
        let Some(account) = AccountRepo::new(records)
            .find_by_platform_id(family, platform_id)
            .await?
        else {
            return Ok(None);
        };
        let account = Arc::new(account);
        let mut inner = self.lock();
        if inner.generation == generation && self.capacity > 0 && !self.ttl.is_zero() {
            let now = Instant::now();
            let ttl = self.ttl;
            let len: usize = inner.accounts.values().map(HashMap::len).sum();
            if len >= self.capacity {
                for m in inner.accounts.values_mut() {
                    m.retain(|_, e| now.saturating_duration_since(e.at) < ttl);
                }
                let len: usize = inner.accounts.values().map(HashMap::len).sum();
                if len >= self.capacity {
                    inner.accounts.clear();
                }
            }
            inner
                .accounts
                .entry(family.to_string())
                .or_default()
                .insert(
                    platform_id.to_string(),
                    Entry {
                        value: account.clone(),
                        at: now,
                    },
                );
        }
        Ok(Some(account))
    }

    /// The credential bundle of `account` (`None` when none is stored): from the cache while
    /// the account's credential status is the one it was read under, else from the secret
    /// store.
    pub async fn credentials(
        &self,
        secrets: &dyn SecretStore,
        account: &Account,
    ) -> Result<Option<Arc<Credentials>>, Error> {
        let generation = {
            let inner = self.lock();
            if let Some((status, e)) = inner.credentials.get(&account.id)
                && *status == account.credentials
                && self.fresh(e.at, Instant::now())
            {
                return Ok(Some(e.value.clone()));
            }
            inner.generation
        };
        let Some(bundle) = crate::credentials::load(secrets, &account.id).await? else {
            return Ok(None);
        };
        let bundle = Arc::new(bundle);
        let mut inner = self.lock();
        if inner.generation == generation && self.capacity > 0 && !self.ttl.is_zero() {
            if inner.credentials.len() >= self.capacity {
                inner.credentials.clear();
            }
            inner.credentials.insert(
                account.id.clone(),
                (
                    account.credentials.clone(),
                    Entry {
                        value: bundle.clone(),
                        at: Instant::now(),
                    },
                ),
            );
        }
        Ok(Some(bundle))
    }

    /// `account` was created, changed or deleted in this process: forget what is cached about
    /// it (and anything being read at this moment).
    pub fn invalidate(&self, account: &Account) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        // In every callback family (this cache does not know which kinds share one): the
        // account itself, and whatever was cached under its platform id (an earlier account
        // with the same id, deleted since).
        let platform_id = account.platform_id();
        for m in inner.accounts.values_mut() {
            m.retain(|id, e| e.value.id != account.id && id != platform_id);
        }
        inner.credentials.remove(&account.id);
    }
}
