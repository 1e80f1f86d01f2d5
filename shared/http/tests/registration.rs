//! `/admin/v1/accounts/{id}/callback-registration` against the WeChat Pay simulator.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};

const MCHID: &str = "1900000109";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";

async fn provider(h: &Harness, sim: &WechatPaySim) -> String {
    sim.add_merchant(SimMerchant {
        mchid: MCHID.into(),
        serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let mut body = provider_body(MCHID);
    body["settings"]["api_base_url"] = json!(sim.base_url());
    body["credentials"] = json!({
        "private_key": private_pem(rsa_key()), "apiv3_key": APIV3,
        "wechatpay_public_key": sim.keys().public_key_pem(),
        "wechatpay_public_key_id": sim.keys().pub_key_id,
    });
    h.create(body).await
}

#[tokio::test]
async fn registers_reads_and_removes_the_callback_urls() {
    let h = harness_with(Some("https://complaints.example.com/"));
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    let id = provider(&h, &sim).await;
    let path = format!("/admin/v1/accounts/{id}/callback-registration");
    let complaints = "https://complaints.example.com/callbacks/wechatpay/1900000109/complaints";
    let violations = "https://complaints.example.com/callbacks/wechatpay/1900000109/violations";

    for _ in 0..2 {
        // The second time the URLs exist already: left as they are, not refused.
        let (s, r) = h.admin(Method::POST, &path, None).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(
            r["complaints"],
            json!({"ours": complaints, "registered": complaints, "matches": true})
        );
        assert_eq!(r["violations"]["registered"], violations);
    }
    assert_eq!(
        sim.notification_url(MCHID, "complaints").as_deref(),
        Some(complaints)
    );
    assert_eq!(
        sim.notification_url(MCHID, "violations").as_deref(),
        Some(violations)
    );

    let (s, r) = h.admin(Method::GET, &path, None).await;
    assert_eq!(
        (s, r["complaints"]["matches"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (s, _) = h.admin(Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(sim.notification_url(MCHID, "complaints"), None);
    let (_, r) = h.admin(Method::GET, &path, None).await;
    assert_eq!(
        (
            r["complaints"]["registered"].clone(),
            r["complaints"]["matches"].clone()
        ),
        (Value::Null, json!(false))
    );
    let (s, _) = h.admin(Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "deleting twice is fine");
}

const COMPLAINT_URLS: &str = "/v3/merchant-service/complaint-notifications";
const VIOLATION_URLS: &str = "/v3/merchant-risk-manage/violation-notifications";

/// The methods our requests used on one notification-URL resource, in order.
fn methods(sim: &WechatPaySim, path: &str) -> Vec<String> {
    sim.requests_to(path)
        .into_iter()
        .map(|r| r.method)
        .collect()
}

async fn register(h: &Harness, id: &str) -> Value {
    let path = format!("/admin/v1/accounts/{id}/callback-registration");
    let (s, r) = h.admin(Method::POST, &path, None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

#[tokio::test]
async fn registration_reads_first_then_posts_once_writes_nothing_when_unchanged_and_puts_a_new_url()
{
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");

    // First registration: nothing is registered, so each kind is read (404) and then created.
    let h = harness_with(Some("https://complaints.example.com"));
    let id = provider(&h, &sim).await;
    register(&h, &id).await;
    // The trailing GET is the answer's read-back of what the platform now holds.
    for path in [COMPLAINT_URLS, VIOLATION_URLS] {
        assert_eq!(methods(&sim, path), ["GET", "POST", "GET"], "{path}");
    }

    // The same URLs again: read, found equal, no write at all (no second POST, no PUT).
    register(&h, &id).await;
    for path in [COMPLAINT_URLS, VIOLATION_URLS] {
        assert_eq!(
            methods(&sim, path),
            ["GET", "POST", "GET", "GET", "GET"],
            "{path}"
        );
    }

    // The desk moved (another PUBLIC_BASE_URL, same merchant at the platform): PUT, not POST.
    let moved = harness_with(Some("https://desk.example.org/"));
    let id = provider(&moved, &sim).await;
    let r = register(&moved, &id).await;
    let complaints = "https://desk.example.org/callbacks/wechatpay/1900000109/complaints";
    let violations = "https://desk.example.org/callbacks/wechatpay/1900000109/violations";
    assert_eq!(
        r["complaints"],
        json!({"ours": complaints, "registered": complaints, "matches": true})
    );
    assert_eq!(r["violations"]["registered"], violations);
    for path in [COMPLAINT_URLS, VIOLATION_URLS] {
        assert_eq!(
            methods(&sim, path),
            ["GET", "POST", "GET", "GET", "GET", "GET", "PUT", "GET"],
            "{path}"
        );
    }
    assert_eq!(
        sim.notification_url(MCHID, "complaints").as_deref(),
        Some(complaints)
    );
    assert_eq!(
        sim.notification_url(MCHID, "violations").as_deref(),
        Some(violations)
    );
}

#[tokio::test]
async fn registration_needs_an_https_public_base_url_and_a_platform_api() {
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    let h = harness();
    let id = provider(&h, &sim).await;
    let (s, r) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{id}/callback-registration"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("PUBLIC_BASE_URL")
    );
    assert_eq!(
        sim.notification_url(MCHID, "complaints"),
        None,
        "nothing registered"
    );

    let h = harness_with(Some("https://complaints.example.com"));
    let alipay = h
        .create(
            json!({"kind": "alipay_app", "name": "A", "settings": {"app_id": "2021000000000001"}}),
        )
        .await;
    let (s, _) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{alipay}/callback-registration"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let id = provider(&h, &sim).await;
    let other = h.create(provider_body("1900000110")).await;
    let token = h
        .token(json!({"type": "account", "account_id": other}))
        .await;
    let (s, _) = h
        .call(
            Method::POST,
            &format!("/admin/v1/accounts/{id}/callback-registration"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
