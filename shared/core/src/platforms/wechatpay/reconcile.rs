//! WeChat Pay's part in reconciliation (see [`crate::reconcile`]):
//! - **list**: `GET /v3/merchant-service/complaints-v2` over the window's Beijing creation
//!   dates, at most 30 calendar days a listing (a longer window is listed in consecutive date
//!   ranges along the cursor), 50 a page; `total_count` is read on the first page only (the
//!   platform gives it only at `offset=0`). A provider lists all its sub-merchants in one
//!   listing (no `complainted_mchid`). An answer "当前查询结果数据量过大" (the platform's
//!   response-size cap) is asked again with a smaller page.
//! - **re-read**: the complaint's detail; when its state differs from ours, its negotiation
//!   history too, to date the change (the newest entry not written by a merchant). A complaint
//!   the platform does not know is None.
//! - **pushed change**: WeChat Pay pushes nothing for the merchant's own actions (FAQ Q2): a
//!   complaint that moved to `PROCESSING` after our reply, or to `PROCESSED` after our
//!   completion (or our refund of a refund request), shows nothing a push would have told. A
//!   buyer's new message (`incoming_user_response` newly true) is one, even when the state
//!   stayed.
//! - **job**: the `wechatpay.complaint` job a push queues, under a notification id of our own
//!   (`reconcile:{complaint}:{state}`) and the event type [`EVENT_TYPE`]; its handler works out
//!   the action type the push would have carried (see `events::reconciled_action`), so the
//!   staff notice has the push's key and a push arriving later tells nothing new.
//! - **callback URLs**: the registered complaint URL (and a provider's violation URL), with
//!   the ones `PUBLIC_BASE_URL` gives (see [`super::registration`]).
//!
//! Every call takes its operation's budget from the shared limiter first ([`super::limits`]).

use super::detail::{Api, calling_mchid, fetch_history, job_client, parse_time, platform_error};
use super::limits as op;
use crate::complaints::complaint_id;
use crate::reconcile::{ListPage, Reconciler, Seen, UrlCheck, Window};
use crate::state::Services;
use crate::worker::JobError;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use domain::account::{Account, AccountSettings};
use domain::complaint::{Complaint, Platform};
use domain::job::{JobEnvelope, wechatpay as jobs};
use serde::{Deserialize, Serialize};
use serde_json::json;
use wechatpay::PlatformError;
use wechatpay::model;

/// The event type of a job reconciliation queues (a push's is `COMPLAINT.CREATE` or
/// `COMPLAINT.STATE_CHANGE`).
pub const EVENT_TYPE: &str = "COMPLAINT.RECONCILED";

/// Complaints asked for per page (the platform's most).
const LIMIT: u32 = wechatpay::client::MAX_LIST_LIMIT;
/// The page size asked for after the platform said an answer would be too large.
const SMALL_LIMIT: u32 = 10;
/// Calendar days one listing may span beyond its first (the platform accepts 30 days; the
/// documentation's own example spans 30 dates, 29 days apart).
const SPAN_DAYS: i64 = 29;
/// Offsets beyond this end a listing (a platform that keeps answering full pages).
const MAX_OFFSET: u32 = 20_000;

/// WeChat Pay's reconciler.
pub struct Reconcile;

/// Where a listing stands: the date range listed now, the next offset in it, the total the
/// first page gave, the page size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    begin: NaiveDate,
    end: NaiveDate,
    offset: u32,
    #[serde(default)]
    total: Option<u32>,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    LIMIT
}

fn china_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&domain::clock::china_offset()).date_naive()
}

impl Cursor {
    /// The first page of the date range starting on `begin`, up to `last` (the window's last
    /// date); None when `begin` is past it.
    fn range_from(begin: NaiveDate, last: NaiveDate) -> Option<Cursor> {
        (begin <= last).then(|| Cursor {
            begin,
            end: (begin + chrono::Duration::days(SPAN_DAYS)).min(last),
            offset: 0,
            total: None,
            limit: LIMIT,
        })
    }

