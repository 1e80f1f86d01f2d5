//! A callback function serves its own endpoints and nothing else, whatever its build compiled
//! in: every other callback path (and the admin API) is the router's own 404.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use desk_core::platform::Platforms;
use desk_core::platforms::{alipay::Alipay, wechatpay::Wechatpay, wxmini::Wxmini};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// One request to each endpoint family (and the admin API), with what identifies it.
const PATHS: [(&str, Method, &str); 6] = [
    (
        "wechatpay",
        Method::POST,
        "/callbacks/wechatpay/1900000001/complaints",
    ),
    ("alipay", Method::POST, "/callbacks/alipay/2021000000000001"),
    (
        "wxmini",
        Method::GET,
        "/callbacks/wxmini/wx0000000000000001?echostr=1",
    ),
    (
        "wxopen",
        Method::POST,
        "/callbacks/wxopen/wx0000000000000002/events",
    ),
    (
        "wxopen",
        Method::POST,
        "/callbacks/wxopen/wx0000000000000002/messages/wx01",
    ),
    ("admin", Method::GET, "/admin/v1/accounts"),
];

/// Whether the router answered with its own "no such route" (the path is not served).
async fn unrouted(router: &axum::Router, method: &Method, path: &str) -> bool {
    let req = Request::builder()
        .method(method.clone())
        .uri(path)
        .body(Body::from("<xml></xml>"))
        .expect("request");
    let res = router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    status == StatusCode::NOT_FOUND && String::from_utf8_lossy(&body).contains("no such route")
}

/// Each callback function's registry (its own platform only) and family, as its `main` has them.
fn functions() -> [(Platforms, &'static str); 4] {
    [
        (Platforms::new().with(Wechatpay), "wechatpay"),
        (Platforms::new().with(Alipay), "alipay"),
        (Platforms::new().with(Wxmini), "wxmini"),
        (Platforms::new().with(Wxmini), "wxopen"),
    ]
}

#[tokio::test]
async fn each_callback_function_serves_only_its_own_endpoints() {
    let h = common::harness();
    for (platforms, own) in functions() {
        let mut state = h.state.callbacks.clone();
        state = state.with_platforms(platforms);
        // And with every platform registered, the family alone still decides.
        let every = h.state.callbacks.clone();
        for router in [
            desk_http::router::callback_router(state, own),
            desk_http::router::callback_router(every, own),
        ] {
            for (family, method, path) in PATHS {
                assert_eq!(
                    unrouted(&router, &method, path).await,
                    family != own,
                    "{own}: {method} {path}"
                );
            }
            assert!(!unrouted(&router, &Method::GET, "/healthz").await);
        }
    }
}

#[tokio::test]
async fn the_full_router_serves_every_callback_endpoint() {
    let h = common::harness();
    for (_, method, path) in PATHS {
        assert!(!unrouted(&h.router, &method, path).await, "{method} {path}");
    }
}
