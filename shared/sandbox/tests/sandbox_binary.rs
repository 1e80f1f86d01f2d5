//! The `sandbox` binary as a seeding script uses it: its one JSON line gives a gateway and keys
//! that work with the alipay client, its push is signed with the printed Alipay key and repeated
//! (same `notify_id`) until the server answers `success`, and SIGTERM stops it cleanly.

use alipay::client::{Client, ClientConfig, KeyMode};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// How long the binary may take for any one step (start-up, a push, stopping) before the test
/// gives up on it instead of hanging the run.
const STEP: Duration = Duration::from_secs(60);

/// `fut`, or a panic naming the step if it takes longer than [`STEP`].
async fn within<T>(step: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("the sandbox binary hung: no {step} within {STEP:?}"))
}

#[derive(Clone)]
struct Callback {
    pushes: mpsc::UnboundedSender<Vec<(String, String)>>,
    refused_once: Arc<AtomicBool>,
}

/// A callback that refuses the first delivery (as the server does before the account exists).
async fn callback(State(cb): State<Callback>, body: String) -> (StatusCode, &'static str) {
    let form = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let _ = cb.pushes.send(form);
    if cb.refused_once.swap(true, Ordering::SeqCst) {
        (StatusCode::OK, "success")
    } else {
        (StatusCode::NOT_FOUND, "fail")
    }
}

#[tokio::test]
async fn prints_working_keys_pushes_until_success_and_stops_on_sigterm() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let router = axum::Router::new()
        .route("/callbacks/alipay/2021000000000009", post(callback))
        .with_state(Callback {
            pushes: tx,
            refused_once: Arc::default(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let notify = format!(
        "http://{}/callbacks/alipay/2021000000000009",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["alipay", "--app-id", "2021000000000009"])
        .args(["--complaint-id", "2024052100009", "--notify", &notify])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sandbox");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    within(
        "JSON line on stdout",
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("read");
    let seed: Value = serde_json::from_str(&line).expect("one JSON line");
    assert_eq!(seed["app_id"], "2021000000000009");
    assert_eq!(seed["complaint_ids"], serde_json::json!(["2024052100009"]));
    let alipay_key = alipay::PublicKey::parse(
        seed["alipay_public_key"]
            .as_str()
            .expect("alipay_public_key"),
    )
    .expect("Alipay's public key");

    // Refused once, then delivered again: the same message, signed by the printed key.
    let first = within("first push", rx.recv()).await.expect("first push");
    let second = within("second push", rx.recv()).await.expect("second push");
    assert_eq!(first, second);
    assert!(alipay::notify::verify(&second, &alipay_key).is_some());
    let field = |k: &str| {
        second
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("msg_method"), "alipay.merchant.tradecomplain.changed");
    assert_eq!(
        serde_json::from_str::<Value>(&field("biz_content")).expect("biz")["complain_event_id"],
        "2024052100009"
    );

    // The gateway knows the app (by the printed private key) and the open complaint.
    let client = Client::new(ClientConfig {
        gateway: seed["gateway_url"]
            .as_str()
            .expect("gateway_url")
            .parse()
            .expect("url"),
        app_id: "2021000000000009".into(),
        private_key: alipay::PrivateKey::parse(
            seed["app_private_key"].as_str().expect("app_private_key"),
        )
        .expect("the app's private key"),
        mode: KeyMode::PublicKey(alipay_key),
    });
    let c = client
        .tradecomplain_query("2024052100009")
        .await
        .expect("query");
    assert_eq!(c["status"], "MERCHANT_PROCESSING");
    client
        .tradecomplain_reply("2024052100009", "您好，已收到", &[])
        .await
        .expect("reply on an open complaint");

    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = within("exit after SIGTERM", child.wait())
        .await
        .expect("wait");
    assert!(status.success(), "{status}");
}
