//! Mini-program trade complaints end to end over real HTTP, in both onboarding modes: the WeChat
//! API simulator pushes encrypted (or plaintext) complaint events to our server on a loopback
//! port; the worker fetches the detail, records it, responds and refunds (through the WeChat Pay
//! simulator). The one-click authorisation runs through our launch page, the simulator's
//! authorisation page and our redirect page, racing the `authorized` event.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use desk_core::worker::CancellationToken;
use domain::job::queues;
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use sandbox::wxapi::{PushConfig, PushFormat, PushMode, SimComponent, SimMini, WechatSim};
use serde_json::{Value, json};
use std::time::Duration;

const APPID: &str = "wx1111111111111111";
const AUTH_APPID: &str = "wx2222222222222222";
const COMPONENT: &str = "wx9999999999999999";
const SECRET: &str = "mini-secret-0123456789abcdef";
const COMPONENT_SECRET: &str = "component-secret-0123456789";
const TOKEN: &str = "miniToken123";
const COMPONENT_TOKEN: &str = "platformToken456";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const COMPONENT_AES_KEY: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj";
const MCHID: &str = "1900000109";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const RESPONSE: &str = "您好，已为您安排退款，给您带来不便深表歉意。";

struct Env {
    h: Harness,
    wx: WechatSim,
    pay: WechatPaySim,
    base: String,
    merchant_id: String,
    stop: CancellationToken,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn env() -> Env {
    env_with(true).await
}

/// `worker`: run the events worker (without it, jobs stay on the queue for the test to see).
async fn env_with(worker: bool) -> Env {
    env_configured(worker, |_| {}).await
}

/// `configure`: adjust the state before it is served (and worked on).
async fn env_configured(worker: bool, configure: impl FnOnce(&mut desk_http::AppState)) -> Env {
    let (h, base, stop) = served(configure).await;
    if worker {
        spawn_worker(&h, queues::EVENTS, &stop);
    }
    let wx = WechatSim::start().await.expect("wechat sim");
    let pay = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("wechat pay sim");
    pay.add_merchant(SimMerchant {
        mchid: MCHID.into(),
        serial_no: SERIAL.into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let merchant_id = h
        .create(json!({"kind": "wechatpay_merchant", "name": "Pay", "settings": {
            "mchid": MCHID, "appid": APPID, "merchant_serial_no": SERIAL, "api_base_url": pay.base_url()},
            "credentials": {"private_key": private_pem(rsa_key()), "apiv3_key": APIV3,
                "wechatpay_public_key": pay.keys().public_key_pem(), "wechatpay_public_key_id": pay.keys().pub_key_id}}))
        .await;
    Env {
        h,
        wx,
        pay,
        base,
        merchant_id,
        stop,
    }
}

impl Env {
    fn mini_push(&self, mode: PushMode, format: PushFormat) -> PushConfig {
        PushConfig {
            token: TOKEN.into(),
            encoding_aes_key: AES_KEY.into(),
            mode,
            format,
            url: format!("{}/callbacks/wxmini/{APPID}", self.base),
        }
    }

    /// A manual mini program with automatic response and refund; its account id.
    async fn manual(&self, mode: PushMode, format: PushFormat) -> String {
        self.wx.add_mini(SimMini {
            appid: APPID.into(),
            secret: SECRET.into(),
            nick_name: "手动小程序".into(),
            push: Some(self.mini_push(mode, format)),
        });
        self.h
            .create(json!({"kind": "wxmini_app", "name": "Mini", "settings": {
                "appid": APPID, "mode": "manual", "api_base_url": self.wx.base_url(),
                "auto_response": {"enabled": true, "decision": "agree", "text": RESPONSE},
                "auto_refund": true, "refund_cap_fen": 100_000,
                "payment": {"account_id": self.merchant_id}},
                "credentials": {"secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}}))
            .await
    }

    /// A complaint waiting for the merchant, its order paid through the WeChat Pay simulator.
    fn complaint(&self, appid: &str, id: u64, amount: u64) {
        let now = chrono::Utc::now().timestamp();
        self.wx.add_complaint(
            appid,
            json!({"complaintOrderId": id, "openid": "o_user", "createTime": now,
                "phoneNumber": "13812345678", "type": 3, "status": 201,
                "customerMaterial": {"content": "商品与描述不符，要求退款", "mediaIdList": []},
                "orderId": format!("42000{id}"), "outTradeNo": format!("T{id}"),
                "productName": "充电宝", "payTime": now - 3600, "totalCost": amount,
                "expireTime": now + 48 * 3600, "appealState": 0}),
        );
        self.pay
            .add_order(&format!("42000{id}"), &format!("T{id}"), amount);
    }

    async fn detail(&self, platform_id: &str) -> Option<Value> {
        self.h.complaint_detail(platform_id).await
    }

    /// Poll (up to 10 s) until the complaint's detail satisfies `ok`.
    async fn wait_for(&self, platform_id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        self.h.wait_for_complaint(platform_id, what, ok).await
    }

    fn responds(&self, id: u64) -> usize {
        self.wx
            .writes_to("bussiRespondComplaint")
            .iter()
            .filter(|(_, b)| b["complaintOrderId"] == id)
            .count()
    }

    fn refunds(&self, id: u64) -> Vec<Value> {
        self.pay
            .refunds()
            .into_iter()
            .filter(|r| r["out_trade_no"] == format!("T{id}"))
            .collect()
    }

    /// Let queued work finish (the worker polls every 200 ms).
    async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }

    /// Our third-party platform, its ticket delivered; the component account id.
    async fn component(&self) -> String {
        let id = self.component_without_ticket().await;
        assert_eq!(self.wx.push_ticket(COMPONENT).await, Ok(200));
        id
    }

    /// Our third-party platform before WeChat's first ticket.
    async fn component_without_ticket(&self) -> String {
        self.wx.add_component(SimComponent {
            appid: COMPONENT.into(),
            secret: COMPONENT_SECRET.into(),
            events: PushConfig {
                token: COMPONENT_TOKEN.into(),
                encoding_aes_key: COMPONENT_AES_KEY.into(),
                mode: PushMode::Safe,
                format: PushFormat::Xml,
                url: format!("{}/callbacks/wxopen/{COMPONENT}/events", self.base),
            },
            messages: PushConfig {
                token: COMPONENT_TOKEN.into(),
                encoding_aes_key: COMPONENT_AES_KEY.into(),
                mode: PushMode::Safe,
                format: PushFormat::Json,
                url: format!(
                    "{}/callbacks/wxopen/{COMPONENT}/messages/$APPID$",
                    self.base
                ),
            },
        });
        self.h
            .create(
                json!({"kind": "wxopen_component", "name": "Our platform", "settings": {
                "component_appid": COMPONENT, "api_base_url": self.wx.base_url(),
                "auth_page_base_url": self.wx.base_url()},
                "credentials": {"secret": COMPONENT_SECRET, "token": COMPONENT_TOKEN,
                    "encoding_aes_key": COMPONENT_AES_KEY}}),
            )
            .await
    }

    /// Run the one-click authorisation in a browser's place: link → launch page → WeChat's
    /// page → our redirect page. The redirect page's status and HTML.
    async fn authorise(&self, component_id: &str) -> (u16, String) {
        let (s, link) = self
            .h
            .admin(
                Method::POST,
                &format!("/admin/v1/accounts/{component_id}/authorization-link"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{link}");
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let page = browser
            .get(link["url"].as_str().expect("url"))
            .send()
            .await
            .expect("launch page");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("html");
        let href = html
            .split("id=\"authorize\" href=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("authorisation link on the launch page")
            .replace("&amp;", "&");
        assert!(href.starts_with(&self.wx.base_url()), "{href}");
        let wechat = browser.get(&href).send().await.expect("wechat page");
        assert_eq!(wechat.status(), 303, "WeChat sends the admin back");
        let back = wechat.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        assert!(back.starts_with(&format!("{}/wxopen/{COMPONENT}/authorized?", self.base)));
        let done = browser.get(&back).send().await.expect("redirect page");
        let status = done.status().as_u16();
        (status, done.text().await.expect("html"))
    }

    async fn account(&self, id: &str) -> Value {
        let (s, a) = self
            .h
            .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{a}");
        a
    }

    async fn queue_is_empty(&self) -> bool {
        self.h.queued_jobs(queues::EVENTS).await.is_empty()
    }
}

fn actions<'a>(d: &'a Value, kind: &str) -> Vec<&'a Value> {
    d["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["action"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_mode_push_to_response_and_refund_exactly_once_in_every_crypto_mode() {
    let e = env().await;
    let account_id = e.manual(PushMode::Safe, PushFormat::Xml).await;
    // Plaintext pushes are believed only when the mini program opts in (unsafe; see
    // wxmini_push_trust.rs for what is refused without it).
    let (s, a) =
        e.h.admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account_id}"),
            Some(json!({"settings": {"allow_plaintext": true}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["settings"]["allow_plaintext"], true);
    let modes = [
        (PushMode::Safe, PushFormat::Xml),
        (PushMode::Safe, PushFormat::Json),
        (PushMode::Compatible, PushFormat::Xml),
        (PushMode::Plain, PushFormat::Json),
    ];
    for (n, (mode, format)) in modes.into_iter().enumerate() {
        let id = 800_001 + n as u64;
        e.wx.add_mini(SimMini {
            appid: APPID.into(),
            secret: SECRET.into(),
            nick_name: "手动小程序".into(),
            push: Some(e.mini_push(mode, format)),
        });
        e.complaint(APPID, id, 2_500);
        assert_eq!(
            e.wx.push_complaint(&id.to_string()).await,
            Ok(200),
            "{mode:?} {format:?}"
        );
        let d = e
            .wait_for(&id.to_string(), "response and refund", |d| {
                // Our refund record is claimed before WeChat Pay is asked: wait for both.
                d["complaint"]["replied"] == true
                    && d["refunds"].as_array().is_some_and(|r| !r.is_empty())
                    && !e.refunds(id).is_empty()
            })
            .await;
        let c = &d["complaint"];
        assert_eq!(c["platform"], "wxmini");
        assert_eq!(c["payer_phone_masked"], "138****5678");
        assert_eq!(c["orders"][0]["amount_fen"], 2_500);
        // The 48 h deadline (`expireTime`) is kept, met by the automatic response.
        assert!(c["deadlines"][0]["due_at"].is_string(), "{c}");
        assert!(c["deadlines"][0]["met_at"].is_string(), "{c}");
        assert!(c["next_due_at"].is_null(), "{c}");
        assert!(
            !d.to_string().contains("13812345678"),
            "no full phone number stored"
        );
        assert_eq!(d["refunds"][0]["amount_fen"], 2_500);
        let jobs = d["notifications"].as_array().expect("notification jobs");
        assert_eq!(jobs.len(), 1, "staff are told once: {jobs:?}");
        assert_eq!(jobs[0]["summary"]["platform"], "wxmini");
        assert_eq!(jobs[0]["summary"]["event"], "new complaint");
        assert_eq!(jobs[0]["summary"]["amount_fen"], 2_500);
        assert_eq!(e.responds(id), 1);
        let sent = &e.wx.writes_to("bussiRespondComplaint")[n].1;
        assert_eq!(sent["bussiHandle"], 1);
        assert_eq!(sent["content"], RESPONSE);
        assert_eq!(e.refunds(id).len(), 1);
        assert_eq!(
            e.wx.complaint(&id.to_string()).expect("complaint")["complaintOrder"]["status"],
            203,
            "已回应,待用户确认"
        );
    }
    // The same push again (a WeChat retry), and a newer push for the responded complaint:
    // nothing more is sent.
    let id = 800_001_u64;
    let before = e.wx.writes_to("").len();
    assert_eq!(e.wx.push_complaint(&id.to_string()).await, Ok(200));
    e.settle().await;
    assert_eq!(e.responds(id), 1);
    assert_eq!(e.refunds(id).len(), 1);
    assert_eq!(e.wx.writes_to("").len(), before);
    let d = e.detail(&id.to_string()).await.expect("detail");
    assert_eq!(d["complaint"]["raw_status"], "203");
    assert_eq!(d["complaint"]["status"], "processing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_push_is_queued_once_and_bad_pushes_change_nothing() {
    let e = env_with(false).await;
    e.manual(PushMode::Safe, PushFormat::Xml).await;
    e.complaint(APPID, 810_001, 100);
    let cfg = e.mini_push(PushMode::Safe, PushFormat::Xml);
    let msg = json!({"ToUserName": "gh_x", "FromUserName": "system", "CreateTime": 1_700_000_000,
        "MsgType": "event", "Event": "complaint_callback",
        "BussiCallBackInfo": {"appid": APPID, "complaint_order_id": 810_001, "status": 201}});
    let (query, body) = sandbox::wxapi::seal(&cfg, APPID, &msg).expect("seal");
    let path = format!("/callbacks/wxmini/{APPID}?{query}");
    let h = &e.h;
    let post = |p: String, b: String| async move {
        let (s, body) = h.raw(Method::POST, &p, None, Some(b), "text/xml").await;
        (s, String::from_utf8_lossy(&body).into_owned())
    };
    // Twice at once: both answered success, one job.
    let (a, b) = tokio::join!(
        post(path.clone(), body.clone()),
        post(path.clone(), body.clone())
    );
    assert_eq!((a.0, a.1.as_str()), (StatusCode::OK, "success"));
    assert_eq!((b.0, b.1.as_str()), (StatusCode::OK, "success"));
    let jobs = e.h.queued_jobs(queues::EVENTS).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.job_type, domain::job::wxmini::COMPLAINT.name());
    assert_eq!(job.payload["complaint_order_id"], "810001");
    assert_eq!(job.payload["status"], "201");
    // Bad ones: nothing queued, the documented answers.
    let tampered = path.replace("msg_signature=", "msg_signature=0");
    assert_eq!(
        post(tampered, body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (q2, b2) = sandbox::wxapi::seal(&cfg, "wx0000000000000000", &msg).expect("seal");
    assert_eq!(
        post(format!("/callbacks/wxmini/{APPID}?{q2}"), b2).await.0,
        StatusCode::UNAUTHORIZED,
        "encrypted for another app"
    );
    let garbage = "<xml><Encrypt><![CDATA[not base64!]]></Encrypt></xml>".to_string();
    let sig = wechat::crypt::msg_signature(TOKEN, "1", "n", "not base64!");
    assert_eq!(
        post(
            format!(
                "/callbacks/wxmini/{APPID}?timestamp=1&nonce=n&encrypt_type=aes&msg_signature={sig}"
            ),
            garbage
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(
            format!("/callbacks/wxmini/wx0000000000000001?{query}"),
            body.clone()
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let plain = PushConfig {
        mode: PushMode::Plain,
        ..cfg.clone()
    };
    let (q3, b3) = sandbox::wxapi::seal(&plain, APPID, &msg).expect("seal");
    let forged = q3.replace("signature=", "signature=f");
    assert_eq!(
        post(format!("/callbacks/wxmini/{APPID}?{forged}"), b3)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert!(e.queue_is_empty().await, "nothing queued by bad pushes");
    // The URL check.
    let sig = wechat::crypt::url_signature(TOKEN, "1409735669", "1320562132");
    let (s, echo) = e
        .h
        .raw(
            Method::GET,
            &format!("/callbacks/wxmini/{APPID}?signature={sig}&timestamp=1409735669&nonce=1320562132&echostr=hello123"),
            None,
            None,
            "text/plain",
        )
        .await;
    assert_eq!(
        (s, echo.as_slice()),
        (StatusCode::OK, b"hello123".as_slice())
    );
    let (s, _) = e
        .h
        .raw(
            Method::GET,
            &format!("/callbacks/wxmini/{APPID}?signature={}&timestamp=1409735669&nonce=1320562132&echostr=hello123", "0".repeat(40)),
            None,
            None,
            "text/plain",
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_once_and_the_call_succeeds() {
    let e = env().await;
    e.manual(PushMode::Safe, PushFormat::Json).await;
    e.complaint(APPID, 820_001, 100);
    e.wx.push_complaint("820001").await.expect("push");
    e.wait_for("820001", "response", |d| d["complaint"]["replied"] == true)
        .await;
    let tokens = e.wx.stable_token_calls();
    let rejected = e.wx.rejected_tokens();
    e.wx.expire_tokens();
    e.complaint(APPID, 820_002, 100);
    e.wx.push_complaint("820002").await.expect("push");
    e.wait_for("820002", "response after the refresh", |d| {
        d["complaint"]["replied"] == true
    })
    .await;
    assert_eq!(e.wx.rejected_tokens(), rejected + 1, "one refused call");
    assert_eq!(e.wx.stable_token_calls(), tokens + 1, "one refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_authorisation_then_complaints_then_unauthorized() {
    let e = env().await;
    let component_id = e.component().await;
    e.wx.will_authorize(AUTH_APPID, "授权小程序", &[18, 76, 151]);
    let (status, html) = e.authorise(&component_id).await;
    assert_eq!(status, 200, "{html}");
    let account_id = html
        .split("<code id=\"account\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("account id on the page")
        .to_string();
    // The `authorized` event raced the redirect: one exchange of the code, one account.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(e.wx.query_auth_calls(), 1);
    let (_, list) = e.h.admin(Method::GET, "/admin/v1/accounts", None).await;
    let minis: Vec<&Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|a| a["kind"] == "wxmini_app")
        .collect();
    assert_eq!(minis.len(), 1, "{list}");
    let a = e.account(&account_id).await;
    assert_eq!(a["name"], "授权小程序");
    assert_eq!(a["enabled"], true);
    assert_eq!(a["settings"]["mode"], "authorised");
    assert_eq!(a["settings"]["component_account_id"], component_id.as_str());
    assert_eq!(
        a["settings"]["authorization"]["permission_sets"],
        json!([18, 76, 151])
    );
    // Turn on the automatic response and refund.
    let mut settings = a["settings"].clone();
    settings["auto_response"] = json!({"enabled": true, "decision": "agree", "text": RESPONSE});
    settings["auto_refund"] = json!(true);
    settings["payment"] = json!({"account_id": e.merchant_id});
    settings
        .as_object_mut()
        .expect("object")
        .remove("authorization");
    let (s, b) =
        e.h.admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account_id}"),
            Some(json!({"settings": settings})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["settings"]["authorization"]["active"], true, "kept: {b}");
    // A complaint through the third-party platform's message URL.
    e.complaint(AUTH_APPID, 830_001, 1_800);
    assert_eq!(e.wx.push_complaint("830001").await, Ok(200));
    e.wait_for("830001", "response and refund", |d| {
        d["complaint"]["replied"] == true
            && d["refunds"].as_array().is_some_and(|r| !r.is_empty())
            && !e.refunds(830_001).is_empty()
    })
    .await;
    assert_eq!(e.responds(830_001), 1);
    assert_eq!(e.refunds(830_001).len(), 1);
    // Pushed again (a retry, or a later event): nothing more is done.
    assert_eq!(e.wx.push_complaint("830001").await, Ok(200));
    e.settle().await;
    assert_eq!(e.responds(830_001), 1);
    assert_eq!(e.refunds(830_001).len(), 1);
    // Its token expires: refreshed once with the refresh token, which rotates.
    e.wx.expire_tokens();
    let refreshes = e.wx.refresh_calls();
    e.complaint(AUTH_APPID, 830_002, 900);
    e.wx.push_complaint("830002").await.expect("push");
    e.wait_for("830002", "response after the refresh", |d| {
        d["complaint"]["replied"] == true
    })
    .await;
    assert_eq!(e.wx.refresh_calls(), refreshes + 1);
    // The mini program withdraws: disabled, later pushes are recorded with no action.
    e.complaint(AUTH_APPID, 830_003, 700);
    assert_eq!(e.wx.push_unauthorized(COMPONENT, AUTH_APPID).await, Ok(200));
    for _ in 0..100 {
        if e.account(&account_id).await["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a = e.account(&account_id).await;
    assert_eq!(a["enabled"], false);
    assert_eq!(a["settings"]["authorization"]["active"], false);
    // (WeChat no longer pushes for it; a push signed by the platform still arrives here.)
    let cfg = PushConfig {
        token: COMPONENT_TOKEN.into(),
        encoding_aes_key: COMPONENT_AES_KEY.into(),
        mode: PushMode::Safe,
        format: PushFormat::Xml,
        url: format!(
            "{}/callbacks/wxopen/{COMPONENT}/messages/{AUTH_APPID}",
            e.base
        ),
    };
    let now = chrono::Utc::now().timestamp();
    let msg = json!({"ToUserName": "gh_x", "CreateTime": now, "MsgType": "event", "Event": "complaint_callback",
        "BussiCallBackInfo": {"appid": AUTH_APPID, "complaint_order_id": 830_003, "status": 201,
            "total_cost": 700, "out_trade_no": "T830003", "customer_material_content": "还没退款",
            "create_time": now, "expire_time": now + 3600}});
    assert_eq!(e.wx.push(&cfg, COMPONENT, &msg).await, Ok(200));
    let d = e
        .wait_for("830003", "the record of a disabled account", |_| true)
        .await;
    assert_eq!(d["complaint"]["description"], "还没退款");
    assert_eq!(d["complaint"]["orders"][0]["amount_fen"], 700);
    assert_eq!(
        d["notifications"].as_array().map(Vec::len),
        Some(0),
        "a disabled account's staff are not told"
    );
    e.settle().await;
    assert_eq!(e.responds(830_003), 0);
    assert!(e.refunds(830_003).is_empty());
    // Authorised again: re-enabled, the same account.
    e.wx.will_authorize(AUTH_APPID, "授权小程序", &[76]);
    let (status, html) = e.authorise(&component_id).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&account_id));
    let a = e.account(&account_id).await;
    assert_eq!(a["enabled"], true);
    assert_eq!(
        a["settings"]["authorization"]["permission_sets"],
        json!([76])
    );
    // More permission sets granted later: `updateauthorized` updates the account.
    assert_eq!(
        e.wx.push_updateauthorized(COMPONENT, AUTH_APPID, "授权小程序", &[18, 76, 151])
            .await,
        Ok(200)
    );
    for _ in 0..100 {
        if e.account(&account_id).await["settings"]["authorization"]["permission_sets"]
            == json!([18, 76, 151])
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a = e.account(&account_id).await;
    assert_eq!(
        a["settings"]["authorization"]["permission_sets"],
        json!([18, 76, 151])
    );
    assert_eq!(a["settings"]["auto_refund"], true, "settings kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_expired_or_foreign_state_is_refused() {
    let e = env().await;
    let component_id = e.component().await;
    let (_, link) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{component_id}/authorization-link"),
            None,
        )
        .await;
    let url = link["url"].as_str().expect("url").to_string();
    let state = url.split("state=").nth(1).expect("state").to_string();
    let get = |u: String| async move {
        let r = reqwest::get(&u).await.expect("page");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    };
    assert_eq!(get(url.clone()).await.0, 200);
    // One character changed in the payload.
    let mut bytes = state.clone().into_bytes();
    bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).expect("utf8");
    let (s, html) = get(url.replace(&state, &tampered)).await;
    assert_eq!(s, 400);
    assert!(
        html.contains("signature does not verify") || html.contains("malformed"),
        "{html}"
    );
    // Expired: made 11 minutes ago with the installation's key.
    let old = desk_core::platforms::wxmini::onboarding::sign_state(
        &e.h.state,
        &component_id,
        chrono::Utc::now() - chrono::Duration::minutes(11),
    );
    let (s, html) = get(url.replace(&state, &old)).await;
    assert_eq!(s, 400);
    assert!(html.contains("expired"), "{html}");
    // The redirect page checks it too, before any code exchange.
    let (s, _) = get(format!(
        "{}/wxopen/{COMPONENT}/authorized?auth_code=queryauthcode@@@x&state={old}",
        e.base
    ))
    .await;
    assert_eq!(s, 400);
    // A state of another platform account on this path.
    let other = e
        .h
        .create(json!({"kind": "wxopen_component", "name": "Other", "settings": {"component_appid": "wx8888888888888888"},
            "credentials": {"secret": "s", "token": "tok123", "encoding_aes_key": COMPONENT_AES_KEY}}))
        .await;
    let foreign = desk_core::platforms::wxmini::onboarding::sign_state(
        &e.h.state,
        &other,
        chrono::Utc::now(),
    );
    assert_eq!(get(url.replace(&state, &foreign)).await.0, 400);
    assert_eq!(e.wx.query_auth_calls(), 0);
    // Only component accounts get links.
    let (s, _) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{}/authorization-link", e.merchant_id),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_authorizer_refreshes_keep_the_rotated_refresh_token() {
    let e = env().await;
    let component_id = e.component().await;
    e.wx.push_authorized(COMPONENT, AUTH_APPID, "并发", &[76])
        .await
        .expect("push");
    for _ in 0..100 {
        if e.wx.query_auth_calls() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = desk_core::platforms::wechat::component_account(&e.h.state, &component_id)
        .await
        .expect("component");
    let tokens =
        desk_core::platforms::wechat::tokens(&e.h.state, Some(&e.wx.base_url())).expect("tokens");
    for round in 0..3 {
        // Six workers were all refused the same (expired) token at once.
        let old = tokens
            .authorizer_token(&c.component, AUTH_APPID, None)
            .await
            .expect("cached token");
        e.wx.expire_tokens();
        let before = e.wx.refresh_calls();
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let (t, comp, old) = (tokens.clone(), c.component.clone(), old.clone());
            tasks.push(tokio::spawn(async move {
                t.authorizer_token(&comp, AUTH_APPID, Some(&old)).await
            }));
        }
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.expect("task").expect("token"));
        }
        got.dedup();
        assert_eq!(
            got.len(),
            1,
            "round {round}: everyone uses the one new token"
        );
        assert_eq!(
            e.wx.refresh_calls(),
            before + 1,
            "round {round}: one refresh"
        );
        assert_ne!(got[0], old);
    }
    // What the table holds is sealed: no access token, refresh token or ticket in it.
    for key in [
        tokens.authorizer_key(&c.component, AUTH_APPID),
        wechat::token::Tokens::ticket_key(COMPONENT),
        tokens.component_key(&c.component),
    ] {
        let key = format!("WXTOKEN#{key}");
        let item =
            e.h.state
                .ports
                .records
                .get(&key, "TOKEN")
                .await
                .expect("store")
                .unwrap_or_else(|| panic!("{key} cached"));
        let text = item.data.to_string();
        assert!(item.data["sealed"].is_string(), "{key}: {text}");
        for plain in ["ACCESS_", "COMPONENT_", "refreshtoken@@@", "ticket@@@"] {
            assert!(!text.contains(plain), "{key} holds {plain} in the clear");
        }
        assert!(!key.contains(COMPONENT_SECRET), "{key} shows the secret");
    }
    // The authorizer's token is used only with the component credentials that obtained it: a
    // wrong secret gets nothing (WeChat refuses its component token), the right one the cache.
    let wrong = wechat::token::Component {
        appid: COMPONENT.into(),
        secret: wechat::token::Secret::new("not-the-component-secret"),
    };
    let refused = tokens
        .authorizer_token(&wrong, AUTH_APPID, None)
        .await
        .expect_err("another secret is not handed the cached token");
    assert_eq!(refused.code(), Some(40013), "{refused}");
    let before = e.wx.refresh_calls();
    let current = tokens
        .authorizer_token(&c.component, AUTH_APPID, None)
        .await
        .expect("cached token");
    assert_eq!(e.wx.refresh_calls(), before, "read from the cache");
    // Tokens cached before keys named the credentials (`authorizer:{appid}`): the refresh
    // token is taken over by one refresh with the component's credentials, once.
    let cache = desk_core::platforms::wechat::RecordsTokenCache::new(
        e.h.state.ports.records.clone(),
        &e.h.state.fingerprints,
    );
    let held =
        wechat::token::TokenCache::load(&cache, &tokens.authorizer_key(&c.component, AUTH_APPID))
            .await
            .expect("load")
            .expect("cached");
    wechat::token::TokenCache::store(
        &cache,
        &format!("authorizer:{AUTH_APPID}"),
        held.value.clone(),
        None,
        None,
    )
    .await
    .expect("legacy record")
    .expect("written");
    // (Cached before: the app has no record under the new key.)
    e.h.state
        .ports
        .records
        .delete(
            &format!(
                "WXTOKEN#{}",
                tokens.authorizer_key(&c.component, AUTH_APPID)
            ),
            "TOKEN",
            None,
        )
        .await
        .expect("delete");
    let adopted = tokens
        .authorizer_token(&c.component, AUTH_APPID, None)
        .await
        .expect("refreshed from the legacy record");
    assert_ne!(adopted, current);
    assert_eq!(e.wx.refresh_calls(), before + 1, "one refresh");
    let legacy = wechat::token::TokenCache::load(&cache, &format!("authorizer:{AUTH_APPID}"))
        .await
        .expect("load");
    assert!(legacy.is_none(), "the legacy refresh token is not kept");
    // The stored refresh token is the latest: a complaint call works after all that.
    let mini = desk_core::platforms::wechat::mini_client(
        &e.h.state,
        &desk_core::repo::AccountRepo::new(&*e.h.state.ports.records)
            .find_by_platform_id("wxmini", AUTH_APPID)
            .await
            .expect("store")
            .expect("account"),
    )
    .await
    .expect("client");
    e.wx.expire_tokens();
    e.complaint(AUTH_APPID, 860_001, 100);
    let before = e.wx.refresh_calls();
    assert!(mini.complaint_detail("860001").await.is_ok());
    assert_eq!(e.wx.refresh_calls(), before + 1);
    let refused = mini
        .penalty_list(0, 10)
        .await
        .expect_err("permission set 151 was not granted");
    assert_eq!(refused.code(), Some(48001));
    assert_eq!(
        e.wx.refresh_calls(),
        before + 1,
        "a refusal that is not about the token refreshes nothing"
    );
}

/// An image of the complaint's history (our reply's, uploaded to WeChat) comes through the
/// download proxy; past the entry's images is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_images_come_through_the_download_proxy() {
    let e = env().await;
    let account_id = e.manual(PushMode::Safe, PushFormat::Xml).await;
    let (s, b) = e
        .h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account_id}"),
            Some(json!({"settings": {"appid": APPID, "mode": "manual", "api_base_url": e.wx.base_url(),
                "auto_response": {"enabled": false, "decision": "agree"}, "auto_refund": false,
                "payment": {"account_id": e.merchant_id}}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    e.complaint(APPID, 840_002, 3_000);
    e.wx.push_complaint("840002").await.expect("push");
    let d = e.wait_for("840002", "the record", |_| true).await;
    let id = d["complaint"]["id"].as_str().expect("id").to_string();
    let (s, media) =
        e.h.raw(
            Method::POST,
            "/admin/v1/media?filename=proof.bmp",
            Some(ADMIN),
            Some("BMproof".into()),
            "image/bmp",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let media: Value = serde_json::from_slice(&media).expect("json");
    let (s, b) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/complaints/{id}/reply"),
            Some(json!({"text": "不同意：商品已签收", "decision": "refuse", "images": [media["id"]]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    e.wx.push_complaint("840002").await.expect("push");
    let with_media = |d: &Value| {
        d["history"].as_array().and_then(|h| {
            h.iter()
                .find(|x| x["media"].as_array().is_some_and(|m| !m.is_empty()))
                .and_then(|x| x["entry_id"].as_str())
                .map(str::to_string)
        })
    };
    let d = e
        .wait_for("840002", "the reply's image in the history", |d| {
            with_media(d).is_some()
        })
        .await;
    let entry = with_media(&d).expect("an entry with an image");
    let image = |n: usize| {
        let path = format!("/admin/v1/complaints/{id}/history/{entry}/media/{n}");
        let h = &e.h;
        async move { h.raw(Method::GET, &path, Some(ADMIN), None, "").await }
    };
    assert_eq!(image(0).await, (StatusCode::OK, b"BMproof".to_vec()));
    assert_eq!(image(1).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_score_and_violations() {
    let e = env().await;
    let account_id = e.manual(PushMode::Safe, PushFormat::Xml).await;
    // Automatic actions off for this test.
    let (s, b) = e
        .h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account_id}"),
            Some(json!({"settings": {"appid": APPID, "mode": "manual", "api_base_url": e.wx.base_url(),
                "auto_response": {"enabled": false, "decision": "agree"}, "auto_refund": false,
                "payment": {"account_id": e.merchant_id}}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let user_image =
        e.wx.add_user_media(APPID, b"\x89PNG\r\n\x1a\nuser".to_vec());
    e.complaint(APPID, 840_001, 3_000);
    e.wx.set_status("840001", 201);
    {
        // The buyer attached an image.
        let now = chrono::Utc::now().timestamp();
        e.wx.add_complaint(
            APPID,
            json!({"complaintOrderId": 840_001, "createTime": now, "status": 201, "type": 1,
                "customerMaterial": {"content": "质量问题", "mediaIdList": [user_image]},
                "orderId": "42000840001", "outTradeNo": "T840001", "totalCost": 3_000,
                "expireTime": now + 3600, "appealState": 0}),
        );
    }
    e.wx.push_complaint("840001").await.expect("push");
    let d = e.wait_for("840001", "the record", |_| true).await;
    let id = d["complaint"]["id"].as_str().expect("id").to_string();
    assert_eq!(e.responds(840_001), 0, "automatic response is off");
    // The buyer's image through our proxy.
    let (s, img) =
        e.h.raw(
            Method::GET,
            &format!("/admin/v1/complaints/{id}/media/0"),
            Some(ADMIN),
            None,
            "",
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(img, b"\x89PNG\r\n\x1a\nuser");
    // Our evidence image, uploaded to WeChat when the action is sent.
    let (s, media) =
        e.h.raw(
            Method::POST,
            "/admin/v1/media?filename=proof.bmp",
            Some(ADMIN),
            Some("BMproof".into()),
            "image/bmp",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let media: Value = serde_json::from_slice(&media).expect("json");
    let post = |action: &'static str, body: Value| {
        let (h, id) = (&e.h, id.clone());
        async move {
            h.admin(
                Method::POST,
                &format!("/admin/v1/complaints/{id}/{action}"),
                Some(body),
            )
            .await
        }
    };
    let (s, b) = post("reply", json!({"text": "同意退款"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a decision is required: {b}");
    assert_eq!(b["error"]["field"], "decision");
    let (s, b) = post(
        "reply",
        json!({"text": "不同意：商品已签收", "decision": "refuse", "images": [media["id"]]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let sent = &e.wx.writes_to("bussiRespondComplaint")[0].1;
    assert_eq!(sent["bussiHandle"], 2);
    assert_eq!(sent["mediaIdList"].as_array().map(Vec::len), Some(1));
    let uploaded = sent["mediaIdList"][0].as_str().expect("media id");
    assert_eq!(e.wx.media(uploaded).as_deref(), Some(&b"BMproof"[..]));
    // Responding again: the platform answers 309, we answer 409.
    let (s, b) = post("reply", json!({"text": "again", "decision": "agree"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (s, b) = post("supplement", json!({"text": "补充：物流签收记录"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Judged the merchant's responsibility: refund evidence (goods received?), then appeal.
    e.wx.set_status("840001", 206);
    let (s, b) = post("refund-evidence", json!({"text": "已退款"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["field"], "goods_received");
    let (s, b) = post("appeal", json!({"text": "用户已签收，申诉"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = post(
        "refund-evidence",
        json!({"text": "已退款", "goods_received": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        e.wx.writes_to("bussiSupplyRefund")[0].1["content"],
        "【已收到退货】已退款"
    );
    assert_eq!(e.wx.writes_to("busiAppeal").len(), 1);
    let (s, b) = post("appeal", json!({"text": "再次申诉"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    // Actions mini programs lack.
    for action in ["complete", "refund-progress", "feedback"] {
        let (s, b) = post(action, json!({"action": "approve"})).await;
        assert_eq!(s, StatusCode::CONFLICT, "{action}: {b}");
    }
    // A partial refund through the linked WeChat Pay merchant, then the rest, then too much.
    let (s, r1) = post("refund", json!({"amount_fen": 1_000})).await;
    assert_eq!(s, StatusCode::OK, "{r1}");
    // An amount that would overflow `refunded + amount` is refused before WeChat Pay is asked.
    let (s, b) = post("refund", json!({"amount_fen": u64::MAX - 500})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["field"], "amount_fen");
    assert_eq!(e.refunds(840_001).len(), 1);
    let d = e.detail("840001").await.expect("detail");
    assert_eq!(d["complaint"]["refunded_fen"], 1_000);
    let (s, r2) = post("refund", json!({"amount_fen": 2_000, "reason": "补退"})).await;
    assert_eq!(s, StatusCode::OK, "{r2}");
    assert_ne!(r1["out_refund_no"], r2["out_refund_no"]);
    let (s, _) = post("refund", json!({"amount_fen": 1})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e.refunds(840_001).len(), 2);
    let d = e.detail("840001").await.expect("detail");
    assert_eq!(
        d["complaint"]["refunded_fen"], 3_000,
        "both partial refunds"
    );
    let kinds: Vec<&str> = d["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["action"].as_str().unwrap_or_default())
        .collect();
    for k in ["reply", "supplement", "appeal", "refund_evidence", "refund"] {
        assert!(kinds.contains(&k), "{k} logged: {kinds:?}");
    }
    assert_eq!(
        actions(&d, "reply").len(),
        2,
        "the refused one is logged too"
    );
    // Trade experience score.
    e.wx.set_penalties(
        APPID,
        92,
        vec![json!({"illegalOrderId": "IL1", "complaintOrderId": "840001", "illegalWording": "未及时处理投诉", "status": 2, "minusScore": 8, "illegalTime": 1_700_000_000})],
    );
    let (s, score) =
        e.h.admin(
            Method::GET,
            &format!("/admin/v1/accounts/{account_id}/trade-score"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{score}");
    assert_eq!(score["current_score"], 92);
    assert_eq!(score["total"], 1);
    assert_eq!(score["penalties"][0]["minusScore"], 8);
    let (s, _) =
        e.h.admin(
            Method::GET,
            &format!("/admin/v1/accounts/{}/trade-score", e.merchant_id),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Violation records with their appeals.
    let now = chrono::Utc::now().timestamp();
    e.wx.add_illegal_record(
        APPID,
        json!({"illegal_record_id": "ILR_1", "create_time": now - 86_400, "illegal_reason": "虚假宣传",
            "illegal_content": "商品描述不实", "rule_url": "https://example.com/rule", "rule_name": "交易规则"}),
    );
    e.wx.add_illegal_record(
        APPID,
        json!({"illegal_record_id": "ILR_OLD", "create_time": now - 200 * 86_400, "illegal_reason": "old"}),
    );
    e.wx.add_appeal_record(
        "ILR_1",
        json!({"appeal_record_id": 7, "appeal_time": now, "appeal_count": 1, "appeal_from": 0, "appeal_status": 1}),
    );
    let (s, v) =
        e.h.admin(
            Method::GET,
            &format!("/admin/v1/violations?account={account_id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let items = v["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "the last 90 days: {v}");
    assert_eq!(items[0]["record_id"], "ILR_1");
    assert_eq!(items[0]["summary"], "虚假宣传; 交易规则");
    assert_eq!(items[0]["details"]["appeal_records"][0]["appeal_status"], 1);
    // Read again: still one record (replaced, not duplicated).
    let (_, v) =
        e.h.admin(
            Method::GET,
            &format!("/admin/v1/violations?account={account_id}"),
            None,
        )
        .await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1));
    // A token scoped to another account sees none of it.
    let other =
        e.h.token(json!({"type": "account", "account_id": e.merchant_id}))
            .await;
    let (s, _) =
        e.h.call(
            Method::GET,
            &format!("/admin/v1/accounts/{account_id}/trade-score"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) =
        e.h.call(
            Method::GET,
            &format!("/admin/v1/complaints/{id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechatpy_encrypted_pushes_are_accepted_and_bad_ones_refused() {
    let e = env().await;
    e.manual(PushMode::Safe, PushFormat::Xml).await;
    e.complaint(APPID, 850_001, 100);
    let msg = format!(
        "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><CreateTime>1700000001</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[complaint_callback]]></Event><BussiCallBackInfo><appid><![CDATA[{APPID}]]></appid><complaint_order_id>850001</complaint_order_id><status>201</status></BussiCallBackInfo></xml>"
    );
    let encrypt = |appid: &str| {
        sandbox::peer::run(
            "peer_wechatpy.py",
            &json!({"op": "encrypt", "token": TOKEN, "encoding_aes_key": AES_KEY, "appid": appid,
                "msg": msg, "nonce": "peer-nonce", "timestamp": "1700000001"}),
        )
    };
    let post = |out: Value, sig: String| {
        let h = &e.h;
        async move {
            let body = format!(
                "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
                out["encrypt"].as_str().expect("encrypt")
            );
            let (s, _) = h
                .raw(
                    Method::POST,
                    &format!(
                        "/callbacks/wxmini/{APPID}?timestamp={}&nonce={}&encrypt_type=aes&msg_signature={sig}",
                        out["timestamp"].as_str().expect("ts"),
                        out["nonce"].as_str().expect("nonce")
                    ),
                    None,
                    Some(body),
                    "text/xml",
                )
                .await;
            s
        }
    };
    let good = encrypt(APPID);
    let sig = good["msg_signature"].as_str().expect("sig").to_string();
    let mut wrong = sig.clone().into_bytes();
    wrong[0] = if wrong[0] == b'a' { b'b' } else { b'a' };
    assert_eq!(
        post(good.clone(), String::from_utf8(wrong).expect("utf8")).await,
        StatusCode::UNAUTHORIZED
    );
    let foreign = encrypt("wx0000000000000000");
    let fsig = foreign["msg_signature"].as_str().expect("sig").to_string();
    assert_eq!(post(foreign, fsig).await, StatusCode::UNAUTHORIZED);
    assert!(e.queue_is_empty().await);
    assert_eq!(post(good, sig).await, StatusCode::OK);
    e.wait_for("850001", "the record from wechatpy's push", |d| {
        d["complaint"]["replied"] == true
    })
    .await;
    // And wechatpy opens what we encrypt.
    let ours = wechat::crypt::Crypto::new(TOKEN, Some(AES_KEY), APPID).expect("crypto");
    let enc = ours.encrypt(&msg).expect("encrypt");
    let sig = wechat::crypt::msg_signature(TOKEN, "1700000002", "n2", &enc);
    let out = sandbox::peer::run(
        "peer_wechatpy.py",
        &json!({"op": "decrypt", "token": TOKEN, "encoding_aes_key": AES_KEY, "appid": APPID,
            "xml": format!("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"),
            "msg_signature": sig, "timestamp": "1700000002", "nonce": "n2"}),
    );
    assert_eq!(out["plaintext"], msg.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_launch_page_waits_for_the_first_ticket() {
    let e = env().await;
    let id = e.component_without_ticket().await;
    let (_, link) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{id}/authorization-link"),
            None,
        )
        .await;
    let url = link["url"].as_str().expect("url").to_string();
    let r = reqwest::get(&url).await.expect("page");
    assert_eq!(r.status(), 503);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains("component_verify_ticket")
    );
    assert_eq!(e.wx.push_ticket(COMPONENT).await, Ok(200));
    let r = reqwest::get(&url).await.expect("page");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_media_is_unknown_and_never_uploaded() {
    let e = env().await;
    let account_id = e.manual(PushMode::Safe, PushFormat::Xml).await;
    let other = e
        .h
        .create(json!({"kind": "alipay_app", "name": "Other tenant", "settings": {"app_id": "2021000000000077"}}))
        .await;
    let mine =
        e.h.token(json!({"type": "account", "account_id": account_id}))
            .await;
    let theirs =
        e.h.token(json!({"type": "account", "account_id": other}))
            .await;
    let upload = |token: String| {
        let h = &e.h;
        async move {
            let (s, m) = h
                .raw(
                    Method::POST,
                    "/admin/v1/media?filename=proof.bmp",
                    Some(&token),
                    Some("BMevidence".into()),
                    "image/bmp",
                )
                .await;
            assert_eq!(s, StatusCode::CREATED);
            let m: Value = serde_json::from_slice(&m).expect("json");
            m["id"].as_str().expect("id").to_string()
        }
    };
    let foreign = upload(theirs).await;
    let admins = upload(ADMIN.to_string()).await;
    let own = upload(mine.clone()).await;
    // Another tenant's (or an administrator's) image in this tenant's automatic response:
    // refused like an unknown id, nothing stored.
    for bad in [&foreign, &admins] {
        let (s, b) =
            e.h.call(
                Method::PATCH,
                &format!("/admin/v1/accounts/{account_id}"),
                Some(&mine),
                Some(json!({"settings": {"auto_response": {"images": [own, bad]}}})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(
            b["error"]["field"], "settings.auto_response.images[1]",
            "{b}"
        );
    }
    let (s, b) = e
        .h
        .call(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account_id}"),
            Some(&mine),
            Some(json!({"settings": {"auto_response": {"enabled": false, "images": [own]}, "auto_refund": false}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // An action naming a foreign image: 400, and nothing reaches WeChat (not even the own
    // image listed first).
    e.complaint(APPID, 850_001, 1_000);
    e.wx.push_complaint("850001").await.expect("push");
    let d = e.wait_for("850001", "the record", |_| true).await;
    let id = d["complaint"]["id"].as_str().expect("id").to_string();
    let media_before = e.wx.media_count();
    let responds_before = e.responds(850_001);
    for bad in [&foreign, &admins, &"med_nonexistent".to_string()] {
        let (s, b) =
            e.h.call(
                Method::POST,
                &format!("/admin/v1/complaints/{id}/reply"),
                Some(&mine),
                Some(json!({"text": "见附件", "decision": "refuse", "images": [own, bad]})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["error"]["field"], "images", "{b}");
    }
    assert_eq!(e.wx.media_count(), media_before, "nothing was uploaded");
    assert_eq!(e.responds(850_001), responds_before);
    // The tenant's own image goes through.
    let (s, b) =
        e.h.call(
            Method::POST,
            &format!("/admin/v1/complaints/{id}/reply"),
            Some(&mine),
            Some(json!({"text": "见附件", "decision": "refuse", "images": [own]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(e.wx.media_count(), media_before + 1);
}

/// The real record store; deletes of `failing` fail while `failing` is set, and are counted.
struct FailingDeletes {
    inner: std::sync::Arc<dyn domain::ports::RecordStore>,
    failing: std::sync::Mutex<Option<String>>,
    refused: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl domain::ports::RecordStore for FailingDeletes {
    async fn get(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<domain::ports::Item>, domain::ports::StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn create(
        &self,
        item: domain::ports::Item,
    ) -> Result<domain::ports::Item, domain::ports::StoreError> {
        self.inner.create(item).await
    }
    async fn update(
        &self,
        item: domain::ports::Item,
        v: u64,
    ) -> Result<domain::ports::Item, domain::ports::StoreError> {
        self.inner.update(item, v).await
    }
    async fn put(
        &self,
        item: domain::ports::Item,
    ) -> Result<domain::ports::Item, domain::ports::StoreError> {
        self.inner.put(item).await
    }
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        v: Option<u64>,
    ) -> Result<bool, domain::ports::StoreError> {
        if self.failing.lock().expect("lock").as_deref() == Some(pk) {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Err(domain::ports::StoreError::Unavailable(
                "delete refused by the test".into(),
            ));
        }
        self.inner.delete(pk, sk, v).await
    }
    async fn transact(
        &self,
        writes: Vec<domain::ports::Write>,
    ) -> Result<(), domain::ports::StoreError> {
        self.inner.transact(writes).await
    }
    async fn query(
        &self,
        query: &domain::ports::Query,
    ) -> Result<domain::ports::Page, domain::ports::StoreError> {
        self.inner.query(query).await
    }
    async fn ping(&self) -> Result<(), domain::ports::StoreError> {
        self.inner.ping().await
    }
    async fn probe_write(&self) -> Result<(), domain::ports::StoreError> {
        self.inner.probe_write().await
    }
    fn last_write(&self) -> Option<domain::ports::WriteOutcome> {
        self.inner.last_write()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_mini_program_gets_no_token_back_from_a_legacy_record() {
    let legacy_pk = format!("WXTOKEN#authorizer:{AUTH_APPID}");
    let mut store = None;
    let e = env_configured(true, |s| {
        let f = std::sync::Arc::new(FailingDeletes {
            inner: s.ports.records.clone(),
            failing: std::sync::Mutex::new(None),
            refused: std::sync::atomic::AtomicUsize::new(0),
        });
        s.ports.records = f.clone();
        store = Some(f);
    })
    .await;
    let store = store.expect("store");
    let component_id = e.component().await;
    e.wx.push_authorized(COMPONENT, AUTH_APPID, "撤销", &[76])
        .await
        .expect("push");
    let mut account_id = None;
    for _ in 0..100 {
        account_id = desk_core::repo::AccountRepo::new(&*e.h.state.ports.records)
            .find_by_platform_id("wxmini", AUTH_APPID)
            .await
            .expect("store")
            .map(|a| a.id);
        if account_id.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let account_id = account_id.expect("onboarded");
    let c = desk_core::platforms::wechat::component_account(&e.h.state, &component_id)
        .await
        .expect("component");
    let tokens =
        desk_core::platforms::wechat::tokens(&e.h.state, Some(&e.wx.base_url())).expect("tokens");
    tokens
        .authorizer_token(&c.component, AUTH_APPID, None)
        .await
        .expect("token while authorised");
    // A record cached before keys named the credentials still holds the current refresh token
    // (which WeChat would still take: the simulator is not told of the withdrawal).
    let cache = desk_core::platforms::wechat::RecordsTokenCache::new(
        e.h.state.ports.records.clone(),
        &e.h.state.fingerprints,
    );
    let held =
        wechat::token::TokenCache::load(&cache, &tokens.authorizer_key(&c.component, AUTH_APPID))
            .await
            .expect("load")
            .expect("cached");
    wechat::token::TokenCache::store(
        &cache,
        &format!("authorizer:{AUTH_APPID}"),
        held.value.clone(),
        None,
        None,
    )
    .await
    .expect("legacy record")
    .expect("written");
    // `unauthorized` arrives while the legacy record cannot be deleted.
    *store.failing.lock().expect("lock") = Some(legacy_pk.clone());
    let events = PushConfig {
        token: COMPONENT_TOKEN.into(),
        encoding_aes_key: COMPONENT_AES_KEY.into(),
        mode: PushMode::Safe,
        format: PushFormat::Xml,
        url: format!("{}/callbacks/wxopen/{COMPONENT}/events", e.base),
    };
    let msg = json!({"AppId": COMPONENT, "CreateTime": chrono::Utc::now().timestamp(),
        "InfoType": "unauthorized", "AuthorizerAppid": AUTH_APPID});
    assert_eq!(e.wx.push(&events, COMPONENT, &msg).await, Ok(200));
    for _ in 0..100 {
        if store.refused.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(store.refused.load(std::sync::atomic::Ordering::SeqCst) > 0);
    let refreshes = e.wx.refresh_calls();
    let withdrawn = |what: &'static str| {
        let (tokens, component) = (tokens.clone(), c.component.clone());
        async move {
            let err = tokens
                .authorizer_token(&component, AUTH_APPID, None)
                .await
                .expect_err(what);
            assert!(
                err.to_string().contains("authorised again"),
                "{what}: {err}"
            );
        }
    };
    withdrawn("no token while the legacy record cannot be deleted").await;
    e.wx.expire_tokens();
    withdrawn("no token once the cached access token expired either").await;
    assert_eq!(e.wx.refresh_calls(), refreshes, "nothing was refreshed");
    // The deletion goes through on a retry; the account is disabled; still no token.
    *store.failing.lock().expect("lock") = None;
    for _ in 0..100 {
        if e.account(&account_id).await["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(e.account(&account_id).await["enabled"], false);
    let legacy = wechat::token::TokenCache::load(&cache, &format!("authorizer:{AUTH_APPID}"))
        .await
        .expect("load");
    assert!(legacy.is_none(), "the legacy record is deleted");
    withdrawn("no token after the withdrawal").await;
    assert_eq!(e.wx.refresh_calls(), refreshes, "nothing was refreshed");
    // Authorised again (through the authorisation page: the first `authorized` push may have
    // been in the same second): tokens work again.
    e.wx.will_authorize(AUTH_APPID, "撤销", &[76]);
    let (status, html) = e.authorise(&component_id).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(e.account(&account_id).await["enabled"], true);
    assert!(
        tokens
            .authorizer_token(&c.component, AUTH_APPID, None)
            .await
            .is_ok()
    );
}

/// The real token cache; once armed, the first load (`on_remove`: false) or remove (true) of
/// `key` tells `reached` and waits for `go` before it answers.
struct Hold {
    inner: desk_core::platforms::wechat::RecordsTokenCache,
    armed: std::sync::Mutex<Option<(String, bool)>>,
    reached: tokio::sync::Notify,
    go: tokio::sync::Notify,
}

impl Hold {
    fn arm(&self, key: &str, on_remove: bool) {
        *self.armed.lock().expect("lock") = Some((key.to_string(), on_remove));
    }

    async fn pause(&self, key: &str, remove: bool) {
        let hit = {
            let mut armed = self.armed.lock().expect("lock");
            let hit = armed
                .as_ref()
                .is_some_and(|(k, r)| k == key && *r == remove);
            if hit {
                *armed = None;
            }
            hit
        };
        if hit {
            self.reached.notify_one();
            self.go.notified().await;
        }
    }
}

#[async_trait::async_trait]
impl wechat::token::TokenCache for Hold {
    async fn load(&self, key: &str) -> Result<Option<wechat::token::Cached>, String> {
        let read = self.inner.load(key).await;
        self.pause(key, false).await;
        read
    }

    async fn store(
        &self,
        key: &str,
        value: Value,
        expires_at: Option<i64>,
        expected: Option<u64>,
    ) -> Result<Option<u64>, String> {
        self.inner.store(key, value, expires_at, expected).await
    }

    async fn remove(&self, key: &str) -> Result<(), String> {
        self.pause(key, true).await;
        self.inner.remove(key).await
    }

    fn fingerprint(&self, material: &[u8]) -> String {
        self.inner.fingerprint(material)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_racing_the_withdrawal_gets_no_token_from_the_legacy_record() {
    let e = env().await;
    let component_id = e.component().await;
    e.wx.push_authorized(COMPONENT, AUTH_APPID, "竞争", &[76])
        .await
        .expect("push");
    for _ in 0..100 {
        if e.wx.query_auth_calls() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = desk_core::platforms::wechat::component_account(&e.h.state, &component_id)
        .await
        .expect("component");
    let hold = std::sync::Arc::new(Hold {
        inner: desk_core::platforms::wechat::RecordsTokenCache::new(
            e.h.state.ports.records.clone(),
            &e.h.state.fingerprints,
        ),
        armed: std::sync::Mutex::new(None),
        reached: tokio::sync::Notify::new(),
        go: tokio::sync::Notify::new(),
    });
    let tokens = wechat::token::Tokens::new(
        reqwest::Client::new(),
        e.wx.base_url().parse().expect("base"),
        hold.clone(),
        std::sync::Arc::new(|| chrono::Utc::now().timestamp()),
    );
    let key = tokens.authorizer_key(&c.component, AUTH_APPID);
    let legacy_key = wechat::token::Tokens::legacy_authorizer_key(AUTH_APPID);
    let mut held = None;
    for _ in 0..100 {
        held = wechat::token::TokenCache::load(&hold.inner, &key)
            .await
            .expect("load")
            .filter(|h| h.value["refresh_token"].is_string());
        if held.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let held = held.expect("tokens stored by the onboarding");
    // Only a record cached before keys named the credentials, holding the current refresh
    // token (which WeChat would still take: the simulator is not told of the withdrawal).
    let legacy_only = || async {
        wechat::token::TokenCache::remove(&hold.inner, &key)
            .await
            .expect("remove");
        wechat::token::TokenCache::remove(&hold.inner, &legacy_key)
            .await
            .expect("remove");
        wechat::token::TokenCache::store(&hold.inner, &legacy_key, held.value.clone(), None, None)
            .await
            .expect("store")
            .expect("legacy record");
    };
    let refreshes = e.wx.refresh_calls();

    // A call read the legacy record, then the withdrawal ran to the end.
    legacy_only().await;
    hold.arm(&legacy_key, false);
    let call = {
        let (t, comp) = (tokens.clone(), c.component.clone());
        tokio::spawn(async move { t.authorizer_token(&comp, AUTH_APPID, None).await })
    };
    hold.reached.notified().await;
    tokens
        .forget_authorizer(COMPONENT, AUTH_APPID)
        .await
        .expect("forget");
    hold.go.notify_one();
    let err = call
        .await
        .expect("task")
        .expect_err("no token from a legacy record read before the withdrawal");
    assert!(err.to_string().contains("authorised again"), "{err}");

    // A call while the withdrawal is deleting the legacy record.
    legacy_only().await;
    hold.arm(&legacy_key, true);
    let forget = {
        let t = tokens.clone();
        tokio::spawn(async move { t.forget_authorizer(COMPONENT, AUTH_APPID).await })
    };
    hold.reached.notified().await;
    let err = tokens
        .authorizer_token(&c.component, AUTH_APPID, None)
        .await
        .expect_err("no token while the legacy record is being deleted");
    assert!(err.to_string().contains("authorised again"), "{err}");
    hold.go.notify_one();
    forget.await.expect("task").expect("forget");
    assert!(
        wechat::token::TokenCache::load(&hold.inner, &legacy_key)
            .await
            .expect("load")
            .is_none()
    );
    assert_eq!(e.wx.refresh_calls(), refreshes, "nothing was refreshed");
}

/// A mini program with the automatic response and refund off (refunds by hand only); its
/// account id.
async fn without_auto_refund(e: &Env) -> String {
    let account_id = e.manual(PushMode::Safe, PushFormat::Xml).await;
    let (s, b) = e
        .h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account_id}"),
            Some(json!({"settings": {"appid": APPID, "mode": "manual", "api_base_url": e.wx.base_url(),
                "auto_response": {"enabled": false, "decision": "agree"}, "auto_refund": false,
                "refund_cap_fen": 100_000, "payment": {"account_id": e.merchant_id}}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    account_id
}

/// The complaint `id` of `amount` fen pushed and recorded; its internal id.
async fn recorded(e: &Env, id: u64, amount: u64) -> String {
    e.complaint(APPID, id, amount);
    e.wx.push_complaint(&id.to_string()).await.expect("push");
    let d = e.wait_for(&id.to_string(), "the record", |_| true).await;
    d["complaint"]["id"].as_str().expect("id").to_string()
}

/// Push complaint `id` again as a new event: pushes are deduped on their `CreateTime` (whole
/// seconds), so a push in the same second as `since` would be the same push (a retry).
async fn push_again(e: &Env, id: u64, since: i64) {
    while chrono::Utc::now().timestamp() <= since {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    e.wx.push_complaint(&id.to_string()).await.expect("push");
}

fn refund_amount(r: &Value) -> u64 {
    r["amount"]["refund"].as_u64().expect("refund amount")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_refund_after_a_partial_one_by_hand_refunds_only_what_is_left() {
    let e = env().await;
    let account_id = without_auto_refund(&e).await;
    let pushed = chrono::Utc::now().timestamp();
    let cid = recorded(&e, 850_001, 3_000).await;
    // Staff refund part of the order by hand.
    let (s, b) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/complaints/{cid}/refund"),
            Some(json!({"amount_fen": 1_000})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Then the automatic refund is turned on and the complaint pushed again.
    let (s, b) =
        e.h.admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account_id}"),
            Some(json!({"settings": {"auto_refund": true}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    push_again(&e, 850_001, pushed).await;
    let d = e
        .wait_for("850001", "the automatic refund", |d| {
            d["refunds"].as_array().is_some_and(|r| r.len() == 2)
                && e.refunds(850_001).len() >= 2
                && d["complaint"]["refunded_fen"] == 3_000
        })
        .await;
    let mut amounts: Vec<u64> = e.refunds(850_001).iter().map(refund_amount).collect();
    amounts.sort_unstable();
    assert_eq!(
        amounts,
        vec![1_000, 2_000],
        "only what was left: {amounts:?}"
    );
    assert_eq!(d["complaint"]["refunded_fen"], 3_000);
    // Pushed again: nothing more is asked.
    push_again(&e, 850_001, chrono::Utc::now().timestamp()).await;
    e.settle().await;
    assert_eq!(e.refunds(850_001).len(), 2);
    let d = e.detail("850001").await.expect("detail");
    assert_eq!(d["complaint"]["refunded_fen"], 3_000);

    // Everything refunded by hand first: the automatic refund asks for nothing and says why.
    let (s, b) =
        e.h.admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account_id}"),
            Some(json!({"settings": {"auto_refund": false}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let pushed = chrono::Utc::now().timestamp();
    let cid = recorded(&e, 850_002, 2_000).await;
    let (s, b) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/complaints/{cid}/refund"),
            Some(json!({"amount_fen": 2_000})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) =
        e.h.admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{account_id}"),
            Some(json!({"settings": {"auto_refund": true}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    push_again(&e, 850_002, pushed).await;
    let d = e
        .wait_for("850002", "the skipped refund", |d| {
            actions(d, "refund")
                .iter()
                .any(|a| a["outcome"] == "skipped")
        })
        .await;
    assert_eq!(e.refunds(850_002).len(), 1);
    let skipped = actions(&d, "refund")
        .into_iter()
        .find(|a| a["outcome"] == "skipped")
        .expect("skipped")
        .to_string();
    assert!(skipped.contains("no automatic refund"), "{skipped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refunds_by_hand_get_distinct_numbers_and_stay_within_the_order() {
    let e = env().await;
    without_auto_refund(&e).await;
    let cid = recorded(&e, 850_003, 3_000).await;
    let path = format!("/admin/v1/complaints/{cid}/refund");
    let ask = || {
        e.h.admin(Method::POST, &path, Some(json!({"amount_fen": 1_000})))
    };
    // Five at once, 5 000 fen against an order of 3 000.
    let (a, b, c, d, f) = tokio::join!(ask(), ask(), ask(), ask(), ask());
    let mut accepted = Vec::new();
    for (s, body) in [a, b, c, d, f] {
        match s {
            StatusCode::OK => accepted.push(body),
            StatusCode::BAD_REQUEST => assert_eq!(body["error"]["field"], "amount_fen", "{body}"),
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let platform = e.refunds(850_003);
    let mut numbers: Vec<&str> = platform
        .iter()
        .map(|r| r["out_refund_no"].as_str().expect("number"))
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), platform.len());
    let mut ours: Vec<&str> = accepted
        .iter()
        .map(|r| r["out_refund_no"].as_str().expect("number"))
        .collect();
    ours.sort_unstable();
    ours.dedup();
    assert_eq!(ours.len(), accepted.len(), "distinct numbers: {accepted:?}");
    let paid: u64 = platform.iter().map(refund_amount).sum();
    let answered: u64 = accepted
        .iter()
        .map(|r| r["amount_fen"].as_u64().expect("amount"))
        .sum();
    assert!(paid <= 3_000, "{platform:?}");
    assert_eq!(answered, paid, "what we answered is what the platform paid");
    let detail = e.detail("850003").await.expect("detail");
    assert_eq!(detail["complaint"]["refunded_fen"], paid);
    // What is left can still be refunded, and no more.
    if paid < 3_000 {
        let (s, b) =
            e.h.admin(
                Method::POST,
                &path,
                Some(json!({"amount_fen": 3_000 - paid})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (s, b) =
        e.h.admin(Method::POST, &path, Some(json!({"amount_fen": 1})))
            .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let paid: u64 = e.refunds(850_003).iter().map(refund_amount).sum();
    assert_eq!(paid, 3_000);
    let detail = e.detail("850003").await.expect("detail");
    assert_eq!(detail["complaint"]["refunded_fen"], 3_000);
}

/// A refund the platform reports `ABNORMAL` (the money left, the buyer's account refused it)
/// still counts against the order: a refund by hand of more than is left is refused before
/// WeChat Pay is asked, and `refunded_fen` keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abnormal_refund_still_counts_against_the_order() {
    let e = env().await;
    without_auto_refund(&e).await;
    let cid = recorded(&e, 850_004, 3_000).await;
    let path = format!("/admin/v1/complaints/{cid}/refund");
    let (s, r) =
        e.h.admin(Method::POST, &path, Some(json!({"amount_fen": 2_000})))
            .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // The simulator's own result (SUCCESS) first, then ours: ABNORMAL.
    e.wait_for("850004", "the refund result", |d| {
        d["refunds"][0]["status"] == "SUCCESS"
    })
    .await;
    let refund = e
        .refunds(850_004)
        .pop()
        .expect("the refund on the platform");
    let abnormal = json!({
        "mchid": MCHID, "transaction_id": refund["transaction_id"],
        "out_trade_no": refund["out_trade_no"], "refund_id": refund["refund_id"],
        "out_refund_no": refund["out_refund_no"], "refund_status": "ABNORMAL",
        "user_received_account": "支付用户零钱",
        "amount": {"total": 3_000, "refund": 2_000, "payer_total": 3_000, "payer_refund": 2_000},
    });
    let n = e.pay.notification(
        APIV3,
        "REFUND.ABNORMAL",
        "refund",
        &abnormal,
        KeyMode::PublicKey,
        0,
    );
    assert_eq!(
        n.post(&format!("{}/callbacks/wechatpay/{MCHID}/refunds", e.base))
            .await,
        Ok(204)
    );
    e.wait_for("850004", "the abnormal refund", |d| {
        d["refunds"][0]["status"] == "ABNORMAL"
    })
    .await;
    let calls = e.pay.refunds().len();
    let (s, b) =
        e.h.admin(Method::POST, &path, Some(json!({"amount_fen": 1_500})))
            .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["field"], "amount_fen");
    assert_eq!(e.pay.refunds().len(), calls, "WeChat Pay was not asked");
    let d = e.detail("850004").await.expect("detail");
    assert_eq!(d["complaint"]["refunded_fen"], 2_000);
    let (s, b) =
        e.h.admin(Method::POST, &path, Some(json!({"amount_fen": 1_000})))
            .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}
