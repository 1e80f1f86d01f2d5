//! Alipay's part in reconciliation ([`crate::reconcile`]): the app's complaints of both
//! families, listed with the platform's paging rules, re-read one by one, and handed to the
//! very job their message would have queued.
//!
//! - **List**: the trade list (`alipay.merchant.tradecomplain.batchquery`) takes one `status`
//!   per call, so the open ones are swept one after the other ([`TRADE_STATUSES`]); then the
//!   RiskGO list (`alipay.security.risk.complaint.info.batchquery`) with its open statuses in
//!   one `status_list` ([`RISK_STATUSES`]). [`PAGE_SIZE`] a page, pages from 1, the window on
//!   the creation time in Beijing time. The cursor ([`Cursor`]) names the family, the status
//!   and the page. Every app receives both families (the callback accepts both messages and
//!   nothing in an app's settings chooses): an app without the permission for one list
//!   (`40006`, an API product it has not signed) is not listed in that family, and the pass
//!   goes on with the other.
//! - **Re-read**: the family's detail query; a complaint the platform does not know is None.
//! - **Job**: `alipay.trade_complaint` / `alipay.risk_complaint` with the message's
//!   `msg_method` and a `biz` shaped like the message's (`complain_event_id`; `complaint_id`),
//!   `notify_id` `reconcile:{family}:{id}:{status}`. Its handler fetches the detail as for a
//!   message, so its staff notice key (derived from the complaint's state) is the message's.
//! - **Times**: the creation time is `gmt_create` (trade) / `gmt_complain` (RiskGO); the
//!   change time is the trade complaint's `gmt_modified`. RiskGO gives no modification time
//!   (`gmt_process` is only the merchant's processing): None, so the pass times the grace from
//!   when it first saw the difference.
//! - **Own actions**: the status our own finishing produces (trade `MERCHANT_FEEDBACKED`
//!   after our feedback; RiskGO `PROCESSED`/`OVERDUE_PROCESSED` after our `process.finish`) is
//!   not a difference a push would have told: we did it, and our record says so
//!   (`completed`).
//!
//! Every call goes through the limiter ([`super::limits`]): throttling by Alipay
//! (`40005 *-call-limited`) is [`JobError::Throttled`], our own budget [`JobError::Deferred`].

use super::client;
use super::complaint::{Family, api_error, record_id, take};
use super::limits as op;
use crate::reconcile::{ListPage, Reconciler, Seen, Window};
use crate::state::Services;
use crate::worker::JobError;
use alipay::client::{AlipayError, Client};
use alipay::lists::{RiskComplaintQuery, TradeComplainQuery, parse_china_time};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountSettings};
use domain::complaint::Complaint;
use domain::job::JobEnvelope;
use domain::job::alipay::Message;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The trade statuses in which a complaint may still need us, one list call each.
pub const TRADE_STATUSES: [&str; 3] = [
    "MERCHANT_PROCESSING",
    "MERCHANT_FEEDBACKED",
    "PLATFORM_PROCESSING",
];
/// The RiskGO statuses in which a complaint waits for the merchant, in one `status_list`.
pub const RISK_STATUSES: [&str; 4] = ["WAIT_PROCESS", "PROCESSING", "PART_OVERDUE", "OVERDUE"];
/// Complaints a list page asks for (the trade list's maximum).
pub const PAGE_SIZE: u32 = alipay::lists::MAX_PAGE_SIZE;
/// The longest span the trade list takes; a longer window is listed from its end back this far.
const MAX_SPAN: chrono::Duration = chrono::Duration::days(365);

/// Where a pass's listing of an app stands: the family, (trade) the status being swept, and
/// the page to ask for next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// `trade` or `risk`.
    pub family: String,
    /// The trade status being swept (one of [`TRADE_STATUSES`]); None for RiskGO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// From 1.
    pub page: u32,
}

impl Cursor {
    fn first() -> Self {
        Self::trade(0)
    }

    /// Page 1 of the `n`th trade status; past the last one, page 1 of RiskGO.
    fn trade(n: usize) -> Self {
        match TRADE_STATUSES.get(n) {
            Some(s) => Cursor {
                family: Family::Trade.as_str().into(),
                status: Some((*s).into()),
                page: 1,
            },
            None => Cursor {
                family: Family::Risk.as_str().into(),
                status: None,
                page: 1,
            },
        }
    }

    fn next_page(&self) -> Self {
        Cursor {
            page: self.page.saturating_add(1),
            ..self.clone()
        }
    }

    /// What follows the last page of this cursor's list (None: nothing, the listing is done).
    fn after_list(&self, at: Step) -> Option<Self> {
        match at {
            Step::Trade(n) => Some(Cursor::trade(n + 1)),
            Step::Risk => None,
        }
    }

