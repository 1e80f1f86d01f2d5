//! API Gateway HTTP API events (from `events/apigw/`) through lambda_http's conversion into
//! the admin router, over the AWS adapters on moto server.

use aws::AwsConfig;
use aws::testing as moto;
use http_body_util::BodyExt;
use tower::ServiceExt;

const ADMIN: &str = "lambda-admin-token-0123456789";

async fn deployment() -> AwsConfig {
    moto::deployment(ADMIN).await
}

async fn invoke(router: &axum::Router, fixture: &str, token: &str) -> (u16, serde_json::Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/apigw")
        .join(fixture);
    let text = std::fs::read_to_string(path)
        .expect("fixture")
        .replace("REPLACED_BY_TEST", token);
    let req = lambda_http::request::from_str(&text).expect("an API Gateway HTTP API event");
    let res = router.clone().oneshot(req).await.expect("response");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn http_api_events_reach_the_admin_router_over_aws_adapters() {
    let config = deployment().await;
    let sdk = moto::sdk_config().await;
    let state = runtime::admin::admin_state(&config, &sdk)
        .await
        .expect("state from the deployment");
    // The router the function runs (with API Gateway's source address as the peer).
    let router = runtime::admin::admin_router(state);

    let (status, body) = invoke(&router, "admin-list-accounts.json", "wrong-token").await;
    assert_eq!(status, 401, "{body}");
    let (status, created) = invoke(&router, "admin-create-account.json", ADMIN).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["settings"]["app_id"], "2021000000000001");
    let (status, list) = invoke(&router, "admin-list-accounts.json", ADMIN).await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec![created["id"].as_str().expect("id")],
        "stored in DynamoDB and listed through gsi1"
    );
    // The same platform id again: the DynamoDB transaction refuses it.
    let (status, body) = invoke(&router, "admin-create-account.json", ADMIN).await;
    assert_eq!(status, 409, "{body}");
}

