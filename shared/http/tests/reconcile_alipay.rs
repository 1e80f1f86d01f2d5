//! Alipay reconciliation against the Alipay simulator, over the embedded store and queue with a
//! manual clock: the reconciler's lists (both families, past the 20-a-page limit), re-reads
//! and throttling; then whole passes (`desk_core::reconcile::run_now`, the continuation job)
//! whose queued jobs the test runs itself, one after the other, so nothing waits on time: a
//! complaint whose message was dropped is found after the grace and handled exactly once, and
//! its message arriving afterwards changes nothing; a status moved without a message on an old
//! open complaint is caught by the re-read; throttling makes the pass stop and a later run
//! finish it.

mod common;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration as Minutes, Utc};
use common::*;
use desk_core::platform::Platform;
use desk_core::platforms::alipay::Alipay;
use desk_core::platforms::alipay::reconcile::RISK_STATUSES;
use desk_core::reconcile::{Outcome, Reconciler, Report, Seen, Window};
use desk_core::worker::{Disposition, JobError, RetryPolicy};
use domain::clock::ManualClock;
use domain::complaint::Complaint;
use domain::job::queues;
use domain::ports::{DeadLetterPage, Queue, QueueError, QueueMessage};
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim, SimApp};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const APP_ID: &str = "2021000000000001";
const PATH: &str = "/callbacks/alipay/2021000000000001";
const REPLY: &str = "您好，已收到";
const TRADE_LIST: &str = "alipay.merchant.tradecomplain.batchquery";
const RISK_LIST: &str = "alipay.security.risk.complaint.info.batchquery";

/// The queue underneath, except that a delay asked for is recorded and not waited for: the
/// manual clock stands for the time passing, and the test runs what was queued when it wants.
struct Undelayed {
    inner: Arc<dyn Queue>,
    delays: Arc<Mutex<Vec<Duration>>>,
}

#[async_trait]
impl Queue for Undelayed {
    async fn send(&self, queue: &str, body: &str, delay: Duration) -> Result<String, QueueError> {
        if !delay.is_zero() {
            self.delays
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(delay);
        }
        self.inner.send(queue, body, Duration::ZERO).await
    }
    async fn receive(
        &self,
        queue: &str,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        self.inner.receive(queue, max, visibility, wait).await
    }
    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        self.inner.delete(queue, receipt).await
    }
    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.inner.change_visibility(queue, receipt, timeout).await
    }
    async fn dead_letter(
        &self,
        queue: &str,
        receipt: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        self.inner.dead_letter(queue, receipt, reason).await
    }
    async fn list_dead_letters(
        &self,
        queue: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<DeadLetterPage, QueueError> {
        self.inner.list_dead_letters(queue, limit, cursor).await
    }
    async fn replay(&self, queue: &str, dead_letter_id: &str) -> Result<(), QueueError> {
        self.inner.replay(queue, dead_letter_id).await
    }
    async fn ping(&self) -> Result<(), QueueError> {
        self.inner.ping().await
    }
}

struct Desk {
    h: Harness,
    sim: AlipaySim,
    clock: Arc<ManualClock>,
    account_id: String,
    /// Delays the desk asked the queue for (continuations, retries).
    delays: Arc<Mutex<Vec<Duration>>>,
}

/// 2030-01-10 10:00 in Beijing. Later than any real date the tests run on: the embedded
/// store expires records (the pass's "first seen" marks) by the real time.
fn t0() -> DateTime<Utc> {
    alipay::lists::parse_china_time("2030-01-10 10:00:00").expect("time")
}

fn china(t: DateTime<Utc>) -> String {
    alipay::lists::china_time(t)
}

