//! Alipay trade complaints (`tradecomplain`) and RiskGO consumer complaints.

pub mod accounts;
pub mod admin;
pub mod auto;
pub mod callback;
pub mod complaint;
pub mod credentials;
pub mod deadlines;
pub mod events;
pub mod limits;
pub mod reconcile;

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

    fn account_kinds(&self) -> Vec<crate::platform::AccountKindSpec> {
        vec![accounts::ALIPAY_APP]
    }

    fn callbacks(&self) -> Vec<crate::callback::CallbackRoute> {
        callback::routes()
    }

    fn staff_actions(&self) -> &dyn crate::staff_actions::StaffActions {
        &admin::Actions
    }

    fn deadlines(
        &self,
        complaint: &domain::complaint::Complaint,
    ) -> Vec<domain::deadline::Deadline> {
        deadlines::deadlines(complaint)
    }

    fn reconciler(&self) -> Option<&dyn crate::reconcile::Reconciler> {
        Some(&reconcile::AlipayReconciler)
    }
}