    fn read(v: Option<Value>) -> Result<(Self, Step), JobError> {
        let cursor = match v {
            None => Cursor::first(),
            Some(v) => serde_json::from_value(v)
                .map_err(|e| JobError::Permanent(format!("Alipay reconciliation cursor: {e}")))?,
        };
        let step = match (Family::of(&cursor.family), cursor.status.as_deref()) {
            (Some(Family::Trade), Some(s)) => {
                TRADE_STATUSES.iter().position(|t| *t == s).map(Step::Trade)
            }
            (Some(Family::Risk), None) => Some(Step::Risk),
            _ => None,
        }
        .ok_or_else(|| {
            JobError::Permanent(format!(
                "Alipay reconciliation cursor names no list: {cursor:?}"
            ))
        })?;
        if cursor.page == 0 {
            return Err(JobError::Permanent(
                "Alipay reconciliation cursor: pages start at 1".into(),
            ));
        }
        Ok((cursor, step))
    }

    fn value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Which list a cursor is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The trade list, in [`TRADE_STATUSES`]`[n]`.
    Trade(usize),
    Risk,
}

/// Alipay's [`Reconciler`].
pub struct AlipayReconciler;

/// What [`AlipayReconciler::job`] reads from a [`Seen`]: its family.
fn data(family: Family) -> Value {
    json!({"family": family.as_str()})
}

fn seen(
    account: &Account,
    family: Family,
    id: String,
    status: String,
    created_at: Option<DateTime<Utc>>,
    changed_at: Option<DateTime<Utc>>,
) -> Seen {
    Seen {
        // A trade complaint's modification time tells one change from another in one status.
        change: changed_at.map(|t| t.timestamp().to_string()),
        merchant_acted: false,
        record_id: record_id(&account.id, family, &id),
        platform_complaint_id: id,
        raw_status: status,
        created_at,
        changed_at,
        sub_mchid: None,
        data: data(family),
    }
}

fn app_id(account: &Account) -> Result<&str, JobError> {
    match &account.settings {
        AccountSettings::AlipayApp(s) => Ok(&s.app_id),
        _ => Err(JobError::Permanent(format!(
            "account {} is not an Alipay app",
            account.id
        ))),
    }
}

/// The app lacks the permission for this call (`40006`, an API product it has not signed).
fn not_permitted(e: &AlipayError) -> bool {
    matches!(e, AlipayError::Api { code, .. } if code == "40006")
}

/// The platform does not know the complaint (`COMPLAIN_NOT_EXIST`, `COMPLAINT_NOT_EXIST`).
fn unknown(e: &AlipayError) -> bool {
    e.sub_code().is_some_and(|s| s.ends_with("NOT_EXIST"))
}

impl AlipayReconciler {
    async fn trade_page(
        &self,
        services: &Services,
        account: &Account,
        client: &Client,
        window: Window,
        cursor: &Cursor,
        n: usize,
    ) -> Result<ListPage, JobError> {
        let status = TRADE_STATUSES[n];
        take(services, op::BATCH_QUERY, app_id(account)?).await?;
        let page = match client
            .tradecomplain_batchquery(&TradeComplainQuery {
                begin: window.start,
                end: window.end,
                status: Some(status),
                page_num: cursor.page,
                page_size: PAGE_SIZE,
            })
            .await
        {
            Ok(p) => p,
            Err(e) if not_permitted(&e) => {
                tracing::warn!(error = %e, "the app may not list trade complaints; not reconciled in that family");
                return Ok(ListPage {
                    items: vec![],
                    next: Cursor::trade(TRADE_STATUSES.len()).value().into(),
                });
            }
            Err(e) => return Err(api_error(e)),
        };
        let next = if page.has_next() {
            Some(cursor.next_page())
        } else {
            cursor.after_list(Step::Trade(n))
        };
        let items = page
            .items
            .into_iter()
            .filter(|c| valid_id(&c.complain_event_id))
            .map(|c| {
                seen(
                    account,
                    Family::Trade,
                    c.complain_event_id,
                    c.status,
                    c.gmt_create,
                    c.gmt_modified,
                )
            })
            .collect();
        Ok(ListPage {
            items,
            next: next.map(|c| c.value()),
        })
    }

    async fn risk_page(
        &self,
        services: &Services,
        account: &Account,
        client: &Client,
        window: Window,
        cursor: &Cursor,
    ) -> Result<ListPage, JobError> {
        take(services, op::RISK_BATCH_QUERY, app_id(account)?).await?;
        let page = match client
            .risk_complaint_batchquery(&RiskComplaintQuery {
                start: window.start,
                end: window.end,
                statuses: &RISK_STATUSES,
                page: cursor.page,
                page_size: PAGE_SIZE,
            })
            .await
        {
            Ok(p) => p,
            Err(e) if not_permitted(&e) => {
                tracing::warn!(error = %e, "the app may not list consumer complaints; not reconciled in that family");
                return Ok(ListPage::default());
            }
            Err(e) => return Err(api_error(e)),
        };
        let next = page.has_next().then(|| cursor.next_page().value());
        let items = page
            .items
            .into_iter()
            .map(|c| {
                seen(
                    account,
                    Family::Risk,
                    c.id.to_string(),
                    c.status,
                    c.gmt_complain,
                    None,
                )
            })
            .collect();
        Ok(ListPage { items, next })
    }
}

