//! Reconciliation of mini-program trade complaints ([`crate::reconcile::Reconciler`]).
//!
//! Mini programs have **no list API** (the five complaint APIs are respond, supplyProof,
//! supplyRefund, complaintOrderDetail and busiAppeal), so:
//! - **re-read**: the pass re-reads every locally open complaint with `complaintOrderDetail`
//!   ([`Reconciler::reread`]);
//! - **ids learnt elsewhere**: [`Reconciler::list_page`] reads the trade-score penalty list
//!   (`get_penalty_list`, pages of 100 by `offset`/`limit` up to `totalNum`) and names the
//!   complaint order ids of its records (`appealList[].complaintOrderId`) that we have no
//!   record of: a complaint the platform penalised us for whose push never came. Their status
//!   is not in the penalty list: each one's detail is read, so what the pass compares is real.
//!   Only records changed (`updateTime`, else `illegalTime`) since the window's start or
//!   within [`PENALTY_HORIZON`] before its end, whichever reaches further back, count (the
//!   engine gives a platform without a list an empty window at the pass's start): the horizon
//!   is how far back a listing platform's first pass goes, so a mini program's years-old
//!   penalties are not news.
//! - **silence**: the engine's own.
//!
//! When it happened: `createTime` for a complaint we do not know; for one we know, the time of
//! the detail's newest history entry (`item[].time`) when it is later than our last write of
//! the record (the detail has no update time of its own), else none, and the pass times the
//! grace from when it first saw the difference (a status change that left no dated entry).
//! Our own answer (201 → 203 / 204 on a complaint we replied to) is no missed push.
//!
//! A difference is acted on through exactly the job a push queues (`wxmini.complaint`, the
//! callback's [`ComplaintPush`] shape, for the account), so the job handler fetches the detail
//! and does everything, and its staff-notice key (`wxmini:{id}:{status}:{history length}`) is
//! the push's: a push arriving later tells staff nothing new.
//!
//! Every call goes through the limiter (`complaint-detail`, `penalty-list` budgets of the
//! account), with the client the job handler uses (a mini program's own secret, or the token
//! of its third-party platform). WeChat's quota errcodes (`45009`, `45011`) are
//! [`JobError::Throttled`].

use crate::complaints::complaint_id;
use crate::platforms::wechat::{job_error, mini_client};
use crate::platforms::wechatpay::events::mask_phone;
use crate::platforms::wxmini::limits as op;
use crate::reconcile::{ListPage, Reconciler, Seen, Window};
use crate::state::Services;
use crate::worker::JobError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountKind};
use domain::complaint::{Complaint, Platform};
use domain::job::JobEnvelope;
use domain::job::wxmini::{COMPLAINT, ComplaintPush};
use serde_json::{Value, json};
use wechat::WechatError;
use wechat::mini::{Client, is_complaint_order_id};
use wechat::xml;

/// How far back penalty records count (as far as a first pass of a listing platform goes).
pub const PENALTY_HORIZON: chrono::Duration = crate::reconcile::pass::MAX_WINDOW;

/// Records per `get_penalty_list` page (the platform's most).
pub const PENALTY_PAGE: u32 = 100;
/// Penalty-list pages one call of [`Reconciler::list_page`] reads at most (1,000 records).
pub const MAX_PENALTY_PAGES: u32 = 10;
/// Details of unknown ids one call of [`Reconciler::list_page`] reads at most; the rest are
/// left to the next call (its cursor) or the next pass.
pub const MAX_NEW_DETAILS: usize = 20;

/// The errcode WeChat answers for a complaint order id it does not have (the simulator's;
/// the platform documents no "not found" code): the complaint is unknown to the platform.
pub const UNKNOWN_COMPLAINT: i64 = 40097;

/// The statuses the merchant's own answer leads to (已回应,待用户确认): our response moves a
/// complaint from 201 to one of them, and the merchant's own actions are assumed to be pushed
/// no more than WeChat Pay pushes them.
const ANSWERED: [i64; 2] = [203, 204];

/// The mini-program reconciler.
pub struct WxminiReconciler;

/// The client of a mini program (None: the account is not a mini program, e.g. a third-party
/// platform, which has no complaints of its own).
async fn client(services: &Services, account: &Account) -> Result<Option<Client>, JobError> {
    if account.kind() != AccountKind::WxminiApp {
        return Ok(None);
    }
    mini_client(services, account)
        .await
        .map(Some)
        .map_err(JobError::Permanent)
}

