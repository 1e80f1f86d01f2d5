//! WeChat Pay consumer complaints (direct merchants and providers with sub-merchants) and
//! violation notices.

pub mod accounts;
pub mod admin;
pub mod auto;
pub mod callback;
pub mod clients;
pub mod credentials;
pub mod deadlines;
pub mod detail;
pub mod events;
pub mod images;
pub mod limits;
pub mod reconcile;
pub mod registration;

pub use clients::{ClientError, Clients, api_error};

use crate::platform::Platform;
use crate::state::Services;
use crate::worker::JobRegistry;

/// The WeChat Pay platform.
pub struct Wechatpay;

impl Platform for Wechatpay {
    fn name(&self) -> domain::complaint::Platform {
        domain::complaint::Platform::Wechatpay
    }

    fn register_jobs(&self, jobs: &mut JobRegistry, services: &Services) {
        events::register(jobs, services);
    }

    fn account_kinds(&self) -> Vec<crate::platform::AccountKindSpec> {
        vec![accounts::MERCHANT, accounts::PROVIDER]
    }

    fn callbacks(&self) -> Vec<crate::callback::CallbackRoute> {
        callback::routes()
    }

    fn staff_actions(&self) -> &dyn crate::staff_actions::StaffActions {
        &admin::Actions
    }

    fn complaint_images(&self) -> &dyn crate::complaint_images::ComplaintImages {
        &images::Images
    }

    fn account_actions(&self) -> &dyn crate::account_actions::AccountActions {
        &registration::Actions
    }

    fn deadlines(
        &self,
        complaint: &domain::complaint::Complaint,
    ) -> Vec<domain::deadline::Deadline> {
        deadlines::deadlines(complaint)
    }

    fn reconciler(&self) -> Option<&dyn crate::reconcile::Reconciler> {
        Some(&reconcile::Reconcile)
    }
}
