//! Alipay trade complaints (`tradecomplain`) and RiskGO consumer complaints.

pub mod admin;
pub mod events;

pub use events::client;

use crate::platform::Platform;
use crate::state::Services;
use crate::worker::JobRegistry;

/// The Alipay platform.
pub struct Alipay;

impl Platform for Alipay {
    fn name(&self) -> domain::complaint::Platform {
        domain::complaint::Platform::Alipay
    }

    fn register_jobs(&self, jobs: &mut JobRegistry, services: &Services) {
        events::register(jobs, services);
    }

    fn staff_actions(&self) -> &dyn crate::staff_actions::StaffActions {
        &admin::Actions
    }
}
