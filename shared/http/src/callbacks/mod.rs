//! Platform callbacks: verify, check freshness, decrypt, accept durably (inbox), answer. No
//! platform API call happens here (except one rate-limited certificate download for an
//! unknown WeChat Pay serial).

pub mod alipay;
pub mod replay;
pub mod wechatpay;
pub mod wxmini;

use axum::Router;

/// Callback bodies larger than this are refused with the platform's "malformed" answer (400)
/// before anything reads them (see [`crate::http::body_rule`]). Platform messages are a few
/// KiB at most.
pub const CALLBACK_BODY_LIMIT: usize = 64 * 1024;

/// The body of a callback, or why it could not be read (too large, or the connection broke).
pub type CallbackBody = Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>;

/// Every callback route (each with [`CALLBACK_BODY_LIMIT`], applied by the router that serves
/// them).
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    crate::CallbackState: axum::extract::FromRef<S>,
{
    Router::new()
        .route(
            "/callbacks/wechatpay/{mchid}/{kind}",
            axum::routing::post(wechatpay::receive),
        )
        .route(
            "/callbacks/alipay/{app_id}",
            axum::routing::post(alipay::receive),
        )
        .route(
            "/callbacks/wxmini/{appid}",
            axum::routing::get(wxmini::url_check).post(wxmini::receive),
        )
        .route(
            "/callbacks/wxopen/{component_appid}/messages/{appid}",
            axum::routing::post(wxmini::receive_authorised),
        )
        .route(
            "/callbacks/wxopen/{component_appid}/events",
            axum::routing::post(wxmini::events),
        )
}
