//! Platform callbacks: verify, check freshness, decrypt, accept durably (inbox), answer. No
//! platform API call happens here (except one rate-limited certificate download for an
//! unknown WeChat Pay serial).

pub mod alipay;
pub mod wechatpay;

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
}