    /// Where to go after a page of `got` complaints that said `total` (page 1 only).
    fn after(&self, got: u32, total: Option<u32>, last: NaiveDate) -> Option<Cursor> {
        let total = self.total.or(total);
        let offset = self.offset.saturating_add(got);
        let more = got > 0
            && offset < MAX_OFFSET
            && match total {
                Some(t) => offset < t,
                None => got >= self.limit,
            };
        if more {
            return Some(Cursor {
                offset,
                total,
                ..self.clone()
            });
        }
        Cursor::range_from(self.end.succ_opt()?, last)
    }
}

/// What a job needs of a complaint as the platform shows it (never the buyer's phone).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SeenData {
    complaint_id: String,
    complainted_mchid: String,
    incoming_user_response: bool,
}

/// The complaint as WeChat Pay shows it; None if its id is not one WeChat Pay issues.
fn seen(account: &Account, c: &model::Complaint) -> Option<Seen> {
    if !wechatpay::ids::is_complaint_id(&c.complaint_id) {
        tracing::warn!(account_id = %account.id, "the platform listed a complaint whose id is not a WeChat Pay id; skipped");
        return None;
    }
    let own = calling_mchid(account);
    let provider = matches!(account.settings, AccountSettings::WechatpayProvider(_));
    let sub_mchid = (provider && !c.complainted_mchid.is_empty() && c.complainted_mchid != own)
        .then(|| c.complainted_mchid.clone());
    let data = SeenData {
        complaint_id: c.complaint_id.clone(),
        complainted_mchid: c.complainted_mchid.clone(),
        incoming_user_response: c.incoming_user_response,
    };
    Some(Seen {
        change: None,
        merchant_acted: false,
        record_id: complaint_id(Platform::Wechatpay, &account.id, &c.complaint_id),
        platform_complaint_id: c.complaint_id.clone(),
        raw_status: c.complaint_state.clone(),
        created_at: parse_time(&c.complaint_time),
        changed_at: None,
        sub_mchid,
        data: serde_json::to_value(data).unwrap_or_default(),
    })
}

/// The platform's answer when a page would be too large (retry with a smaller `limit`).
fn too_large(e: &PlatformError) -> bool {
    matches!(e, PlatformError::Api { status: 400, message, .. } if message.contains("数据量过大"))
}

/// The platform does not know the complaint.
fn unknown(e: &PlatformError) -> bool {
    matches!(e, PlatformError::Api { status, code, .. }
        if *status == 404 || code == "RESOURCE_NOT_EXISTS")
}

/// The time of the newest history entry not written by a merchant: when the platform or the
/// buyer last moved the complaint.
fn changed_at(history: &[model::NegotiationEntry]) -> Option<DateTime<Utc>> {
    history
        .iter()
        .filter(|h| !h.operate_type.starts_with("MERCHANT_"))
        .filter_map(|h| parse_time(&h.operate_time))
        .max()
}

/// The newest history entry not written by a merchant, by its id (or its time and type when
/// the platform gives no id).
fn newest_other(history: &[model::NegotiationEntry]) -> Option<String> {
    history
        .iter()
        .filter(|h| !h.operate_type.starts_with("MERCHANT_"))
        .max_by_key(|h| parse_time(&h.operate_time))
        .map(|h| {
            if h.log_id.is_empty() {
                format!("{}#{}", h.operate_time, h.operate_type)
            } else {
                h.log_id.clone()
            }
        })
}

/// The change since our record was last written is the merchant's own: the newest history
/// entry is a merchant's, and no buyer's or platform's entry came after our record (one whose
/// push we missed, followed by the merchant's console reply, is still a missed push).
fn merchants_own(history: &[model::NegotiationEntry], since: DateTime<Utc>) -> bool {
    let newest_is_merchants = history
        .iter()
        .max_by_key(|h| parse_time(&h.operate_time))
        .is_some_and(|h| h.operate_type.starts_with("MERCHANT_"));
    let others_since = history.iter().any(|h| {
        !h.operate_type.starts_with("MERCHANT_")
            && parse_time(&h.operate_time).is_some_and(|t| t > since)
    });
    newest_is_merchants && !others_since
}

