//! What every use-case shares: the ports, the platform clients and the settings. The HTTP
//! layer adds its own (the administrator token, the health check) on top; a worker or the
//! notifier is built from this alone.

use crate::fingerprint::Fingerprinter;
use domain::ports::{BlobStore, Clock, Inbox, Queue, RecordStore, SecretStore};
use std::sync::Arc;

/// The adapters a deployment chose (embedded or AWS).
#[derive(Clone)]
pub struct Ports {
    pub records: Arc<dyn RecordStore>,
    pub queue: Arc<dyn Queue>,
    pub blobs: Arc<dyn BlobStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub clock: Arc<dyn Clock>,
    /// Accepts platform notifications durably (record + queue as one step).
    pub inbox: Arc<dyn Inbox>,
}

#[derive(Clone)]
pub struct Services {
    pub ports: Ports,
    pub fingerprints: Fingerprinter,
    /// The HTTPS address platforms use to reach us (callback registration, redirects).
    pub public_base_url: Option<url::Url>,
    /// One WeChat Pay client per merchant, kept while its credentials are unchanged (it holds
    /// downloaded platform certificates and the refresh throttle).
    #[cfg(feature = "wechatpay")]
    pub wechatpay: Arc<crate::platforms::wechatpay::Clients>,
    /// Timing of staff notification deliveries.
    pub notifier: crate::notifier::NotifierSettings,
    /// The HTTP client for platform calls that keep no per-account state (WeChat server APIs).
    pub http: reqwest::Client,
    /// Fault injection for crash tests (`COMPLAINT_DESK_FAULT`); none in production.
    pub fault_point: Option<Arc<str>>,
    /// The accounts callbacks name and their credentials, cached briefly (see
    /// [`crate::account_cache`]); [`Services::account_changed`] keeps it true in this process.
    pub accounts: Arc<crate::account_cache::AccountCache>,
    /// The budget of platform calls per (platform, merchant, operation), shared through the
    /// record store by every worker and instance.
    pub limiter: crate::ratelimit::RateLimiter,
}

impl Services {
    pub fn new(ports: Ports, fingerprints: Fingerprinter) -> Self {
        // reqwest needs the process's rustls provider before it builds a client.
        crypto::tls::install_default();
        let limiter =
            crate::ratelimit::RateLimiter::new(ports.records.clone(), ports.clock.clone());
        Self {
            limiter,
            ports,
            fingerprints,
            public_base_url: None,
            #[cfg(feature = "wechatpay")]
            wechatpay: Arc::default(),
            http: reqwest::Client::new(),
            fault_point: None,
            notifier: Default::default(),
            accounts: Arc::default(),
        }
    }

    /// Every write of an account (create, update, enable or disable, credentials) calls this
    /// with the account as written, after the write succeeded: its callback lookup and cached
    /// credentials are dropped at once in this process, and its WeChat Pay client unless it
    /// was built from exactly these settings and credentials.
    pub fn account_changed(&self, account: &domain::account::Account) {
        self.accounts.invalidate(account);
        #[cfg(feature = "wechatpay")]
        self.wechatpay.forget_unless_built_from(account);
    }

    /// The account was deleted, or its stored secret was just replaced: drop everything this
    /// process cached about it, its WeChat Pay client included.
    pub fn forget_account(&self, account: &domain::account::Account) {
        self.accounts.invalidate(account);
        #[cfg(feature = "wechatpay")]
        self.wechatpay.forget(&account.id);
    }

    pub fn with_fault_point(mut self, point: Option<String>) -> Self {
        if let Some(p) = point.filter(|p| !p.is_empty()) {
            tracing::warn!(point = %p, "fault injection armed: the process aborts there");
            self.fault_point = Some(p.into());
        }
        self
    }

    /// Crash here if this is the configured fault point (tests of crash recovery only).
    pub fn fault(&self, point: &str) {
        if self.fault_point.as_deref() == Some(point) {
            tracing::error!(point, "fault injection: aborting the process");
            std::process::abort();
        }
    }

    /// `path` under `PUBLIC_BASE_URL` (None when it is not configured).
    pub fn public_url(&self, path: &str) -> Option<String> {
        self.public_base_url
            .as_ref()
            .and_then(|u| u.join(path).ok())
            .map(|u| u.to_string())
    }

    pub fn with_public_base_url(mut self, url: Option<url::Url>) -> Self {
        self.public_base_url = url;
        self
    }
}
