//! The simulator's complaint list (`GET /v3/merchant-service/complaints-v2`) keeps WeChat
//! Pay's paging rules: `limit` in [1, 50] (10 by default), `offset` from 0, `total_count` only
//! on the first page, a creation-date window of at most 30 days, a provider sees all its
//! sub-merchants (or one with `complainted_mchid`), a direct merchant only itself. Requests
//! are signed by the wechatpay client and checked by the simulator's own code.

use reqwest::Method;
use rsa::RsaPrivateKey;
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};
use wechatpay::{Client, ClientConfig, PlatformError};

const PROVIDER: &str = "1900000109";
const SUB_A: &str = "1900000201";
const SUB_B: &str = "1900000202";
const DIRECT: &str = "1900000300";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const LIST: &str = "/v3/merchant-service/complaints-v2";

struct Setup {
    sim: WechatPaySim,
    key: RsaPrivateKey,
}

async fn setup() -> Setup {
    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    for mchid in [PROVIDER, DIRECT] {
        sim.add_merchant(SimMerchant {
            mchid: mchid.into(),
            serial_no: SERIAL.into(),
            public_key: key.to_public_key(),
            apiv3_key: APIV3.into(),
        });
    }
    sim.add_sub_merchant(PROVIDER, SUB_A);
    sim.add_sub_merchant(PROVIDER, SUB_B);
    Setup { sim, key }
}

fn client(s: &Setup, mchid: &str) -> Client {
    let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&s.key, rsa::pkcs8::LineEnding::LF)
        .expect("pem");
    Client::new(ClientConfig {
        base_url: s.sim.base_url().parse().expect("url"),
        mchid: mchid.into(),
        serial_no: SERIAL.into(),
        private_key: wechatpay::PrivateKey::parse(&pem).expect("key"),
        apiv3_key: APIV3.as_bytes().to_vec(),
        public_key: Some((
            s.sim.keys().pub_key_id.clone(),
            s.sim.keys().public_key_pem(),
        )),
        platform_certificates: vec![],
    })
    .expect("client")
}

/// Complaint `n` about `mchid`, created at `time` (Beijing).
fn complaint(n: u32, mchid: &str, time: &str) -> Value {
    json!({
        "complaint_id": format!("2002018202611200800{n:08}"),
        "complaint_time": time,
        "complaint_detail": "没有收到货",
        "complaint_state": "PENDING",
        "complainted_mchid": mchid,
        "complaint_order_info": [],
        "problem_type": "OTHERS",
    })
}

/// The answer to a raw signed GET of the list with this query.
async fn raw(c: &Client, query: &str) -> Result<Value, PlatformError> {
    let v = c
        .send(Method::GET, &format!("{LIST}?{query}"), None)
        .await?;
    Ok(serde_json::from_slice(&v.body).expect("json"))
}

fn param_error(r: Result<Value, PlatformError>) -> String {
    match r {
        Err(PlatformError::Api {
            status: 400,
            code,
            message,
        }) if code == "PARAM_ERROR" => message,
        other => panic!("expected 400 PARAM_ERROR, got {other:?}"),
    }
}

