//! Jobs written by the version before typed payloads, after the upgrade: a body in that
//! version's format (copied from what its callbacks queued), put on the real embedded queue as
//! it would have, is run by the worker's decision ([`desk_core::worker::decide`], shared by the
//! embedded loop and the Lambda handler); one dead-lettered by it is replayed and runs. Every
//! kind of job has a handler.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use desk_core::worker::{Disposition, RetryPolicy};
use domain::job::{alipay, notify, queues, wechatpay, wxmini, wxopen};
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::json;
use std::time::Duration;

const PROVIDER: &str = "1900000109";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const REPLY: &str = "您好，我们已收到您的投诉，正在处理。";
const COMPLAINT_ID: &str = "200201820200101080076610000";
const MINI_APPID: &str = "wx2222222222222222";

/// A `wechatpay.complaint` job as the previous version's callback queued it (its account id
/// is the test's own).
const WECHATPAY_COMPLAINT: &str = r#"{"id":"01a217b0-e144-73db-aa16-31fc2a181406","type":"wechatpay.complaint","account_id":"$ACCOUNT$","sub_mchid":null,"created_at":"2026-11-26T11:49:57.700666605Z","payload":{"create_time":"2026-11-26T19:49:57.697314297+08:00","event_type":"COMPLAINT.CREATE","mchid":"1900000109","notification_id":"EV-89aa3a978748f198","resource":{"action_type":"CREATE_COMPLAINT","complaint_id":"200201820200101080076610000"}}}"#;

/// A `wxmini.complaint` job as the previous version's callback queued it.
const WXMINI_COMPLAINT: &str = r#"{"id":"01a217b1-74db-7354-a666-eeef8c4a45d0","type":"wxmini.complaint","account_id":"$ACCOUNT$","sub_mchid":null,"created_at":"2026-11-26T11:50:35.483822327Z","payload":{"appid":"wx2222222222222222","complaint_order_id":"830003","create_time":"1795693835","info":{"appid":"wx2222222222222222","complaint_order_id":"830003","create_time":"1795693835","customer_material_content":"还没退款","expire_time":"1795697435","out_trade_no":"T830003","status":"201","total_cost":"700"},"status":"201"}}"#;