/// A trade complaint id we can use (ids from the platform are checked before use).
fn valid_id(id: &str) -> bool {
    let ok = domain::ids::is_platform_id(id);
    if !ok {
        tracing::warn!("the trade list named a complaint id that is not an Alipay id; skipped");
    }
    ok
}

/// The window as the trade list takes it (a span of at most a year, ending at `end`).
fn bounded(window: Window) -> Window {
    Window {
        start: window.start.max(window.end - MAX_SPAN),
        end: window.end,
    }
}

#[async_trait]
impl Reconciler for AlipayReconciler {
    fn silence_causes(&self) -> &'static str {
        "可能原因：开放平台应用未设置应用网关或消息接收地址（或设置到别处）、未订阅交易投诉 / RiskGO 消息、地址非 HTTPS、防火墙拦截支付宝的请求、支付宝公钥或证书不符。Likely causes: the app's message gateway is not set on Alipay Open Platform (or set elsewhere), the complaint messages are not subscribed, not HTTPS, a firewall blocking Alipay, an Alipay public key or certificate that no longer matches."
    }

    async fn list_page(
        &self,
        services: &Services,
        account: &Account,
        window: Window,
        cursor: Option<Value>,
    ) -> Result<ListPage, JobError> {
        let (cursor, step) = Cursor::read(cursor)?;
        let window = bounded(window);
        if window.start > window.end {
            return Ok(ListPage::default());
        }
        let client = client(services, account)
            .await
            .map_err(JobError::Permanent)?;
        match step {
            Step::Trade(n) => {
                self.trade_page(services, account, &client, window, &cursor, n)
                    .await
            }
            Step::Risk => {
                self.risk_page(services, account, &client, window, &cursor)
                    .await
            }
        }
    }

    async fn reread(
        &self,
        services: &Services,
        account: &Account,
        complaint: &Complaint,
    ) -> Result<Option<Seen>, JobError> {
        let family = complaint
            .family
            .as_deref()
            .and_then(Family::of)
            .ok_or_else(|| {
                JobError::Permanent(format!(
                    "complaint {} has no Alipay family (trade or risk)",
                    complaint.id
                ))
            })?;
        let id = complaint.platform_complaint_id.as_str();
        let app = app_id(account)?;
        let client = client(services, account)
            .await
            .map_err(JobError::Permanent)?;
        let detail = match family {
            Family::Trade => {
                if !domain::ids::is_platform_id(id) {
                    return Err(JobError::Permanent(format!(
                        "complaint {}: its trade complaint id is not an Alipay id",
                        complaint.id
                    )));
                }
                take(services, op::QUERY, app).await?;
                client.tradecomplain_query(id).await
            }
            Family::Risk => {
                let n: i64 = id.parse().map_err(|_| {
                    JobError::Permanent(format!(
                        "complaint {}: its consumer complaint id is not a number",
                        complaint.id
                    ))
                })?;
                take(services, op::RISK_QUERY, app).await?;
                client.risk_complaint_query(n).await
            }
        };
        let d = match detail {
            Ok(d) => d,
            Err(e) if unknown(&e) => return Ok(None),
            Err(e) => return Err(api_error(e)),
        };
        let status = d["status"].as_str().unwrap_or_default().to_string();
        if status.is_empty() {
            return Err(JobError::Permanent(format!(
                "complaint {}: the platform's detail has no status",
                complaint.id
            )));
        }
        let time = |k: &str| d[k].as_str().and_then(parse_china_time);
        Ok(Some(match family {
            Family::Trade => seen(
                account,
                family,
                id.to_string(),
                status,
                time("gmt_create"),
                time("gmt_modified"),
            ),
            Family::Risk => seen(
                account,
                family,
                id.to_string(),
                status,
                time("gmt_complain"),
                None,
            ),
        }))
    }

    fn pushed_change(&self, local: Option<&Complaint>, seen: &Seen) -> bool {
        let Some(local) = local else {
            return true;
        };
        if local.raw_status == seen.raw_status {
            return false;
        }
        !ours(local, &seen.raw_status)
    }

    fn job(
        &self,
        account: &Account,
        seen: &Seen,
        now: DateTime<Utc>,
    ) -> Result<JobEnvelope, JobError> {
        let family = seen.data["family"]
            .as_str()
            .and_then(Family::of)
            .ok_or_else(|| {
                JobError::Permanent("an Alipay complaint seen without its family".into())
            })?;
        let id = &seen.platform_complaint_id;
        let biz = match family {
            Family::Trade => json!({"complain_event_id": id}),
            Family::Risk => {
                let n: i64 = id.parse().map_err(|_| {
                    JobError::Permanent(format!("consumer complaint id {id:?} is not a number"))
                })?;
                json!({"complaint_id": n})
            }
        };
        let message = Message {
            app_id: app_id(account)?.to_string(),
            notify_id: format!("reconcile:{}:{id}:{}", family.as_str(), seen.raw_status),
            msg_method: family.msg_method().to_string(),
            biz,
        };
        Ok(family
            .kind()
            .envelope(&message, now)?
            .for_account(account.id.clone(), None))
    }
}