/// A complaint's detail through the limiter; None when WeChat does not know the id.
async fn detail(
    services: &Services,
    account: &Account,
    client: &Client,
    complaint_order_id: &str,
) -> Result<Option<Value>, JobError> {
    services.limiter.acquire(op::DETAIL, &account.id).await?;
    match client.complaint_detail(complaint_order_id).await {
        Ok(d) => Ok(Some(d)),
        Err(WechatError::Api { code, .. }) if code == UNKNOWN_COMPLAINT => {
            tracing::info!(
                account_id = %account.id,
                complaint_order_id,
                code,
                "WeChat does not know this complaint"
            );
            Ok(None)
        }
        Err(e) => Err(job_error(e)),
    }
}

fn unix(v: &Value) -> Option<DateTime<Utc>> {
    xml::int(v)
        .filter(|t| *t > 0)
        .and_then(|t| DateTime::from_timestamp(t, 0))
}

/// The time of the newest entry of a detail's history (`item[].time`).
fn newest_item(d: &Value) -> Option<DateTime<Utc>> {
    xml::list(&d["item"])
        .iter()
        .filter_map(|i| unix(&i["time"]))
        .max()
}

/// The push's `BussiCallBackInfo` for a complaint as its detail shows it (the keys the
/// platform pushes; the phone number masked, the buyer's openid left out: the job needs
/// neither, and the handler of a disabled account records from these fields alone).
fn push_info(appid: &str, d: &Value) -> Value {
    let o = &d["complaintOrder"];
    let media: Vec<String> = xml::list(&o["customerMaterial"]["mediaIdList"])
        .iter()
        .filter_map(xml::text)
        .collect();
    let history: Vec<Value> = xml::list(&d["item"])
        .iter()
        .map(|i| {
            let media: Vec<String> = xml::list(&i["mediaIdList"])
                .iter()
                .filter_map(xml::text)
                .collect();
            json!({"time": i["time"], "content": i["content"], "media_id_list": media.join(",")})
        })
        .collect();
    json!({
        "appid": appid,
        "complaint_order_id": o["complaintOrderId"],
        "status": o["status"],
        "create_time": o["createTime"],
        "expire_time": o["expireTime"],
        "type": o["type"],
        "order_id": o["orderId"],
        "out_trade_no": o["outTradeNo"],
        "phone_number": xml::text(&o["phoneNumber"]).filter(|p| !p.is_empty()).map(|p| mask_phone(&p)),
        "customer_material_content": o["customerMaterial"]["content"],
        "customer_material_media_id_list": media.join(","),
        "pay_time": o["payTime"],
        "total_cost": o["totalCost"],
        "product_name": o["productName"],
        "history": history,
    })
}

/// What the pass sees of a complaint from its detail. `changed_at`: the time of the newest
/// history entry when it is later than `since` (our last write of the record; None: we have
/// no record), else None (the change left no dated entry: the pass times its grace itself).
fn seen(
    account: &Account,
    complaint_order_id: &str,
    d: &Value,
    since: Option<DateTime<Utc>>,
) -> Result<Seen, JobError> {
    let o = &d["complaintOrder"];
    let status = xml::int(&o["status"]).ok_or_else(|| {
        JobError::Permanent(format!(
            "complaint {complaint_order_id}: the detail has no complaintOrder.status"
        ))
    })?;
    if xml::text(&o["complaintOrderId"]).is_some_and(|id| id != complaint_order_id) {
        return Err(JobError::Permanent(format!(
            "complaint {complaint_order_id}: the detail is of another complaint"
        )));
    }
    let newest = newest_item(d);
    Ok(Seen {
        // The history's length tells one change from another in one status (the handler's
        // staff notice is keyed the same way).
        change: Some(xml::list(&d["item"]).len().to_string()),
        merchant_acted: false,
        record_id: complaint_id(Platform::Wxmini, &account.id, complaint_order_id),
        platform_complaint_id: complaint_order_id.to_string(),
        raw_status: status.to_string(),
        created_at: unix(&o["createTime"]),
        changed_at: newest.filter(|t| since.is_none_or(|s| *t > s)),
        sub_mchid: None,
        data: json!({"info": push_info(account.platform_id(), d)}),
    })
}

