//! The worker's job handlers: those of the platforms served and the deadline sweep (events
//! queue) and, with the notifier, staff notifications (notify queue).

use crate::platform::Platforms;
use crate::state::Services;
use crate::worker::JobRegistry;

/// Every job handler of this build: those of `platforms`, the deadline sweep's and the
/// notifier's.
pub fn registry(state: &Services, platforms: &Platforms) -> JobRegistry {
    let mut r = JobRegistry::new();
    for platform in platforms.iter() {
        platform.register_jobs(&mut r, state);
    }
    crate::deadlines::register(&mut r, state, platforms);
    crate::reconcile::register(&mut r, state, platforms);
    #[cfg(feature = "notifier")]
    crate::notifier::register(&mut r, state);
    r
}