/// An Alipay app on the simulator (key mode), over a store whose clock is the test's; the
/// account was added 60 days before `t0()` (what happened before an account was added is no
/// missed push), the clock then stands at `t0()`.
async fn desk(settings: Value) -> Desk {
    let clock = Arc::new(ManualClock::new(t0() - Minutes::days(60)));
    let delays = Arc::new(Mutex::new(Vec::new()));
    let (c, d) = (clock.clone(), delays.clone());
    let h = harness_over(None, move |mut p| {
        p.clock = c;
        p.queue = Arc::new(Undelayed {
            inner: p.queue,
            delays: d,
        });
        p
    });
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    sim.set_now(t0());
    sim.add_app(SimApp {
        app_id: APP_ID.into(),
        public_key: rsa_key().to_public_key(),
        app_cert_sn: None,
    });
    let mut s = json!({"app_id": APP_ID, "api_base_url": sim.gateway_url()});
    for (k, v) in settings.as_object().expect("settings") {
        s[k] = v.clone();
    }
    let account_id = h
        .create(
            json!({"kind": "alipay_app", "name": "Alipay app", "settings": s,
            "credentials": {"mode": "public_key", "app_private_key": private_pem(rsa_key()),
                            "alipay_public_key": sim.keys().alipay_public_key_pem()}}),
        )
        .await;
    clock.set(t0());
    Desk {
        h,
        sim,
        clock,
        account_id,
        delays,
    }
}

impl Desk {
    /// Move both clocks (ours and the platform's) to `t0() + minutes`.
    fn at(&self, minutes: i64) {
        let t = t0() + Minutes::minutes(minutes);
        self.clock.set(t);
        self.sim.set_now(t);
    }

    async fn account(&self) -> domain::account::Account {
        desk_core::repo::AccountRepo::new(&*self.h.state.ports.records)
            .get(&self.account_id)
            .await
            .expect("records")
            .expect("account")
            .0
    }

    fn services(&self) -> &desk_core::Services {
        &self.h.state
    }

    /// A pass now, as staff would start one.
    async fn pass(&self) -> Report {
        desk_core::reconcile::run_now(
            self.services(),
            self.h.state.platforms(),
            &self.account_id,
            desk_core::reconcile::pass::ADMIN_BUDGET,
        )
        .await
        .expect("pass")
        .expect("the account exists")
    }

    /// Run every job on the events queue (and what they queue) until none is left; their
    /// types in the order they ran. A job that fails is a test failure.
    async fn drain(&self) -> Vec<String> {
        let registry = desk_core::policy::registry(&self.h.state, self.h.state.platforms());
        let queue = &self.h.state.ports.queue;
        let mut ran = Vec::new();
        for _ in 0..100 {
            let msgs = queue
                .receive(queues::EVENTS, 10, Duration::from_secs(60), Duration::ZERO)
                .await
                .expect("receive");
            if msgs.is_empty() {
                return ran;
            }
            for m in msgs {
                let job: domain::job::JobEnvelope = serde_json::from_str(&m.body).expect("a job");
                let d = desk_core::worker::decide(
                    &registry,
                    &RetryPolicy::default(),
                    &m.body,
                    m.receive_count,
                )
                .await;
                assert_eq!(d, Disposition::Done, "{} failed", job.job_type);
                queue
                    .delete(queues::EVENTS, &m.receipt)
                    .await
                    .expect("delete");
                ran.push(job.job_type);
            }
        }
        panic!("the queue never emptied: {ran:?}");
    }

    /// Deliver a message the platform built (a push that comes late).
    async fn deliver(&self, fields: &[(String, String)]) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let (s, b) = self
            .h
            .raw(
                Method::POST,
                PATH,
                None,
                Some(body),
                "application/x-www-form-urlencoded",
            )
            .await;
        assert_eq!(
            (s, String::from_utf8_lossy(&b).as_ref()),
            (StatusCode::OK, "success")
        );
    }

    async fn detail(&self, platform_id: &str) -> Value {
        self.h
            .complaint_detail(platform_id)
            .await
            .unwrap_or_else(|| panic!("complaint {platform_id} is not recorded"))
    }

    async fn notices(&self, platform_id: &str) -> usize {
        self.detail(platform_id).await["notifications"]
            .as_array()
            .map_or(0, Vec::len)
    }

    fn calls(&self, method: &str) -> usize {
        self.sim.calls(method).len()
    }
}

