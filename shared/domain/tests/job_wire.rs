//! The jobs' wire format: bodies written by the version before typed payloads (copied from
//! what its callbacks, notices and notifier put on the queues) parse into today's payload
//! types, and today's producers write exactly the payload they held; every kind survives
//! typed → envelope → JSON → typed; a payload that does not fit names the kind and the field.

use chrono::{TimeZone, Utc};
use domain::job::{JobEnvelope, JobKind, PayloadError, alipay, notify, wechatpay, wxmini, wxopen};
use domain::notification::{Audience, NotificationJob, NotificationSubject, NotificationSummary};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::Debug;

const WECHATPAY_COMPLAINT: &str = r#"{"id":"01a217b0-e144-73db-aa16-31fc2a181406","type":"wechatpay.complaint","account_id":"acc_01a217b0e13e73d39836534db6f3f0cb","sub_mchid":null,"created_at":"2026-11-26T11:49:57.700666605Z","payload":{"create_time":"2026-11-26T19:49:57.697314297+08:00","event_type":"COMPLAINT.CREATE","mchid":"1900000109","notification_id":"EV-89aa3a978748f198","resource":{"action_type":"CREATE_COMPLAINT","complaint_id":"200201820200101080076610000"}}}"#;

const WECHATPAY_VIOLATION: &str = r#"{"id":"01a217b0-ebce-752d-99c6-1dd256751d67","type":"wechatpay.violation","account_id":"acc_01a217b0ebb4738d9c424b7b2521e84c","sub_mchid":"1900000201","created_at":"2026-11-26T11:50:00.397967778Z","payload":{"create_time":"2026-11-26T19:50:00.391064548+08:00","event_type":"VIOLATION.INTERCEPT","mchid":"1900000109","notification_id":"EV-7a49c753465a23cd","resource":{"company_name":"门店一","punish_plan":"关闭支付权限","record_id":"R1","risk_description":"涉嫌欺诈","risk_type":"FRAUD","sub_mchid":"1900000201"}}}"#;

const WECHATPAY_REFUND: &str = r#"{"id":"01a217b1-7570-7548-89c5-5770193e700c","type":"wechatpay.refund","account_id":"acc_01a217b167997534b572aae18f05ff12","sub_mchid":null,"created_at":"2026-11-26T11:50:35.632019173Z","payload":{"create_time":"2026-11-26T19:50:35.326468193+08:00","event_type":"REFUND.SUCCESS","mchid":"1900000109","notification_id":"EV-4bb9bdc7516aa4e5","resource":{"amount":{"payer_refund":900,"payer_total":900,"refund":900,"total":900},"mchid":"1900000109","out_refund_no":"CDa244cb09c3c8d626e114fbd8000000","out_trade_no":"T830002","refund_id":"5030012527951330079418899","refund_status":"SUCCESS","sp_mchid":"1900000109","sub_mchid":null,"success_time":"2026-11-26T19:50:35.326377531+08:00","transaction_id":"42000830002","user_received_account":"支付用户零钱"}}}"#;

const ALIPAY_TRADE_COMPLAINT: &str = r#"{"id":"01a217b0-af53-75d2-b6a8-efcee386cb92","type":"alipay.trade_complaint","account_id":"acc_01a217b0ae3a73fcb07c1c73eecc2894","sub_mchid":null,"created_at":"2026-11-26T11:49:44.915184430Z","payload":{"app_id":"2021000000000001","biz":{"complain_event_id":"2024052100005"},"msg_method":"alipay.merchant.tradecomplain.changed","notify_id":"peer-0001"}}"#;

const ALIPAY_RISK_COMPLAINT: &str = r#"{"id":"01a217b0-9f4e-73d5-ae10-4b079f25e533","type":"alipay.risk_complaint","account_id":"acc_01a217b09f327234bad9a698947f737f","sub_mchid":null,"created_at":"2026-11-26T11:49:40.814349791Z","payload":{"app_id":"2021000000000001","biz":{"complaint_id":24646950501},"msg_method":"alipay.security.risk.complaints.merchants.notify","notify_id":"3c5d8062e933425ff53df3f36298ee7e"}}"#;

