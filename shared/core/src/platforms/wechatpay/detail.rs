//! Reading a WeChat Pay complaint: a merchant's client with its call budget ([`Api`]), who a
//! complaint belongs to and what its policy is ([`Owner`]), its negotiation history, and the
//! names and numbers we derive from it.

use crate::complaints::derived_id;
use crate::platforms::wechatpay::limits as op;
use crate::ratelimit::{Operation, RateLimiter};
use crate::worker::JobError;
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountSettings, SubMerchant};
use domain::complaint::ComplaintStatus;
use domain::notification::Audience;
use wechatpay::PlatformError;
use wechatpay::model;

pub(super) fn platform_error(e: PlatformError) -> JobError {
    if e.is_throttled() {
        JobError::throttled(e)
    } else if e.is_retryable() {
        JobError::retryable(e)
    } else {
        JobError::Permanent(crate::error::chain(&e))
    }
}

/// A merchant's client with its call budget: a limited call first takes one call of its
/// operation from the merchant's budget (the job is deferred when there is none).
pub(super) struct Api<'a> {
    pub(super) client: &'a wechatpay::Client,
    pub(super) limiter: &'a RateLimiter,
    /// The calling merchant (a provider's mchid for its sub-merchants too).
    pub(super) mchid: &'a str,
}

impl Api<'_> {
    pub(super) async fn take(&self, operation: Operation) -> Result<(), JobError> {
        Ok(self.limiter.acquire(operation, self.mchid).await?)
    }

    pub(super) async fn complaint(&self, id: &str) -> Result<model::Complaint, JobError> {
        self.take(op::DETAIL).await?;
        self.client.complaint(id).await.map_err(platform_error)
    }
}

/// The account's client for a job: its credentials unreadable now is worth a retry,
/// incomplete or unusable ones are not.
pub(super) async fn job_client(
    services: &crate::state::Services,
    account: &Account,
) -> Result<std::sync::Arc<wechatpay::Client>, JobError> {
    match super::Clients::of(services)
        .get(account, &*services.ports.secrets)
        .await
    {
        Ok(c) => Ok(c),
        Err(super::ClientError::Secrets(e)) => Err(JobError::Retryable {
            source: Box::new(super::ClientError::Secrets(e)),
            retry_after: None,
        }),
        Err(e) => Err(JobError::Permanent(e.to_string())),
    }
}

/// The mchid that calls WeChat Pay for an account.
pub(super) fn calling_mchid(account: &Account) -> &str {
    match &account.settings {
        AccountSettings::WechatpayMerchant(s) => &s.mchid,
        AccountSettings::WechatpayProvider(s) => &s.mchid,
        _ => &account.id,
    }
}

/// Who a complaint belongs to and what its policy is.
pub(super) struct Owner {
    pub(super) account: Account,
    /// The platform's mchid of the account (provider or merchant).
    pub(super) mchid: String,
    pub(super) provider: bool,
    /// Provider complaints: the complained sub-merchant.
    pub(super) sub_mchid: Option<String>,
    pub(super) sub: Option<SubMerchant>,
    pub(super) reply_text: Option<String>,
    pub(super) auto_refund: bool,
    pub(super) cap_fen: Option<u64>,
    /// Automatic platform actions allowed (account and sub-merchant enabled).
    pub(super) act: bool,
}

impl Owner {
    pub(super) fn name(&self) -> String {
        match (&self.sub, &self.sub_mchid) {
            (Some(s), _) => s.name.clone(),
            (None, Some(id)) => format!("{} / sub-merchant {id}", self.account.name),
            _ => self.account.name.clone(),
        }
    }

    /// Whose staff hear about it: the account's own (if enabled) and a known, enabled
    /// sub-merchant's. A provider hears about its sub-merchants whatever their state.
    pub(super) fn audiences(&self) -> Vec<Audience> {
        let mut v = Vec::new();
        if self.account.enabled {
            v.push(Audience {
                account_id: self.account.id.clone(),
                sub_mchid: None,
            });
        }
        if let Some(s) = self.sub.as_ref().filter(|s| s.enabled) {
            v.push(Audience {
                account_id: self.account.id.clone(),
                sub_mchid: Some(s.sub_mchid.clone()),
            });
        }
        v
    }
}

pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn mask_phone(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

pub(super) fn normalise(state: &str) -> ComplaintStatus {
    match state {
        "PENDING" => ComplaintStatus::Pending,
        "PROCESSING" => ComplaintStatus::Processing,
        "PROCESSED" => ComplaintStatus::Resolved,
        _ => ComplaintStatus::AwaitingPlatform,
    }
}

/// Our refund number: deterministic from (complaint, order, sequence), 32 characters.
pub fn out_refund_no(complaint_id: &str, order: &str, sequence: u32) -> String {
    let id = derived_id("", &format!("{complaint_id}|{order}|{sequence}"));
    format!("CD{id}{:06}", sequence)
}

pub(super) async fn fetch_history(
    api: &Api<'_>,
    complaint_id: &str,
) -> Result<Vec<model::NegotiationEntry>, JobError> {
    let mut out = Vec::new();
    loop {
        api.take(op::HISTORY).await?;
        let page = api
            .client
            .negotiation_history(complaint_id, 50, out.len() as u32)
            .await
            .map_err(platform_error)?;
        let n = page.data.len();
        out.extend(page.data);
        let total = page.total_count.unwrap_or(0) as usize;
        if n == 0 || out.len() >= total || out.len() >= 1000 {
            return Ok(out);
        }
    }
}

pub(super) fn has(history: &[model::NegotiationEntry], op: &str) -> bool {
    history.iter().any(|h| h.operate_type == op)
}

/// After a WeChat Pay `complete` (ours, or found already done on the platform).
pub fn mark_completed(c: &mut domain::complaint::Complaint) {
    c.completed = true;
    c.status = ComplaintStatus::Resolved;
    c.raw_status = "PROCESSED".into();
}