fn trade(id: &str, status: &str, created: DateTime<Utc>) -> Value {
    json!({"complain_event_id": id, "status": status, "trade_no": format!("2026111922001{id}"),
           "merchant_order_no": format!("M{id}"), "gmt_create": china(created),
           "content": "商品一直没有发货，要求退款", "trade_amount": "19.99",
           "target_type": "APPID", "target_id": APP_ID})
}

fn risk(id: i64, status: &str, created: DateTime<Utc>) -> Value {
    json!({"id": id, "task_id": format!("RC{id}"), "status": status, "complain_amount": "5.00",
           "complain_content": "未经同意扣款", "gmt_complain": china(created),
           "trade_no": format!("2026111922009{id}"),
           "complaint_trade_info_list": [{"trade_no": format!("2026111922009{id}"), "out_no": format!("R{id}"),
                                          "amount": "5.00", "status": "WAIT_PROCESS"}]})
}

/// Every page of the account's lists for `window`: what they showed, and the cursors.
async fn list_all(d: &Desk, window: Window) -> (Vec<Seen>, usize) {
    let account = d.account().await;
    let r = reconciler();
    let (mut all, mut pages, mut cursor) = (Vec::new(), 0, None);
    loop {
        let page = r
            .list_page(d.services(), &account, window, cursor)
            .await
            .expect("page");
        pages += 1;
        all.extend(page.items);
        cursor = page.next;
        if cursor.is_none() {
            return (all, pages);
        }
        assert!(pages < 50, "the listing never ends");
    }
}

/// Alipay's reconciler, as the platform brings it to the pass.
fn reconciler() -> &'static dyn Reconciler {
    Alipay.reconciler().expect("Alipay reconciles")
}

fn window() -> Window {
    Window {
        start: t0() - Minutes::days(1),
        end: t0(),
    }
}

// ------------------------------------------------------------------ the reconciler alone

