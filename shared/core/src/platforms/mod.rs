//! One folder per platform, each implementing [`crate::platform::Platform`] (its jobs, its
//! clients, its onboarding), and the WeChat token cache that mini programs and the notifier's
//! template messages share. [`builtin`] is the one list of the platforms this build was
//! compiled with; composition roots register it (or their own choice).

#[cfg(feature = "alipay")]
pub mod alipay;
#[cfg(feature = "wechat")]
pub mod wechat;
#[cfg(feature = "wechatpay")]
pub mod wechatpay;
#[cfg(feature = "wxmini-callbacks")]
pub mod wxmini;

use crate::platform::Platforms;

/// Every platform compiled into this build (one line per platform).
#[allow(unused_mut)]
pub fn builtin() -> Platforms {
    let mut p = Platforms::new();
    #[cfg(feature = "wechatpay")]
    {
        p = p.with(wechatpay::Wechatpay);
    }
    #[cfg(feature = "alipay")]
    {
        p = p.with(alipay::Alipay);
    }
    #[cfg(feature = "wxmini")]
    {
        p = p.with(wxmini::Wxmini);
    }
    p
}