/// The platform's status is what our own finishing of the complaint produced: it waited for
/// us, we finished it (our record says so), and it is now in the status that follows.
fn ours(local: &Complaint, now_status: &str) -> bool {
    if !local.completed {
        return false;
    }
    match local.family.as_deref().and_then(Family::of) {
        Some(Family::Trade) => {
            local.raw_status == "MERCHANT_PROCESSING" && now_status == "MERCHANT_FEEDBACKED"
        }
        Some(Family::Risk) => {
            matches!(
                local.raw_status.as_str(),
                "WAIT_PROCESS" | "PROCESSING" | "PART_OVERDUE" | "OVERDUE"
            ) && matches!(now_status, "PROCESSED" | "OVERDUE_PROCESSED")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(family: &str, raw: &str, completed: bool) -> Complaint {
        let mut c = Complaint::new(
            "cmp_1".into(),
            domain::complaint::Platform::Alipay,
            Some(family.into()),
            "acc_1".into(),
            "1".into(),
            Utc::now(),
        );
        c.raw_status = raw.into();
        c.completed = completed;
        c
    }

    fn seen_in(status: &str) -> Seen {
        Seen {
            change: None,
            merchant_acted: false,
            record_id: "cmp_1".into(),
            platform_complaint_id: "1".into(),
            raw_status: status.into(),
            created_at: None,
            changed_at: None,
            sub_mchid: None,
            data: data(Family::Trade),
        }
    }

    #[test]
    fn cursors_walk_the_trade_statuses_then_riskgo() {
        let (c, step) = Cursor::read(None).expect("first");
        assert_eq!(
            (c.status.as_deref(), c.page, step),
            (Some("MERCHANT_PROCESSING"), 1, Step::Trade(0))
        );
        let mut at = (c, step);
        let mut walked = vec![];
        while let Some(next) = at.0.after_list(at.1) {
            walked.push((next.family.clone(), next.status.clone()));
            at = Cursor::read(Some(next.value())).expect("read back");
        }
        assert_eq!(
            walked,
            vec![
                ("trade".to_string(), Some("MERCHANT_FEEDBACKED".to_string())),
                ("trade".to_string(), Some("PLATFORM_PROCESSING".to_string())),
                ("risk".to_string(), None),
            ]
        );
        for bad in [
            json!({"family": "trade", "status": "FINISHED", "page": 1}),
            json!({"family": "risk", "status": "WAIT_PROCESS", "page": 1}),
            json!({"family": "trade", "status": "MERCHANT_PROCESSING", "page": 0}),
            json!({"family": "other", "page": 1}),
            json!("page 2"),
        ] {
            assert!(
                matches!(Cursor::read(Some(bad.clone())), Err(JobError::Permanent(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn our_own_finishing_is_not_a_pushed_change() {
        let r = AlipayReconciler;
        assert!(r.pushed_change(None, &seen_in("MERCHANT_PROCESSING")));
        let fed_back = record("trade", "MERCHANT_PROCESSING", true);
        assert!(!r.pushed_change(Some(&fed_back), &seen_in("MERCHANT_FEEDBACKED")));
        // Not by us: the platform took it over, or we never finished it.
        assert!(r.pushed_change(Some(&fed_back), &seen_in("PLATFORM_PROCESSING")));
        let open = record("trade", "MERCHANT_PROCESSING", false);
        assert!(r.pushed_change(Some(&open), &seen_in("MERCHANT_FEEDBACKED")));
        assert!(!r.pushed_change(Some(&open), &seen_in("MERCHANT_PROCESSING")));
        let finished = record("risk", "OVERDUE", true);
        assert!(!r.pushed_change(Some(&finished), &seen_in("OVERDUE_PROCESSED")));
        assert!(r.pushed_change(Some(&finished), &seen_in("DROP_COMPLAIN")));
        let waiting = record("risk", "WAIT_PROCESS", false);
        assert!(r.pushed_change(Some(&waiting), &seen_in("OVERDUE")));
    }
}
