//! WeChat Mini Program trade complaints, for mini programs onboarded by hand or authorised
//! through a third-party platform (`wxopen_component`), refunded through a linked WeChat Pay
//! account. Third-party platforms get a one-click authorisation: a link
//! (`authorization`) to browser pages the platform serves on our domain (`pages`). Once a
//! day a mini program's trade score is kept (`trade_score`), so its history can be charted.
//! Without a list API, reconciliation re-reads open complaints and watches the penalty list
//! (`reconcile`).

pub mod accounts;
#[cfg(feature = "wxmini")]
pub mod admin;
pub mod callback;
pub mod credentials;
#[cfg(feature = "wxmini")]
pub mod deadlines;
// A build with only the `wxmini-callbacks` feature (the callback functions) has the callbacks
// and no job handlers: those refund through WeChat Pay.
#[cfg(feature = "wxmini")]
pub mod auto;
// The one-click authorisation (its link and its pages) onboards through the same steps as the
// `authorized` event's job.
#[cfg(feature = "wxmini")]
pub mod authorization;
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
pub mod pages;
// Reconciliation reads through the job handlers' clients and queues their jobs.
#[cfg(feature = "wxmini")]
pub mod reconcile;
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

    #[cfg(feature = "wxmini")]
    fn pages(&self) -> Vec<crate::callback::CallbackRoute> {
        pages::routes()
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
        &AccountRoutes
    }

    #[cfg(feature = "wxmini")]
    fn deadlines(
        &self,
        complaint: &domain::complaint::Complaint,
    ) -> Vec<domain::deadline::Deadline> {
        deadlines::deadlines(complaint)
    }

    #[cfg(feature = "wxmini")]
    fn daily(&self) -> &dyn crate::platform::DailyWork {
        &trade_score::DailySnapshot
    }

    #[cfg(feature = "wxmini")]
    fn reconciler(&self) -> Option<&dyn crate::reconcile::Reconciler> {
        Some(&reconcile::WxminiReconciler)
    }
}

/// Its account routes: a mini program's trade score, a third-party platform's authorisation
/// link.
#[cfg(feature = "wxmini")]
pub struct AccountRoutes;

#[cfg(feature = "wxmini")]
#[async_trait::async_trait]
impl crate::account_actions::AccountActions for AccountRoutes {
    fn actions(&self) -> Vec<crate::account_actions::AccountAction> {
        vec![
            trade_score::action(),
            trade_score::history_action(),
            authorization::action(),
        ]
    }

    async fn run(
        &self,
        services: &Services,
        _staff: &crate::staff_actions::Staff,
        account: &domain::account::Account,
        action: &crate::account_actions::AccountAction,
        body: crate::staff_actions::ActionBody,
    ) -> Result<crate::account_actions::AccountAnswer, crate::Error> {
        use crate::account_actions::AccountAnswer;
        match action.operation_id {
            trade_score::OPERATION => {
                AccountAnswer::json(&trade_score::trade_score(services, account).await?)
            }
            trade_score::HISTORY_OPERATION => {
                AccountAnswer::json(&trade_score::history(services, account, &body).await?)
            }
            authorization::OPERATION => {
                AccountAnswer::json(&authorization::authorization_link(services, account)?)
            }
            _ => Err(crate::account_actions::no_such_route(
                account.kind(),
                action.method,
                action.name,
                &self.actions(),
            )),
        }
    }
}