const WXMINI_COMPLAINT: &str = r#"{"id":"01a217b1-74db-7354-a666-eeef8c4a45d0","type":"wxmini.complaint","account_id":"acc_01a217b167c57778878395d8d6673026","sub_mchid":null,"created_at":"2026-11-26T11:50:35.483822327Z","payload":{"appid":"wx2222222222222222","complaint_order_id":"830003","create_time":"1795693835","info":{"appid":"wx2222222222222222","complaint_order_id":"830003","create_time":"1795693835","customer_material_content":"还没退款","expire_time":"1795697435","out_trade_no":"T830003","status":"201","total_cost":"700"},"status":"201"}}"#;

const WXOPEN_AUTHORIZED: &str = r#"{"id":"01a217b1-67b5-72ef-b1fb-79ed01427b6a","type":"wxopen.authorization","account_id":"acc_01a217b167a3747490783b7da17ef739","sub_mchid":null,"created_at":"2026-11-26T11:50:32.117987109Z","payload":{"authorization_code":"queryauthcode@@@df277e220388b31cec0256381332f400","authorizer_appid":"wx2222222222222222","component_appid":"wx9999999999999999","info_type":"authorized"}}"#;

const WXOPEN_UNAUTHORIZED: &str = r#"{"id":"01a217b1-7472-7351-9226-8dcc1a45f8ef","type":"wxopen.authorization","account_id":"acc_01a217b167a3747490783b7da17ef739","sub_mchid":null,"created_at":"2026-11-26T11:50:35.378365132Z","payload":{"authorization_code":null,"authorizer_appid":"wx2222222222222222","component_appid":"wx9999999999999999","info_type":"unauthorized"}}"#;

const NOTIFY_STAFF: &str = r#"{"id":"ntf_306cc78520e686050c86b6b9","type":"notify.staff","account_id":"acc_01a217b1107376c4b5811696c437255c","sub_mchid":null,"created_at":"2026-11-26T11:50:10.342278463Z","payload":{"audience":{"account_id":"acc_01a217b1107376c4b5811696c437255c","sub_mchid":null},"created_at":"2026-11-26T11:50:10.342278463Z","event_key":"wechatpay:cmp_5357a7231d5517e28d864025:new","id":"ntf_306cc78520e686050c86b6b9","subject":{"complaint_id":"cmp_5357a7231d5517e28d864025","type":"complaint"},"summary":{"amount_fen":500,"at":"2026-11-26T11:50:10.342278463Z","deadline":"2026-11-27T11:50:10.328749311Z","event":"new complaint","link":"http://127.0.0.1:35605/admin/v1/complaints/cmp_5357a7231d5517e28d864025","merchant":"Provider 1900000109 / sub-merchant 1900000999","platform":"wechatpay","reference":"200201820261122080000000011","user_text":"充电宝无法使用，要求退款"}}}"#;

const NOTIFY_DELIVERY: &str = r#"{"id":"01a217b1-12b2-727f-a96a-3f4a1591b664","type":"notify.delivery","account_id":null,"sub_mchid":null,"created_at":"2026-11-26T11:50:10.354607740Z","payload":{"delivery_id":"dlv_3e0d43f3db977528ffcd458c"}}"#;

fn envelope(body: &str) -> JobEnvelope {
    serde_json::from_str(body).expect("the previous version's envelope parses")
}

/// The payload of a previous version's body, after checking that writing it again through
/// the kind gives back the very payload the previous version wrote.
fn old_body<P>(kind: JobKind<P>, body: &str) -> P
where
    P: Serialize + DeserializeOwned + Debug,
{
    let old = envelope(body);
    let payload = kind.payload(&old).unwrap_or_else(|e| panic!("{kind}: {e}"));
    let again = kind.envelope(&payload, old.created_at).expect("envelope");
    assert_eq!(again.job_type, old.job_type, "{kind}");
    assert_eq!(
        again.payload, old.payload,
        "{kind}: today's producer writes what the previous version wrote"
    );
    payload
}

