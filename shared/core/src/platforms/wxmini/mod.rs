//! WeChat Mini Program trade complaints, for mini programs onboarded by hand or authorised
//! through a third-party platform (`wxopen_component`), refunded through a linked WeChat Pay
//! account.

pub mod admin;
pub mod events;
pub mod onboarding;

use crate::platform::Platform;
use crate::state::Services;
use crate::worker::JobRegistry;

/// The mini-program platform.
pub struct Wxmini;

impl Platform for Wxmini {
    fn name(&self) -> domain::complaint::Platform {
        domain::complaint::Platform::Wxmini
    }

    fn register_jobs(&self, jobs: &mut JobRegistry, services: &Services) {
        events::register(jobs, services);
    }

    fn staff_actions(&self) -> &dyn crate::staff_actions::StaffActions {
        &admin::Actions
    }
}
