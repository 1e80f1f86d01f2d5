//! Staff actions take their platform calls from the same rate-limit budget as the workers
//! (per platform, merchant and operation, in the record store): over it, a staff reply answers
//! 429 with `Retry-After`, calls nothing on the platform and logs nothing; within it, the
//! reply uses one call of the very budget the worker sees; the platform's own throttling
//! answer during a staff action is a 429 too. Over the real router, the embedded store and
//! the platform simulators.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use desk_core::platforms::alipay::limits as alipay_limits;
use desk_core::platforms::wechatpay::limits as wechatpay_limits;
use desk_core::platforms::wxmini::limits as wxmini_limits;
use desk_core::ratelimit::{DEFAULT_WRITES_PER_MINUTE, Decision, Operation, RateLimiter};
use domain::complaint::{Complaint, Platform};
use http_body_util::BodyExt;
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim};
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};
use tower::ServiceExt;

const PROVIDER: &str = "1900000109";
const SUB: &str = "1900000201";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const APP_ID: &str = "2021000000000001";
const WECHATPAY_ID: &str = "200201820261126100000000001";
const ALIPAY_ID: &str = "2024052100001";

/// A limiter over the store the app uses (another instance, as a worker would hold).
fn limiter(h: &Harness) -> RateLimiter {
    RateLimiter::new(h.state.ports.records.clone(), h.state.ports.clock.clone())
}

/// Take every call of `operation` left for `merchant`; how many there were.
async fn drain(h: &Harness, operation: Operation, merchant: &str) -> u32 {
    let l = limiter(h);
    let mut n = 0;
    while l.check(operation, merchant).await.expect("check") == Decision::Granted {
        n += 1;
        assert!(n <= 10_000, "{operation} is not limited");
    }
    n
}

/// An admin call with its headers.
async fn call(h: &Harness, path: &str, body: Value) -> (StatusCode, header::HeaderMap, Value) {
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let res = h.router.clone().oneshot(req).await.expect("response");
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn retry_after(headers: &header::HeaderMap) -> u64 {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no whole-second Retry-After: {headers:?}"))
}

fn assert_rate_limited(status: StatusCode, headers: &header::HeaderMap, body: &Value) -> u64 {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["field"].is_null(), "{body}");
    let secs = retry_after(headers);
    assert!(secs >= 1, "{secs}");
    secs
}

struct Wechatpay {
    h: Harness,
    sim: WechatPaySim,
    /// Our complaint id.
    id: String,
}

