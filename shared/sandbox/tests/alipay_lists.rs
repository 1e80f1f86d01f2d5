//! The Alipay simulator's complaint lists keep the platform's paging rules, checked through
//! our client: the trade list (`page_size` at most 20, pages from 1, one `status` per call,
//! a creation-time window of at most a year) and the RiskGO list (`current_page_num`,
//! `status_list[]`, the complaint-time window); `40005 isv.app-call-limited` on demand.

use alipay::client::{AlipayError, Client, ClientConfig, KeyMode};
use alipay::lists::{RiskComplaintQuery, TradeComplainQuery, parse_china_time};
use chrono::{DateTime, Duration, Utc};
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim, SimApp};
use serde_json::json;
use std::collections::BTreeSet;

const APP_ID: &str = "2021000000000001";
const TRADE_LIST: &str = "alipay.merchant.tradecomplain.batchquery";

async fn sim_and_client() -> (AlipaySim, Client) {
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    sim.add_app(SimApp {
        app_id: APP_ID.into(),
        public_key: key.to_public_key(),
        app_cert_sn: None,
    });
    let pem =
        rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, rsa::pkcs8::LineEnding::LF).expect("pem");
    let client = Client::new(ClientConfig {
        gateway: sim.gateway_url().parse().expect("url"),
        app_id: APP_ID.into(),
        private_key: alipay::PrivateKey::parse(&pem).expect("key"),
        mode: KeyMode::PublicKey(
            alipay::PublicKey::parse(&sim.keys().alipay_public_key_pem()).expect("key"),
        ),
    });
    (sim, client)
}

fn at(s: &str) -> DateTime<Utc> {
    parse_china_time(s).expect("time")
}

fn t0() -> DateTime<Utc> {
    at("2026-11-20 10:00:00")
}

/// `n` trade complaints in `status`, a minute apart from `t0()`, ids `{prefix}{i}`.
fn add_trade(sim: &AlipaySim, prefix: &str, n: usize, status: &str) {
    for i in 0..n {
        sim.add_trade_complaint(
            json!({"complain_event_id": format!("{prefix}{i:03}"), "status": status,
            "trade_no": format!("T{prefix}{i}"),
            "gmt_create": alipay::lists::china_time(t0() + Duration::minutes(i as i64))}),
        );
    }
}

fn trade_query(status: Option<&str>, page_num: u32) -> TradeComplainQuery<'_> {
    TradeComplainQuery {
        begin: t0() - Duration::days(1),
        end: t0() + Duration::days(1),
        status,
        page_num,
        page_size: 20,
    }
}

fn invalid_parameter(r: Result<serde_json::Value, AlipayError>) -> bool {
    matches!(r, Err(AlipayError::Api { ref code, ref sub_code, .. })
        if code == "40002" && sub_code == "isv.invalid-parameter")
}

#[tokio::test]
async fn the_trade_list_refuses_pages_above_20_and_other_broken_rules() {
    let (sim, client) = sim_and_client().await;
    add_trade(&sim, "A", 3, "MERCHANT_PROCESSING");
    let window = json!({"begin_time": "2026-11-19 00:00:00", "end_time": "2026-11-21 00:00:00"});
    let with = |extra: serde_json::Value| {
        let mut b = window.clone();
        for (k, v) in extra.as_object().expect("object") {
            b[k] = v.clone();
        }
        b
    };
    let ok = client
        .call(TRADE_LIST, &with(json!({"page_num": 1, "page_size": 20})))
        .await
        .expect("20 a page is allowed");
    assert_eq!(ok["total_num"], 3);
    for (what, biz) in [
        ("page_size 21", with(json!({"page_size": 21}))),
        ("page_size 0", with(json!({"page_size": 0}))),
        ("page_num 0", with(json!({"page_num": 0}))),
        (
            "two statuses in one call",
            with(json!({"status": "MERCHANT_PROCESSING,MERCHANT_FEEDBACKED"})),
        ),
        (
            "a status list",
            with(json!({"status": ["MERCHANT_PROCESSING"]})),
        ),
        (
            "not a Beijing time",
            with(json!({"begin_time": "2026-11-19T00:00:00+08:00"})),
        ),
        (
            "begin after end",
            with(json!({"begin_time": "2026-11-22 00:00:00"})),
        ),
        (
            "more than a year",
            with(json!({"begin_time": "2025-11-01 00:00:00"})),
        ),
    ] {
        assert!(
            invalid_parameter(client.call(TRADE_LIST, &biz).await),
            "{what} is refused with isv.invalid-parameter"
        );
    }
}

#[tokio::test]
async fn forty_five_trade_complaints_come_in_three_pages() {
    let (sim, client) = sim_and_client().await;
    add_trade(&sim, "P", 45, "MERCHANT_PROCESSING");
    let mut seen = BTreeSet::new();
    let mut sizes = Vec::new();
    for page in 1..=3 {
        let p = client
            .tradecomplain_batchquery(&trade_query(Some("MERCHANT_PROCESSING"), page))
            .await
            .expect("page");
        assert_eq!((p.page_num, p.page_size), (u64::from(page), 20));
        assert_eq!((p.total_num, p.total_page_num), (45, 3));
        assert_eq!(p.has_next(), page < 3);
        sizes.push(p.items.len());
        seen.extend(p.items.into_iter().map(|c| c.complain_event_id));
    }
    assert_eq!(sizes, vec![20, 20, 5]);
    assert_eq!(seen.len(), 45, "every complaint once");
    let past = client
        .tradecomplain_batchquery(&trade_query(Some("MERCHANT_PROCESSING"), 4))
        .await
        .expect("past the end");
    assert!(past.items.is_empty() && !past.has_next());
}