/// Where a penalty-list call starts (`{"offset": n}`).
fn cursor_offset(cursor: Option<&Value>) -> Result<u32, JobError> {
    match cursor {
        None => Ok(0),
        Some(c) => c["offset"]
            .as_u64()
            .and_then(|o| u32::try_from(o).ok())
            .ok_or_else(|| JobError::Permanent(format!("not a penalty-list cursor: {c}"))),
    }
}

/// The complaint order id of a penalty record changed since `since` (None: no complaint, an
/// id that is not a complaint order id, or an older record).
fn penalty_complaint(record: &Value, since: DateTime<Utc>) -> Option<String> {
    let id = xml::text(&record["complaintOrderId"]).filter(|id| id != "0" && !id.is_empty())?;
    if !is_complaint_order_id(&id) {
        tracing::warn!("penalty record names a complaint order id that is not one; left out");
        return None;
    }
    let at = unix(&record["updateTime"]).or_else(|| unix(&record["illegalTime"]));
    at.is_none_or(|t| t >= since).then_some(id)
}

#[async_trait]
impl Reconciler for WxminiReconciler {
    fn silence_causes(&self) -> &'static str {
        "可能原因：小程序后台「开发管理 → 消息推送」未开启或 URL、Token、EncodingAESKey 与本系统不符（第三方平台授权的小程序：第三方平台的消息与事件接收 URL）、回调地址非 HTTPS、防火墙拦截微信的请求。Likely causes: the mini program's message push (开发管理 → 消息推送) is off, or its URL, Token or EncodingAESKey differ from ours (a mini program authorised through a third-party platform: the platform's message URL), not HTTPS, a firewall blocking WeChat."
    }

    fn lists(&self) -> bool {
        false
    }

    /// The penalty list's complaints we have no record of, with their status from the
    /// detail. Reads pages of [`PENALTY_PAGE`] from the cursor (`{"offset": n}`), at most
    /// [`MAX_PENALTY_PAGES`] pages and [`MAX_NEW_DETAILS`] details a call; `next` is where a
    /// call that stopped at a cap would go on.
    async fn list_page(
        &self,
        services: &Services,
        account: &Account,
        window: Window,
        cursor: Option<Value>,
    ) -> Result<ListPage, JobError> {
        let Some(client) = client(services, account).await? else {
            return Ok(ListPage::default());
        };
        let repo = crate::complaints::ComplaintRepo::of(&services.ports);
        let mut offset = cursor_offset(cursor.as_ref())?;
        let since = window.start.min(window.end - PENALTY_HORIZON);
        let mut items = Vec::new();
        let mut details = 0usize;
        for _ in 0..MAX_PENALTY_PAGES {
            services
                .limiter
                .acquire(op::PENALTY_LIST, &account.id)
                .await?;
            let page = client
                .penalty_list(offset, PENALTY_PAGE)
                .await
                .map_err(job_error)?;
            let records = xml::list(&page["appealList"]);
            let total = xml::int(&page["totalNum"]).unwrap_or(0).max(0) as u64;
            for (n, record) in records.iter().enumerate() {
                let Some(id) = penalty_complaint(record, since) else {
                    continue;
                };
                let record_id = complaint_id(Platform::Wxmini, &account.id, &id);
                if items.iter().any(|s: &Seen| s.record_id == record_id)
                    || repo
                        .get(&record_id)
                        .await
                        .map_err(JobError::retryable)?
                        .is_some()
                {
                    continue;
                }
                if details == MAX_NEW_DETAILS {
                    let next = u64::from(offset) + n as u64;
                    return Ok(ListPage {
                        items,
                        next: Some(json!({ "offset": next })),
                    });
                }
                details += 1;
                if let Some(d) = detail(services, account, &client, &id).await? {
                    tracing::info!(account_id = %account.id, complaint_order_id = %id, "penalised complaint we have no record of");
                    items.push(seen(account, &id, &d, None)?);
                }
            }
            let read = records.len() as u32;
            offset = offset.saturating_add(read);
            if read < PENALTY_PAGE || u64::from(offset) >= total {
                return Ok(ListPage { items, next: None });
            }
        }
        Ok(ListPage {
            items,
            next: Some(json!({ "offset": offset })),
        })
    }

    /// `complaintOrderDetail` of the complaint; None when WeChat answers that it does not
    /// know it ([`UNKNOWN_COMPLAINT`]).
    async fn reread(
        &self,
        services: &Services,
        account: &Account,
        complaint: &Complaint,
    ) -> Result<Option<Seen>, JobError> {
        let Some(client) = client(services, account).await? else {
            return Ok(None);
        };
        let id = complaint.platform_complaint_id.as_str();
        match detail(services, account, &client, id).await? {
            Some(d) => seen(account, id, &d, Some(complaint.updated_at)).map(Some),
            None => Ok(None),
        }
    }

    /// Unknown, or another status, except the answer our own response leads to (201 → 203
    /// / 204 on a complaint we replied to: the merchant's own action, no push expected).
    fn pushed_change(&self, local: Option<&Complaint>, seen: &Seen) -> bool {
        let Some(local) = local else {
            return true;
        };
        if local.raw_status == seen.raw_status {
            return false;
        }
        let answered = seen
            .raw_status
            .parse::<i64>()
            .is_ok_and(|s| ANSWERED.contains(&s));
        !(local.replied && answered)
    }

    /// The `wxmini.complaint` job the callback queues for a push of this complaint: its
    /// `CreateTime` is when the job was made.
    fn job(
        &self,
        account: &Account,
        seen: &Seen,
        now: DateTime<Utc>,
    ) -> Result<JobEnvelope, JobError> {
        if !is_complaint_order_id(&seen.platform_complaint_id) {
            return Err(JobError::Permanent(
                "not a mini-program complaint id (1 to 20 digits)".into(),
            ));
        }
        let push = ComplaintPush {
            appid: account.platform_id().to_string(),
            complaint_order_id: seen.platform_complaint_id.clone(),
            status: seen.raw_status.clone(),
            create_time: now.timestamp().to_string(),
            info: seen.data["info"].clone(),
        };
        Ok(COMPLAINT
            .envelope(&push, now)?
            .for_account(&account.id, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_records_name_complaints_changed_since_only() {
        let since = DateTime::from_timestamp(1_000_000, 0).expect("time");
        let r = |v: Value| penalty_complaint(&v, since);
        assert_eq!(
            r(json!({"complaintOrderId": 123, "updateTime": 1_000_000})),
            Some("123".into())
        );
        // updateTime first, illegalTime when there is none; no time: kept.
        assert_eq!(
            r(json!({"complaintOrderId": "7", "illegalTime": 999_999})),
            None
        );
        assert_eq!(
            r(json!({"complaintOrderId": "7", "illegalTime": 999_999, "updateTime": 1_000_001})),
            Some("7".into())
        );
        assert_eq!(r(json!({"complaintOrderId": "8"})), Some("8".into()));
        // No complaint, or something that is not a complaint order id.
        assert_eq!(
            r(json!({"illegalOrderId": "x", "complaintOrderId": 0})),
            None
        );
        assert_eq!(r(json!({"complaintOrderId": "../detail"})), None);
        assert_eq!(r(json!({"complaintOrderId": ""})), None);
    }

    #[test]
    fn our_own_answer_is_no_pushed_change() {
        let mut local = Complaint::new(
            "cmp_x".into(),
            Platform::Wxmini,
            None,
            "acc".into(),
            "1".into(),
            Utc::now(),
        );
        local.raw_status = "201".into();
        let seen = |status: &str| Seen {
            change: None,
            merchant_acted: false,
            record_id: "cmp_x".into(),
            platform_complaint_id: "1".into(),
            raw_status: status.into(),
            created_at: None,
            changed_at: None,
            sub_mchid: None,
            data: Value::Null,
        };
        let r = WxminiReconciler;
        assert!(r.pushed_change(None, &seen("201")), "unknown");
        assert!(!r.pushed_change(Some(&local), &seen("201")));
        assert!(r.pushed_change(Some(&local), &seen("202")), "timed out");
        // Answered, but not by us: news a push would have told.
        assert!(r.pushed_change(Some(&local), &seen("203")));
        local.replied = true;
        assert!(
            !r.pushed_change(Some(&local), &seen("203")),
            "our own answer"
        );
        assert!(
            !r.pushed_change(Some(&local), &seen("204")),
            "our own answer"
        );
        assert!(r.pushed_change(Some(&local), &seen("202")));
    }

    #[test]
    fn a_cursor_is_an_offset() {
        assert_eq!(cursor_offset(None).ok(), Some(0));
        assert_eq!(cursor_offset(Some(&json!({"offset": 200}))).ok(), Some(200));
        assert!(cursor_offset(Some(&json!({"offset": -1}))).is_err());
        assert!(cursor_offset(Some(&json!("200"))).is_err());
    }
}