#[async_trait]
impl Reconciler for Reconcile {
    fn silence_causes(&self) -> &'static str {
        "可能原因：商户平台未设置投诉通知回调地址或设置到别处（管理 API：POST /admin/v1/accounts/{id}/callback-registration）、回调地址非 HTTPS、防火墙拦截微信支付的请求、APIv3 密钥或微信支付公钥不符。Likely causes: the complaint notification URL is not set on WeChat Pay (or set elsewhere; register it with POST /admin/v1/accounts/{id}/callback-registration), not HTTPS, a firewall blocking WeChat Pay, an APIv3 key or platform key that no longer matches."
    }

    async fn list_page(
        &self,
        services: &Services,
        account: &Account,
        window: Window,
        cursor: Option<serde_json::Value>,
    ) -> Result<ListPage, JobError> {
        let last = china_date(window.end);
        let at = match cursor {
            Some(v) => serde_json::from_value::<Cursor>(v)
                .map_err(|e| JobError::Permanent(format!("WeChat Pay list cursor: {e}")))?,
            None => match Cursor::range_from(china_date(window.start), last) {
                Some(c) => c,
                None => return Ok(ListPage::default()),
            },
        };
        let client = job_client(services, account).await?;
        let mchid = calling_mchid(account).to_string();
        let api = Api {
            client: &client,
            limiter: &services.limiter,
            mchid: &mchid,
        };
        let (begin, end) = (at.begin.to_string(), at.end.to_string());
        let mut at = at;
        let page = loop {
            api.take(op::LIST).await?;
            match client
                .list_complaints(&begin, &end, at.limit, at.offset, None)
                .await
            {
                Ok(p) => break p,
                Err(e) if too_large(&e) && at.limit > SMALL_LIMIT => {
                    tracing::info!(account_id = %account.id, "the complaint list answer is too large; asking for smaller pages");
                    at.limit = SMALL_LIMIT;
                }
                Err(e) => return Err(platform_error(e)),
            }
        };
        let got = u32::try_from(page.data.len()).unwrap_or(u32::MAX);
        let items = page.data.iter().filter_map(|c| seen(account, c)).collect();
        let next = at
            .after(got, page.total_count, last)
            .map(|c| serde_json::to_value(c).unwrap_or_default());
        Ok(ListPage { items, next })
    }

    async fn reread(
        &self,
        services: &Services,
        account: &Account,
        complaint: &Complaint,
    ) -> Result<Option<Seen>, JobError> {
        let id = wechatpay::ids::complaint_id(&complaint.platform_complaint_id)
            .map_err(|e| JobError::Permanent(format!("complaint {}: {e}", complaint.id)))?;
        let client = job_client(services, account).await?;
        let mchid = calling_mchid(account).to_string();
        let api = Api {
            client: &client,
            limiter: &services.limiter,
            mchid: &mchid,
        };
        api.take(op::DETAIL).await?;
        let detail = match client.complaint(id).await {
            Ok(d) => d,
            Err(e) if unknown(&e) => return Ok(None),
            Err(e) => return Err(platform_error(e)),
        };
        let Some(mut found) = seen(account, &detail) else {
            return Ok(None);
        };
        if self.pushed_change(Some(complaint), &found) {
            // Date the change: the grace runs from it, not from when a pass first saw it; name
            // it (the newest buyer's or platform's entry), so a later change in the same state
            // is queued again; and see whose it is (a merchant's reply in WeChat Pay's console
            // moves the state without a push, and no push was missed).
            let history = fetch_history(&api, id).await?;
            found.changed_at = changed_at(&history);
            found.change = newest_other(&history);
            found.merchant_acted = merchants_own(&history, complaint.updated_at);
        }
        Ok(Some(found))
    }

    fn pushed_change(&self, local: Option<&Complaint>, seen: &Seen) -> bool {
        let Some(c) = local else {
            return true;
        };
        let new_message = seen.data["incoming_user_response"] == json!(true)
            && !c
                .tags
                .iter()
                .any(|t| t == super::deadlines::INCOMING_USER_RESPONSE);
        if c.raw_status == seen.raw_status {
            return new_message;
        }
        // Our own actions move the state without a push (FAQ Q2).
        let ours = match seen.raw_status.as_str() {
            "PROCESSING" => c.raw_status == "PENDING" && c.replied,
            "PROCESSED" => {
                c.completed || (c.refunded_fen > 0 && c.problem_type.as_deref() == Some("REFUND"))
            }
            _ => false,
        };
        !ours || new_message
    }

    fn job(
        &self,
        account: &Account,
        seen: &Seen,
        now: DateTime<Utc>,
    ) -> Result<JobEnvelope, JobError> {
        let notification = jobs::Notification {
            mchid: calling_mchid(account).to_string(),
            notification_id: format!(
                "reconcile:{}:{}",
                seen.platform_complaint_id, seen.raw_status
            ),
            event_type: EVENT_TYPE.into(),
            create_time: Some(
                now.with_timezone(&domain::clock::china_offset())
                    .to_rfc3339(),
            ),
            // The action type is the handler's to work out from what it reads (see
            // `events::reconciled_action`).
            resource: json!({"complaint_id": seen.platform_complaint_id, "action_type": ""}),
        };
        // As the callback queues it: for the account, the sub-merchant known only in the
        // worker.
        Ok(jobs::COMPLAINT
            .envelope(&notification, now)?
            .for_account(account.id.clone(), None))
    }

    async fn callback_urls(
        &self,
        services: &Services,
        account: &Account,
    ) -> Result<Vec<UrlCheck>, JobError> {
        let kinds =
            super::registration::kinds(account).map_err(|e| JobError::Permanent(e.to_string()))?;
        let client = job_client(services, account).await?;
        let mchid = calling_mchid(account).to_string();
        let api = Api {
            client: &client,
            limiter: &services.limiter,
            mchid: &mchid,
        };
        let mut out = Vec::new();
        for (which, path) in kinds {
            api.take(op::NOTIFICATION_URL).await?;
            let registered = client
                .notification_url(which)
                .await
                .map_err(platform_error)?;
            out.push(UrlCheck {
                what: path.trim_end_matches('s').to_string(),
                registered,
                // Only an HTTPS base gives a URL the platform could call.
                expected: super::registration::our_url(services, account, path).ok(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn entry(kind: &str, at: &str) -> model::NegotiationEntry {
        serde_json::from_value(
            json!({"log_id": format!("{kind}@{at}"), "operate_type": kind,
            "operate_time": at}),
        )
        .expect("an entry")
    }

    #[test]
    fn a_change_is_the_merchants_own_only_when_nobody_else_wrote_since_our_record() {
        let since = parse_time("2026-11-26T10:00:00+08:00").expect("time");
        let created = entry("USER_COMPLAINT", "2026-11-26T09:00:00+08:00");
        let reply = entry("MERCHANT_RESPONSE", "2026-11-26T11:00:00+08:00");
        assert!(merchants_own(&[created.clone(), reply.clone()], since));
        // The buyer wrote after our record (a push we missed), then the merchant replied.
        let buyer = entry("USER_RESPONSE", "2026-11-26T10:30:00+08:00");
        assert!(!merchants_own(&[created.clone(), buyer, reply], since));
        // The newest entry is not the merchant's.
        let platform = entry("PLATFORM_RESPONSE", "2026-11-26T12:00:00+08:00");
        assert!(!merchants_own(&[created, platform], since));
    }

    #[test]
    fn a_window_longer_than_30_days_is_listed_in_consecutive_ranges() {
        let last = date("2027-01-15");
        let first = Cursor::range_from(date("2026-11-01"), last).expect("first");
        assert_eq!(
            (first.begin, first.end),
            (date("2026-11-01"), date("2026-11-30"))
        );
        // A short last page of the range moves on to the next range.
        let second = first.after(3, Some(3), last).expect("second");
        assert_eq!(
            (second.begin, second.end),
            (date("2026-12-01"), date("2026-12-30"))
        );
        assert_eq!((second.offset, second.total), (0, None));
        let third = second.after(0, Some(0), last).expect("third");
        assert_eq!((third.begin, third.end), (date("2026-12-31"), last));
        assert_eq!(third.after(0, Some(0), last), None);
        assert_eq!(Cursor::range_from(date("2027-01-16"), last), None);
    }

    fn record(raw_status: &str) -> Complaint {
        let mut c = Complaint::new(
            "cmp_1".into(),
            Platform::Wechatpay,
            None,
            "acc_1".into(),
            "200201820261120080000000001".into(),
            Utc::now(),
        );
        c.raw_status = raw_status.into();
        c
    }

    fn platform(raw_status: &str, incoming_user_response: bool) -> Seen {
        Seen {
            change: None,
            merchant_acted: false,
            record_id: "cmp_1".into(),
            platform_complaint_id: "200201820261120080000000001".into(),
            raw_status: raw_status.into(),
            created_at: None,
            changed_at: None,
            sub_mchid: None,
            data: json!({"incoming_user_response": incoming_user_response}),
        }
    }

    #[test]
    fn our_own_reply_complete_and_refund_are_no_pushed_change() {
        let r = Reconcile;
        assert!(
            r.pushed_change(None, &platform("PENDING", false)),
            "unknown"
        );
        assert!(!r.pushed_change(Some(&record("PENDING")), &platform("PENDING", false)));
        // PENDING → PROCESSING: ours when we replied; someone else's reply otherwise.
        let mut replied = record("PENDING");
        replied.replied = true;
        assert!(!r.pushed_change(Some(&replied), &platform("PROCESSING", false)));
        assert!(r.pushed_change(Some(&record("PENDING")), &platform("PROCESSING", false)));
        // → PROCESSED: ours after our complete, or our refund of a refund request.
        let mut completed = record("PROCESSING");
        completed.completed = true;
        assert!(!r.pushed_change(Some(&completed), &platform("PROCESSED", false)));
        let mut refunded = record("PROCESSING");
        refunded.refunded_fen = 990;
        refunded.problem_type = Some("REFUND".into());
        assert!(!r.pushed_change(Some(&refunded), &platform("PROCESSED", false)));
        assert!(r.pushed_change(Some(&record("PROCESSING")), &platform("PROCESSED", false)));
        // The buyer continued: back to PENDING is never ours.
        assert!(r.pushed_change(Some(&completed), &platform("PENDING", true)));
        // The buyer wrote again without a state change; already seen, it is not new.
        assert!(r.pushed_change(Some(&record("PROCESSING")), &platform("PROCESSING", true)));
        let mut told = record("PROCESSING");
        told.tags = vec![super::super::deadlines::INCOMING_USER_RESPONSE.into()];
        assert!(!r.pushed_change(Some(&told), &platform("PROCESSING", true)));
        // Even after our reply, a buyer's message on top is a change a push tells.
        assert!(r.pushed_change(Some(&replied), &platform("PROCESSING", true)));
    }

    #[test]
    fn pages_follow_the_first_pages_total_and_stop_at_a_short_page_without_one() {
        let last = date("2026-11-26");
        let p1 = Cursor::range_from(date("2026-11-20"), last).expect("p1");
        let p2 = p1.after(50, Some(120), last).expect("p2");
        assert_eq!((p2.offset, p2.total), (50, Some(120)));
        // Later pages carry no total: the first page's is kept.
        let p3 = p2.after(50, None, last).expect("p3");
        assert_eq!((p3.offset, p3.total), (100, Some(120)));
        assert_eq!(p3.after(20, None, last), None, "120 of 120");
        // No total at all: a full page asks again, a short one ends.
        let q = Cursor::range_from(date("2026-11-20"), last).expect("q");
        assert_eq!(q.after(50, None, last).map(|c| c.offset), Some(50));
        assert_eq!(q.after(49, None, last), None);
    }
}
