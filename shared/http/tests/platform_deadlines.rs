//! Each platform's deadlines end to end: the simulators push complaints to our server on a
//! loopback port, the worker records them, and `GET /admin/v1/complaints/{id}` shows the
//! deadlines the platform's rules computed from its own fields, each with its source, and
//! `next_due_at`. Time is a manual clock (started at the real time: WeChat Pay's callbacks
//! must be fresh), so every `met_at` is a known instant.

mod common;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use common::*;
use desk_core::worker::CancellationToken;
use domain::clock::{Clock, ManualClock};
use domain::job::deadlines::{SWEEP, Sweep};
use domain::job::queues;
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim};
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use sandbox::wxapi::{PushConfig, PushFormat, PushMode, SimMini, WechatSim};
use serde_json::{Value, json};
use std::sync::Arc;

/// Our server with the events worker, its clock manual; dropping it stops both.
struct Served {
    h: Harness,
    base: String,
    clock: Arc<ManualClock>,
    stop: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn served_with_manual_clock() -> Served {
    let now = Utc::now();
    let start = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let clock = Arc::new(ManualClock::new(start));
    let port = clock.clone();
    let (h, base, stop) = served(move |s| s.ports.clock = port).await;
    spawn_worker(&h, queues::EVENTS, &stop);
    Served {
        h,
        base,
        clock,
        stop,
    }
}

impl Served {
    /// Move the clock on a minute; the new time.
    fn tick(&self) -> DateTime<Utc> {
        self.clock.advance(Duration::minutes(1));
        self.clock.now()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (s, b) = self.h.admin(Method::POST, path, Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
        b
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

fn beijing(s: &str) -> DateTime<Utc> {
    time(&json!(s))
}

/// The complaint's deadline `what` in an admin detail.
fn deadline<'a>(d: &'a Value, what: &str) -> &'a Value {
    d["complaint"]["deadlines"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["what"] == what))
        .unwrap_or_else(|| panic!("no deadline {what}: {}", d["complaint"]))
}

fn whats(d: &Value) -> Vec<String> {
    d["complaint"]["deadlines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["what"].as_str().map(String::from))
        .collect()
}

// ---------------------------------------------------------------- WeChat Pay

const MCHID: &str = "1900000109";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechatpay_complaint_gets_its_end_of_day_deadlines_and_the_automatic_reply_meets_the_first()
 {
    let e = served_with_manual_clock().await;
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    sim.add_merchant(SimMerchant {
        mchid: MCHID.into(),
        serial_no: SERIAL.into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    e.h.create(
        json!({"kind": "wechatpay_merchant", "name": "Pay", "settings": {
            "mchid": MCHID, "appid": "wx2c2769f8efd9abc2", "merchant_serial_no": SERIAL,
            "api_base_url": sim.base_url(), "reply_text": "您好，已收到您的投诉，正在处理。",
            "auto_refund": false},
        "credentials": {"private_key": private_pem(rsa_key()), "apiv3_key": APIV3,
            "wechatpay_public_key": sim.keys().public_key_pem(),
            "wechatpay_public_key_id": sim.keys().pub_key_id}}),
    )
    .await;
    let id = "200201820260320235000000001";
    // Ten minutes before midnight in Beijing (and with milliseconds, as WeChat Pay sends them).
    sim.add_complaint(json!({
        "complaint_id": id, "complaint_time": "2026-03-20T23:50:00.123+08:00",
        "complaint_detail": "充电宝无法使用", "complaint_state": "PENDING", "complainted_mchid": MCHID,
        "complaint_order_info": [{"transaction_id": "4200000000000000000000000001", "out_trade_no": "T1", "amount": 990}],
        "complaint_media_list": [], "problem_type": "OTHERS", "need_immediate_service": false}));
    let push = sim.notification(
        APIV3,
        "COMPLAINT.CREATE",
        "complaint",
        &json!({"complaint_id": id, "action_type": "CREATE_COMPLAINT"}),
        KeyMode::PublicKey,
        0,
    );
    let replied_at = e.clock.now();
    let url = format!("{}/callbacks/wechatpay/{MCHID}/complaints", e.base);
    assert_eq!(push.post(&url).await, Ok(204));
    let d =
        e.h.wait_for_complaint(id, "the automatic reply", |d| {
            d["complaint"]["replied"] == true
                && d["complaint"]["deadlines"]
                    .as_array()
                    .is_some_and(|a| a.len() == 2)
        })
        .await;
    // Due at 24:00 Beijing time of the next day and of the third day after, not 24 h / 72 h.
    let first = deadline(&d, "first_reply");
    assert_eq!(time(&first["due_at"]), beijing("2026-03-22T00:00:00+08:00"));
    assert_eq!(
        time(&first["starts_at"]),
        beijing("2026-03-20T23:50:00.123+08:00")
    );
    assert_eq!(first["source"]["kind"], "published_rule");
    assert!(
        first["source"]["detail"]
            .as_str()
            .is_some_and(|s| s.contains("交易投诉运营规范2.0"))
    );
    assert_eq!(first["label"], "首次回复");
    assert!(first["consequence"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(
        time(&first["met_at"]),
        replied_at,
        "met by the automatic reply"
    );
    let completion = deadline(&d, "completion");
    assert_eq!(
        time(&completion["due_at"]),
        beijing("2026-03-24T00:00:00+08:00")
    );
    assert!(completion["met_at"].is_null(), "not completed yet");
    assert_eq!(
        time(&d["complaint"]["next_due_at"]),
        time(&completion["due_at"])
    );
    assert_eq!(d["complaint"]["deadline"], d["complaint"]["next_due_at"]);
    // Completed by staff: nothing is due any more.
    let cid = d["complaint"]["id"].as_str().expect("id").to_string();
    let completed_at = e.tick();
    e.post(&format!("/admin/v1/complaints/{cid}/complete"), json!({}))
        .await;
    let (_, d) =
        e.h.admin(Method::GET, &format!("/admin/v1/complaints/{cid}"), None)
            .await;
    assert_eq!(time(&deadline(&d, "completion")["met_at"]), completed_at);
    assert_eq!(time(&deadline(&d, "first_reply")["met_at"]), replied_at);
    assert!(
        d["complaint"]["next_due_at"].is_null(),
        "{}",
        d["complaint"]
    );
}

// ---------------------------------------------------------------- mini program

const APPID: &str = "wx1111111111111111";
const SECRET: &str = "mini-secret-0123456789abcdef";
const TOKEN: &str = "miniToken123";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// A manual mini program whose staff act by hand (no automatic response or refund).
async fn mini(e: &Served) -> WechatSim {
    mini_account(e).await.0
}

/// [`mini`], and our account's id.
async fn mini_account(e: &Served) -> (WechatSim, String) {
    let wx = WechatSim::start().await.expect("wechat sim");
    wx.add_mini(SimMini {
        appid: APPID.into(),
        secret: SECRET.into(),
        nick_name: "小程序".into(),
        push: Some(PushConfig {
            token: TOKEN.into(),
            encoding_aes_key: AES_KEY.into(),
            mode: PushMode::Safe,
            format: PushFormat::Xml,
            url: format!("{}/callbacks/wxmini/{APPID}", e.base),
        }),
    });
    let account =
        e.h.create(json!({"kind": "wxmini_app", "name": "Mini", "settings": {
            "appid": APPID, "mode": "manual", "api_base_url": wx.base_url(),
            "auto_response": {"enabled": false, "decision": "agree"}, "auto_refund": false},
        "credentials": {"secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}}))
            .await;
    (wx, account)
}

/// A push of the same state again must not share the first one's `CreateTime` (whole
/// seconds), or it is the same push, deduplicated.
async fn next_second() {
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
}

/// A complaint made `age` before the clock, waiting for the merchant until `expires`.
fn add_mini_complaint(wx: &WechatSim, e: &Served, id: u64, age: Duration, expires: i64) {
    let created = (e.clock.now() - age).timestamp();
    wx.add_complaint(
        APPID,
        json!({"complaintOrderId": id, "openid": "o_user", "createTime": created,
            "type": 3, "status": 201, "customerMaterial": {"content": "商品与描述不符", "mediaIdList": []},
            "orderId": format!("42000{id}"), "outTradeNo": format!("T{id}"), "totalCost": 2_500,
            "expireTime": expires, "appealState": 0}),
    );
}

async fn push_and_wait(e: &Served, wx: &WechatSim, id: u64, status: &str) -> Value {
    assert_eq!(wx.push_complaint(&id.to_string()).await, Ok(200));
    e.h.wait_for_complaint(&id.to_string(), status, |d| {
        d["complaint"]["raw_status"] == status
    })
    .await
}

fn unix(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).expect("time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mini_program_deadline_follows_expire_time_from_201_to_206_and_is_met_when_the_merchant_acts()
 {
    let e = served_with_manual_clock().await;
    let wx = mini(&e).await;
    let id = 850_001_u64;
    let created = e.clock.now() - Duration::hours(1);
    let e1 = created.timestamp() + 48 * 3600;
    add_mini_complaint(&wx, &e, id, Duration::hours(1), e1);
    let d = push_and_wait(&e, &wx, id, "201").await;
    let r = deadline(&d, "respond");
    assert_eq!(time(&r["due_at"]), unix(e1));
    assert_eq!(
        time(&r["starts_at"]),
        created,
        "201 began when the complaint was made"
    );
    assert_eq!(r["source"]["kind"], "platform_field");
    assert!(
        r["source"]["detail"]
            .as_str()
            .is_some_and(|s| s.contains("expireTime"))
    );
    assert_eq!(r["label"], "回应投诉");
    assert!(r["met_at"].is_null());
    assert_eq!(time(&d["complaint"]["next_due_at"]), unix(e1));
    assert_eq!(time(&d["complaint"]["platform_due_at"]), unix(e1));
    let cid = d["complaint"]["id"].as_str().expect("id").to_string();

    // Staff respond: met at once (201 → 204 on the platform, whose expiry is now the buyer's).
    let responded_at = e.tick();
    e.post(
        &format!("/admin/v1/complaints/{cid}/reply"),
        json!({"text": "不同意：商品已签收", "decision": "refuse"}),
    )
    .await;
    let d = push_and_wait(&e, &wx, id, "204").await;
    assert_eq!(time(&deadline(&d, "respond")["met_at"]), responded_at);
    assert_eq!(time(&deadline(&d, "respond")["due_at"]), unix(e1));
    assert!(
        d["complaint"]["platform_due_at"].is_string(),
        "the buyer's expiry is kept verbatim: {}",
        d["complaint"]
    );
    assert!(
        d["complaint"]["next_due_at"].is_null(),
        "the buyer's expiry is no merchant deadline: {}",
        d["complaint"]
    );

    // The platform finds the merchant responsible: a new expiry, a new deadline.
    let e3 = e.clock.now().timestamp() + 47 * 3600;
    wx.set_status(&id.to_string(), 206);
    wx.set_expire_time(&id.to_string(), e3);
    e.tick();
    let d = push_and_wait(&e, &wx, id, "206").await;
    let ev = deadline(&d, "refund_evidence");
    assert_eq!(time(&ev["due_at"]), unix(e3));
    assert_eq!(
        time(&ev["starts_at"]),
        unix(e3 - 48 * 3600),
        "expireTime − 48 h"
    );
    assert!(ev["met_at"].is_null());
    assert_eq!(
        time(&deadline(&d, "respond")["met_at"]),
        responded_at,
        "met stays met"
    );
    assert_eq!(time(&d["complaint"]["next_due_at"]), unix(e3));

    // Evidence uploaded (206 → 207): met.
    let uploaded_at = e.tick();
    e.post(
        &format!("/admin/v1/complaints/{cid}/refund-evidence"),
        json!({"text": "已退款", "goods_received": true}),
    )
    .await;
    let d = push_and_wait(&e, &wx, id, "207").await;
    assert_eq!(
        time(&deadline(&d, "refund_evidence")["met_at"]),
        uploaded_at
    );
    assert!(
        d["complaint"]["next_due_at"].is_null(),
        "{}",
        d["complaint"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mini_program_deadline_missed_stays_overdue_until_the_complaint_closes() {
    let e = served_with_manual_clock().await;
    let wx = mini(&e).await;
    let id = 850_002_u64;
    let expires = e.clock.now().timestamp() + 3600;
    add_mini_complaint(&wx, &e, id, Duration::hours(47), expires);
    push_and_wait(&e, &wx, id, "201").await;
    // Two hours later the platform moved it to 202 (商家超时未回应), with no expiry of its own.
    e.clock.advance(Duration::hours(2));
    wx.set_status(&id.to_string(), 202);
    let d = push_and_wait(&e, &wx, id, "202").await;
    let r = deadline(&d, "respond");
    assert!(r["met_at"].is_null(), "time ran out: not met");
    assert_eq!(time(&r["due_at"]), unix(expires));
    let next = time(&d["complaint"]["next_due_at"]);
    assert_eq!(next, unix(expires));
    assert!(next < e.clock.now(), "overdue");
    // Closed (209): nothing is due, the complaint leaves the overdue list.
    wx.set_status(&id.to_string(), 209);
    let d = push_and_wait(&e, &wx, id, "209").await;
    assert_eq!(d["complaint"]["status"], "closed");
    assert!(whats(&d).is_empty(), "{}", d["complaint"]);
    assert!(d["complaint"]["next_due_at"].is_null());
}

/// `deadlines_total` of one account, by outcome (the test binary's recorder: the sweep and
/// the worker's jobs run on the runtime's threads; the account's id keeps tests apart).
fn deadlines_counted(account: &str, outcome: &str) -> u64 {
    common::metrics::Counted::global().get(
        desk_core::metrics::DEADLINES,
        &[("account", account), ("outcome", outcome)],
    )
}

/// The account's deadline sweep at the clock's now, through the worker's registry.
async fn sweep(e: &Served, account_id: &str) {
    let now = e.clock.now();
    let registry = desk_core::policy::registry(&e.h.state, e.h.state.platforms());
    let handler = registry.get(SWEEP.name()).expect("the sweep is registered");
    let job = SWEEP
        .envelope(
            &Sweep {
                account_id: account_id.into(),
                scheduled_at: now,
            },
            now,
        )
        .expect("envelope")
        .for_account(account_id, None);
    handler.handle(&job).await.expect("sweep");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mini_program_deadline_met_while_expire_time_moves_is_counted_met_once() {
    common::metrics::Counted::global();
    let e = served_with_manual_clock().await;
    let (wx, account) = mini_account(&e).await;
    let id = 850_003_u64;
    let e1 = e.clock.now().timestamp() + 47 * 3600;
    add_mini_complaint(&wx, &e, id, Duration::hours(1), e1);
    let d = push_and_wait(&e, &wx, id, "201").await;
    let cid = d["complaint"]["id"].as_str().expect("id").to_string();
    e.tick();
    e.post(
        &format!("/admin/v1/complaints/{cid}/reply"),
        json!({"text": "不同意：商品已签收", "decision": "refuse"}),
    )
    .await;
    push_and_wait(&e, &wx, id, "204").await;
    assert_eq!(deadlines_counted(&account, "met"), 1);
    // Back in 201 with expireTime read again, 40 s later: still the deadline we met.
    next_second().await;
    wx.set_status(&id.to_string(), 201);
    wx.set_expire_time(&id.to_string(), e1 + 40);
    e.tick();
    let d = push_and_wait(&e, &wx, id, "201").await;
    assert_eq!(time(&deadline(&d, "respond")["due_at"]), unix(e1 + 40));
    assert_eq!(deadlines_counted(&account, "met"), 1, "counted met once");
    assert_eq!(deadlines_counted(&account, "missed"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mini_program_deadline_the_sweep_marked_missed_is_counted_missed_once_when_answered_late()
{
    common::metrics::Counted::global();
    let e = served_with_manual_clock().await;
    let (wx, account) = mini_account(&e).await;
    let id = 850_004_u64;
    let e1 = e.clock.now().timestamp() + 3600;
    add_mini_complaint(&wx, &e, id, Duration::hours(47), e1);
    let d = push_and_wait(&e, &wx, id, "201").await;
    let cid = d["complaint"]["id"].as_str().expect("id").to_string();
    e.clock.advance(Duration::hours(2));
    sweep(&e, &account).await;
    sweep(&e, &account).await;
    assert_eq!(deadlines_counted(&account, "missed"), 1);
    // A push reads expireTime again, a few seconds off; then the staff answer, late.
    wx.set_expire_time(&id.to_string(), e1 - 5);
    next_second().await;
    assert_eq!(wx.push_complaint(&id.to_string()).await, Ok(200));
    e.h.wait_for_complaint(&id.to_string(), "the time read again", |d| {
        d["complaint"]["platform_due_at"]
            .as_str()
            .is_some_and(|t| t.parse::<DateTime<Utc>>().ok() == Some(unix(e1 - 5)))
    })
    .await;
    e.tick();
    e.post(
        &format!("/admin/v1/complaints/{cid}/reply"),
        json!({"text": "不同意：商品已签收", "decision": "refuse"}),
    )
    .await;
    sweep(&e, &account).await;
    assert_eq!(
        deadlines_counted(&account, "missed"),
        1,
        "counted missed once"
    );
    assert_eq!(deadlines_counted(&account, "met"), 0);
}

// ---------------------------------------------------------------- Alipay

const APP_ID: &str = "2021000000000001";

async fn alipay(e: &Served) -> AlipaySim {
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    sim.add_app(sandbox::alipay::SimApp {
        app_id: APP_ID.into(),
        public_key: rsa_key().to_public_key(),
        app_cert_sn: None,
    });
    e.h.create(json!({"kind": "alipay_app", "name": "Alipay app",
        "settings": {"app_id": APP_ID, "reply_text": "您好，已收到", "api_base_url": sim.gateway_url(),
            "auto_refund": false},
        "credentials": {"mode": "public_key", "app_private_key": private_pem(rsa_key()),
            "alipay_public_key": sim.keys().alipay_public_key_pem()}}))
        .await;
    sim
}

async fn alipay_message(e: &Served, sim: &AlipaySim, method: &str, biz: Value) {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(sim.message(APP_ID, method, &biz))
        .finish();
    let (s, b) =
        e.h.raw(
            Method::POST,
            &format!("/callbacks/alipay/{APP_ID}"),
            None,
            Some(form),
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!((s, b.as_slice()), (StatusCode::OK, &b"success"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_riskgo_complaint_is_due_at_its_gmt_overdue_and_stays_overdue_until_finished() {
    let e = served_with_manual_clock().await;
    let sim = alipay(&e).await;
    let id = 24_646_950_777_i64;
    sim.add_risk_complaint(json!({"id": id, "task_id": "RC1", "status": "WAIT_PROCESS",
        "complain_amount": "9.90", "complain_content": "未经同意扣款", "trade_no": "2026112522001432790585537960",
        "gmt_complain": "2026-11-26 09:12:00", "gmt_overdue": "2026-11-29 09:12:00"}));
    let notify = "alipay.security.risk.complaints.merchants.notify";
    alipay_message(&e, &sim, notify, json!({"complaint_id": id})).await;
    let d =
        e.h.wait_for_complaint(&id.to_string(), "the record", |_| true)
            .await;
    let f = deadline(&d, "finish");
    let overdue_at = beijing("2026-11-29T09:12:00+08:00");
    assert_eq!(time(&f["due_at"]), overdue_at);
    assert_eq!(time(&f["starts_at"]), beijing("2026-11-26T09:12:00+08:00"));
    assert_eq!(f["source"]["kind"], "platform_field");
    assert!(
        f["source"]["detail"]
            .as_str()
            .is_some_and(|s| s.contains("gmt_overdue"))
    );
    assert_eq!(time(&d["complaint"]["platform_due_at"]), overdue_at);
    assert_eq!(time(&d["complaint"]["next_due_at"]), overdue_at);
    // Time ran out: still due (overdue), never met.
    sim.update_risk_complaint(id, json!({"status": "OVERDUE"}));
    alipay_message(&e, &sim, notify, json!({"complaint_id": id})).await;
    let d =
        e.h.wait_for_complaint(&id.to_string(), "OVERDUE", |d| {
            d["complaint"]["raw_status"] == "OVERDUE"
        })
        .await;
    assert!(deadline(&d, "finish")["met_at"].is_null());
    assert_eq!(time(&d["complaint"]["next_due_at"]), overdue_at);
    // Finished late by staff: met then (and still then once the platform says so).
    let cid = d["complaint"]["id"].as_str().expect("id").to_string();
    let finished_at = e.tick();
    e.post(
        &format!("/admin/v1/complaints/{cid}/complete"),
        json!({"code": "REFUND"}),
    )
    .await;
    e.tick();
    alipay_message(&e, &sim, notify, json!({"complaint_id": id})).await;
    let d =
        e.h.wait_for_complaint(&id.to_string(), "OVERDUE_PROCESSED", |d| {
            d["complaint"]["raw_status"] == "OVERDUE_PROCESSED"
        })
        .await;
    assert_eq!(time(&deadline(&d, "finish")["met_at"]), finished_at);
    assert!(d["complaint"]["next_due_at"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alipay_trade_complaint_deadline_is_shown_as_an_estimate() {
    let e = served_with_manual_clock().await;
    let sim = alipay(&e).await;
    let id = "2026112600102000000001459758";
    sim.add_trade_complaint(
        json!({"complain_event_id": id, "status": "MERCHANT_PROCESSING",
        "trade_no": "2026112522001432790585537960", "gmt_create": "2026-11-25 21:03:11",
        "content": "商品一直没有发货", "trade_amount": "9.90"}),
    );
    let replied_at = e.clock.now();
    alipay_message(
        &e,
        &sim,
        "alipay.merchant.tradecomplain.changed",
        json!({"complain_event_id": id}),
    )
    .await;
    let d =
        e.h.wait_for_complaint(id, "the automatic reply", |d| {
            d["complaint"]["replied"] == true
        })
        .await;
    let f = deadline(&d, "feedback");
    assert_eq!(f["source"]["kind"], "estimate");
    assert!(
        f["source"]["detail"]
            .as_str()
            .is_some_and(|s| s.contains("未经证实")),
        "{f}"
    );
    assert!(
        f["label"].as_str().is_some_and(|s| s.contains("估算")),
        "{f}"
    );
    assert_eq!(
        time(&f["due_at"]),
        beijing("2026-11-25T21:03:11+08:00") + Duration::hours(72)
    );
    assert_eq!(time(&f["met_at"]), replied_at, "met by the automatic reply");
    assert!(d["complaint"]["next_due_at"].is_null());
}
