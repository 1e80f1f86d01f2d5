//! Platform callbacks: verify, check freshness, decrypt, accept durably (inbox), answer. No
//! platform API call happens here (except one rate-limited certificate download for an
//! unknown WeChat Pay serial).

pub mod alipay;
pub mod wechatpay;
pub mod wxmini;

use axum::Router;

pub fn router() -> Router<crate::AppState> {
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
