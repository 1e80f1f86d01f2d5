//! What the workers do with platform events: the accounts' policies.

pub mod actions;
#[cfg(feature = "alipay")]
pub mod alipay;
#[cfg(feature = "wechatpay")]
pub mod wechatpay;
#[cfg(feature = "wxmini")]
pub mod wxmini;

use crate::state::Services;
use crate::worker::JobRegistry;

/// Every job handler of this build: platform events (events queue) of the platforms it serves
/// and, with the notifier, staff notifications (notify queue).
#[allow(unused_variables, unused_mut)]
pub fn registry(state: &Services) -> JobRegistry {
    let mut r = JobRegistry::new();
    #[cfg(feature = "wechatpay")]
    wechatpay::register(&mut r, state);
    #[cfg(feature = "alipay")]
    alipay::register(&mut r, state);
    #[cfg(feature = "wxmini")]
    wxmini::register(&mut r, state);
    #[cfg(feature = "notifier")]
    crate::notifier::register(&mut r, state);
    r
}
