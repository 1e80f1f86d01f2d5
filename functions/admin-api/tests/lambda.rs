//! API Gateway HTTP API events (from `events/apigw/`) through lambda_http's conversion into
//! the admin router, over the AWS adapters on moto server.

use aws::AwsConfig;
use aws::testing as moto;
use http_body_util::BodyExt;
use std::collections::HashMap;
use tower::ServiceExt;

const ADMIN: &str = "lambda-admin-token-0123456789";

async fn deployment() -> AwsConfig {
    let cfg = moto::sdk_config().await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let table = format!("records-{suffix}");
    aws::schema::create_table(&aws_sdk_dynamodb::Client::new(&cfg), &table)
        .await
        .expect("table");
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let mut queues = HashMap::new();
    for q in domain::job::queues::ALL {
        let urls = aws::schema::create_queue_pair(&sqs, &format!("{q}-{suffix}"), 5)
            .await
            .expect("queues");
        queues.insert(q.to_string(), urls);
    }
    let bucket = format!("blobs-{suffix}");
    moto::s3_client(&cfg)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let prefix = format!("desk-{suffix}/");
    let sm = aws_sdk_secretsmanager::Client::new(&cfg);
    for (name, value) in [
        (aws::installation_secrets::ADMIN_TOKEN, ADMIN),
        (
            aws::installation_secrets::FINGERPRINT_KEY,
            "k3y-material-from-the-template",
        ),
    ] {
        sm.create_secret()
            .name(format!("{prefix}{name}"))
            .secret_string(value)
            .send()
            .await
            .expect("secret");
    }
    AwsConfig {
        table,
        queues,
        bucket,
        secret_prefix: prefix,
        public_base_url: Some("https://complaints.example.com".into()),
        endpoint_url: Some(moto::endpoint().to_string()),
        max_receives: 5,
    }
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