/// A provider account on the simulator and a recorded complaint of its sub-merchant, as the
/// worker would have left it (not replied).
async fn wechatpay() -> Wechatpay {
    let h = harness();
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    sim.add_merchant(SimMerchant {
        mchid: PROVIDER.into(),
        serial_no: SERIAL.into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let mut body = provider_body(PROVIDER);
    body["settings"]["api_base_url"] = json!(sim.base_url());
    body["credentials"] = json!({"private_key": private_pem(rsa_key()), "apiv3_key": APIV3,
        "wechatpay_public_key": sim.keys().public_key_pem(),
        "wechatpay_public_key_id": sim.keys().pub_key_id});
    let account = h.create(body).await;
    sim.add_complaint_for(
        PROVIDER,
        json!({
            "complaint_id": WECHATPAY_ID,
            "complaint_time": chrono::Utc::now().to_rfc3339(),
            "complaint_detail": "充电宝无法使用",
            "complaint_state": "PENDING",
            "complainted_mchid": SUB,
            "complaint_order_info": [{"transaction_id": "4200000000000000000000000001", "out_trade_no": "T1", "amount": 990}],
            "complaint_media_list": [],
            "problem_type": "SERVICE_NOT_WORK",
            "need_immediate_service": false
        }),
    );
    let id = desk_core::complaints::complaint_id(Platform::Wechatpay, &account, WECHATPAY_ID);
    let mut c = Complaint::new(
        id.clone(),
        Platform::Wechatpay,
        None,
        account,
        WECHATPAY_ID.into(),
        chrono::Utc::now(),
    );
    c.sub_mchid = Some(SUB.into());
    desk_core::complaints::ComplaintRepo::new(&*h.state.ports.records)
        .save(&c, 0)
        .await
        .expect("save");
    Wechatpay { h, sim, id }
}

async fn detail(h: &Harness, id: &str) -> Value {
    let (s, d) = h
        .admin(Method::GET, &format!("/admin/v1/complaints/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    d
}

fn actions(d: &Value) -> Vec<Value> {
    d["actions"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn staff_reply_over_the_merchants_budget_answers_429_and_sends_nothing() {
    let e = wechatpay().await;
    // The workers (another limiter over the same store) used the provider's reply budget.
    assert_eq!(
        drain(&e.h, wechatpay_limits::RESPONSE, PROVIDER).await,
        60,
        "WeChat Pay replies: 60 a minute per calling merchant"
    );
    let (s, headers, body) = call(
        &e.h,
        &format!("/admin/v1/complaints/{}/reply", e.id),
        json!({"text": "您好，已为您处理"}),
    )
    .await;
    let secs = assert_rate_limited(s, &headers, &body);
    assert!(secs <= 65, "a call frees up within the window: {secs}");
    assert!(
        e.sim.requests().is_empty(),
        "nothing reached WeChat Pay: {:?}",
        e.sim.requests()
    );
    let d = detail(&e.h, &e.id).await;
    assert_eq!(d["complaint"]["replied"], false, "{d}");
    assert!(actions(&d).is_empty(), "nothing logged: {d}");
}

#[tokio::test]
async fn staff_reply_with_images_over_the_upload_budget_uploads_nothing() {
    let e = wechatpay().await;
    let (s, media) =
        e.h.raw(
            Method::POST,
            "/admin/v1/media?filename=receipt.bmp",
            Some(ADMIN),
            Some("BM merchant-evidence".into()),
            "image/bmp",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let media: Value = serde_json::from_slice(&media).expect("json");
    drain(&e.h, wechatpay_limits::IMAGE_UPLOAD, PROVIDER).await;
    let (s, headers, body) = call(
        &e.h,
        &format!("/admin/v1/complaints/{}/reply", e.id),
        json!({"text": "已为您补发", "images": [media["id"]]}),
    )
    .await;
    assert_rate_limited(s, &headers, &body);
    assert!(e.sim.requests().is_empty(), "{:?}", e.sim.requests());
    assert!(actions(&detail(&e.h, &e.id).await).is_empty());
}

#[tokio::test]
async fn staff_reply_within_budget_uses_one_call_of_the_budget_the_worker_sees() {
    let e = wechatpay().await;
    let (s, _, body) = call(
        &e.h,
        &format!("/admin/v1/complaints/{}/reply", e.id),
        json!({"text": "您好，已为您处理"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let sent = e.sim.writes_to("/response");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["complainted_mchid"], SUB);
    // The provider's budget (it calls for its sub-merchant) has one call fewer.
    assert_eq!(drain(&e.h, wechatpay_limits::RESPONSE, PROVIDER).await, 59);
    assert_eq!(
        drain(&e.h, wechatpay_limits::RESPONSE, SUB).await,
        60,
        "the sub-merchant does not call"
    );
    let d = detail(&e.h, &e.id).await;
    assert_eq!(d["complaint"]["replied"], true, "{d}");
}

#[tokio::test]
async fn wechatpay_throttling_a_staff_reply_answers_429() {
    let e = wechatpay().await;
    e.sim.throttle_next("/response", 1);
    let (s, headers, body) = call(
        &e.h,
        &format!("/admin/v1/complaints/{}/reply", e.id),
        json!({"text": "您好，已为您处理"}),
    )
    .await;
    let secs = assert_rate_limited(s, &headers, &body);
    assert!(secs <= 5, "a short pause: {secs}");
    assert_eq!(e.sim.throttled().len(), 1);
    assert!(e.sim.writes_to("/response").is_empty());
    let d = detail(&e.h, &e.id).await;
    assert_eq!(d["complaint"]["replied"], false, "{d}");
    assert!(
        actions(&d).iter().all(|a| a["outcome"] != "succeeded"),
        "{d}"
    );
    // The retry goes through.
    let (s, _, body) = call(
        &e.h,
        &format!("/admin/v1/complaints/{}/reply", e.id),
        json!({"text": "您好，已为您处理"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(e.sim.writes_to("/response").len(), 1);
}

struct Alipay {
    h: Harness,
    sim: AlipaySim,
    id: String,
}

async fn alipay() -> Alipay {
    let h = harness();
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    sim.add_app(sandbox::alipay::SimApp {
        app_id: APP_ID.into(),
        public_key: rsa_key().to_public_key(),
        app_cert_sn: None,
    });
    let account = h
        .create(json!({"kind": "alipay_app", "name": "Alipay app",
        "settings": {"app_id": APP_ID, "api_base_url": sim.gateway_url()},
        "credentials": {"mode": "public_key", "app_private_key": private_pem(rsa_key()),
                        "alipay_public_key": sim.keys().alipay_public_key_pem()}}))
        .await;
    sim.add_trade_complaint(json!({"complain_event_id": ALIPAY_ID, "status": "MERCHANT_PROCESSING",
        "trade_no": "2024052122001400001", "merchant_order_no": "T1", "gmt_create": "2024-05-21 10:00:00",
        "content": "商品一直没有发货", "trade_amount": "19.99", "target_type": "APPID", "target_id": APP_ID}));
    let id = desk_core::complaints::complaint_id(Platform::Alipay, &account, ALIPAY_ID);
    let c = Complaint::new(
        id.clone(),
        Platform::Alipay,
        Some("trade".into()),
        account,
        ALIPAY_ID.into(),
        chrono::Utc::now(),
    );
    desk_core::complaints::ComplaintRepo::new(&*h.state.ports.records)
        .save(&c, 0)
        .await
        .expect("save");
    Alipay { h, sim, id }
}

const ALIPAY_REPLY: &str = "alipay.merchant.tradecomplain.reply.submit";

#[tokio::test]
async fn alipay_staff_reply_over_the_apps_budget_answers_429_and_sends_nothing() {
    let e = alipay().await;
    assert_eq!(
        drain(&e.h, alipay_limits::REPLY, APP_ID).await,
        DEFAULT_WRITES_PER_MINUTE
    );
    let (s, headers, body) = call(
        &e.h,
        &format!("/admin/v1/complaints/{}/reply", e.id),
        json!({"text": "您好，已为您处理"}),
    )
    .await;
    assert_rate_limited(s, &headers, &body);
    assert!(e.sim.calls(ALIPAY_REPLY).is_empty());
    assert!(actions(&detail(&e.h, &e.id).await).is_empty());
}

#[tokio::test]
async fn alipay_call_limit_during_a_staff_reply_answers_429() {
    let e = alipay().await;
    e.sim.throttle_next(ALIPAY_REPLY, 1);
    let (s, headers, body) = call(
        &e.h,
        &format!("/admin/v1/complaints/{}/reply", e.id),
        json!({"text": "您好，已为您处理"}),
    )
    .await;
    let secs = assert_rate_limited(s, &headers, &body);
    assert!(secs <= 5, "a short pause: {secs}");
    assert_eq!(e.sim.throttled(), vec![ALIPAY_REPLY.to_string()]);
    // Within budget, one call of the app's reply budget was used.
    assert_eq!(
        drain(&e.h, alipay_limits::REPLY, APP_ID).await,
        DEFAULT_WRITES_PER_MINUTE - 1
    );
}

/// The operations of the built-in platforms' document that call a platform, by operation id:
/// the complaint actions (each says so itself) and the other routes that call one.
const RATE_LIMITED: [&str; 15] = [
    "reply",
    "complete",
    "refund",
    "refund_progress",
    "feedback",
    "supplement",
    "refund_evidence",
    "appeal",
    "download_media",
    "download_history_media",
    "register",
    "get_registration",
    "unregister",
    "trade_score",
    "list_violations",
];

/// Operations that answer 429 for a window of their own rather than a platform's budget.
const OWN_WINDOW: [&str; 2] = [
    "test_account_notifications",
    "test_sub_merchant_notifications",
];

#[tokio::test]
async fn the_document_lists_429_with_retry_after_on_the_operations_that_call_a_platform() {
    let h = harness();
    let (s, doc) = h
        .call(Method::GET, "/admin/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut seen = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            let r = &op["responses"]["429"];
            if RATE_LIMITED.contains(&id) {
                seen.push(id.to_string());
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path}"
                );
                assert_eq!(
                    r["headers"]["Retry-After"]["schema"]["type"], "integer",
                    "{method} {path}"
                );
            } else if OWN_WINDOW.contains(&id) {
                // A window of its own (one test notice per audience per 30 s), not a
                // platform's budget: its 429 says so.
                assert_eq!(
                    r["headers"]["Retry-After"]["schema"]["type"], "integer",
                    "{method} {path}"
                );
            } else {
                assert!(r.is_null(), "{method} {path} calls no platform: {r}");
            }
        }
    }
    seen.sort();
    let mut want: Vec<String> = RATE_LIMITED.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(seen, want, "every listed operation exists");
    let mut derived = desk_http::admin::openapi::rate_limited_operations(h.state.platforms());
    derived.sort();
    assert_eq!(derived, want, "what the server derives for the document");
}

/// A platform written here: `nudge` calls it; `note-to-self` only writes our own log; its
/// `reply` calls nothing either, but the built-in platforms' `reply` does.
struct Quiet;

/// The body of the quiet platform's actions.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct QuietBody {
    text: String,
}

#[async_trait::async_trait]
impl desk_core::staff_actions::StaffActions for Quiet {
    fn actions(&self) -> Vec<desk_core::staff_actions::StaffAction> {
        use desk_core::staff_actions::StaffAction;
        use domain::complaint::ActionKind;
        vec![
            StaffAction::new::<QuietBody>("nudge", ActionKind::Feedback, "Nudge the platform"),
            StaffAction::new::<QuietBody>("note-to-self", ActionKind::Supplement, "Take a note")
                .spends_no_budget(),
            StaffAction::new::<QuietBody>("reply", ActionKind::Reply, "Reply quietly")
                .spends_no_budget(),
        ]
    }

    async fn run(
        &self,
        _services: &desk_core::Services,
        _staff: &desk_core::staff_actions::Staff,
        complaint: &Complaint,
        action: &str,
        _body: desk_core::staff_actions::ActionBody,
    ) -> Result<desk_core::staff_actions::ActionAnswer, desk_core::Error> {
        Err(desk_core::staff_actions::no_such_action(
            complaint.platform.as_str(),
            action,
            &self.actions(),
        ))
    }
}

impl desk_core::platform::Platform for Quiet {
    fn name(&self) -> Platform {
        Platform::new("quiet")
    }

    fn register_jobs(
        &self,
        _jobs: &mut desk_core::worker::JobRegistry,
        _services: &desk_core::Services,
    ) {
    }

    fn staff_actions(&self) -> &dyn desk_core::staff_actions::StaffActions {
        self
    }

    fn account_actions(&self) -> &dyn desk_core::account_actions::AccountActions {
        self
    }
}

/// The quiet platform's account routes: `poke` calls it, `peek` reads our own records only.
#[async_trait::async_trait]
impl desk_core::account_actions::AccountActions for Quiet {
    fn actions(&self) -> Vec<desk_core::account_actions::AccountAction> {
        use desk_core::account_actions::{AccountAction, Method};
        let kinds = [domain::account::AccountKind::new("quiet_shop")];
        vec![
            AccountAction::new("poke", Method::Post, "quiet_poke", &kinds),
            AccountAction::new("peek", Method::Get, "quiet_peek", &kinds).spends_no_budget(),
        ]
    }

    async fn run(
        &self,
        _services: &desk_core::Services,
        _staff: &desk_core::staff_actions::Staff,
        account: &domain::account::Account,
        action: &desk_core::account_actions::AccountAction,
        _body: desk_core::staff_actions::ActionBody,
    ) -> Result<desk_core::account_actions::AccountAnswer, desk_core::Error> {
        Err(desk_core::account_actions::no_such_route(
            account.kind(),
            action.method,
            action.name,
            &desk_core::account_actions::AccountActions::actions(self),
        ))
    }
}

#[test]
fn a_complaint_action_answers_429_in_the_document_when_it_spends_a_call_budget() {
    let doc = desk_http::admin::openapi::document(&desk_core::platforms::builtin().with(Quiet));
    let responses = |action: &str| {
        doc["paths"][format!("/admin/v1/complaints/{{id}}/{action}")]["post"]["responses"].clone()
    };
    let nudge = responses("nudge");
    assert_eq!(
        nudge["429"]["headers"]["Retry-After"]["schema"]["type"], "integer",
        "an action that calls its platform: {nudge}"
    );
    let note = responses("note-to-self");
    assert!(note["200"].is_object(), "the action is documented: {note}");
    assert!(
        note["429"].is_null(),
        "an action that calls no platform never answers 429: {note}"
    );
    let reply = responses("reply");
    assert!(
        reply["429"]["headers"]["Retry-After"].is_object(),
        "an action one platform spends a budget on answers 429 though another's does not: {reply}"
    );
}

#[test]
fn an_account_route_answers_429_in_the_document_when_it_spends_a_call_budget() {
    let platforms = desk_core::platforms::builtin().with(Quiet);
    let doc = desk_http::admin::openapi::document(&platforms);
    let route = |method: &str, name: &str| {
        doc["paths"][format!("/admin/v1/accounts/{{id}}/{name}")][method]["responses"].clone()
    };
    let poke = route("post", "poke");
    assert_eq!(
        poke["429"]["headers"]["Retry-After"]["schema"]["type"], "integer",
        "a route that calls its platform: {poke}"
    );
    let peek = route("get", "peek");
    assert!(peek["404"].is_object(), "the route is documented: {peek}");
    assert!(
        peek["429"].is_null(),
        "a route that calls no platform never answers 429: {peek}"
    );
    let ops = desk_http::admin::openapi::rate_limited_operations(&platforms);
    assert!(ops.contains(&"quiet_poke".to_string()), "{ops:?}");
    assert!(!ops.contains(&"quiet_peek".to_string()), "{ops:?}");
}

const MINI_APPID: &str = "wx1111111111111111";
const MINI_SECRET: &str = "mini-secret-0123456789abcdef";
const MINI_ID: u64 = 2_000_000_001;

/// A manual mini program on the WeChat simulator (keyed by our account id in the budget, as
/// its worker keys it) and a recorded complaint waiting for the merchant.
async fn mini() -> (Harness, sandbox::wxapi::WechatSim, String, String) {
    use sandbox::wxapi::{SimMini, WechatSim};
    let h = harness();
    let wx = WechatSim::start().await.expect("wechat sim");
    wx.add_mini(SimMini {
        appid: MINI_APPID.into(),
        secret: MINI_SECRET.into(),
        nick_name: "小程序".into(),
        push: None,
    });
    let account = h
        .create(json!({"kind": "wxmini_app", "name": "Mini", "settings": {
            "appid": MINI_APPID, "mode": "manual", "api_base_url": wx.base_url()},
            "credentials": {"secret": MINI_SECRET, "token": "miniToken123",
                "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}}))
        .await;
    let now = chrono::Utc::now().timestamp();
    wx.add_complaint(
        MINI_APPID,
        json!({"complaintOrderId": MINI_ID, "openid": "o_user", "createTime": now,
            "type": 3, "status": 201,
            "customerMaterial": {"content": "商品与描述不符", "mediaIdList": []},
            "orderId": "42000001", "outTradeNo": "T1", "productName": "充电宝",
            "payTime": now - 3600, "totalCost": 990, "expireTime": now + 48 * 3600,
            "appealState": 0}),
    );
    let id = desk_core::complaints::complaint_id(Platform::Wxmini, &account, &MINI_ID.to_string());
    let c = Complaint::new(
        id.clone(),
        Platform::Wxmini,
        None,
        account.clone(),
        MINI_ID.to_string(),
        chrono::Utc::now(),
    );
    desk_core::complaints::ComplaintRepo::new(&*h.state.ports.records)
        .save(&c, 0)
        .await
        .expect("save");
    (h, wx, account, id)
}

#[tokio::test]
async fn mini_program_staff_response_over_budget_answers_429_and_within_it_uses_the_shared_budget()
{
    let (h, wx, account, id) = mini().await;
    let reply = json!({"text": "同意和解", "decision": "agree"});
    let path = format!("/admin/v1/complaints/{id}/reply");
    // Within budget: sent, and one call of the account's budget is gone.
    let (s, _, body) = call(&h, &path, reply.clone()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(wx.writes_to("bussiRespondComplaint").len(), 1);
    assert_eq!(
        drain(&h, wxmini_limits::RESPOND, &account).await,
        DEFAULT_WRITES_PER_MINUTE - 1
    );
    // Now the budget is used up: the next response is 429 and is not sent.
    let logged = actions(&detail(&h, &id).await).len();
    let (s, headers, body) = call(&h, &path, reply).await;
    assert_rate_limited(s, &headers, &body);
    assert_eq!(wx.writes_to("bussiRespondComplaint").len(), 1);
    assert_eq!(
        actions(&detail(&h, &id).await).len(),
        logged,
        "nothing logged"
    );
}
