//! The callback routes are the registered platforms' own: a platform written here, registered
//! at run time, is served by the generic mounting over real HTTP (every request field reaches
//! its handler intact, its answer goes out byte for byte, a body over the callback limit is
//! refused before it runs), and the path of a platform nobody registered is the router's 404.

mod common;

use async_trait::async_trait;
use chrono::Utc;
use desk_core::callback::{
    CallbackContext, CallbackHandler, CallbackRequest, CallbackResponse, CallbackRoute,
};
use desk_core::platform::{Platform, Platforms};
use desk_core::state::Services;
use desk_core::worker::JobRegistry;
use std::sync::{Arc, Mutex};

/// What the toy's handler was given, one entry per call.
type Seen = Arc<Mutex<Vec<CallbackRequest>>>;

/// The toy's answer: an unusual status, a content type of its own and bytes that are not text.
fn toy_answer() -> CallbackResponse {
    CallbackResponse::new(
        202,
        Some("application/x-toy"),
        b"toy\x00\xffanswer".to_vec(),
    )
}

struct Record(Seen);

#[async_trait]
impl CallbackHandler for Record {
    async fn handle(&self, _: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse {
        self.0.lock().expect("seen").push(req);
        toy_answer()
    }
}

/// A platform of the test's own with two callback routes: one that leaves a refused body to
/// the HTTP layer, one with its own answer for it.
struct Toy {
    seen: Seen,
    /// The name it registers under (platform names are a closed set in this version: the toy
    /// borrows one and is registered without the platform that owns it).
    name: domain::complaint::Platform,
}

impl Platform for Toy {
    fn name(&self) -> domain::complaint::Platform {
        self.name
    }

    fn register_jobs(&self, _: &mut JobRegistry, _: &Services) {}

