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
    /// The HTTPS address platforms use to reach us (callback registration, redirects); its
    /// path ends with `/` ([`Services::with_public_base_url`]).
    pub public_base_url: Option<url::Url>,
    /// Where staff open the console (`CONSOLE_BASE_URL`): every console link in a staff notice
    /// is built from it ([`Services::console_url`]).
    pub console_base: ConsoleBase,
    /// What the platforms keep per account in this process (clients holding downloaded
    /// platform certificates, ...), each found by its type and told of every account write.
    pub caches: Arc<crate::platform_caches::PlatformCaches>,
    /// Timing of staff notification deliveries.
    pub notifier: NotifierSettings,
    /// The HTTP client for platform calls that keep no per-account state (WeChat server APIs).
    pub http: reqwest::Client,
    /// Fault injection for crash tests (`COMPLAINT_DESK_FAULT`); none in production.
    pub fault_point: Option<FaultPoint>,
    /// The accounts callbacks name and their credentials, cached briefly (see
    /// [`crate::account_cache`]); [`Services::account_changed`] keeps it true in this process.
    pub accounts: Arc<crate::account_cache::AccountCache>,
    /// The budget of platform calls per (platform, merchant, operation), shared through the
    /// record store by every worker and instance.
    pub limiter: crate::ratelimit::RateLimiter,
    /// How long one channel of a test notice may take
    /// ([`TEST_NOTICE_DEADLINE`]; shorter in tests).
    pub test_notice_deadline: std::time::Duration,
}

impl Services {
    pub fn new(ports: Ports, fingerprints: Fingerprinter) -> Self {
        // reqwest needs the process's rustls provider before it builds a client.
        crypto::tls::install_default();
        crate::metrics::observe_platform_calls();
        let limiter =
            crate::ratelimit::RateLimiter::new(ports.records.clone(), ports.clock.clone());
        Self {
            limiter,
            ports,
            fingerprints,
            public_base_url: None,
            console_base: ConsoleBase::Public,
            caches: Arc::default(),
            http: reqwest::Client::new(),
            fault_point: None,
            notifier: Default::default(),
            accounts: Arc::default(),
            test_notice_deadline: TEST_NOTICE_DEADLINE,
        }
    }

    /// Every write of an account (create, update, enable or disable, credentials) calls this
    /// with the account as written, after the write succeeded: its callback lookup and cached
    /// credentials are dropped at once in this process, and the platforms' caches drop what
    /// was not built from exactly these settings and credentials
    /// ([`crate::platform_caches::AccountScoped::account_changed`]).
    pub fn account_changed(&self, account: &domain::account::Account) {
        self.accounts.invalidate(account);
        self.caches.account_changed(account);
    }

    /// The account was deleted, or its stored secret was just replaced: drop everything this
    /// process cached about it, in the platforms' caches too.
    pub fn forget_account(&self, account: &domain::account::Account) {
        self.accounts.invalidate(account);
        self.caches.forget(account);
    }

    /// Abort the process at `point` (`COMPLAINT_DESK_FAULT`: a crash, for the binary's crash
    /// tests).
    pub fn with_fault_point(mut self, point: Option<String>) -> Self {
        if let Some(p) = point.filter(|p| !p.is_empty()) {
            tracing::warn!(point = %p, "fault injection armed: the process aborts there");
            self.fault_point = Some(FaultPoint::new(p, FaultMode::Abort));
        }
        self
    }

    /// Fail the first run that reaches `point` right there (a retryable failure: the job runs
    /// again), for in-process tests of what a crash at that point leaves behind.
    pub fn with_failing_fault_point(mut self, point: &str) -> Self {
        self.fault_point = Some(FaultPoint::new(point.to_string(), FaultMode::FailOnce));
        self
    }

    /// Crash here, or fail the run here, if this is the armed fault point (tests of crash
    /// recovery only; see [`FaultPoint`]).
    pub fn fault(&self, point: &str) -> Result<(), Injected> {
        let Some(f) = self.fault_point.as_ref().filter(|f| &*f.point == point) else {
            return Ok(());
        };
        match f.mode {
            FaultMode::Abort => {
                tracing::error!(point, "fault injection: aborting the process");
                std::process::abort();
            }
            FaultMode::FailOnce => {
                if f.fired.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    return Ok(());
                }
                tracing::error!(point, "fault injection: failing this run here");
                Err(Injected(point.to_string()))
            }
        }
    }

    /// `path` under `PUBLIC_BASE_URL` (None when it is not configured).
    pub fn public_url(&self, path: &str) -> Option<String> {
        self.public_base_url
            .as_ref()
            .and_then(|u| u.join(path).ok())
            .map(|u| u.to_string())
    }

    /// The address platforms call. A base whose path does not end with `/` gets one
    /// (`https://host/desk` is the folder `desk/`, not the page `desk`, so what is joined to it
    /// stays under `desk/`).
    pub fn with_public_base_url(mut self, url: Option<url::Url>) -> Self {
        self.public_base_url = url.map(folder);
        self
    }

    /// `path` (a console page, `console/...`) under `CONSOLE_BASE_URL`, else under
    /// `PUBLIC_BASE_URL`; None when neither is configured or console links are off. Callback
    /// and notify URLs stay with [`Services::public_url`]: the platforms call the public
    /// address.
    pub fn console_url(&self, path: &str) -> Option<String> {
        match &self.console_base {
            ConsoleBase::Public => self.public_base_url.as_ref(),
            ConsoleBase::At(u) => Some(u),
            ConsoleBase::Off => None,
        }
        .and_then(|u| u.join(path).ok())
        .map(|u| u.to_string())
    }

    /// Where staff open the console (an address's path gets a final `/`, as with
    /// [`Services::with_public_base_url`]: `https://host/prod` keeps `prod/` in every link).
    pub fn with_console_base(mut self, base: ConsoleBase) -> Self {
        self.console_base = match base {
            ConsoleBase::At(u) => ConsoleBase::At(folder(u)),
            other => other,
        };
        self
    }
}