/// Mini-program pushes in API Gateway form (WeChat's published sample message, which never
/// expires) through the callback functions' router over the AWS adapters: the URL check echoes,
/// the encrypted message is verified, decrypted and acknowledged (it is a text message, not a
/// complaint: nothing is queued); a changed signature is refused.
#[tokio::test]
async fn mini_program_push_events_reach_the_callback_router() {
    let config = deployment().await;
    let sdk = moto::sdk_config().await;
    let admin = desk_http::router::router(
        runtime::admin::admin_state(&config, &sdk)
            .await
            .expect("state"),
    );
    let body = serde_json::json!({"kind": "wxmini_app", "name": "Sample",
        "settings": {"appid": "wx2c2769f8efd9abc2", "mode": "manual"},
        "credentials": {"secret": "sample-secret", "token": "spamtest",
            "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}});
    let req = axum::http::Request::post("/admin/v1/accounts")
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .expect("request");
    let res = admin.clone().oneshot(req).await.expect("response");
    assert_eq!(res.status(), 201);
    let callbacks = desk_http::router::callback_router(
        runtime::http::callback_state(
            &config,
            &aws::AwsPorts::new(&config, &sdk),
            desk_core::platform::Platforms::new().with(desk_core::platforms::wxmini::Wxmini),
        )
        .await
        .expect("state"),
        "wxmini",
    );
    let raw = |fixture: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/apigw")
            .join(fixture);
        std::fs::read_to_string(path).expect("fixture")
    };
    let send = |text: String| {
        let router = callbacks.clone();
        async move {
            let req = lambda_http::request::from_str(&text).expect("an API Gateway HTTP API event");
            let res = router.oneshot(req).await.expect("response");
            let status = res.status().as_u16();
            let bytes = res.into_body().collect().await.expect("body").to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    assert_eq!(
        send(raw("wxmini-url-check.json")).await,
        (200, "1234567890123456789".to_string())
    );
    assert_eq!(
        send(raw("wxmini-push-official-sample.json")).await,
        (200, "success".to_string())
    );
    let tampered = raw("wxmini-push-official-sample.json").replace(
        "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
        "5d197aaffba7e9b25a30732f161a50dee96bd5fb",
    );
    assert_eq!(send(tampered).await.0, 401);
}

/// Plaintext pushes (opted in) on DynamoDB: the replay record is a conditional put with a TTL,
/// so a redelivery is acknowledged and queued once, and of two bodies on one signed query at
/// most one is believed.
#[tokio::test]
async fn plaintext_push_replays_are_refused_on_dynamodb() {
    use sandbox::wxapi::{PushConfig, PushFormat, PushMode, seal_at};
    let config = deployment().await;
    let sdk = moto::sdk_config().await;
    let admin = desk_http::router::router(
        runtime::admin::admin_state(&config, &sdk)
            .await
            .expect("state"),
    );
    let appid = "wx3333333333333333";
    let body = serde_json::json!({"kind": "wxmini_app", "name": "Plain",
        "settings": {"appid": appid, "mode": "manual", "allow_plaintext": true},
        "credentials": {"secret": "sample-secret", "token": "plainToken"}});
    let req = axum::http::Request::post("/admin/v1/accounts")
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .expect("request");
    assert_eq!(admin.oneshot(req).await.expect("response").status(), 201);
    let ports = aws::AwsPorts::new(&config, &sdk);
    let callbacks = desk_http::router::callback_router(
        runtime::http::callback_state(
            &config,
            &ports,
            desk_core::platform::Platforms::new().with(desk_core::platforms::wxmini::Wxmini),
        )
        .await
        .expect("state"),
        "wxmini",
    );
    let cfg = PushConfig {
        token: "plainToken".into(),
        encoding_aes_key: String::new(),
        mode: PushMode::Plain,
        format: PushFormat::Xml,
        url: String::new(),
    };
    let msg = |id: u64| {
        serde_json::json!({"ToUserName": "gh_x", "CreateTime": 1_700_000_000,
            "MsgType": "event", "Event": "complaint_callback",
            "BussiCallBackInfo": {"appid": appid, "complaint_order_id": id, "status": 201}})
    };
    let post = |query: String, body: String| {
        let router = callbacks.clone();
        async move {
            let req = axum::http::Request::post(format!("/callbacks/wxmini/{appid}?{query}"))
                .header("content-type", "text/xml")
                .body(axum::body::Body::from(body))
                .expect("request");
            router
                .oneshot(req)
                .await
                .expect("response")
                .status()
                .as_u16()
        }
    };
    let ts = chrono::Utc::now().timestamp().to_string();
    let (q, first) = seal_at(&cfg, appid, &msg(1), &ts, "d1").expect("seal");
    assert_eq!(post(q.clone(), first.clone()).await, 200);
    assert_eq!(post(q.clone(), first).await, 200, "WeChat's redelivery");
    let other = seal_at(&cfg, appid, &msg(2), &ts, "d1").expect("seal").1;
    assert_eq!(post(q, other).await, 401, "another body on a seen query");
    let (q2, _) = seal_at(&cfg, appid, &msg(3), &ts, "d2").expect("seal");
    let a = seal_at(&cfg, appid, &msg(3), &ts, "d2").expect("seal").1;
    let b = seal_at(&cfg, appid, &msg(4), &ts, "d2").expect("seal").1;
    let (sa, sb) = tokio::join!(post(q2.clone(), a), post(q2, b));
    let mut statuses = [sa, sb];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
    // The claim expires (DynamoDB TTL) once the timestamp has left the window (15 minutes).
    let signature = q2_signature(&cfg, &ts, "d2");
    let (pk, sk) =
        desk_core::platforms::wxmini::callback::replay::record_key(appid, &ts, "d2", &signature);
    let claim = domain::ports::RecordStore::get(&*ports.records, &pk, &sk)
        .await
        .expect("records");
    let expires = claim.and_then(|c| c.expires_at).expect("the claim expires");
    let ts: i64 = ts.parse().expect("timestamp");
    assert!(
        (ts + 900..=ts + 900 + 120).contains(&expires),
        "{expires} vs {ts}"
    );
}

/// The `signature` of a sealed plaintext push.
fn q2_signature(cfg: &sandbox::wxapi::PushConfig, ts: &str, nonce: &str) -> String {
    let (q, _) = sandbox::wxapi::seal_at(cfg, "", &serde_json::json!({}), ts, nonce).expect("seal");
    q.split('&')
        .find_map(|p| p.strip_prefix("signature="))
        .expect("signature")
        .to_string()
}