#[tokio::test]
async fn the_trade_list_shows_one_status_per_call_in_its_creation_window() {
    let (sim, client) = sim_and_client().await;
    add_trade(&sim, "M", 4, "MERCHANT_PROCESSING");
    add_trade(&sim, "F", 3, "MERCHANT_FEEDBACKED");
    add_trade(&sim, "X", 2, "FINISHED");
    // Made long before the window.
    sim.add_trade_complaint(
        json!({"complain_event_id": "OLD", "status": "MERCHANT_PROCESSING",
        "gmt_create": "2026-10-01 10:00:00"}),
    );
    for (status, n, prefix) in [
        ("MERCHANT_PROCESSING", 4, "M"),
        ("MERCHANT_FEEDBACKED", 3, "F"),
        ("PLATFORM_PROCESSING", 0, "-"),
    ] {
        let p = client
            .tradecomplain_batchquery(&trade_query(Some(status), 1))
            .await
            .expect("page");
        assert_eq!(p.total_num, n, "{status}");
        assert!(
            p.items
                .iter()
                .all(|c| c.status == status && c.complain_event_id.starts_with(prefix)),
            "{status}: {:?}",
            p.items
        );
    }
    let all = client
        .tradecomplain_batchquery(&trade_query(None, 1))
        .await
        .expect("no status: every status");
    assert_eq!(all.total_num, 9, "the old one is outside the window");
    // The window is on gmt_create, inclusive, in Beijing time.
    let edge = client
        .tradecomplain_batchquery(&TradeComplainQuery {
            begin: t0() + Duration::minutes(1),
            end: t0() + Duration::minutes(2),
            status: Some("MERCHANT_PROCESSING"),
            page_num: 1,
            page_size: 20,
        })
        .await
        .expect("edge");
    let ids: Vec<_> = edge
        .items
        .iter()
        .map(|c| c.complain_event_id.as_str())
        .collect();
    assert_eq!(ids, vec!["M002", "M001"], "newest first");
    assert_eq!(edge.items[0].gmt_modified, edge.items[0].gmt_create);
}

#[tokio::test]
async fn the_riskgo_list_pages_and_filters_on_its_status_list() {
    let (sim, client) = sim_and_client().await;
    let statuses = [
        "WAIT_PROCESS",
        "PROCESSING",
        "OVERDUE",
        "PROCESSED",
        "DROP_COMPLAIN",
    ];
    for i in 0..25_i64 {
        sim.add_risk_complaint(json!({"id": 1000 + i, "task_id": format!("RC{i}"),
            "status": statuses[(i % 5) as usize],
            "gmt_complain": alipay::lists::china_time(t0() + Duration::minutes(i))}));
    }
    sim.add_risk_complaint(
        json!({"id": 1, "status": "WAIT_PROCESS", "gmt_complain": "2026-10-01 10:00:00"}),
    );
    let query = |statuses: &'static [&'static str], page| RiskComplaintQuery {
        start: t0() - Duration::days(1),
        end: t0() + Duration::days(1),
        statuses,
        page,
        page_size: 20,
    };
    let p1 = client
        .risk_complaint_batchquery(&query(&[], 1))
        .await
        .expect("page 1");
    let p2 = client
        .risk_complaint_batchquery(&query(&[], 2))
        .await
        .expect("page 2");
    assert_eq!(
        (p1.total_size, p1.current_page, p1.items.len()),
        (25, 1, 20)
    );
    assert_eq!((p2.current_page, p2.items.len()), (2, 5));
    assert!(p1.has_next() && !p2.has_next());
    let ids: BTreeSet<i64> = p1.items.iter().chain(&p2.items).map(|c| c.id).collect();
    assert_eq!(ids.len(), 25, "every complaint of the window once");
    let open = client
        .risk_complaint_batchquery(&query(&["WAIT_PROCESS", "OVERDUE"], 1))
        .await
        .expect("filtered");
    assert_eq!(open.total_size, 10);
    assert!(
        open.items
            .iter()
            .all(|c| c.status == "WAIT_PROCESS" || c.status == "OVERDUE")
    );
    let too_big = client
        .call(
            "alipay.security.risk.complaint.info.batchquery",
            &json!({"current_page_num": 1, "page_size": 21}),
        )
        .await;
    assert!(invalid_parameter(too_big));
}

#[tokio::test]
async fn the_app_call_limit_answers_40005_for_the_next_calls_only() {
    let (sim, client) = sim_and_client().await;
    add_trade(&sim, "A", 1, "MERCHANT_PROCESSING");
    sim.throttle_app_next(2);
    for _ in 0..2 {
        let e = client
            .tradecomplain_batchquery(&trade_query(None, 1))
            .await
            .expect_err("throttled");
        assert!(e.is_throttled(), "{e}");
        assert_eq!(e.sub_code(), Some("isv.app-call-limited"));
    }
    assert_eq!(
        client
            .tradecomplain_batchquery(&trade_query(None, 1))
            .await
            .expect("the third call goes through")
            .total_num,
        1
    );
    assert_eq!(sim.throttled(), vec![TRADE_LIST.to_string(); 2]);
}