    fn callbacks(&self) -> Vec<CallbackRoute> {
        vec![
            CallbackRoute::post("/callbacks/toy/{shop}/{kind}", Record(self.seen.clone())),
            CallbackRoute::post("/callbacks/toy/{shop}/strict", Record(self.seen.clone()))
                .body_refused(CallbackResponse::text(400, "toy: body refused")),
        ]
    }
}

struct Answer {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn post(
    http: &reqwest::Client,
    url: String,
    headers: &[(&str, &[u8])],
    body: Vec<u8>,
) -> Answer {
    let mut req = http.post(url).body(body);
    for (name, value) in headers {
        req = req.header(
            *name,
            reqwest::header::HeaderValue::from_bytes(value).expect("value"),
        );
    }
    let res = req.send().await.expect("the server answers");
    Answer {
        status: res.status().as_u16(),
        content_type: res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: res.bytes().await.expect("body").to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_registered_at_run_time_is_served_by_the_generic_mounting() {
    let seen: Seen = Arc::default();
    let toy = Toy {
        seen: seen.clone(),
        name: domain::complaint::Platform::Alipay,
    };
    let (h, base, stop) = common::served(|state| {
        state.callbacks.platforms = Arc::new(Platforms::new().with(toy));
    })
    .await;
    let http = reqwest::Client::new();

    // Every field reaches the handler as sent (path parameters decoded, the query raw).
    let before = Utc::now();
    let body = b"\x01binary\xfe body".to_vec();
    let a = post(
        &http,
        format!("{base}/callbacks/toy/shop%20one/pushes?b=2&a=%2F&&flag"),
        &[
            ("X-Toy-Signature", b"sig=abc"),
            ("x-toy-multi", b"first"),
            ("x-toy-multi", b"second"),
            ("x-toy-opaque", b"\xff\xfe"),
            ("content-type", b"application/octet-stream"),
        ],
        body.clone(),
    )
    .await;
    let after = Utc::now();
    assert_eq!(a.status, 202);
    assert_eq!(a.content_type.as_deref(), Some("application/x-toy"));
    assert_eq!(a.body, toy_answer().body);
    let got = seen.lock().expect("seen").pop().expect("the handler ran");
    assert_eq!(got.method, desk_core::callback::Method::Post);
    assert_eq!(got.param("shop"), "shop one");
    assert_eq!(got.param("kind"), "pushes");
    assert_eq!(got.query.as_deref(), Some("b=2&a=%2F&&flag"));
    assert_eq!(got.header("x-toy-signature"), Some("sig=abc"));
    assert_eq!(got.header("X-TOY-MULTI"), Some("first"));
    let multi: Vec<&str> = got
        .headers
        .iter()
        .filter(|(n, _)| n == "x-toy-multi")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(multi, ["first", "second"]);
    assert_eq!(got.header("x-toy-opaque"), None, "a value that is not text");
    assert_eq!(got.header("content-type"), Some("application/octet-stream"));
    assert_eq!(got.body, body);
    assert!(
        before.timestamp() <= got.received_at.timestamp()
            && got.received_at.timestamp() <= after.timestamp(),
        "{before} <= {} <= {after}",
        got.received_at
    );

    // A body over the callback limit: refused before the handler runs, with the HTTP layer's
    // 413 where the route has no answer of its own, and with the route's answer where it does.
    let big = vec![b'x'; desk_http::http::CALLBACK_BODY_LIMIT + 1];
    let a = post(
        &http,
        format!("{base}/callbacks/toy/s/pushes"),
        &[],
        big.clone(),
    )
    .await;
    assert_eq!(a.status, 413);
    let v: serde_json::Value = serde_json::from_slice(&a.body).expect("JSON envelope");
    assert_eq!(v["error"]["code"], "payload_too_large", "{v}");
    let a = post(&http, format!("{base}/callbacks/toy/s/strict"), &[], big).await;
    assert_eq!(
        (a.status, a.content_type.as_deref(), a.body.as_slice()),
        (
            400,
            Some("text/plain;charset=utf-8"),
            &b"toy: body refused"[..]
        )
    );
    // Exactly at the limit is served.
    let a = post(
        &http,
        format!("{base}/callbacks/toy/s/strict"),
        &[],
        vec![b'x'; desk_http::http::CALLBACK_BODY_LIMIT],
    )
    .await;
    assert_eq!(a.status, 202);
    assert_eq!(
        seen.lock().expect("seen").len(),
        1,
        "only the body within the limit reached the handler"
    );

    // The platforms this router was not given (the built-in ones, compiled in but not
    // registered): their callback paths are not routed.
    for path in [
        "/callbacks/alipay/2021000000000001",
        "/callbacks/wxopen/wx0000000000000002/events",
        "/callbacks/wechatpay/1900000109/complaints",
    ] {
        let a = post(&http, format!("{base}{path}"), &[], b"x".to_vec()).await;
        assert_eq!(a.status, 404, "{path}");
        let v: serde_json::Value = serde_json::from_slice(&a.body).expect("JSON envelope");
        assert_eq!(v["error"]["message"], "no such route", "{path}: {v}");
    }
    assert_eq!(seen.lock().expect("seen").len(), 1);
    stop.cancel();
    drop(h);
}

/// In the Lambda form (no server of ours reads the body: the router's own limit applies), the
/// same: the toy's routes are served and a body over the limit never reaches the handler; a
/// callback function's router serves only the family it names.
#[tokio::test]
async fn the_callback_router_serves_a_registered_platform_by_family() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let h = common::harness();
    let seen: Seen = Arc::default();
    let mut state = h.state.callbacks.clone();
    state = state.with_platforms(Platforms::new().with(Toy {
        seen: seen.clone(),
        name: domain::complaint::Platform::Wechatpay,
    }));
    let send = |router: axum::Router, path: &str, body: Vec<u8>| {
        let req = axum::http::Request::post(path)
            .body(Body::from(body))
            .expect("request");
        async move {
            let res = router.oneshot(req).await.expect("response");
            let status = res.status().as_u16();
            let bytes = res.into_body().collect().await.expect("body").to_bytes();
            (status, bytes.to_vec())
        }
    };
    let toy = desk_http::router::callback_router(state.clone(), "toy");
    assert_eq!(
        send(toy.clone(), "/callbacks/toy/s/k", b"hello".to_vec()).await,
        (202, toy_answer().body)
    );
    let big = vec![b'x'; desk_http::http::CALLBACK_BODY_LIMIT + 1];
    assert_eq!(
        send(toy.clone(), "/callbacks/toy/s/k", big.clone()).await.0,
        413
    );
    assert_eq!(
        send(toy.clone(), "/callbacks/toy/s/strict", big).await,
        (400, b"toy: body refused".to_vec())
    );
    assert_eq!(seen.lock().expect("seen").len(), 1);
    // Another family's router does not serve the toy's routes.
    let other = desk_http::router::callback_router(state, "wechatpay");
    assert_eq!(
        send(other, "/callbacks/toy/s/k", b"hello".to_vec()).await.0,
        404
    );
    assert_eq!(seen.lock().expect("seen").len(), 1);
}
