//! What the workers do with platform events: the accounts' policies.

pub mod wechatpay;

use crate::state::AppState;
use crate::worker::JobRegistry;

/// Every job handler: platform events (events queue) and staff notifications (notify queue).
pub fn registry(state: &AppState) -> JobRegistry {
    let mut r = JobRegistry::new();
    wechatpay::register(&mut r, state);
    crate::notifier::register(&mut r, state);
    r
}
