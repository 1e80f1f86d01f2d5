//! The real `complaint-desk` binary with the WeChat API simulator at `RUST_LOG=debug`: a mini
//! program onboarded by hand and one authorised through the third-party platform (ticket and
//! `authorized` event), complaints pushed to both, tokens expired and refreshed; the work gets
//! done and none of the secrets, tokens or tickets appear in the output.

use e2e_tests::Server;
use sandbox::wxapi::{PushConfig, PushFormat, PushMode, SimComponent, SimMini, WechatSim};
use serde_json::{Value, json};
use std::time::Duration;

const ADMIN: &str = "e2e-admin-token-0123456789abcdef";
const MANUAL: &str = "wx1111111111111111";
const AUTHORISED: &str = "wx2222222222222222";
const COMPONENT: &str = "wx9999999999999999";
const SECRET: &str = "miniSecretLEAKCHECK0123456789ab";
const COMPONENT_SECRET: &str = "componentSecretLEAKCHECK012345";
const TOKEN: &str = "miniTokenLEAKCHECK";
const COMPONENT_TOKEN: &str = "platformTokenLEAKCHECK";
const AES_KEY: &str = "LEAKCHECKmnopqrstuvwxyz0123456789ABCDEFGhij";
const COMPONENT_AES_KEY: &str = "LEAKCHECKXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrq";

async fn admin(s: &Server, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let (status, v) = s.admin(ADMIN, method, path, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {v}");
    v
}

fn complaint(wx: &WechatSim, appid: &str, id: u64) {
    let now = chrono::Utc::now().timestamp();
    wx.add_complaint(
        appid,
        json!({"complaintOrderId": id, "createTime": now, "status": 201, "type": 1,
            "phoneNumber": "13900001111", "customerMaterial": {"content": "没收到货", "mediaIdList": []},
            "orderId": format!("42000{id}"), "outTradeNo": format!("T{id}"), "totalCost": 500,
            "expireTime": now + 3600}),
    );
}

async fn until(server: &Server, what: &str, ok: impl Fn() -> bool) {
    for _ in 0..100 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}:\n{}", server.output_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mini_programs_in_both_modes_leave_no_secret_in_the_logs() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), &[("ADMIN_TOKEN", ADMIN), ("RUST_LOG", "debug")]);
    let wx = WechatSim::start().await.expect("sim");
    let response = json!({"enabled": true, "decision": "agree", "text": "您好，马上为您处理"});
    wx.add_mini(SimMini {
        appid: MANUAL.into(),
        secret: SECRET.into(),
        nick_name: "手动".into(),
        push: Some(PushConfig {
            token: TOKEN.into(),
            encoding_aes_key: AES_KEY.into(),
            mode: PushMode::Safe,
            format: PushFormat::Xml,
            url: server.url(&format!("/callbacks/wxmini/{MANUAL}")),
        }),
    });
    admin(
        &server,
        reqwest::Method::POST,
        "/accounts",
        Some(json!({"kind": "wxmini_app", "name": "Manual", "settings": {
            "appid": MANUAL, "mode": "manual", "api_base_url": wx.base_url(), "auto_response": response},
            "credentials": {"secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}})),
    )
    .await;
    let platform = |url: String, format| PushConfig {
        token: COMPONENT_TOKEN.into(),
        encoding_aes_key: COMPONENT_AES_KEY.into(),
        mode: PushMode::Safe,
        format,
        url,
    };
    wx.add_component(SimComponent {
        appid: COMPONENT.into(),
        secret: COMPONENT_SECRET.into(),
        events: platform(
            server.url(&format!("/callbacks/wxopen/{COMPONENT}/events")),
            PushFormat::Xml,
        ),
        messages: platform(
            server.url(&format!("/callbacks/wxopen/{COMPONENT}/messages/$APPID$")),
            PushFormat::Json,
        ),
    });
    admin(
        &server,
        reqwest::Method::POST,
        "/accounts",
        Some(
            json!({"kind": "wxopen_component", "name": "Platform", "settings": {
            "component_appid": COMPONENT, "api_base_url": wx.base_url()},
            "credentials": {"secret": COMPONENT_SECRET, "token": COMPONENT_TOKEN,
                "encoding_aes_key": COMPONENT_AES_KEY}}),
        ),
    )
    .await;
    assert_eq!(wx.push_ticket(COMPONENT).await, Ok(200));
    assert_eq!(
        wx.push_authorized(COMPONENT, AUTHORISED, "授权", &[76, 151])
            .await,
        Ok(200)
    );
    let mut account = None;
    for _ in 0..100 {
        let list = admin(&server, reqwest::Method::GET, "/accounts", None).await;
        account = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["settings"]["appid"] == AUTHORISED)
            .cloned();
        if account.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let account = account.unwrap_or_else(|| panic!("not onboarded:\n{}", server.output_text()));
    let id = account["id"].as_str().expect("id");
    admin(
        &server,
        reqwest::Method::PATCH,
        &format!("/accounts/{id}"),
        Some(json!({"settings": {"auto_response": response}})),
    )
    .await;
    complaint(&wx, MANUAL, 900_001);
    complaint(&wx, AUTHORISED, 900_002);
    assert_eq!(wx.push_complaint("900001").await, Ok(200));
    assert_eq!(wx.push_complaint("900002").await, Ok(200));
    until(&server, "both responses", || {
        wx.writes_to("bussiRespondComplaint").len() == 2
    })
    .await;
    // Expired tokens: each app's token is refreshed (stable_token; refresh token) and used.
    wx.expire_tokens();
    complaint(&wx, MANUAL, 900_003);
    complaint(&wx, AUTHORISED, 900_004);
    assert_eq!(wx.push_complaint("900003").await, Ok(200));
    assert_eq!(wx.push_complaint("900004").await, Ok(200));
    until(&server, "responses after the refresh", || {
        wx.writes_to("bussiRespondComplaint").len() == 4
    })
    .await;
    assert_eq!(wx.refresh_calls(), 1, "{}", server.output_text());
    let (s, score) = server
        .admin(
            ADMIN,
            reqwest::Method::GET,
            &format!("/accounts/{id}/trade-score"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{score}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = server.output_text();
    assert!(
        logs.contains("authorizer access token refreshed"),
        "the refresh is logged"
    );
    assert!(
        logs.contains("mini program authorised"),
        "the onboarding is logged"
    );
    for secret in [
        "LEAKCHECK",
        "ACCESS_",
        "COMPONENT_",
        "refreshtoken@@@",
        "ticket@@@",
        "queryauthcode@@@",
        "access_token=",
        "13900001111",
        ADMIN,
    ] {
        assert!(!logs.contains(secret), "{secret} was logged");
    }
}
