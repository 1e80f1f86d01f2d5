//! Platform callbacks: verify, check freshness, decrypt, accept durably (inbox), answer. No
//! platform API call happens here (except one rate-limited certificate download for an
//! unknown WeChat Pay serial).

#[cfg(feature = "alipay")]
pub mod alipay;
pub mod replay;
#[cfg(feature = "wechatpay")]
pub mod wechatpay;
#[cfg(feature = "wxmini")]
pub mod wxmini;

use axum::Router;

/// The callback routes of the platforms this build serves (each with
/// [`crate::http::CALLBACK_BODY_LIMIT`], applied by the router that serves them).
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    crate::CallbackState: axum::extract::FromRef<S>,
{
    let router = Router::new();
    #[cfg(feature = "wechatpay")]
    let router = router.route(
        "/callbacks/wechatpay/{mchid}/{kind}",
        axum::routing::post(wechatpay::receive),
    );
    #[cfg(feature = "alipay")]
    let router = router.route(
        "/callbacks/alipay/{app_id}",
        axum::routing::post(alipay::receive),
    );
    #[cfg(feature = "wxmini")]
    let router = router
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
        );
    router
}
