//! Platform clients built from accounts and their credentials.

pub mod wechat;
pub mod wechatpay;
