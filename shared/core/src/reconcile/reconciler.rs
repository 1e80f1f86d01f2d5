//! What a platform brings to reconciliation (see [`super`]): the [`Reconciler`] trait and the
//! types it speaks in.

use crate::state::Services;
use crate::worker::JobError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::account::Account;
use domain::complaint::Complaint;
use domain::job::JobEnvelope;

/// How long after a platform-side change a push may still be on its way: differences younger
/// than this are left for a later pass.
pub const GRACE: chrono::Duration = chrono::Duration::minutes(15);

/// The creation-time window a pass lists: from the watermark (less an overlap) to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One complaint as the platform has it now (from a list page or a detail re-read).
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Our record's id for it (`crate::complaints::complaint_id`, derived exactly as the
    /// platform's job handler derives it: Alipay's carries the family).
    pub record_id: String,
    /// The platform's complaint id (validated for use in the platform's paths).
    pub platform_complaint_id: String,
    /// The platform's status value, verbatim (compared with the record's `raw_status`).
    pub raw_status: String,
    /// When the buyer complained, when the platform says.
    pub created_at: Option<DateTime<Utc>>,
    /// When its state last changed, when the platform says (None: unknown; the pass then
    /// times the grace from when it first saw the difference).
    pub changed_at: Option<DateTime<Utc>>,
    /// The sub-merchant it is about (a provider's complaints), when the platform says.
    pub sub_mchid: Option<String>,
    /// What the platform's [`Reconciler::job`] needs to build the push's job (the list item
    /// or detail, or a part of it). Never a secret.
    pub data: serde_json::Value,
    /// What tells this change from an earlier one in the same state, where the platform shows
    /// it (WeChat Pay: the newest buyer's or platform's history entry; Alipay trade:
    /// `gmt_modified`; mini program: the history's length): part of the key that queues a
    /// difference once, so a complaint back in a state it was found in before, or a second
    /// message in the same state, is queued again. None: the state alone.
    pub change: Option<String>,
    /// The platform shows the change as the merchant's own, made outside the desk (a reply in
    /// the platform's console): its job refreshes our record, but no push was missed.
    pub merchant_acted: bool,
}

/// One page of a platform's list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListPage {
    pub items: Vec<Seen>,
    /// Where the next page starts (the platform's own paging state, opaque to the pass and kept
    /// in its progress across continuations); None: this was the last page.
    pub next: Option<serde_json::Value>,
}

/// A notification URL as registered on the platform, and the one this deployment expects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UrlCheck {
    /// Which notifications (`complaint`, `violation`).
    pub what: String,
    /// What the platform has (None: nothing registered).
    pub registered: Option<String>,
    /// What we expect (None: `PUBLIC_BASE_URL` is not set, nothing to compare).
    pub expected: Option<String>,
}

impl UrlCheck {
    /// Registered and expected are the same URL.
    pub fn matches(&self) -> Option<bool> {
        let expected = self.expected.as_deref()?;
        Some(self.registered.as_deref() == Some(expected))
    }
}

/// What a platform brings to reconciliation. Errors are the worker's ([`JobError`]), as the
/// platform's job handlers produce them: `Throttled`/`Deferred` (a 429, our limiter's budget)
/// make the pass stop and continue later; `Retryable` is counted as a platform error and the
/// pass continues later; `Permanent` (credentials refused, a malformed answer) ends the pass
/// with that reason on the account's health.
#[async_trait]
pub trait Reconciler: Send + Sync {
    /// Whether the platform has a list API. Without one, the pass only re-reads (every locally
    /// open complaint, whatever its age) and asks [`Reconciler::list_page`] once for ids learnt
    /// elsewhere (a mini program's penalty appeals).
    fn lists(&self) -> bool {
        true
    }

    /// One page of the account's complaints created in `window`, from `cursor` (None: the
    /// first). Through the rate limiter; within the platform's page-size and span limits (a
    /// window longer than the platform allows is the platform's to split across its cursor).
    async fn list_page(
        &self,
        services: &Services,
        account: &Account,
        window: Window,
        cursor: Option<serde_json::Value>,
    ) -> Result<ListPage, JobError>;

    /// The complaint as the platform has it now; None when the platform does not know it.
    async fn reread(
        &self,
        services: &Services,
        account: &Account,
        complaint: &Complaint,
    ) -> Result<Option<Seen>, JobError>;

    /// Whether the difference between our record (None: we have none) and what the platform
    /// has is one a push would have told us. By default: unknown, or another raw status. A
    /// platform whose own-action state changes produce no push (WeChat Pay's reply and
    /// complete) leaves those out.
    fn pushed_change(&self, local: Option<&Complaint>, seen: &Seen) -> bool {
        local.is_none_or(|c| c.raw_status != seen.raw_status)
    }

    /// The job a push of this complaint in this state would have queued (same type, same
    /// payload shape, for the account), so that its handling is the push's.
    fn job(
        &self,
        account: &Account,
        seen: &Seen,
        now: DateTime<Utc>,
    ) -> Result<JobEnvelope, JobError>;

    /// The likely causes of missing pushes, in the staff's language first (Chinese, then
    /// English), for the "pushes are not arriving" alert.
    fn silence_causes(&self) -> &'static str {
        "可能原因：回调地址未登记或登记到别处、非 HTTPS、防火墙拦截、密钥或证书不符。Likely causes: the callback URL is not registered (or registered elsewhere), not HTTPS, a firewall, keys or certificates that no longer match."
    }

    /// The notification URLs the platform has registered for the account, with the ones we
    /// expect (`services.public_url`). None by default: the platform does not let us read them.
    async fn callback_urls(
        &self,
        services: &Services,
        account: &Account,
    ) -> Result<Vec<UrlCheck>, JobError> {
        let _ = (services, account);
        Ok(Vec::new())
    }
}
