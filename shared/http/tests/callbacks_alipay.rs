//! `POST /callbacks/alipay/{app_id}` with messages built and signed by the Alipay simulator, in
//! key mode and certificate mode: accepted ones are queued once (deduped on `notify_id`), bad
//! ones get the documented answer and queue nothing.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use domain::account::{
    DEFAULT_ALIPAY_FINISH_TEXT, DEFAULT_ALIPAY_REFUND_FINISH_REMARK,
    DEFAULT_ALIPAY_REFUND_FINISH_TEXT,
};
use domain::job::{JobEnvelope, alipay as alipay_jobs, queues};
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim};
use serde_json::json;
use std::time::Duration;

const APP_ID: &str = "2021000000000001";
const PATH: &str = "/callbacks/alipay/2021000000000001";

async fn setup(mode: AlipayMode) -> (Harness, AlipaySim) {
    let h = harness();
    let sim = AlipaySim::start(AlipayKeys::generate(), mode)
        .await
        .expect("sim");
    let mut sim_app = sandbox::alipay::SimApp {
        app_id: APP_ID.into(),
        public_key: rsa_key().to_public_key(),
        app_cert_sn: None,
    };
    let creds = match mode {
        AlipayMode::PublicKey => {
            json!({"mode": "public_key", "app_private_key": private_pem(rsa_key()),
                                        "alipay_public_key": sim.keys().alipay_public_key_pem()})
        }
        AlipayMode::Certificate => {
            let (app_cert, sn) = sim.keys().issue_app_cert(&rsa_key().to_public_key());
            sim_app.app_cert_sn = Some(sn);
            json!({"mode": "certificate", "app_private_key": private_pem(rsa_key()), "app_cert": app_cert,
                   "alipay_cert": sim.keys().alipay_cert_pem, "alipay_root_cert": sim.keys().root_pem})
        }
    };
    sim.add_app(sim_app);
    h.create(json!({"kind": "alipay_app", "name": "Alipay app",
                    "settings": {"app_id": APP_ID, "reply_text": "您好，已收到", "api_base_url": sim.gateway_url()},
                    "credentials": creds}))
        .await;
    (h, sim)
}

fn form(p: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p)
        .finish()
}

async fn post(h: &Harness, path: &str, body: String) -> (StatusCode, String) {
    let (s, b) = h
        .raw(
            Method::POST,
            path,
            None,
            Some(body),
            "application/x-www-form-urlencoded",
        )
        .await;
    (s, String::from_utf8_lossy(&b).into_owned())
}

async fn queued(h: &Harness) -> Vec<JobEnvelope> {
    h.queued_jobs(queues::EVENTS).await
}

async fn accepted_once(mode: AlipayMode) {
    let (h, sim) = setup(mode).await;
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100001"}),
    );
    let body = form(&msg);
    assert_eq!(
        post(&h, PATH, body.clone()).await,
        (StatusCode::OK, "success".to_string())
    );
    let jobs = queued(&h).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].job_type, alipay_jobs::TRADE_COMPLAINT.name());
    assert_eq!(jobs[0].payload["biz"]["complain_event_id"], "2024052100001");
    // Retried by Alipay (hours later is fine: no timestamp window), twice at once: no new job.
    let (a, b) = tokio::join!(post(&h, PATH, body.clone()), post(&h, PATH, body));
    assert_eq!((a.1.as_str(), b.1.as_str()), ("success", "success"));
    assert!(queued(&h).await.is_empty());
    let risk = sim.message(
        APP_ID,
        "alipay.security.risk.complaints.merchants.notify",
        &json!({"complaint_id": 24646950354_i64}),
    );
    assert_eq!(post(&h, PATH, form(&risk)).await.1, "success");
    assert_eq!(
        queued(&h).await[0].job_type,
        alipay_jobs::RISK_COMPLAINT.name()
    );
}

#[tokio::test]
async fn a_verified_message_is_queued_once_in_key_mode() {
    accepted_once(AlipayMode::PublicKey).await;
}

#[tokio::test]
async fn a_verified_message_is_queued_once_in_certificate_mode() {
    accepted_once(AlipayMode::Certificate).await;
}