#[test]
fn wechatpay_notifications_of_the_previous_version_parse() {
    for (kind, body, event_type) in [
        (
            wechatpay::COMPLAINT,
            WECHATPAY_COMPLAINT,
            "COMPLAINT.CREATE",
        ),
        (
            wechatpay::VIOLATION,
            WECHATPAY_VIOLATION,
            "VIOLATION.INTERCEPT",
        ),
        (wechatpay::REFUND, WECHATPAY_REFUND, "REFUND.SUCCESS"),
    ] {
        let n = old_body(kind, body);
        assert_eq!(n.mchid, "1900000109");
        assert!(n.notification_id.starts_with("EV-"), "{n:?}");
        assert_eq!(n.event_type, event_type);
        assert!(
            n.create_time
                .as_deref()
                .is_some_and(|t| t.ends_with("+08:00")),
            "{n:?}"
        );
    }
    let complaint = old_body(wechatpay::COMPLAINT, WECHATPAY_COMPLAINT);
    assert_eq!(
        complaint.resource,
        json!({"action_type": "CREATE_COMPLAINT", "complaint_id": "200201820200101080076610000"})
    );
    let refund = old_body(wechatpay::REFUND, WECHATPAY_REFUND);
    assert_eq!(
        refund.resource["out_refund_no"],
        "CDa244cb09c3c8d626e114fbd8000000"
    );
    assert_eq!(
        envelope(WECHATPAY_VIOLATION).sub_mchid.as_deref(),
        Some("1900000201")
    );
}

#[test]
fn alipay_messages_of_the_previous_version_parse() {
    let trade = old_body(alipay::TRADE_COMPLAINT, ALIPAY_TRADE_COMPLAINT);
    assert_eq!(
        trade,
        alipay::Message {
            app_id: "2021000000000001".into(),
            notify_id: "peer-0001".into(),
            msg_method: "alipay.merchant.tradecomplain.changed".into(),
            biz: json!({"complain_event_id": "2024052100005"}),
        }
    );
    let risk = old_body(alipay::RISK_COMPLAINT, ALIPAY_RISK_COMPLAINT);
    assert_eq!(
        risk.msg_method,
        "alipay.security.risk.complaints.merchants.notify"
    );
    assert_eq!(risk.biz["complaint_id"], 24646950501_i64);
}

#[test]
fn mini_program_pushes_and_authorisations_of_the_previous_version_parse() {
    let push = old_body(wxmini::COMPLAINT, WXMINI_COMPLAINT);
    assert_eq!(
        (
            push.appid.as_str(),
            push.complaint_order_id.as_str(),
            push.status.as_str(),
            push.create_time.as_str()
        ),
        ("wx2222222222222222", "830003", "201", "1795693835")
    );
    assert_eq!(push.info["total_cost"], "700");
    assert_eq!(push.info["customer_material_content"], "还没退款");

    let authorized = old_body(wxopen::AUTHORIZATION, WXOPEN_AUTHORIZED);
    assert_eq!(
        authorized,
        wxopen::Authorization {
            component_appid: "wx9999999999999999".into(),
            info_type: "authorized".into(),
            authorizer_appid: "wx2222222222222222".into(),
            authorization_code: Some("queryauthcode@@@df277e220388b31cec0256381332f400".into()),
        }
    );
    let withdrawn = old_body(wxopen::AUTHORIZATION, WXOPEN_UNAUTHORIZED);
    assert_eq!(withdrawn.info_type, "unauthorized");
    assert_eq!(withdrawn.authorization_code, None);
}

#[test]
fn notify_jobs_of_the_previous_version_parse() {
    let staff = old_body(notify::STAFF, NOTIFY_STAFF);
    assert_eq!(staff.id, "ntf_306cc78520e686050c86b6b9");
    assert_eq!(
        staff.id,
        envelope(NOTIFY_STAFF).id,
        "the job id is the envelope id"
    );
    assert_eq!(
        staff.subject,
        NotificationSubject::Complaint {
            complaint_id: "cmp_5357a7231d5517e28d864025".into()
        }
    );
    assert_eq!(staff.summary.amount_fen, Some(500));
    assert_eq!(
        staff.summary.user_text.as_deref(),
        Some("充电宝无法使用，要求退款")
    );

    let due = old_body(notify::DELIVERY, NOTIFY_DELIVERY);
    assert_eq!(due.delivery_id, "dlv_3e0d43f3db977528ffcd458c");
    assert_eq!(envelope(NOTIFY_DELIVERY).account_id, None);
}

