//! WeChat Pay reconciliation against the simulator, over the embedded store and a manual
//! clock: first the platform's `Reconciler` on its own (list paging, re-read, throttling,
//! callback URLs, the job it builds), then whole passes (`desk_core::reconcile::run_now`)
//! with the jobs they queue run by the worker's own handlers, and pushes arriving late
//! through our callback route.

mod common;

use axum::http::StatusCode;
use chrono::{DateTime, Duration as Days, SubsecRound, Utc};
use common::*;
use desk_core::reconcile::{Outcome, Reconciler, Report, Seen, Window};
use desk_core::worker::{Disposition, JobError, RetryPolicy};
use domain::account::Account;
use domain::clock::{Clock, ManualClock};
use domain::complaint::{Complaint, Platform};
use domain::job::queues::EVENTS;
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const MCHID: &str = "1900000109";
const SUB_A: &str = "1900000201";
const SUB_B: &str = "1900000202";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const REPLY: &str = "您好，我们已收到您的投诉，正在处理。";
const LIST: &str = "/v3/merchant-service/complaints-v2";
const BASE: &str = "https://desk.example.com/";

struct Env {
    h: Harness,
    sim: WechatPaySim,
    clock: Arc<ManualClock>,
    account_id: String,
}

/// Our harness (PUBLIC_BASE_URL `BASE`, a manual clock at the real time, so pushes signed
/// now are fresh) and one WeChat Pay account of `kind` whose settings are `settings` plus its
/// keys and the simulator's address, added 60 days ago (what happened on the platform before
/// an account was added is brought in without counting as found).
async fn env(kind: &str, settings: Value) -> Env {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let c = clock.clone();
    let h = harness_over(Some(BASE), move |p| desk_core::Ports { clock: c, ..p });
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    sim.add_merchant(SimMerchant {
        mchid: MCHID.into(),
        serial_no: SERIAL.into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let mut s = json!({"mchid": MCHID, "appid": "wx2c2769f8efd9abc2", "merchant_serial_no": SERIAL,
                       "api_base_url": sim.base_url()});
    if let (Some(s), Some(extra)) = (s.as_object_mut(), settings.as_object()) {
        s.extend(extra.clone());
    }
    let now = clock.now();
    clock.set(now - Days::days(60));
    let account_id = h
        .create(
            json!({"kind": kind, "name": "WeChat Pay shop", "settings": s,
            "credentials": {"private_key": private_pem(rsa_key()), "apiv3_key": APIV3,
                "wechatpay_public_key": sim.keys().public_key_pem(),
                "wechatpay_public_key_id": sim.keys().pub_key_id}}),
        )
        .await;
    clock.set(now);
    Env {
        h,
        sim,
        clock,
        account_id,
    }
}

/// A direct merchant that replies automatically (no refunds).
async fn merchant(reply: bool) -> Env {
    let settings = if reply {
        json!({"reply_text": REPLY})
    } else {
        json!({})
    };
    env("wechatpay_merchant", settings).await
}

fn beijing(t: DateTime<Utc>) -> String {
    t.with_timezone(&domain::clock::china_offset()).to_rfc3339()
}

impl Env {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn account(&self) -> Account {
        desk_core::repo::AccountRepo::new(&*self.h.state.ports.records)
            .get(&self.account_id)
            .await
            .expect("store")
            .expect("account")
            .0
    }

    fn reconciler(&self) -> &dyn Reconciler {
        self.h
            .state
            .platforms()
            .get(Platform::Wechatpay)
            .expect("wechatpay is registered")
            .reconciler()
            .expect("WeChat Pay reconciles")
    }

    /// A complaint about `about` (never pushed) created at `at`.
    fn complaint(&self, id: &str, about: &str, at: DateTime<Utc>) {
        self.sim.add_complaint_for(
            MCHID,
            json!({
                "complaint_id": id,
                "complaint_time": beijing(at),
                "complaint_detail": "商品无法使用",
                "complaint_state": "PENDING",
                "complainted_mchid": about,
                "complaint_order_info": [{"transaction_id": format!("42000{id}"), "out_trade_no": format!("T{id}"), "amount": 1999}],
                "problem_type": "SERVICE_NOT_WORK",
                "need_immediate_service": false,
            }),
        );
    }

    /// The platform pushes now (by our clock) what it should have pushed before.
    async fn late_push(&self, id: &str, action: &str) {
        let n = self
            .sim
            .complaint_push(id, action, self.now())
            .expect("the push");
        let (status, body) = self
            .h
            .post_with_headers(
                &format!("/callbacks/wechatpay/{MCHID}/complaints"),
                &n.headers,
                n.body,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "push accepted: {body}");
    }

    async fn pass(&self) -> Report {
        desk_core::reconcile::run_now(
            &self.h.state,
            self.h.state.platforms(),
            &self.account_id,
            Duration::from_secs(15),
        )
        .await
        .expect("pass")
        .expect("the account exists")
    }

    /// Run the worker's handlers on the events queue until it is empty (a retried job again
    /// at once, at most 50 rounds); each job's type and what became of it.
    async fn work(&self) -> Vec<(String, Disposition)> {
        let registry = desk_core::policy::registry(&self.h.state, self.h.state.platforms());
        let queue = self.h.state.ports.queue.clone();
        let mut out = Vec::new();
        for _ in 0..50 {
            let msgs = queue
                .receive(
                    EVENTS,
                    10,
                    Duration::from_secs(60),
                    Duration::from_millis(100),
                )
                .await
                .expect("receive");
            if msgs.is_empty() {
                return out;
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
                match d {
                    Disposition::Retry(_) | Disposition::Defer(_) => queue
                        .change_visibility(EVENTS, &m.receipt, Duration::ZERO)
                        .await
                        .expect("visible again"),
                    _ => queue.delete(EVENTS, &m.receipt).await.expect("delete"),
                }
                out.push((job.job_type, d));
            }
        }
        panic!("the events queue did not empty: {out:?}");
    }

    /// The staff notices recorded for a complaint, and its record.
    async fn recorded(&self, id: &str) -> (Vec<Value>, Value) {
        let d = self.h.complaint_detail(id).await.expect("recorded");
        let notices = d["notifications"].as_array().cloned().unwrap_or_default();
        (notices, d["complaint"].clone())
    }

    fn replies(&self, id: &str) -> usize {
        self.sim
            .writes_to("/response")
            .iter()
            .filter(|w| w.path.contains(id))
            .count()
    }
}

fn ids(items: &[Seen]) -> Vec<String> {
    items
        .iter()
        .map(|s| s.platform_complaint_id.clone())
        .collect()
}

fn cid(n: u32) -> String {
    format!("2002018202611260800{n:08}")
}

// ---- the reconciler on its own

/// A provider's listing covers all its sub-merchants at once, 50 a page: 120 complaints are
/// three pages, the cursor carrying the offset and the first page's total, and nothing is
/// missed or repeated.
#[tokio::test]
async fn a_provider_lists_all_sub_merchants_page_by_page_past_50() {
    let e = env("wechatpay_provider", json!({"default_reply_text": REPLY})).await;
    let now = e.now();
    for n in 0..120 {
        let about = if n % 2 == 0 { SUB_A } else { SUB_B };
        e.complaint(
            &cid(n),
            about,
            now - Days::hours(30) + Days::minutes(n.into()),
        );
    }
    let account = e.account().await;
    let window = Window {
        start: now - Days::days(3),
        end: now,
    };
    let mut cursor = None;
    let mut pages = Vec::new();
    let mut seen = Vec::new();
    loop {
        let page = e
            .reconciler()
            .list_page(&e.h.state, &account, window, cursor)
            .await
            .expect("page");
        pages.push(page.items.len());
        seen.extend(page.items);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
        assert!(pages.len() < 10, "the listing must end");
    }
    assert_eq!(pages, vec![50, 50, 20]);
    let mut all = ids(&seen);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 120, "each complaint once");
    let a = seen
        .iter()
        .find(|s| s.platform_complaint_id == cid(0))
        .expect("sub A's");
    assert_eq!(a.sub_mchid.as_deref(), Some(SUB_A));
    assert_eq!(a.raw_status, "PENDING");
    assert_eq!(
        a.record_id,
        desk_core::complaints::complaint_id(Platform::Wechatpay, &e.account_id, &cid(0))
    );
    assert_eq!(a.created_at, Some(now - Days::hours(30)));
    // One listing for both sub-merchants: no complainted_mchid, always limit=50.
    let lists: Vec<String> = e
        .sim
        .arrivals()
        .into_iter()
        .filter(|a| a.starts_with(&format!("GET {LIST}?")))
        .collect();
    assert_eq!(lists.len(), 3, "{lists:?}");
    for (n, l) in lists.iter().enumerate() {
        assert!(!l.contains("complainted_mchid"), "{l}");
        assert!(l.contains(&format!("limit=50&offset={}", n * 50)), "{l}");
    }
}

/// A window longer than the platform's 30 days is listed in consecutive date ranges, each
/// accepted by the platform, together covering every Beijing date of the window.
#[tokio::test]
async fn a_long_window_is_listed_in_ranges_the_platform_accepts() {
    let e = merchant(true).await;
    let now = e.now();
    e.complaint(&cid(1), MCHID, now - Days::days(44));
    e.complaint(&cid(2), MCHID, now - Days::days(2));
    let account = e.account().await;
    let window = Window {
        start: now - Days::days(45),
        end: now,
    };
    let mut cursor = None;
    let mut seen = Vec::new();
    for _ in 0..10 {
        let page = e
            .reconciler()
            .list_page(&e.h.state, &account, window, cursor)
            .await
            .expect("every range is accepted");
        seen.extend(page.items);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert!(cursor.is_none(), "the listing ends");
    let mut found = ids(&seen);
    found.sort();
    assert_eq!(found, vec![cid(1), cid(2)]);
    let day = |t: DateTime<Utc>| t.with_timezone(&domain::clock::china_offset()).date_naive();
    let mut ranges: Vec<(chrono::NaiveDate, chrono::NaiveDate)> = e
        .sim
        .arrivals()
        .iter()
        .filter_map(|a| {
            let q = a.split_once('?')?.1;
            let get = |k: &str| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            };
            Some((get("begin_date")?, get("end_date")?))
        })
        .collect();
    ranges.sort();
    assert!(ranges.len() >= 2, "{ranges:?}");
    assert_eq!(ranges[0].0, day(window.start));
    assert_eq!(ranges[ranges.len() - 1].1, day(window.end));
    for w in ranges.windows(2) {
        assert_eq!(w[0].1.succ_opt(), Some(w[1].0), "consecutive: {ranges:?}");
    }
    for (b, e) in &ranges {
        assert!((*e - *b).num_days() <= 30, "{b}..{e}");
    }
}

/// A local record as the worker would have left it.
fn local(e: &Env, id: &str, raw_status: &str) -> Complaint {
    let mut c = Complaint::new(
        desk_core::complaints::complaint_id(Platform::Wechatpay, &e.account_id, id),
        Platform::Wechatpay,
        None,
        e.account_id.clone(),
        id.to_string(),
        e.now(),
    );
    c.raw_status = raw_status.into();
    c
}

/// The detail re-read sees a state moved without a push and dates it by the history; our own
/// reply's move is no difference (and costs no history read); a complaint the platform does
/// not know is None.
#[tokio::test]
async fn a_reread_sees_a_moved_state_but_not_our_own_reply() {
    let e = merchant(true).await;
    let now = e.now();
    let (moved, replied) = (cid(1), cid(2));
    e.complaint(&moved, MCHID, now - Days::days(40));
    e.complaint(&replied, MCHID, now - Days::days(40));
    let account = e.account().await;
    let r = e.reconciler();

    let at = (now - Days::minutes(20)).trunc_subsecs(0);
    e.sim.close_by_platform(&moved, "平台已处理完毕", at);
    let ours = local(&e, &moved, "PENDING");
    let seen = r
        .reread(&e.h.state, &account, &ours)
        .await
        .expect("reread")
        .expect("known");
    assert_eq!(seen.raw_status, "PROCESSED");
    assert!(r.pushed_change(Some(&ours), &seen));
    assert_eq!(seen.changed_at, Some(at), "dated by the platform's entry");

    // We replied (the platform moved it to PROCESSING): no push would tell that.
    let mut ours = local(&e, &replied, "PENDING");
    ours.replied = true;
    reply_as_the_merchant(&e.sim, &replied).await;
    let history_path = format!("{LIST}/{replied}/negotiation-historys");
    let seen = r
        .reread(&e.h.state, &account, &ours)
        .await
        .expect("reread")
        .expect("known");
    assert_eq!(seen.raw_status, "PROCESSING");
    assert!(!r.pushed_change(Some(&ours), &seen), "our own reply");
    assert_eq!(seen.changed_at, None);
    assert!(
        e.sim.requests_to(&history_path).is_empty(),
        "no history read"
    );

    let gone = local(&e, &cid(99), "PENDING");
    assert_eq!(
        r.reread(&e.h.state, &account, &gone).await.expect("reread"),
        None
    );
}

/// Reply to a complaint as the merchant (the platform moves it from PENDING to PROCESSING).
async fn reply_as_the_merchant(sim: &WechatPaySim, id: &str) {
    let client = wechatpay::Client::new(wechatpay::ClientConfig {
        base_url: sim.base_url().parse().expect("url"),
        mchid: MCHID.into(),
        serial_no: SERIAL.into(),
        private_key: wechatpay::PrivateKey::parse(&private_pem(rsa_key())).expect("key"),
        apiv3_key: APIV3.as_bytes().to_vec(),
        public_key: Some((sim.keys().pub_key_id.clone(), sim.keys().public_key_pem())),
        platform_certificates: vec![],
    })
    .expect("client");
    client
        .respond(
            id,
            &wechatpay::model::ResponseRequest {
                complainted_mchid: MCHID.into(),
                response_content: "已处理".into(),
                ..Default::default()
            },
        )
        .await
        .expect("reply accepted");
}

/// The platform's 429 on the list is the worker's `Throttled` (back off with jitter), not an
/// error to count against the pass.
#[tokio::test]
async fn a_throttled_list_is_a_throttled_job_error() {
    let e = merchant(true).await;
    let account = e.account().await;
    e.sim.throttle_next_exact(LIST, 1);
    let now = e.now();
    let err = e
        .reconciler()
        .list_page(
            &e.h.state,
            &account,
            Window {
                start: now - Days::hours(2),
                end: now,
            },
            None,
        )
        .await
        .expect_err("429");
    assert!(matches!(err, JobError::Throttled { .. }), "{err:?}");
    assert_eq!(e.sim.throttled(), vec![format!("GET {LIST}")]);
}

/// The registered complaint and violation URLs are read on every pass and compared with the
/// ones `PUBLIC_BASE_URL` gives: a URL changed behind our back is seen.
#[tokio::test]
async fn callback_urls_show_a_changed_registration() {
    let e = env("wechatpay_provider", json!({})).await;
    let account = e.account().await;
    let ours = |kind: &str| format!("{BASE}callbacks/wechatpay/{MCHID}/{kind}");
    e.sim
        .replace_notification_url(MCHID, "complaints", Some(&ours("complaints")));
    e.sim
        .replace_notification_url(MCHID, "violations", Some(&ours("violations")));
    let checks = e
        .reconciler()
        .callback_urls(&e.h.state, &account)
        .await
        .expect("urls");
    let what: Vec<(&str, Option<bool>)> = checks
        .iter()
        .map(|c| (c.what.as_str(), c.matches()))
        .collect();
    assert_eq!(
        what,
        vec![("complaint", Some(true)), ("violation", Some(true))]
    );

    e.sim.replace_notification_url(
        MCHID,
        "complaints",
        Some("https://someone-else.example.com/notify"),
    );
    e.sim.replace_notification_url(MCHID, "violations", None);
    let checks = e
        .reconciler()
        .callback_urls(&e.h.state, &account)
        .await
        .expect("urls");
    assert_eq!(checks[0].matches(), Some(false));
    assert_eq!(
        checks[0].registered.as_deref(),
        Some("https://someone-else.example.com/notify")
    );
    assert_eq!(
        checks[0].expected.as_deref(),
        Some(ours("complaints").as_str())
    );
    assert_eq!(checks[1].registered, None);
    assert_eq!(checks[1].matches(), Some(false));
}

/// The job a found complaint goes through is the push's job type and payload shape, for the
/// account, under a notification id and event type of reconciliation's own.
#[tokio::test]
async fn the_job_is_the_push_job_under_a_notification_id_of_our_own() {
    let e = merchant(true).await;
    let account = e.account().await;
    let seen = Seen {
        change: None,
        merchant_acted: false,
        record_id: "cmp_x".into(),
        platform_complaint_id: cid(7),
        raw_status: "PENDING".into(),
        created_at: None,
        changed_at: None,
        sub_mchid: None,
        data: json!({}),
    };
    let job = e.reconciler().job(&account, &seen, e.now()).expect("job");
    assert_eq!(job.job_type, domain::job::wechatpay::COMPLAINT.name());
    assert_eq!(job.account_id.as_deref(), Some(e.account_id.as_str()));
    let n = domain::job::wechatpay::COMPLAINT
        .payload(&job)
        .expect("payload");
    assert_eq!(n.mchid, MCHID);
    assert_eq!(n.notification_id, format!("reconcile:{}:PENDING", cid(7)));
    assert_eq!(n.event_type, "COMPLAINT.RECONCILED");
    assert_eq!(n.resource["complaint_id"], cid(7));
}

// ---- whole passes, with the worker's handlers

/// A complaint whose push was dropped is left alone inside its grace, found by the next pass
/// after it, and handled once (one reply, one staff notice); the push arriving afterwards
/// tells staff nothing new and replies nothing; a later pass finds nothing more.
#[tokio::test]
async fn a_dropped_push_is_found_after_the_grace_and_handled_once() {
    let e = merchant(true).await;
    let id = cid(1);
    e.complaint(&id, MCHID, e.now() - Days::minutes(5));

    let r = e.pass().await;
    assert_eq!((r.outcome, r.complete), (Outcome::Complete, true), "{r:?}");
    assert_eq!(
        (r.tally.found, r.tally.waiting),
        (0, 1),
        "inside the grace: {r:?}"
    );
    assert!(e.work().await.is_empty(), "nothing queued");

    // Staff ask for a pass after the grace.
    e.clock.advance(Days::minutes(11));
    let (status, r) =
        e.h.admin(
            axum::http::Method::POST,
            &format!("/admin/v1/accounts/{}/reconcile", e.account_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        (r["complete"].as_bool(), r["found"].as_u64()),
        (Some(true), Some(1)),
        "{r}"
    );
    assert_eq!(r["found_complaints"][0]["platform_complaint_id"], id);
    assert_eq!(r["found_complaints"][0]["why"], "unknown");
    let done = e.work().await;
    assert!(
        done.iter()
            .any(|(t, d)| t == "wechatpay.complaint" && matches!(d, Disposition::Done)),
        "{done:?}"
    );
    assert_eq!(e.replies(&id), 1, "answered once");
    let (notices, record) = e.recorded(&id).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["summary"]["event"], "new complaint");
    assert_eq!(record["replied"], true);

    // The push comes after all: nothing more.
    e.late_push(&id, "CREATE_COMPLAINT").await;
    let done = e.work().await;
    assert_eq!(done.len(), 1, "the push's job ran: {done:?}");
    assert!(matches!(done[0].1, Disposition::Done), "{done:?}");
    assert_eq!(e.replies(&id), 1, "not answered again");
    let (notices, _) = e.recorded(&id).await;
    assert_eq!(notices.len(), 1, "staff not told again: {notices:?}");

    // And the next pass has nothing to do: our own reply moved the state, no push says so.
    e.clock.advance(Days::minutes(10));
    let r = e.pass().await;
    assert_eq!((r.tally.found, r.tally.waiting), (0, 0), "{r:?}");
    assert!(e.work().await.is_empty());

    // The account's health: found once by reconciliation; the platform has no complaint URL
    // registered, where ours is expected.
    let (status, health) =
        e.h.admin(
            axum::http::Method::GET,
            &format!("/admin/v1/accounts/{}/health", e.account_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["found_by_reconciliation_7d"], 1, "{health}");
    assert_eq!(health["found_recently"][0]["platform_complaint_id"], id);
    let url = &health["callback_urls"][0];
    assert_eq!(url["what"], "complaint", "{health}");
    assert_eq!(url["registered"], Value::Null);
    assert_eq!(
        url["expected"],
        format!("{BASE}callbacks/wechatpay/{MCHID}/complaints")
    );
    assert_eq!(url["matches"], false);
}

/// An open complaint created before the listed window is re-read: the platform closed it
/// without a push; the pass finds it, the record follows and staff are told once, with the
/// key the platform's push has, so the push arriving later tells nothing new.
#[tokio::test]
async fn a_state_change_on_an_old_open_complaint_is_caught_by_the_reread() {
    let e = merchant(false).await;
    let id = cid(2);
    e.complaint(&id, MCHID, e.now() - Days::days(40));
    // Its push came then: recorded, open (this account does not reply by itself).
    e.late_push(&id, "CREATE_COMPLAINT").await;
    e.work().await;
    let (notices, record) = e.recorded(&id).await;
    assert_eq!(
        (notices.len(), record["raw_status"].as_str()),
        (1, Some("PENDING"))
    );

    e.sim
        .close_by_platform(&id, "平台已协助处理", e.now() - Days::minutes(20));
    let r = e.pass().await;
    assert_eq!(r.tally.listed, 0, "outside the listed window: {r:?}");
    assert_eq!((r.tally.reread, r.tally.found), (1, 1), "{r:?}");
    assert_eq!(r.found_complaints[0].why, "state_moved");
    e.work().await;
    let (notices, record) = e.recorded(&id).await;
    assert_eq!(record["raw_status"], "PROCESSED");
    assert_eq!(
        notices.len(),
        2,
        "told about the platform's message: {notices:?}"
    );
    let mut events: Vec<&str> = notices
        .iter()
        .filter_map(|n| n["summary"]["event"].as_str())
        .collect();
    events.sort();
    assert_eq!(events, vec!["new complaint", "platform message"]);

    e.late_push(&id, "RESPONSE_BY_PLATFORM").await;
    e.work().await;
    let (notices, _) = e.recorded(&id).await;
    assert_eq!(
        notices.len(),
        2,
        "the late push tells nothing new: {notices:?}"
    );
    assert_eq!(e.replies(&id), 0);
}

/// The platform's 429 stops the pass with its rest queued for later; a later run finishes
/// it and finds the complaint.
#[tokio::test]
async fn a_throttled_pass_backs_off_and_a_later_run_finishes_it() {
    let e = merchant(true).await;
    let id = cid(3);
    e.complaint(&id, MCHID, e.now() - Days::minutes(30));
    e.sim.throttle_next_exact(LIST, 1);
    let r = e.pass().await;
    assert_eq!(
        (r.outcome, r.complete),
        (Outcome::Throttled, false),
        "{r:?}"
    );
    assert_eq!((r.tally.found, r.tally.throttled), (0, 1), "{r:?}");
    let later = r.continues_at.expect("queued for later");
    assert!(later > e.now(), "backs off: {later} after {}", e.now());
    let (_, health) =
        e.h.admin(
            axum::http::Method::GET,
            &format!("/admin/v1/accounts/{}/health", e.account_id),
            None,
        )
        .await;
    assert_eq!(
        (&health["throttled_24h"], &health["platform_errors_24h"]),
        (&json!(1), &json!(0)),
        "a 429 is throttling, not an error: {health}"
    );

    e.clock.advance(Days::minutes(1));
    let r = e.pass().await;
    assert_eq!((r.outcome, r.complete), (Outcome::Complete, true), "{r:?}");
    assert_eq!(r.tally.found, 1, "{r:?}");
    e.work().await;
    assert_eq!(e.replies(&id), 1);
}

/// A complaint the merchant answered in WeChat Pay's own console (no push tells that, and
/// none was missed: the history's newest entry is the merchant's): the re-read queues the
/// push's job so our record catches up, but it is not counted as found and raises no
/// "pushes are not arriving" alert.
#[tokio::test]
async fn a_reply_in_wechat_pays_console_refreshes_the_record_but_is_not_found() {
    let e = merchant(false).await;
    let id = cid(8);
    // Complained about a minute ago, and pushed then.
    e.complaint(&id, MCHID, e.now() - Days::minutes(1));
    e.late_push(&id, "CREATE_COMPLAINT").await;
    e.work().await;
    let (_, record) = e.recorded(&id).await;
    assert_eq!(record["raw_status"], "PENDING");

    // A pass lists it unchanged; the next one's window starts on a later (Beijing) date than
    // its creation, so it is re-read from then on, not listed.
    e.clock.advance(Days::days(2));
    let r = e.pass().await;
    assert_eq!((r.tally.listed, r.tally.unchanged), (1, 1), "{r:?}");

    // The merchant replies in WeChat Pay's console, not through the desk.
    reply_as_the_merchant(&e.sim, &id).await;
    let newest = e
        .sim
        .history(&id)
        .into_iter()
        .max_by_key(|h| {
            DateTime::parse_from_rfc3339(h["operate_time"].as_str().unwrap_or_default()).ok()
        })
        .expect("a history");
    assert_eq!(
        newest["operate_type"], "MERCHANT_RESPONSE",
        "the newest entry is the merchant's"
    );

    e.clock.advance(Days::minutes(10));
    let r = e.pass().await;
    assert_eq!(r.tally.listed, 0, "{r:?}");
    assert_eq!(
        (r.tally.reread, r.tally.merchant_acted, r.tally.found),
        (1, 1, 0),
        "{r:?}"
    );
    assert!(r.found_complaints.is_empty(), "{r:?}");
    let done = e.work().await;
    assert_eq!(done.len(), 1, "the push's job: {done:?}");
    assert!(matches!(done[0].1, Disposition::Done), "{done:?}");
    let (_, record) = e.recorded(&id).await;
    assert_eq!(record["raw_status"], "PROCESSING", "the record caught up");

    no_silence_alert(&e).await;
    let (status, health) =
        e.h.admin(
            axum::http::Method::GET,
            &format!("/admin/v1/accounts/{}/health", e.account_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["found_by_reconciliation_7d"], 0, "{health}");
}

/// The same console reply to a complaint still inside the list's window: the list shows only
/// the new state, so the pass reads the complaint in full before counting it, and finds the
/// merchant's own entry newest: brought in, not found, no silence alert.
#[tokio::test]
async fn a_console_reply_seen_by_the_list_is_read_in_full_and_not_found() {
    let e = merchant(false).await;
    let id = cid(9);
    e.complaint(&id, MCHID, e.now() - Days::minutes(1));
    e.late_push(&id, "CREATE_COMPLAINT").await;
    e.work().await;
    let (_, record) = e.recorded(&id).await;
    assert_eq!(record["raw_status"], "PENDING");

    reply_as_the_merchant(&e.sim, &id).await;
    e.clock.advance(Days::minutes(30));
    let r = e.pass().await;
    assert_eq!(r.tally.listed, 1, "still in the list's window: {r:?}");
    assert_eq!(
        (r.tally.merchant_acted, r.tally.found, r.tally.waiting),
        (1, 0, 0),
        "{r:?}"
    );
    let done = e.work().await;
    assert_eq!(done.len(), 1, "the push's job: {done:?}");
    let (_, record) = e.recorded(&id).await;
    assert_eq!(record["raw_status"], "PROCESSING", "the record caught up");
    no_silence_alert(&e).await;
}

/// No "pushes are not arriving" alert is queued.
async fn no_silence_alert(e: &Env) {
    let notify =
        e.h.state
            .ports
            .queue
            .receive(
                domain::job::queues::NOTIFY,
                10,
                Duration::from_secs(60),
                Duration::from_millis(100),
            )
            .await
            .expect("receive");
    assert!(
        notify.iter().all(|m| !m.body.contains("push_silence")),
        "no silence alert: {notify:?}"
    );
}
