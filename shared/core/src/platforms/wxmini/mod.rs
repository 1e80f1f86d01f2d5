//! WeChat Mini Program trade complaints, for mini programs onboarded by hand or authorised
//! through a third-party platform (`wxopen_component`), refunded through a linked WeChat Pay
//! account.

pub mod accounts;
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

    fn account_kinds(&self) -> Vec<crate::platform::AccountKindSpec> {
        vec![accounts::WXMINI_APP, accounts::WXOPEN_COMPONENT]
    }
}
