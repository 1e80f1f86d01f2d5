//! What the workers do with platform events: the accounts' policies.

pub mod wechatpay;

use crate::state::AppState;
use crate::worker::JobRegistry;

/// Every job handler of the event worker.
pub fn registry(state: &AppState) -> JobRegistry {
    let mut r = JobRegistry::new();
    wechatpay::register(&mut r, state);
    r
}
