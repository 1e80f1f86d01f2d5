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
    let state = admin_api::state(&config, &sdk)
        .await
        .expect("state from the deployment");
    let router = app::http::router(state);

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
    let admin = app::http::router(admin_api::state(&config, &sdk).await.expect("state"));
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
    let callbacks = app::http::callback_router(
        admin_api::platform_state(&config, &aws::AwsPorts::new(&config, &sdk))
            .await
            .expect("state"),
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
