//! Platform clients built from accounts and their credentials (each behind its platform's
//! feature; the WeChat token cache also serves the notifier's template messages).

#[cfg(feature = "wechat")]
pub mod wechat;
#[cfg(feature = "wechatpay")]
pub mod wechatpay;
