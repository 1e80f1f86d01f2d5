//! WeChat Mini Program trade complaints, for mini programs onboarded by hand or authorised
//! through a third-party platform (`wxopen_component`), refunded through a linked WeChat Pay
//! account.

pub mod accounts;
#[cfg(feature = "wxmini")]
pub mod admin;
pub mod callback;
pub mod credentials;
// A build with only the `wxmini-callbacks` feature (the callback functions) has the callbacks
// and no job handlers: those refund through WeChat Pay.
#[cfg(feature = "wxmini")]
pub mod auto;
#[cfg(feature = "wxmini")]
pub mod calls;
#[cfg(feature = "wxmini")]
pub mod events;
#[cfg(feature = "wxmini")]
pub mod images;
#[cfg(feature = "wxmini")]
pub mod limits;
#[cfg(feature = "wxmini")]
pub mod onboarding;
#[cfg(feature = "wxmini")]
pub mod trade_score;

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
        #[cfg(feature = "wxmini")]
        events::register(jobs, services);
        #[cfg(not(feature = "wxmini"))]
        let _ = (jobs, services);
    }

    fn callbacks(&self) -> Vec<crate::callback::CallbackRoute> {
        callback::routes()
    }

    fn account_kinds(&self) -> Vec<crate::platform::AccountKindSpec> {
        vec![accounts::WXMINI_APP, accounts::WXOPEN_COMPONENT]
    }

    #[cfg(feature = "wxmini")]
    fn staff_actions(&self) -> &dyn crate::staff_actions::StaffActions {
        &admin::Actions
    }

    #[cfg(feature = "wxmini")]
    fn complaint_images(&self) -> &dyn crate::complaint_images::ComplaintImages {
        &images::Images
    }

    #[cfg(feature = "wxmini")]
    fn account_actions(&self) -> &dyn crate::account_actions::AccountActions {
        &trade_score::Actions
    }
}