/// `u` as a folder: its path ends with `/`, so a relative path joined to it stays under it.
fn folder(mut u: url::Url) -> url::Url {
    if !u.path().ends_with('/') {
        let path = format!("{}/", u.path());
        u.set_path(&path);
    }
    u
}

/// Where the links in staff notices open the console (`CONSOLE_BASE_URL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ConsoleBase {
    /// Under `PUBLIC_BASE_URL`, where the console is served with the callbacks (the variable
    /// unset or empty).
    #[default]
    Public,
    /// At an address of its own (a custom domain of the console, an address only the staff's
    /// network reaches).
    At(url::Url),
    /// Nowhere a notice can name (`off`): notices carry no console link. On AWS with
    /// `AdminAccess` ip-restricted or private and no `ConsoleBaseUrl`, where the console is
    /// not under `PublicBaseUrl` and works only behind a custom domain.
    Off,
}

impl std::str::FromStr for ConsoleBase {
    type Err = ConsoleBaseError;

    /// `off` (any case), an empty value (as unset), or an absolute URL.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            Ok(Self::Public)
        } else if s.eq_ignore_ascii_case("off") {
            Ok(Self::Off)
        } else {
            s.parse()
                .map(|u| Self::At(folder(u)))
                .map_err(ConsoleBaseError)
        }
    }
}

/// A `CONSOLE_BASE_URL` that is neither a URL nor `off`.
#[derive(Debug, thiserror::Error)]
#[error("neither an absolute URL (e.g. https://admin.example.com/) nor `off` ({0})")]
pub struct ConsoleBaseError(url::ParseError);

/// Timing of the notifier.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// SMS to the same numbers within this window become one message.
    pub sms_fold: std::time::Duration,
    /// First retry delay; doubles per attempt up to 15 minutes (SQS's longest delay).
    pub base_backoff: std::time::Duration,
    /// After this, a delivery that still fails is given up.
    pub deadline: chrono::Duration,
}

/// How long one channel of a test notice may take before it counts as "timed out": the
/// admin API's Lambda and API Gateway stop at 30 s, and a template message goes one openid
/// at a time (10 s each, plus a token retry), SMTP 15 s per step. Every channel runs at once,
/// so the whole test takes at most this long.
pub const TEST_NOTICE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// The longest delay a continuation can ask for (SQS's longest message delay).
pub const MAX_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl NotifierSettings {
    /// The delay before retry `n` of a delivery: `base_backoff` doubling per attempt (at most
    /// ten times), at most [`MAX_RETRY_DELAY`].
    pub fn backoff(&self) -> domain::backoff::Backoff {
        domain::backoff::Backoff::new(self.base_backoff, MAX_RETRY_DELAY).doubling_at_most(10)
    }
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            sms_fold: std::time::Duration::from_secs(30),
            base_backoff: std::time::Duration::from_secs(10),
            deadline: chrono::Duration::hours(6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as StdDuration;

    #[test]
    fn delivery_retries_back_off_as_before_doubling_to_fifteen_minutes() {
        let s = NotifierSettings::default();
        let schedule: Vec<u64> = (1..=10).map(|a| s.backoff().delay(a).as_secs()).collect();
        assert_eq!(schedule, [10, 20, 40, 80, 160, 320, 640, 900, 900, 900]);
        // A short base (tests, the demo) stops doubling after ten doublings.
        let s = NotifierSettings {
            base_backoff: StdDuration::from_millis(200),
            ..NotifierSettings::default()
        };
        assert_eq!(s.backoff().delay(1), StdDuration::from_millis(200));
        assert_eq!(s.backoff().delay(11), StdDuration::from_millis(204_800));
        assert_eq!(s.backoff().delay(40), StdDuration::from_millis(204_800));
    }
}

/// What an armed fault point does when a run reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Abort the process: a crash.
    Abort,
    /// Fail the first run that reaches it (later runs pass).
    FailOnce,
}

/// A fault point armed for crash tests: where (`after_refund`) and what it does.
#[derive(Debug, Clone)]
pub struct FaultPoint {
    point: Arc<str>,
    mode: FaultMode,
    fired: Arc<std::sync::atomic::AtomicBool>,
}

impl FaultPoint {
    pub fn new(point: impl Into<Arc<str>>, mode: FaultMode) -> Self {
        Self {
            point: point.into(),
            mode,
            fired: Arc::default(),
        }
    }
}

/// A run failed at an armed fault point ([`FaultMode::FailOnce`]).
#[derive(Debug, thiserror::Error)]
#[error("fault injected at {0}")]
pub struct Injected(pub String);
