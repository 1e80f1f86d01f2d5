//! The worker's job handlers: those of every registered platform (events queue) and, with the
//! notifier, staff notifications (notify queue).

use crate::state::Services;
use crate::worker::JobRegistry;

/// Every job handler of this build: the platforms registered in `state` and the notifier.
pub fn registry(state: &Services) -> JobRegistry {
    let mut r = JobRegistry::new();
    for platform in state.platforms.iter() {
        platform.register_jobs(&mut r, state);
    }
    #[cfg(feature = "notifier")]
    crate::notifier::register(&mut r, state);
    r
}