#[tokio::test]
async fn bad_messages_get_the_designed_answer_and_queue_nothing() {
    let (h, sim) = setup(AlipayMode::PublicKey).await;
    let good = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100001"}),
    );
    let mut tampered = good.clone();
    tampered[2].1 = json!({"complain_event_id": "2024052100002"}).to_string();
    let stranger = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    let wrong_key = stranger.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100001"}),
    );
    let unsigned: Vec<(String, String)> =
        good.iter().filter(|(k, _)| k != "sign").cloned().collect();
    for (name, body, path, want) in [
        ("tampered", form(&tampered), PATH, StatusCode::BAD_REQUEST),
        (
            "signed by another key",
            form(&wrong_key),
            PATH,
            StatusCode::BAD_REQUEST,
        ),
        ("unsigned", form(&unsigned), PATH, StatusCode::BAD_REQUEST),
        (
            "unknown app",
            form(&good),
            "/callbacks/alipay/2021999999999999",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (s, b) = post(&h, path, body).await;
        assert_eq!((s, b.as_str()), (want, "fail"), "{name}");
    }
    // An unknown message method is acknowledged, not queued.
    let other = sim.message(APP_ID, "alipay.open.app.something.changed", &json!({}));
    assert_eq!(
        post(&h, PATH, form(&other)).await,
        (StatusCode::OK, "success".to_string())
    );
    assert!(queued(&h).await.is_empty());
}

#[tokio::test]
async fn a_signed_message_with_a_parameter_put_in_front_again_is_refused() {
    // The signature covers the last value of a repeated name; the handler read the first. A
    // captured message with `biz_content=<anything>&` in front verified, and the unsigned
    // biz_content was queued.
    let (h, sim) = setup(AlipayMode::PublicKey).await;
    let good = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100001"}),
    );
    for name in ["biz_content", "notify_id", "app_id", "msg_method"] {
        let value = match name {
            "biz_content" => json!({"complain_event_id": "2024052199999"}).to_string(),
            "app_id" => "2021999999999999".to_string(),
            other => format!("forged {other}"),
        };
        let mut forged = vec![(name.to_string(), value)];
        forged.extend(good.iter().cloned());
        let (s, b) = post(&h, PATH, form(&forged)).await;
        assert_eq!((s, b.as_str()), (StatusCode::BAD_REQUEST, "fail"), "{name}");
    }
    assert!(queued(&h).await.is_empty());
    // The message itself is still accepted.
    assert_eq!(post(&h, PATH, form(&good)).await.1, "success");
    assert_eq!(
        queued(&h).await[0].payload["biz"]["complain_event_id"],
        "2024052100001"
    );
}

// ---------------------------------------------------------------- the worker's policy