/// Take the one job waiting on `queue` and run it as the worker does; delete it when done.
async fn run_next(h: &Harness, queue: &str) -> Disposition {
    let registry = desk_core::policy::registry(&h.state, h.state.platforms());
    let q = &*h.state.ports.queue;
    let msgs = q
        .receive(
            queue,
            10,
            Duration::from_secs(60),
            Duration::from_millis(300),
        )
        .await
        .expect("receive");
    let [msg] = msgs.as_slice() else {
        panic!("one job on {queue}: {msgs:?}");
    };
    let d = desk_core::worker::decide(
        &registry,
        &RetryPolicy::default(),
        &msg.body,
        msg.receive_count,
    )
    .await;
    if d == Disposition::Done {
        q.delete(queue, &msg.receipt).await.expect("delete");
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechatpay_complaint_queued_by_the_previous_version_runs_after_the_upgrade() {
    let h = harness();
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    sim.add_merchant(SimMerchant {
        mchid: PROVIDER.into(),
        serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let mut body = provider_body(PROVIDER);
    body["settings"]["api_base_url"] = json!(sim.base_url());
    body["settings"]["reply_text"] = json!(REPLY);
    body["settings"]["auto_refund"] = json!(false);
    body["credentials"] = json!({"private_key": private_pem(rsa_key()), "apiv3_key": APIV3,
        "wechatpay_public_key": sim.keys().public_key_pem(),
        "wechatpay_public_key_id": sim.keys().pub_key_id});
    let account = h.create(body).await;
    sim.add_complaint_for(
        PROVIDER,
        json!({
            "complaint_id": COMPLAINT_ID,
            "complaint_time": chrono::Utc::now().to_rfc3339(),
            "complaint_detail": "充电宝无法使用，要求退款",
            "complaint_state": "PENDING",
            "complainted_mchid": PROVIDER,
            "complaint_order_info": [{"transaction_id": "42000001", "out_trade_no": "T1", "amount": 1999}],
            "complaint_media_list": [],
            "problem_type": "SERVICE_NOT_WORK",
            "apply_refund_amount": 1999,
            "need_immediate_service": false,
            "user_complaint_times": 1
        }),
    );

    h.state
        .ports
        .queue
        .send(
            queues::EVENTS,
            &WECHATPAY_COMPLAINT.replace("$ACCOUNT$", &account),
            Duration::ZERO,
        )
        .await
        .expect("send");
    assert_eq!(run_next(&h, queues::EVENTS).await, Disposition::Done);

    let d = h.complaint_detail(COMPLAINT_ID).await.expect("recorded");
    assert_eq!(d["complaint"]["account_id"], account.as_str());
    assert_eq!(d["complaint"]["complaint_amount_fen"], 1999);
    let replies = sim.writes_to("/response");
    assert_eq!(replies.len(), 1, "one reply");
    assert_eq!(replies[0].body["response_content"], REPLY);
    let reply = d["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["action"] == "reply")
        .expect("the reply in the action log");
    assert_eq!(reply["outcome"], "succeeded");
    assert_eq!(
        d["notifications"][0]["summary"]["event"], "new complaint",
        "{d}"
    );
}

#[tokio::test]
async fn a_mini_program_push_dead_lettered_by_the_previous_version_replays_after_the_upgrade() {
    let h = harness();
    // A disabled mini program: its complaint is recorded from the push alone.
    let account = h
        .create(json!({"kind": "wxmini_app", "name": "Mini", "settings": {
            "appid": MINI_APPID, "mode": "manual"},
            "credentials": {"secret": "s3cr3t", "token": "tok3n",
                "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}}))
        .await;
    let (s, b) = h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // The previous version queued it and, say, its worker gave up on it.
    let q = &*h.state.ports.queue;
    q.send(
        queues::EVENTS,
        &WXMINI_COMPLAINT.replace("$ACCOUNT$", &account),
        Duration::ZERO,
    )
    .await
    .expect("send");
    let msgs = q
        .receive(
            queues::EVENTS,
            1,
            Duration::from_secs(60),
            Duration::from_millis(300),
        )
        .await
        .expect("receive");
    q.dead_letter(
        queues::EVENTS,
        &msgs[0].receipt,
        "gave up after 4 attempts: store unavailable",
    )
    .await
    .expect("dead letter");

    let (s, page) = h
        .admin(Method::GET, "/admin/v1/dead-letters?queue=events", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let dead = &page["items"][0];
    assert_eq!(dead["job_type"], wxmini::COMPLAINT.name());
    assert_eq!(dead["payload"]["complaint_order_id"], "830003");
    let (s, b) = h
        .admin(
            Method::POST,
            &format!(
                "/admin/v1/dead-letters/{}/replay",
                dead["id"].as_str().expect("id")
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(run_next(&h, queues::EVENTS).await, Disposition::Done);

    let d = h.complaint_detail("830003").await.expect("recorded");
    let c = &d["complaint"];
    assert_eq!(c["account_id"], account.as_str());
    assert_eq!(c["raw_status"], "201");
    assert_eq!(c["status"], "pending");
    assert_eq!(c["complaint_amount_fen"], 700);
    assert_eq!(c["description"], "还没退款");
    assert_eq!(c["orders"][0]["out_trade_no"], "T830003");
    assert_eq!(
        c["deadline"], "2026-11-26T12:50:35Z",
        "the push's expire_time"
    );
    assert!(
        d["actions"].as_array().is_none_or(Vec::is_empty),
        "disabled: no automatic action"
    );
}

#[tokio::test]
async fn every_kind_of_job_has_a_handler() {
    let h = harness();
    let registry = desk_core::policy::registry(&h.state, h.state.platforms());
    let mut kinds = vec![
        wechatpay::COMPLAINT.name(),
        wechatpay::VIOLATION.name(),
        wechatpay::REFUND.name(),
        alipay::TRADE_COMPLAINT.name(),
        alipay::RISK_COMPLAINT.name(),
        wxmini::COMPLAINT.name(),
        wxopen::AUTHORIZATION.name(),
        notify::STAFF.name(),
        notify::DELIVERY.name(),
        domain::job::deadlines::SWEEP.name(),
        domain::job::reconcile::PASS.name(),
    ];
    kinds.sort();
    assert_eq!(registry.job_types(), kinds);
}
