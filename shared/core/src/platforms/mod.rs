//! One folder per platform, each implementing [`crate::platform::Platform`] (its jobs, its
//! clients, its onboarding), and the WeChat token cache that mini programs and the notifier's
//! template messages share. [`builtin`] is the one list of the platforms this build was
//! compiled with; composition roots register it (or their own choice).

#[cfg(feature = "alipay")]
pub mod alipay;
#[cfg(any(feature = "wechatpay", feature = "alipay"))]
pub(crate) mod due;
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_limiter_names_no_platform() {
        // Each platform's budgets live in its own folder; the limiter counts whatever
        // operation it is given, so it names none of the registered platforms or their
        // account kinds (its tests excepted). (Here, not in the limiter: the limiter must not
        // import the platforms.)
        let source = include_str!("../ratelimit.rs").to_lowercase();
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        let registered = super::builtin();
        let names = registered
            .names()
            .into_iter()
            .chain(registered.account_kind_names());
        for name in names {
            assert!(
                !code.contains(name),
                "the limiter names `{name}`: a platform's budgets belong in its own folder"
            );
        }
    }
}