async fn with_worker(
    mode: AlipayMode,
    auto_refund: bool,
) -> (Harness, AlipaySim, desk_core::worker::CancellationToken) {
    let (h, sim) = setup(mode).await;
    let (_, list) = h.admin(Method::GET, "/admin/v1/accounts", None).await;
    let id = list["items"][0]["id"].as_str().expect("id").to_string();
    let (s, b) = h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{id}"),
            Some(json!({"settings": {"auto_refund": auto_refund, "refund_cap_fen": 100_000}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let stop = desk_core::worker::CancellationToken::new();
    let registry = std::sync::Arc::new(desk_core::policy::registry(&h.state, h.state.platforms()));
    tokio::spawn(desk_core::worker::run(
        h.state.ports.queue.clone(),
        registry,
        desk_core::worker::WorkerSettings {
            wait: Duration::from_millis(200),
            ..desk_core::worker::WorkerSettings::for_queue(queues::EVENTS)
        },
        stop.clone(),
    ));
    (h, sim, stop)
}

async fn detail_when(
    h: &Harness,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..100 {
        let (_, list) = h
            .admin(Method::GET, "/admin/v1/complaints?platform=alipay", None)
            .await;
        if let Some(id) = list["items"][0]["id"].as_str() {
            let (_, d) = h
                .admin(Method::GET, &format!("/admin/v1/complaints/{id}"), None)
                .await;
            if ok(&d) {
                return d;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, dl) = h.admin(Method::GET, "/admin/v1/dead-letters", None).await;
    let (_, list) = h.admin(Method::GET, "/admin/v1/complaints", None).await;
    panic!("timed out waiting for {what}: {list} dead letters: {dl}");
}

async fn trade_complaint_end_to_end(mode: AlipayMode) {
    let (h, sim, stop) = with_worker(mode, true).await;
    sim.add_trade_complaint(json!({"complain_event_id": "2024052100001", "status": "MERCHANT_PROCESSING",
        "trade_no": "2024052122001400001", "merchant_order_no": "T1", "gmt_create": "2024-05-21 10:00:00",
        "content": "商品一直没有发货，要求退款", "trade_amount": "19.99", "target_type": "APPID", "target_id": APP_ID}));
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100001"}),
    );
    assert_eq!(post(&h, PATH, form(&msg)).await.1, "success");
    let d = detail_when(&h, "the finished complaint", |d| {
        d["complaint"]["completed"] == true
    })
    .await;
    assert_eq!(d["complaint"]["refunded_fen"], 1999);
    assert_eq!(d["complaint"]["family"], "trade");
    assert_eq!(d["complaint"]["status"], "resolved");
    assert_eq!(
        sim.calls("alipay.merchant.tradecomplain.reply.submit")
            .len(),
        1
    );
    let refunds = sim.calls("alipay.trade.refund");
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].biz["refund_amount"], "19.99");
    let feedback = sim.calls("alipay.merchant.tradecomplain.feedback.submit");
    assert_eq!(feedback.len(), 1);
    assert_eq!(feedback[0].biz["feedback_code"], "02");
    // The finishing feedback says the money is back; it does not repeat the reply.
    assert_eq!(
        feedback[0].biz["feedback_content"],
        DEFAULT_ALIPAY_REFUND_FINISH_TEXT
    );
    assert_eq!(d["notifications"].as_array().map(Vec::len), Some(1));
    // Again (Alipay's retry) and twice at once: nothing more.
    let body = form(&msg);
    let (a, b) = tokio::join!(post(&h, PATH, body.clone()), post(&h, PATH, body));
    assert_eq!((a.1.as_str(), b.1.as_str()), ("success", "success"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sim.calls("alipay.trade.refund").len(), 1);
    assert_eq!(sim.refund_count(), 1);
    assert_eq!(
        sim.calls("alipay.merchant.tradecomplain.reply.submit")
            .len(),
        1
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trade_complaints_end_to_end_in_key_mode() {
    trade_complaint_end_to_end(AlipayMode::PublicKey).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trade_complaints_end_to_end_in_certificate_mode() {
    trade_complaint_end_to_end(AlipayMode::Certificate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_complaints_are_refunded_and_finished_in_certificate_mode() {
    consumer_complaint_end_to_end(AlipayMode::Certificate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_complaints_are_refunded_and_finished_in_key_mode() {
    consumer_complaint_end_to_end(AlipayMode::PublicKey).await;
}

async fn consumer_complaint_end_to_end(mode: AlipayMode) {
    let (h, sim, stop) = with_worker(mode, true).await;
    sim.add_risk_complaint(json!({"id": 24646950354_i64, "task_id": "TS1", "status": "WAIT_PROCESS", "complain_amount": "5.00",
        "complain_content": "未经同意扣款", "gmt_complain": "2024-05-21 10:00:00", "trade_no": "2024052122001400009",
        "complaint_trade_info_list": [{"trade_no": "2024052122001400009", "out_no": "T9", "amount": "5.00", "status": "WAIT_PROCESS"}]}));
    let msg = sim.message(
        APP_ID,
        "alipay.security.risk.complaints.merchants.notify",
        &json!({"complaint_id": 24646950354_i64}),
    );
    assert_eq!(post(&h, PATH, form(&msg)).await.1, "success");
    let d = detail_when(&h, "the finished complaint", |d| {
        d["complaint"]["completed"] == true
    })
    .await;
    assert_eq!(d["complaint"]["family"], "risk");
    assert_eq!(d["complaint"]["refunded_fen"], 500);
    let finish = sim.calls("alipay.security.risk.complaint.process.finish");
    assert_eq!(finish.len(), 1);
    assert_eq!(finish[0].biz["process_code"], "REFUND");
    assert_eq!(finish[0].biz["remark"], DEFAULT_ALIPAY_REFUND_FINISH_REMARK);
    assert!(
        sim.calls("alipay.merchant.tradecomplain.reply.submit")
            .is_empty(),
        "no free-text reply"
    );
    stop.cancel();
}

const REPLY: &str = "您好，已收到";

async fn app_id_of(h: &Harness) -> String {
    let (_, list) = h.admin(Method::GET, "/admin/v1/accounts", None).await;
    list["items"][0]["id"].as_str().expect("id").to_string()
}

/// The finishing texts are settings of their own: configured ones are sent after the
/// automatic refund (trade feedback, RiskGO remark), never the reply text; bad ones are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_finishing_texts_are_sent_after_the_automatic_refund() {
    let (h, sim, stop) = with_worker(AlipayMode::PublicKey, true).await;
    let id = app_id_of(&h).await;
    let path = format!("/admin/v1/accounts/{id}");
    let (s, b) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"settings": {"refund_finish_text": "x".repeat(201)}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["field"], "settings.refund_finish_text", "{b}");
    let (s, b) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"settings": {"refund_finish_remark": "  "}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["field"], "settings.refund_finish_remark", "{b}");
    let (s, b) = h
        .admin(
            Method::PATCH,
            &path,
            Some(
                json!({"settings": {"refund_finish_text": "退款 19.99 元已原路退回",
                                     "refund_finish_remark": "已原路退款"}}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["settings"]["refund_finish_text"],
        "退款 19.99 元已原路退回"
    );

    sim.add_trade_complaint(json!({"complain_event_id": "2024052100021", "status": "MERCHANT_PROCESSING",
        "trade_no": "2024052122001400021", "gmt_create": "2024-05-21 10:00:00",
        "content": "要求退款", "trade_amount": "19.99", "target_type": "APPID", "target_id": APP_ID}));
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100021"}),
    );
    assert_eq!(post(&h, PATH, form(&msg)).await.1, "success");
    detail_when(&h, "the finished trade complaint", |d| {
        d["complaint"]["completed"] == true
    })
    .await;
    let reply = sim.calls("alipay.merchant.tradecomplain.reply.submit");
    assert_eq!(reply[0].biz["reply_content"], REPLY);
    let feedback = sim.calls("alipay.merchant.tradecomplain.feedback.submit");
    assert_eq!(feedback.len(), 1);
    assert_eq!(
        feedback[0].biz["feedback_content"],
        "退款 19.99 元已原路退回"
    );

    sim.add_risk_complaint(json!({"id": 24646950399_i64, "task_id": "TS2", "status": "WAIT_PROCESS",
        "complain_amount": "5.00", "complain_content": "未经同意扣款", "gmt_complain": "2024-05-21 11:00:00",
        "trade_no": "2024052122001400029",
        "complaint_trade_info_list": [{"trade_no": "2024052122001400029", "amount": "5.00", "status": "WAIT_PROCESS"}]}));
    let msg = sim.message(
        APP_ID,
        "alipay.security.risk.complaints.merchants.notify",
        &json!({"complaint_id": 24646950399_i64}),
    );
    assert_eq!(post(&h, PATH, form(&msg)).await.1, "success");
    for _ in 0..100 {
        if !sim
            .calls("alipay.security.risk.complaint.process.finish")
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finish = sim.calls("alipay.security.risk.complaint.process.finish");
    assert_eq!(finish.len(), 1, "the consumer complaint is finished");
    assert_eq!(finish[0].biz["process_code"], "REFUND");
    assert_eq!(finish[0].biz["remark"], "已原路退款");
    stop.cancel();
}

/// `complete` without a text: the refund finishing text for a refund code (default, then
/// configured), a neutral one otherwise; never the reply text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_complete_without_a_text_sends_the_finishing_text_for_its_code() {
    let (h, sim, stop) = with_worker(AlipayMode::PublicKey, false).await;
    for (n, id) in ["2024052100031", "2024052100032"].iter().enumerate() {
        sim.add_trade_complaint(
            json!({"complain_event_id": id, "status": "MERCHANT_PROCESSING",
            "trade_no": format!("202405212200140003{n}"), "gmt_create": "2024-05-21 10:00:00",
            "content": "质量问题", "trade_amount": "30.00"}),
        );
    }
    sim.add_risk_complaint(json!({"id": 24646950400_i64, "task_id": "TS3", "status": "WAIT_PROCESS",
        "complain_amount": "5.00", "complain_content": "扣款", "gmt_complain": "2024-05-21 11:00:00",
        "trade_no": "2024052122001400039"}));
    let (_, list) = h.admin(Method::GET, "/admin/v1/accounts", None).await;
    let account = list["items"][0]["id"].as_str().expect("id").to_string();
    let mut ids = Vec::new();
    for (method, biz) in [
        (
            "alipay.merchant.tradecomplain.changed",
            json!({"complain_event_id": "2024052100031"}),
        ),
        (
            "alipay.merchant.tradecomplain.changed",
            json!({"complain_event_id": "2024052100032"}),
        ),
        (
            "alipay.security.risk.complaints.merchants.notify",
            json!({"complaint_id": 24646950400_i64}),
        ),
    ] {
        let msg = sim.message(APP_ID, method, &biz);
        assert_eq!(post(&h, PATH, form(&msg)).await.1, "success");
    }
    for _ in 0..100 {
        let (_, list) = h
            .admin(Method::GET, "/admin/v1/complaints?platform=alipay", None)
            .await;
        ids = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["platform_complaint_id"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    c["id"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        if ids.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id_of = |p: &str| {
        ids.iter()
            .find(|(platform, _)| platform == p)
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| panic!("complaint {p} recorded: {ids:?}"))
    };
    let complete = |id: String, body: serde_json::Value| {
        let h = &h;
        async move {
            h.admin(
                Method::POST,
                &format!("/admin/v1/complaints/{id}/complete"),
                Some(body),
            )
            .await
        }
    };
    // Refund code, nothing configured: the default refund finishing text.
    let (s, b) = complete(id_of("2024052100031"), json!({"code": "02"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // No body at all, as `curl -X POST -d ''` sends it (with a form content type): the
    // defaults, so the neutral text. Then RiskGO REFUND with a configured remark.
    let (s, b) = h
        .raw(
            Method::POST,
            &format!("/admin/v1/complaints/{}/complete", id_of("2024052100032")),
            Some(ADMIN),
            Some(String::new()),
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let (s, b) = h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account}"),
            Some(json!({"settings": {"refund_finish_remark": "已为您退款"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = complete(id_of("24646950400"), json!({"code": "REFUND"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = complete(id_of("24646950400"), json!({"text": "x".repeat(201)})).await;
    assert_eq!(
        (s, b["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("text"))
    );

    let feedback = sim.calls("alipay.merchant.tradecomplain.feedback.submit");
    let sent: Vec<(&str, &str)> = feedback
        .iter()
        .map(|c| {
            (
                c.biz["feedback_code"].as_str().unwrap_or(""),
                c.biz["feedback_content"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("02", DEFAULT_ALIPAY_REFUND_FINISH_TEXT),
            ("05", DEFAULT_ALIPAY_FINISH_TEXT)
        ]
    );
    let finish = sim.calls("alipay.security.risk.complaint.process.finish");
    assert_eq!(finish.len(), 1);
    assert_eq!(finish[0].biz["remark"], "已为您退款");
    assert!(feedback.iter().all(|c| c.biz["feedback_content"] != REPLY));
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_handle_alipay_complaints_through_the_admin_api() {
    let (h, sim, stop) = with_worker(AlipayMode::PublicKey, false).await;
    sim.add_trade_complaint(json!({"complain_event_id": "2024052100003", "status": "MERCHANT_PROCESSING",
        "trade_no": "2024052122001400003", "gmt_create": "2024-05-21 10:00:00", "content": "质量问题", "trade_amount": "30.00"}));
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100003"}),
    );
    assert_eq!(post(&h, PATH, form(&msg)).await.1, "success");
    let d = detail_when(&h, "the automatic reply", |d| {
        d["complaint"]["replied"] == true
    })
    .await;
    let cid = d["complaint"]["id"].as_str().expect("id").to_string();
    assert!(
        sim.calls("alipay.trade.refund").is_empty(),
        "auto-refund is off"
    );
    let (s, media) = h
        .raw(
            Method::POST,
            "/admin/v1/media?filename=proof.bmp",
            Some(ADMIN),
            Some("BM proof".into()),
            "image/bmp",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let media: serde_json::Value = serde_json::from_slice(&media).expect("json");
    let act = |path: &str, body: serde_json::Value| {
        let path = format!("/admin/v1/complaints/{cid}/{path}");
        let h = &h;
        async move { h.admin(Method::POST, &path, Some(body)).await }
    };
    let (s, b) = act(
        "supplement",
        json!({"text": "已补充发货凭证", "images": [media["id"]]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = act("refund", json!({"amount_fen": 1000, "reason": "部分退款"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        sim.calls("alipay.trade.refund")[0].biz["refund_amount"],
        "10.00"
    );
    // An amount that would overflow `refunded + amount` is refused before Alipay is asked.
    let (s, b) = act("refund", json!({"amount_fen": u64::MAX - 500})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["field"], "amount_fen");
    assert_eq!(sim.calls("alipay.trade.refund").len(), 1);
    // The feedback body is checked (code from the list, a text) before Alipay is asked.
    for (body, field) in [
        (json!({"code": "01", "text": "已部分退款"}), "code"),
        (json!({"code": "02"}), "text"),
        (json!({"code": "02", "text": "x", "remark": "y"}), "remark"),
    ] {
        let (s, b) = act("feedback", body).await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{b}"
        );
    }
    assert!(
        sim.calls("alipay.merchant.tradecomplain.feedback.submit")
            .is_empty()
    );
    let (s, b) = act("feedback", json!({"code": "02", "text": "已部分退款"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        sim.calls("alipay.merchant.tradecomplain.feedback.submit")[0].biz["feedback_code"],
        "02"
    );
    assert_eq!(sim.calls("alipay.merchant.image.upload").len(), 1);
    let (s, b) = act("refund-progress", json!({"action": "approve"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (_, d) = h
        .admin(Method::GET, &format!("/admin/v1/complaints/{cid}"), None)
        .await;
    assert_eq!(d["complaint"]["refunded_fen"], 1000);
    let admin_actions = d["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["trigger"]["by"] == "admin")
        .count();
    assert_eq!(admin_actions, 3);
    stop.cancel();
}

/// Alipay refusing an action in the complaint's state (`COMPLAIN_STATUS_NOT_SUPPORT`: already
/// fed back or finished) is the caller's stale view of the complaint, not a platform failure:
/// 409 `conflict` (as the mini program's `309`), logged as a failed admin action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_alipay_refuses_in_the_complaints_state_is_a_conflict() {
    let (h, sim, stop) = with_worker(AlipayMode::PublicKey, false).await;
    sim.add_trade_complaint(json!({"complain_event_id": "2024052100009", "status": "MERCHANT_PROCESSING",
        "trade_no": "2024052122001400009", "gmt_create": "2024-05-21 10:00:00", "content": "质量问题", "trade_amount": "30.00"}));
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100009"}),
    );
    assert_eq!(post(&h, PATH, form(&msg)).await.1, "success");
    let d = detail_when(&h, "the automatic reply", |d| {
        d["complaint"]["replied"] == true
    })
    .await;
    let cid = d["complaint"]["id"].as_str().expect("id").to_string();
    let act = |path: &str, body: serde_json::Value| {
        let path = format!("/admin/v1/complaints/{cid}/{path}");
        let h = &h;
        async move { h.admin(Method::POST, &path, Some(body)).await }
    };
    let (s, b) = act("feedback", json!({"code": "05", "text": "已处理"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for (path, body) in [
        ("reply", json!({"text": "再次回复"})),
        ("supplement", json!({"text": "补充说明"})),
        ("feedback", json!({"code": "05", "text": "已处理"})),
        ("complete", json!({})),
    ] {
        let (s, b) = act(path, body).await;
        assert_eq!(s, StatusCode::CONFLICT, "{path}: {b}");
        assert_eq!(b["error"]["code"], "conflict", "{path}: {b}");
        let message = b["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("not in a state that allows this action")
                && message.contains("COMPLAIN_STATUS_NOT_SUPPORT"),
            "{path}: {b}"
        );
    }
    // Each was really sent and refused by Alipay (not refused by us beforehand).
    assert_eq!(
        sim.calls("alipay.merchant.tradecomplain.feedback.submit")
            .len(),
        3
    );
    assert_eq!(
        sim.calls("alipay.merchant.tradecomplain.reply.submit")
            .len(),
        2,
        "the automatic reply and the refused one"
    );
    let (_, d) = h
        .admin(Method::GET, &format!("/admin/v1/complaints/{cid}"), None)
        .await;
    let failed = d["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["trigger"]["by"] == "admin" && a["outcome"] == "failed")
        .count();
    assert_eq!(failed, 4, "{d}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_app_is_recorded_only_and_a_wrong_certificate_is_refused() {
    let (h, sim, stop) = with_worker(AlipayMode::Certificate, true).await;
    // A message signed by another Alipay key than the configured certificate's: refused.
    let stranger = AlipaySim::start(AlipayKeys::generate(), AlipayMode::Certificate)
        .await
        .expect("sim");
    let forged = stranger.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100004"}),
    );
    assert_eq!(
        post(&h, PATH, form(&forged)).await,
        (StatusCode::BAD_REQUEST, "fail".to_string())
    );

    let (_, list) = h.admin(Method::GET, "/admin/v1/accounts", None).await;
    let id = list["items"][0]["id"].as_str().expect("id").to_string();
    let (s, _) = h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    sim.add_trade_complaint(json!({"complain_event_id": "2024052100004", "status": "MERCHANT_PROCESSING",
        "trade_no": "2024052122001400004", "gmt_create": "2024-05-21 10:00:00", "content": "x", "trade_amount": "1.00"}));
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100004"}),
    );
    assert_eq!(post(&h, PATH, form(&msg)).await.1, "success");
    let d = detail_when(&h, "the record", |d| {
        d["complaint"]["platform_complaint_id"] == "2024052100004"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        d["notifications"].as_array().is_some_and(Vec::is_empty),
        "no notice to a disabled app's staff"
    );
    assert!(
        sim.calls("alipay.merchant.tradecomplain.reply.submit")
            .is_empty()
    );
    assert!(sim.calls("alipay.trade.refund").is_empty());
    stop.cancel();
}

/// A message signed by python-alipay-sdk (the independent peer) with Alipay's key is accepted
/// by our callback over HTTP.
#[tokio::test]
async fn a_message_signed_by_the_peer_sdk_is_accepted() {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use std::io::Write;
    let (h, sim) = setup(AlipayMode::PublicKey).await;
    let params = json!({"msg_method": "alipay.merchant.tradecomplain.changed", "app_id": APP_ID,
        "biz_content": "{\"complain_event_id\":\"2024052100005\"}", "notify_id": "peer-0001",
        "charset": "utf-8", "version": "1.1", "utc_timestamp": "1763800000000"});
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut child = std::process::Command::new(root.join(".venv-test/bin/python"))
        .arg(root.join("scripts/peer_alipay.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python-alipay-sdk peer (run ./scripts/test once to install it)");
    let req = json!({"op": "sign",
        "app_private_key": sim.keys().alipay_key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
        "app_public_key": sim.keys().alipay_key.to_public_key().to_public_key_pem(LineEnding::LF).expect("pem"),
        "params": params});
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(req.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("peer");
    let signed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("peer answer");
    let mut form_params: Vec<(String, String)> = params
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    form_params.push(("sign_type".into(), "RSA2".into()));
    form_params.push((
        "sign".into(),
        signed["sign"].as_str().expect("sign").to_string(),
    ));
    assert_eq!(
        post(&h, PATH, form(&form_params)).await,
        (StatusCode::OK, "success".to_string())
    );
    assert_eq!(queued(&h).await.len(), 1);
}

/// A RiskGO complaint that turns `OVERDUE` without anyone writing is its own event: staff hear
/// of it (a second notice), not only of the new complaint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_complaint_turning_overdue_is_told_again() {
    let (h, sim, stop) = with_worker(AlipayMode::PublicKey, false).await;
    let complaint = |status: &str| {
        json!({"id": 24646950501_i64, "task_id": "TS5", "status": status, "complain_amount": "5.00",
            "complain_content": "未经同意扣款", "gmt_complain": "2024-05-21 10:00:00", "trade_no": "2024052122001400051",
            "complaint_trade_info_list": [{"trade_no": "2024052122001400051", "out_no": "T51", "amount": "5.00", "status": status}]})
    };
    let push = || {
        sim.message(
            APP_ID,
            "alipay.security.risk.complaints.merchants.notify",
            &json!({"complaint_id": 24646950501_i64}),
        )
    };
    sim.add_risk_complaint(complaint("WAIT_PROCESS"));
    assert_eq!(post(&h, PATH, form(&push())).await.1, "success");
    detail_when(&h, "the new-complaint notice", |d| {
        d["notifications"].as_array().is_some_and(|n| n.len() == 1)
    })
    .await;
    sim.add_risk_complaint(complaint("OVERDUE"));
    assert_eq!(post(&h, PATH, form(&push())).await.1, "success");
    let d = detail_when(&h, "a notice for the overdue complaint", |d| {
        d["complaint"]["raw_status"] == "OVERDUE"
            && d["notifications"].as_array().is_some_and(|n| n.len() == 2)
    })
    .await;
    // The same state pushed again is no new event.
    assert_eq!(post(&h, PATH, form(&push())).await.1, "success");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, again) = h
        .admin(
            Method::GET,
            &format!(
                "/admin/v1/complaints/{}",
                d["complaint"]["id"].as_str().expect("id")
            ),
            None,
        )
        .await;
    assert_eq!(
        again["notifications"].as_array().map(Vec::len),
        Some(2),
        "{again}"
    );
    stop.cancel();
}

/// A refund made by hand before the automatic one runs: the automatic refund asks Alipay only
/// for what is left of the trade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_refund_after_a_partial_one_by_hand_refunds_only_what_is_left() {
    let (h, sim, stop) = with_worker(AlipayMode::PublicKey, false).await;
    sim.add_trade_complaint(json!({"complain_event_id": "2024052100009", "status": "MERCHANT_PROCESSING",
        "trade_no": "2024052122001400009", "gmt_create": "2024-05-21 10:00:00", "content": "质量问题", "trade_amount": "30.00"}));
    let push = || {
        sim.message(
            APP_ID,
            "alipay.merchant.tradecomplain.changed",
            &json!({"complain_event_id": "2024052100009"}),
        )
    };
    assert_eq!(post(&h, PATH, form(&push())).await.1, "success");
    let d = detail_when(&h, "the automatic reply", |d| {
        d["complaint"]["replied"] == true
    })
    .await;
    let cid = d["complaint"]["id"].as_str().expect("id").to_string();
    let (s, b) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/complaints/{cid}/refund"),
            Some(json!({"amount_fen": 1000})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, list) = h.admin(Method::GET, "/admin/v1/accounts", None).await;
    let account = list["items"][0]["id"].as_str().expect("id").to_string();
    let (s, b) = h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account}"),
            Some(json!({"settings": {"auto_refund": true}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(post(&h, PATH, form(&push())).await.1, "success");
    let d = detail_when(&h, "the automatic refund", |d| {
        // Our refund record is claimed before Alipay is asked: wait for both.
        d["refunds"].as_array().is_some_and(|r| r.len() == 2)
            && sim.calls("alipay.trade.refund").len() >= 2
            && d["complaint"]["refunded_fen"] == 3000
    })
    .await;
    let mut asked: Vec<String> = sim
        .calls("alipay.trade.refund")
        .iter()
        .map(|c| {
            c.biz["refund_amount"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    asked.sort();
    assert_eq!(asked, vec!["10.00", "20.00"], "only what was left");
    assert_eq!(d["complaint"]["refunded_fen"], 3000);
    stop.cancel();
}
