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

/// The callback endpoints one callback function serves (one per function binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoints {
    /// `/callbacks/wechatpay/{mchid}/{complaints|violations|refunds}`.
    #[cfg(feature = "wechatpay")]
    Wechatpay,
    /// `/callbacks/alipay/{app_id}`.
    #[cfg(feature = "alipay")]
    Alipay,
    /// `/callbacks/wxmini/{appid}` (URL check and message push of a mini program onboarded by
    /// hand).
    #[cfg(feature = "wxmini")]
    Wxmini,
    /// `/callbacks/wxopen/{component_appid}/events` and `.../messages/{appid}` (the third-party
    /// platform's events, and its authorised mini programs' push).
    #[cfg(feature = "wxmini")]
    Wxopen,
}

impl Endpoints {
    /// Every endpoint this build serves.
    pub const ALL: &[Endpoints] = &[
        #[cfg(feature = "wechatpay")]
        Endpoints::Wechatpay,
        #[cfg(feature = "alipay")]
        Endpoints::Alipay,
        #[cfg(feature = "wxmini")]
        Endpoints::Wxmini,
        #[cfg(feature = "wxmini")]
        Endpoints::Wxopen,
    ];
}

/// The routes of `endpoints` (each with [`crate::http::CALLBACK_BODY_LIMIT`], applied by the
/// router that serves them).
pub fn routes<S>(endpoints: &[Endpoints]) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    crate::CallbackState: axum::extract::FromRef<S>,
{
    endpoints
        .iter()
        .fold(Router::new(), |router, e| router.merge(routes_of(*e)))
}

fn routes_of<S>(endpoints: Endpoints) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    crate::CallbackState: axum::extract::FromRef<S>,
{
    match endpoints {
        #[cfg(feature = "wechatpay")]
        Endpoints::Wechatpay => Router::new().route(
            "/callbacks/wechatpay/{mchid}/{kind}",
            axum::routing::post(wechatpay::receive),
        ),
        #[cfg(feature = "alipay")]
        Endpoints::Alipay => Router::new().route(
            "/callbacks/alipay/{app_id}",
            axum::routing::post(alipay::receive),
        ),
        #[cfg(feature = "wxmini")]
        Endpoints::Wxmini => Router::new().route(
            "/callbacks/wxmini/{appid}",
            axum::routing::get(wxmini::url_check).post(wxmini::receive),
        ),
        #[cfg(feature = "wxmini")]
        Endpoints::Wxopen => Router::new()
            .route(
                "/callbacks/wxopen/{component_appid}/messages/{appid}",
                axum::routing::post(wxmini::receive_authorised),
            )
            .route(
                "/callbacks/wxopen/{component_appid}/events",
                axum::routing::post(wxmini::events),
            ),
    }
}