/// Fields today's consumers did not read may be missing from a body and it still runs.
#[test]
fn payloads_without_the_fields_the_previous_consumers_did_not_read_still_parse() {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 26, 8, 0, 0)
        .single()
        .expect("time");
    let body = |kind: &str, payload: Value| JobEnvelope::new(kind, payload, at);

    let n = wechatpay::COMPLAINT
        .payload(&body(
            "wechatpay.complaint",
            json!({"notification_id": "EV-1", "event_type": "COMPLAINT.CREATE", "resource": {}}),
        ))
        .expect("without mchid and create_time");
    assert_eq!((n.mchid.as_str(), n.create_time), ("", None));

    let m = alipay::RISK_COMPLAINT
        .payload(&body(
            "alipay.risk_complaint",
            json!({"biz": {"complaint_id": 1}}),
        ))
        .expect("biz alone");
    assert_eq!(m.biz["complaint_id"], 1);

    let p = wxmini::COMPLAINT
        .payload(&body(
            "wxmini.complaint",
            json!({"complaint_order_id": "1"}),
        ))
        .expect("the complaint id alone");
    assert_eq!(p.info, Value::Null);

    let a = wxopen::AUTHORIZATION
        .payload(&body(
            "wxopen.authorization",
            json!({"authorizer_appid": "wx1"}),
        ))
        .expect("the authorizer alone");
    assert_eq!((a.info_type.as_str(), a.authorization_code), ("", None));
}

fn round_trip<P>(kind: JobKind<P>, payload: P)
where
    P: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let at = Utc
        .with_ymd_and_hms(2026, 11, 26, 8, 0, 0)
        .single()
        .expect("time");
    let sent = kind
        .envelope(&payload, at)
        .expect("envelope")
        .for_account("acc_1", Some("1900000201".into()));
    assert_eq!(sent.job_type, kind.name());
    let text = serde_json::to_string(&sent).expect("json");
    let received: JobEnvelope = serde_json::from_str(&text).expect("envelope");
    assert_eq!(received, sent, "{kind}");
    assert_eq!(kind.payload(&received).expect("payload"), payload, "{kind}");
}

#[test]
fn every_kind_round_trips_through_its_envelope() {
    let notification = |event_type: &str| wechatpay::Notification {
        mchid: "1900000109".into(),
        notification_id: "EV-1".into(),
        event_type: event_type.into(),
        create_time: Some("2026-11-26T16:00:00+08:00".into()),
        resource: json!({"complaint_id": "200201820200101080076610000", "n": [1, 2.5, null]}),
    };
    round_trip(wechatpay::COMPLAINT, notification("COMPLAINT.CREATE"));
    round_trip(wechatpay::VIOLATION, notification("VIOLATION.PUNISH"));
    round_trip(
        wechatpay::REFUND,
        wechatpay::Notification {
            create_time: None,
            ..notification("REFUND.ABNORMAL")
        },
    );
    let message = |method: &str, biz: Value| alipay::Message {
        app_id: "2021000000000001".into(),
        notify_id: "n-1".into(),
        msg_method: method.into(),
        biz,
    };
    round_trip(
        alipay::TRADE_COMPLAINT,
        message(
            "alipay.merchant.tradecomplain.changed",
            json!({"complain_event_id": "2024052100001"}),
        ),
    );
    round_trip(
        alipay::RISK_COMPLAINT,
        message(
            "alipay.security.risk.complaints.merchants.notify",
            json!({"complaint_id": 24646950354_i64}),
        ),
    );
    round_trip(
        wxmini::COMPLAINT,
        wxmini::ComplaintPush {
            appid: "wx1".into(),
            complaint_order_id: "810001".into(),
            status: "201".into(),
            create_time: "1795693835".into(),
            info: json!({"complaint_order_id": "810001", "total_cost": "700"}),
        },
    );
    for code in [Some("queryauthcode@@@1".to_string()), None] {
        round_trip(
            wxopen::AUTHORIZATION,
            wxopen::Authorization {
                component_appid: "wx9".into(),
                info_type: "updateauthorized".into(),
                authorizer_appid: "wx2".into(),
                authorization_code: code,
            },
        );
    }
    let at = Utc
        .with_ymd_and_hms(2026, 11, 26, 8, 0, 0)
        .single()
        .expect("time");
    round_trip(
        notify::STAFF,
        NotificationJob {
            id: "ntf_1".into(),
            event_key: "wechatpay-violation:acc_1:e".into(),
            audience: Audience {
                account_id: "acc_1".into(),
                sub_mchid: Some("1900000201".into()),
            },
            subject: NotificationSubject::Violation {
                violation_id: "vio_1".into(),
            },
            summary: NotificationSummary {
                platform: "wechatpay".into(),
                event: "VIOLATION.PUNISH".into(),
                merchant: "门店一".into(),
                reference: "R1".into(),
                at,
                amount_fen: None,
                user_text: Some("涉嫌欺诈".into()),
                deadline: Some(at),
                link: None,
                extra_lines: vec![],
            },
            created_at: at,
            extra_recipients: None,
            only_channels: None,
        },
    );
    round_trip(
        notify::DELIVERY,
        notify::DeliveryDue {
            delivery_id: "dlv_1".into(),
        },
    );
}