#[tokio::test]
async fn a_limit_outside_1_to_50_is_refused_and_10_is_the_default() {
    let s = setup().await;
    for n in 0..12 {
        s.sim
            .add_complaint_for(PROVIDER, complaint(n, SUB_A, "2026-11-20T10:00:00+08:00"));
    }
    let c = client(&s, PROVIDER);
    let window = "begin_date=2026-11-01&end_date=2026-11-26";
    for limit in ["51", "0", "-1", "ten"] {
        param_error(raw(&c, &format!("limit={limit}&offset=0&{window}")).await);
    }
    param_error(raw(&c, &format!("limit=10&offset=-5&{window}")).await);
    let fifty = raw(&c, &format!("limit=50&offset=0&{window}"))
        .await
        .expect("limit 50");
    assert_eq!(fifty["data"].as_array().map(Vec::len), Some(12));
    let default = raw(&c, &format!("offset=0&{window}"))
        .await
        .expect("no limit");
    assert_eq!(default["limit"], 10);
    assert_eq!(default["data"].as_array().map(Vec::len), Some(10));
    // The client refuses it before sending.
    let err = c
        .list_complaints("2026-11-01", "2026-11-26", 51, 0, None)
        .await
        .expect_err("51");
    assert!(matches!(err, PlatformError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn one_hundred_and_twenty_complaints_take_three_pages_and_only_the_first_has_a_total() {
    let s = setup().await;
    for n in 0..120 {
        let time = format!("2026-11-{:02}T{:02}:00:00+08:00", 1 + n / 24, n % 24);
        s.sim
            .add_complaint_for(PROVIDER, complaint(n, SUB_A, &time));
    }
    let c = client(&s, PROVIDER);
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut offset = 0;
    loop {
        let page = c
            .list_complaints("2026-11-01", "2026-11-26", 50, offset, None)
            .await
            .expect("page");
        pages.push((page.data.len(), page.total_count));
        seen.extend(page.data.into_iter().map(|d| d.complaint_id));
        if pages.len() == 3 {
            break;
        }
        offset += 50;
    }
    assert_eq!(
        pages,
        vec![(50, Some(120)), (50, None), (20, None)],
        "total_count only at offset 0"
    );
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 120, "every complaint once");
    // The raw answer of a later page has no total_count at all (not a null).
    let later = raw(
        &c,
        "limit=50&offset=50&begin_date=2026-11-01&end_date=2026-11-26",
    )
    .await
    .expect("page 2");
    assert!(later.get("total_count").is_none(), "{later}");
}

#[tokio::test]
async fn a_provider_lists_all_its_sub_merchants_and_a_direct_merchant_only_itself() {
    let s = setup().await;
    let at = "2026-11-20T10:00:00+08:00";
    // Added without an owner: visibility comes from who is complained about.
    s.sim.add_complaint(complaint(1, SUB_A, at));
    s.sim.add_complaint(complaint(2, SUB_B, at));
    s.sim.add_complaint(complaint(3, DIRECT, at));
    s.sim.add_complaint(complaint(4, "1900000999", at));
    let ids = |p: wechatpay::model::Page<wechatpay::model::Complaint>| {
        let mut v: Vec<String> = p.data.into_iter().map(|d| d.complainted_mchid).collect();
        v.sort();
        v
    };
    let provider = client(&s, PROVIDER);
    let all = provider
        .list_complaints("2026-11-01", "2026-11-26", 50, 0, None)
        .await
        .expect("provider");
    assert_eq!(all.total_count, Some(2));
    assert_eq!(ids(all), vec![SUB_A.to_string(), SUB_B.to_string()]);
    let one = provider
        .list_complaints("2026-11-01", "2026-11-26", 50, 0, Some(SUB_B))
        .await
        .expect("one sub-merchant");
    assert_eq!(ids(one), vec![SUB_B.to_string()]);
    let direct = client(&s, DIRECT)
        .list_complaints("2026-11-01", "2026-11-26", 50, 0, None)
        .await
        .expect("direct");
    assert_eq!(ids(direct), vec![DIRECT.to_string()]);
}

#[tokio::test]
async fn the_window_is_on_the_beijing_creation_date_and_spans_at_most_30_days() {
    let s = setup().await;
    // 2026-11-19 23:30 in Beijing is 15:30 UTC: it belongs to the 19th, not the 20th.
    s.sim
        .add_complaint_for(PROVIDER, complaint(1, SUB_A, "2026-11-19T15:30:00+00:00"));
    let c = client(&s, PROVIDER);
    let on = |d: &'static str| {
        let c = &c;
        async move {
            c.list_complaints(d, d, 10, 0, None)
                .await
                .expect("one day")
                .data
                .len()
        }
    };
    assert_eq!(on("2026-11-19").await, 1);
    assert_eq!(on("2026-11-20").await, 0);
    // 30 days apart is accepted; 31 is refused; an end before the beginning too.
    c.list_complaints("2026-10-20", "2026-11-19", 10, 0, None)
        .await
        .expect("30 days");
    for (b, e) in [("2026-10-19", "2026-11-19"), ("2026-11-20", "2026-11-19")] {
        match c.list_complaints(b, e, 10, 0, None).await {
            Err(PlatformError::Api {
                status: 400, code, ..
            }) => assert_eq!(code, "PARAM_ERROR"),
            other => panic!("{b}..{e} must be refused: {other:?}"),
        }
    }
}

#[tokio::test]
async fn hooks_change_a_complaint_without_a_push_and_build_the_push_on_demand() {
    let s = setup().await;
    let id = "200201820261120080000000001";
    s.sim.add_complaint_for(
        PROVIDER,
        json!({"complaint_id": id, "complaint_time": "2026-11-20T10:00:00+08:00",
               "complaint_state": "PROCESSED", "complainted_mchid": SUB_A}),
    );
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-21T09:00:00+08:00")
        .expect("time")
        .to_utc();
    s.sim.continue_complaint(id, "还是没解决", at);
    let c = client(&s, PROVIDER);
    let d = c.complaint(id).await.expect("detail");
    assert_eq!(d.complaint_state, "PENDING");
    assert!(d.incoming_user_response);
    let h = c.negotiation_history(id, 50, 0).await.expect("history");
    let last = h.data.last().expect("entry");
    assert_eq!(last.operate_type, "USER_CONTINUE_COMPLAINT");
    assert_eq!(last.operate_time, "2026-11-21T09:00:00+08:00");
    s.sim.close_by_platform(id, "平台已处理", at);
    assert_eq!(
        c.complaint(id).await.expect("detail").complaint_state,
        "PROCESSED"
    );
    // The push, built on demand, is encrypted for the owner and decrypts to the complaint.
    let push = s
        .sim
        .complaint_push(id, "CREATE_COMPLAINT", chrono::Utc::now())
        .expect("push");
    let envelope = wechatpay::notify::Envelope::parse(push.body.as_bytes()).expect("envelope");
    assert_eq!(envelope.event_type, "COMPLAINT.CREATE");
    let plain = envelope.decrypt(APIV3.as_bytes()).expect("decrypt");
    let v: Value = serde_json::from_str(&plain).expect("json");
    assert_eq!(v["complaint_id"], id);
    assert!(
        s.sim
            .complaint_push("nope", "CREATE_COMPLAINT", chrono::Utc::now())
            .is_none()
    );
    // A complaint added without an owner goes to the complained sub-merchant's provider.
    let other = "200201820261120080000000002";
    s.sim.add_complaint(
        json!({"complaint_id": other, "complaint_time": "2026-11-20T10:00:00+08:00",
        "complaint_state": "PENDING", "complainted_mchid": SUB_B}),
    );
    let push = s
        .sim
        .complaint_push(other, "CREATE_COMPLAINT", chrono::Utc::now())
        .expect("the provider's push");
    let envelope = wechatpay::notify::Envelope::parse(push.body.as_bytes()).expect("envelope");
    assert!(envelope.decrypt(APIV3.as_bytes()).is_ok());
    // The registered URL changed behind our back is what the platform then answers.
    s.sim
        .replace_notification_url(PROVIDER, "complaints", Some("https://elsewhere.example/cb"));
    let url = c
        .notification_url(wechatpay::client::NotificationUrl::Complaints)
        .await
        .expect("read");
    assert_eq!(url.as_deref(), Some("https://elsewhere.example/cb"));
}

#[tokio::test]
async fn the_list_alone_can_be_throttled() {
    let s = setup().await;
    s.sim
        .add_complaint_for(PROVIDER, complaint(1, SUB_A, "2026-11-20T10:00:00+08:00"));
    s.sim.throttle_next_exact(LIST, 1);
    let c = client(&s, PROVIDER);
    // The detail is not the list: not throttled.
    c.complaint("200201820261120080000000001")
        .await
        .expect("detail");
    let err = c
        .list_complaints("2026-11-01", "2026-11-26", 50, 0, None)
        .await
        .expect_err("429");
    assert!(err.is_throttled(), "{err:?}");
    c.list_complaints("2026-11-01", "2026-11-26", 50, 0, None)
        .await
        .expect("the next call passes");
    assert_eq!(s.sim.throttled(), vec![format!("GET {LIST}")]);
}