#[tokio::test]
async fn the_reconciler_lists_both_families_past_twenty_a_page() {
    let d = desk(json!({})).await;
    let made = |i: i64| t0() - Minutes::minutes(10 + i);
    let mut open = BTreeSet::new();
    for i in 0..45_i64 {
        // 25 waiting for us, 12 fed back, 3 with the platform, 5 finished (not listed).
        let status = match i {
            0..25 => "MERCHANT_PROCESSING",
            25..37 => "MERCHANT_FEEDBACKED",
            37..40 => "PLATFORM_PROCESSING",
            _ => "FINISHED",
        };
        let id = format!("20261119{i:04}");
        if status != "FINISHED" {
            open.insert(id.clone());
        }
        d.sim.add_trade_complaint(trade(&id, status, made(i)));
    }
    // 26, of which 5 finished: 21 listed, over two pages.
    for i in 0..26_i64 {
        let status = [
            "WAIT_PROCESS",
            "PROCESSING",
            "PART_OVERDUE",
            "OVERDUE",
            "PROCESSED",
        ][(i % 5) as usize];
        if status != "PROCESSED" {
            open.insert((9000 + i).to_string());
        }
        d.sim.add_risk_complaint(risk(9000 + i, status, made(i)));
    }
    // Outside the window: not listed.
    d.sim.add_trade_complaint(trade(
        "20261101",
        "MERCHANT_PROCESSING",
        t0() - Minutes::days(3),
    ));
    let (seen, pages) = list_all(&d, window()).await;
    let ids: Vec<&str> = seen
        .iter()
        .map(|s| s.platform_complaint_id.as_str())
        .collect();
    let unique: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
    assert_eq!(ids.len(), unique.len(), "nothing twice");
    assert_eq!(
        unique, open,
        "every open complaint of the window, nothing else"
    );
    // MERCHANT_PROCESSING in two pages (20 + 5), one page per other status, RiskGO in two.
    assert_eq!(pages, 6);
    let trade_calls = d.sim.calls(TRADE_LIST);
    let asked: Vec<(String, u64)> = trade_calls
        .iter()
        .map(|c| {
            assert_eq!(c.biz["page_size"], 20);
            assert!(c.biz["status"].is_string(), "one status per call");
            (
                c.biz["status"].as_str().unwrap_or_default().to_string(),
                c.biz["page_num"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        asked,
        vec![
            ("MERCHANT_PROCESSING".to_string(), 1),
            ("MERCHANT_PROCESSING".to_string(), 2),
            ("MERCHANT_FEEDBACKED".to_string(), 1),
            ("PLATFORM_PROCESSING".to_string(), 1),
        ]
    );
    let risk_calls = d.sim.calls(RISK_LIST);
    assert_eq!(risk_calls.len(), 2);
    assert_eq!(risk_calls[1].biz["current_page_num"], 2);
    assert_eq!(risk_calls[0].biz["status_list"], json!(RISK_STATUSES));
    assert_eq!(
        risk_calls[0].biz["gmt_complaint_start"],
        china(window().start)
    );
    // What the pass compares: the status, when it happened, our record's id.
    let first = seen
        .iter()
        .find(|s| s.platform_complaint_id == "202611190000")
        .expect("the newest trade complaint");
    assert_eq!(
        (
            first.raw_status.as_str(),
            first.created_at,
            first.changed_at
        ),
        ("MERCHANT_PROCESSING", Some(made(0)), Some(made(0)))
    );
    assert_eq!(
        first.record_id,
        desk_core::complaints::complaint_id(
            domain::complaint::Platform::Alipay,
            &d.account_id,
            "trade:202611190000"
        )
    );
    let consumer = seen
        .iter()
        .find(|s| s.platform_complaint_id == "9000")
        .expect("a consumer complaint");
    assert_eq!(
        (consumer.created_at, consumer.changed_at),
        (Some(made(0)), None),
        "RiskGO gives no modification time"
    );
}

#[tokio::test]
async fn a_reread_sees_a_status_moved_without_a_message() {
    let d = desk(json!({})).await;
    let account = d.account().await;
    let r = reconciler();
    d.sim.add_trade_complaint(trade(
        "2026111900001",
        "MERCHANT_PROCESSING",
        t0() - Minutes::days(2),
    ));
    d.sim
        .add_risk_complaint(risk(7001, "WAIT_PROCESS", t0() - Minutes::days(2)));
    d.at(30);
    d.sim
        .update_trade_complaint("2026111900001", json!({"status": "PLATFORM_PROCESSING"}));
    d.sim
        .update_risk_complaint(7001, json!({"status": "OVERDUE"}));
    let local = |family: &str, id: &str, raw: &str| {
        let mut c = Complaint::new(
            "cmp_x".into(),
            domain::complaint::Platform::Alipay,
            Some(family.into()),
            d.account_id.clone(),
            id.into(),
            t0(),
        );
        c.raw_status = raw.into();
        c
    };
    let old_trade = local("trade", "2026111900001", "MERCHANT_PROCESSING");
    let seen = r
        .reread(d.services(), &account, &old_trade)
        .await
        .expect("reread")
        .expect("known");
    assert_eq!(seen.raw_status, "PLATFORM_PROCESSING");
    assert_eq!(seen.changed_at, Some(t0() + Minutes::minutes(30)));
    assert!(r.pushed_change(Some(&old_trade), &seen));
    let old_risk = local("risk", "7001", "WAIT_PROCESS");
    let seen = r
        .reread(d.services(), &account, &old_risk)
        .await
        .expect("reread")
        .expect("known");
    assert_eq!(
        (seen.raw_status.as_str(), seen.changed_at),
        ("OVERDUE", None)
    );
    assert!(r.pushed_change(Some(&old_risk), &seen));
    // Unknown to the platform: None.
    for (family, id) in [("trade", "2026111999999"), ("risk", "7999")] {
        assert_eq!(
            r.reread(d.services(), &account, &local(family, id, "WAIT_PROCESS"))
                .await
                .expect("reread"),
            None,
            "{family}"
        );
    }
    // A record whose id cannot be the platform's is refused, not sent.
    let calls = d.calls("alipay.merchant.tradecomplain.query");
    assert!(matches!(
        r.reread(
            d.services(),
            &account,
            &local("trade", "../x", "MERCHANT_PROCESSING")
        )
        .await,
        Err(JobError::Permanent(_))
    ));
    assert_eq!(d.calls("alipay.merchant.tradecomplain.query"), calls);
}

#[tokio::test]
async fn platform_throttling_is_throttled_and_a_missing_permission_skips_the_family() {
    let d = desk(json!({})).await;
    let account = d.account().await;
    let r = reconciler();
    d.sim.add_trade_complaint(trade(
        "2026111900001",
        "MERCHANT_PROCESSING",
        t0() - Minutes::hours(1),
    ));
    d.sim
        .add_risk_complaint(risk(7001, "WAIT_PROCESS", t0() - Minutes::hours(1)));
    d.sim.throttle_app_next(1);
    assert!(matches!(
        r.list_page(d.services(), &account, window(), None).await,
        Err(JobError::Throttled { .. })
    ));
    d.sim
        .throttle_next("alipay.security.risk.complaint.info.query", 1);
    let mut c = Complaint::new(
        "cmp_x".into(),
        domain::complaint::Platform::Alipay,
        Some("risk".into()),
        d.account_id.clone(),
        "7001".into(),
        t0(),
    );
    c.raw_status = "WAIT_PROCESS".into();
    assert!(matches!(
        r.reread(d.services(), &account, &c).await,
        Err(JobError::Throttled { .. })
    ));
    // An app that has not signed the trade complaint product still has its RiskGO listed.
    d.sim.deny(APP_ID, TRADE_LIST);
    let (seen, _) = list_all(&d, window()).await;
    let ids: Vec<&str> = seen
        .iter()
        .map(|s| s.platform_complaint_id.as_str())
        .collect();
    assert_eq!(ids, vec!["7001"]);
}

// ------------------------------------------------------------------ whole passes

fn found_ids(r: &Report) -> BTreeSet<String> {
    r.found_complaints
        .iter()
        .map(|f| f.platform_complaint_id.clone())
        .collect()
}

#[tokio::test]
async fn a_dropped_message_is_found_after_the_grace_handled_once_and_its_late_push_changes_nothing()
{
    let d =
        desk(json!({"reply_text": REPLY, "auto_refund": true, "refund_cap_fen": 100_000})).await;
    // Made two minutes ago; their messages never came.
    d.sim.add_trade_complaint(trade(
        "2026111900001",
        "MERCHANT_PROCESSING",
        t0() - Minutes::minutes(2),
    ));
    d.sim
        .add_risk_complaint(risk(7001, "WAIT_PROCESS", t0() - Minutes::minutes(2)));
    d.at(3);
    let early = d.pass().await;
    assert_eq!(early.outcome, Outcome::Complete, "{early:?}");
    assert_eq!(
        (early.tally.waiting, early.tally.found),
        (2, 0),
        "a push may still be on its way"
    );
    assert!(d.drain().await.is_empty());

    d.at(20);
    // Staff ask for a pass now, through the admin API.
    let (status, body) =
        d.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{}/reconcile", d.account_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let late: Report = serde_json::from_value(body).expect("a report");
    assert_eq!(late.outcome, Outcome::Complete, "{late:?}");
    assert_eq!(late.tally.found, 2, "{late:?}");
    assert_eq!(
        found_ids(&late),
        BTreeSet::from(["2026111900001".to_string(), "7001".to_string()])
    );
    assert!(late.found_complaints.iter().all(|f| f.why == "unknown"));
    let ran = d.drain().await;
    assert!(
        ran.contains(&"alipay.trade_complaint".to_string()),
        "{ran:?}"
    );
    assert!(
        ran.contains(&"alipay.risk_complaint".to_string()),
        "{ran:?}"
    );

    // Handled as a push would have been: replied, refunded and finished once, staff told once.
    let handled = |d: &Desk| {
        (
            d.calls("alipay.merchant.tradecomplain.reply.submit"),
            d.calls("alipay.merchant.tradecomplain.feedback.submit"),
            d.calls("alipay.security.risk.complaint.process.finish"),
            d.sim.refund_count(),
        )
    };
    assert_eq!(handled(&d), (1, 1, 1, 2));
    let trade_detail = d.detail("2026111900001").await;
    assert_eq!(trade_detail["complaint"]["completed"], true);
    assert_eq!(trade_detail["complaint"]["refunded_fen"], 1999);
    assert_eq!(d.notices("2026111900001").await, 1);
    assert_eq!(d.notices("7001").await, 1);
    let (_, health) =
        d.h.admin(
            Method::GET,
            &format!("/admin/v1/accounts/{}/health", d.account_id),
            None,
        )
        .await;
    assert_eq!(health["found_by_reconciliation_7d"], 2, "{health}");

    // The next pass sees our own feedback and finish, not a change a push would have told.
    d.at(40);
    let next = d.pass().await;
    assert_eq!(
        (next.tally.found, next.tally.already_queued),
        (0, 0),
        "{next:?}"
    );
    assert!(d.drain().await.is_empty());

    // The messages arrive at last: nothing more is sent, refunded or told.
    d.deliver(&d.sim.trade_message(APP_ID, "2026111900001"))
        .await;
    d.deliver(&d.sim.risk_message(APP_ID, 7001)).await;
    let ran = d.drain().await;
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert_eq!(handled(&d), (1, 1, 1, 2));
    assert_eq!(d.notices("2026111900001").await, 1);
    assert_eq!(d.notices("7001").await, 1);
}

#[tokio::test]
async fn a_status_moved_without_a_message_on_an_old_open_complaint_is_caught_by_the_reread() {
    // No automatic handling: the complaints stay open on both sides.
    let d = desk(json!({})).await;
    let made = t0() - Minutes::days(2);
    d.sim
        .add_trade_complaint(trade("2026111700001", "MERCHANT_PROCESSING", made));
    d.sim.add_risk_complaint(risk(7001, "WAIT_PROCESS", made));
    d.deliver(&d.sim.trade_message(APP_ID, "2026111700001"))
        .await;
    d.deliver(&d.sim.risk_message(APP_ID, 7001)).await;
    assert_eq!(d.drain().await.len(), 2);
    let first = d.pass().await;
    assert_eq!(
        (first.tally.listed, first.tally.unchanged, first.tally.found),
        (2, 2, 0),
        "{first:?}"
    );

    // The platform moves both, and sends nothing.
    d.at(30);
    d.sim
        .update_trade_complaint("2026111700001", json!({"status": "PLATFORM_PROCESSING"}));
    d.sim
        .update_risk_complaint(7001, json!({"status": "OVERDUE"}));
    d.at(35);
    let inside = d.pass().await;
    assert_eq!(
        inside.tally.listed, 0,
        "created long before the window: {inside:?}"
    );
    assert_eq!(
        (
            inside.tally.reread,
            inside.tally.waiting,
            inside.tally.found
        ),
        (2, 2, 0),
        "{inside:?}"
    );

    // The trade complaint's change time is the platform's gmt_modified; RiskGO gives none, so
    // its grace runs from when a pass first saw the difference (at 35).
    d.at(46);
    let trade_found = d.pass().await;
    assert_eq!(
        (trade_found.tally.found, trade_found.tally.waiting),
        (1, 1),
        "{trade_found:?}"
    );
    assert_eq!(
        found_ids(&trade_found),
        BTreeSet::from(["2026111700001".to_string()])
    );
    d.at(51);
    let risk_found = d.pass().await;
    assert_eq!(
        found_ids(&risk_found),
        BTreeSet::from(["7001".to_string()]),
        "{risk_found:?}"
    );
    assert!(
        trade_found
            .found_complaints
            .iter()
            .chain(&risk_found.found_complaints)
            .all(|f| f.why == "state_moved")
    );
    d.drain().await;
    let trade_detail = d.detail("2026111700001").await;
    assert_eq!(
        trade_detail["complaint"]["raw_status"],
        "PLATFORM_PROCESSING"
    );
    assert_eq!(d.detail("7001").await["complaint"]["raw_status"], "OVERDUE");
    assert_eq!(d.notices("2026111700001").await, 2, "new, then moved");
    assert_eq!(d.notices("7001").await, 2);

    // The changes' messages come after all: staff are not told twice.
    d.deliver(&d.sim.trade_message(APP_ID, "2026111700001"))
        .await;
    d.deliver(&d.sim.risk_message(APP_ID, 7001)).await;
    d.drain().await;
    assert_eq!(d.notices("2026111700001").await, 2);
    assert_eq!(d.notices("7001").await, 2);
    d.at(70);
    let again = d.pass().await;
    assert_eq!(again.tally.found, 0, "{again:?}");
}

#[tokio::test]
async fn throttling_makes_the_pass_back_off_and_a_later_run_finishes_it() {
    let d = desk(json!({})).await;
    for i in 0..25_i64 {
        d.sim.add_trade_complaint(trade(
            &format!("2026111900{i:03}"),
            "MERCHANT_PROCESSING",
            t0() - Minutes::minutes(30 + i),
        ));
    }
    // The first page goes through; then Alipay says "too many" (the complaints are 30
    // minutes old and more: past their grace at once).
    d.sim.throttle_after(TRADE_LIST, 1, 1);
    let first = d.pass().await;
    assert_eq!(first.outcome, Outcome::Throttled, "{first:?}");
    assert!(!first.complete);
    assert_eq!(first.tally.throttled, 1);
    assert_eq!(
        first.tally.found, 20,
        "the first page was acted on: {first:?}"
    );
    let asked = d.delays.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(asked.len(), 1, "the continuation waits: {asked:?}");
    assert!(asked[0] >= Duration::from_secs(15), "{asked:?}");

    // Later: the continuation runs and finishes the pass where it stopped.
    d.at(45);
    let ran = d.drain().await;
    assert_eq!(
        ran.iter().filter(|t| *t == "reconcile.pass").count(),
        1,
        "{ran:?}"
    );
    assert_eq!(
        ran.iter()
            .filter(|t| *t == "alipay.trade_complaint")
            .count(),
        25,
        "{ran:?}"
    );
    let pages: Vec<u64> = d
        .sim
        .calls(TRADE_LIST)
        .iter()
        .filter(|c| c.biz["status"] == "MERCHANT_PROCESSING")
        .map(|c| c.biz["page_num"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(pages, vec![1, 2], "page 1 is not asked again");
    let (state, _) =
        desk_core::reconcile::pass::State::read(&*d.h.state.ports.records, &d.account_id)
            .await
            .expect("state");
    let last = state.last.expect("a finished pass");
    assert_eq!(last.outcome, Outcome::Complete, "{last:?}");
    assert_eq!(last.tally.found, 25);
    for i in 0..25 {
        d.detail(&format!("2026111900{i:03}")).await;
    }
}