#[test]
fn a_payload_that_does_not_fit_names_the_kind_and_the_field() {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 26, 8, 0, 0)
        .single()
        .expect("time");
    let missing = JobEnvelope::new("wxmini.complaint", json!({"appid": "wx1"}), at);
    let e = wxmini::COMPLAINT
        .payload(&missing)
        .expect_err("no complaint id");
    assert!(
        matches!(
            e,
            PayloadError::Invalid {
                kind: "wxmini.complaint",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "wxmini.complaint payload: missing field `complaint_order_id`"
    );

    let mistyped = JobEnvelope::new(
        "wechatpay.refund",
        json!({"notification_id": 7, "event_type": "REFUND.SUCCESS", "resource": {}}),
        at,
    );
    let e = wechatpay::REFUND.payload(&mistyped).expect_err("a number");
    assert_eq!(
        e.to_string(),
        "wechatpay.refund payload at `notification_id`: invalid type: integer `7`, expected a string"
    );

    let nested = JobEnvelope::new(
        "notify.staff",
        json!({"id": "ntf_1", "event_key": "k", "audience": {"account_id": 1},
            "subject": {"type": "complaint", "complaint_id": "c"}, "summary": {},
            "created_at": "2026-11-26T08:00:00Z"}),
        at,
    );
    let e = notify::STAFF.payload(&nested).expect_err("a number");
    assert!(
        e.to_string()
            .starts_with("notify.staff payload at `audience.account_id`: "),
        "{e}"
    );

    let absent = JobEnvelope::new("notify.delivery", Value::Null, at);
    let e = notify::DELIVERY.payload(&absent).expect_err("no payload");
    assert!(
        e.to_string().starts_with("notify.delivery payload: "),
        "{e}"
    );
}

#[test]
fn a_kind_refuses_an_envelope_of_another_kind() {
    let complaint = envelope(WECHATPAY_COMPLAINT);
    let e = wechatpay::REFUND
        .payload(&complaint)
        .expect_err("another kind, the same payload shape");
    assert!(
        matches!(
            &e,
            PayloadError::WrongKind { expected: "wechatpay.refund", found } if found == "wechatpay.complaint"
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "a \"wechatpay.complaint\" job is not a wechatpay.refund job"
    );
}

/// Envelopes of the previous version carry no origin (and are written again without one); a
/// push's and a reconciliation's origin survive the wire; a reconciliation pass survives with
/// and without its progress.
#[test]
fn the_origin_and_the_reconciliation_pass_survive_the_wire() {
    let old = envelope(WECHATPAY_COMPLAINT);
    assert_eq!(old.origin, None);
    let again = serde_json::to_value(&old).expect("write");
    assert!(again.get("origin").is_none(), "no origin key: {again}");
    for origin in [domain::job::Origin::Push, domain::job::Origin::Reconcile] {
        let mut e = envelope(WECHATPAY_COMPLAINT);
        e.origin = Some(origin);
        let text = serde_json::to_string(&e).expect("write");
        let back: JobEnvelope = serde_json::from_str(&text).expect("read");
        assert_eq!(back.origin, Some(origin), "{text}");
    }
    let at = Utc
        .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("time");
    round_trip(
        domain::job::reconcile::PASS,
        domain::job::reconcile::Pass {
            account_id: "acc_1".into(),
            scheduled_at: at,
            resume: None,
        },
    );
    round_trip(
        domain::job::reconcile::PASS,
        domain::job::reconcile::Pass {
            account_id: "acc_1".into(),
            scheduled_at: at,
            resume: Some(json!({"phase": "reread", "part": 2})),
        },
    );
}
