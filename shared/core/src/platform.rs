//! The seam between the generic desk and each platform: what a platform brings ([`Platform`])
//! and the registry a composition root fills ([`Platforms`]). Generic code (the worker, the
//! automatic handling, the admin API) never names a platform; it asks the registry.

use crate::staff_actions::StaffActions;
use crate::state::Services;
use crate::worker::JobRegistry;
use std::sync::Arc;

pub use crate::accounts::{AccountKindSpec, CredentialsChange, GuardedSetting};

/// One platform the desk serves, implemented once in the platform's own folder
/// (`platforms/<name>/`) and registered at the composition root.
pub trait Platform: Send + Sync + 'static {
    /// The platform's name in complaint records, jobs, notices and paths (`wechatpay`).
    fn name(&self) -> domain::complaint::Platform;

    /// Register the handlers of its jobs (events queue).
    fn register_jobs(&self, jobs: &mut JobRegistry, services: &Services);

    /// The account kinds it brings: their facts (callback family, platform id field,
    /// sub-merchants), how their settings and credentials are checked. None by default.
    fn account_kinds(&self) -> Vec<AccountKindSpec> {
        Vec::new()
    }

    /// Its callback endpoints (verification and acceptance), mounted by the HTTP layer. None
    /// by default (a platform that only pulls).
    fn callbacks(&self) -> Vec<crate::callback::CallbackRoute> {
        Vec::new()
    }

    /// The browser pages it serves on our domain outside `/callbacks/` (a one-click
    /// authorisation's launch and return pages), framework-free like its callbacks: a
    /// [`crate::callback::CallbackRequest`] in, a [`crate::callback::CallbackResponse`] out.
    /// Only the all-in-one router mounts them (the embedded binary, the admin API function),
    /// never a callback function. None by default.
    fn pages(&self) -> Vec<crate::callback::CallbackRoute> {
        Vec::new()
    }

    /// The actions staff take by hand on its complaints (`POST /complaints/{id}/{action}`),
    /// each with its request schema. None by default.
    fn staff_actions(&self) -> &dyn StaffActions {
        &crate::staff_actions::NoActions
    }

    /// How it fetches the buyer's images of its complaints (`GET /complaints/{id}/media/{n}`).
    /// None by default: its complaints have no images to fetch (409).
    fn complaint_images(&self) -> &dyn crate::complaint_images::ComplaintImages {
        &crate::complaint_images::NoImages
    }

    /// The routes staff call on its accounts (`/accounts/{id}/{name}`), each with its method,
    /// the account kinds it serves and the schemas of its body and answer. None by default.
    fn account_actions(&self) -> &dyn crate::account_actions::AccountActions {
        &crate::account_actions::NoAccountActions
    }

    /// The deadlines a complaint of this platform has in its stored state, computed from the
    /// platform's own fields on the record (see [`domain::deadline`]): re-computed on every
    /// write of the record. None by default.
    fn deadlines(
        &self,
        complaint: &domain::complaint::Complaint,
    ) -> Vec<domain::deadline::Deadline> {
        let _ = complaint;
        Vec::new()
    }

    /// What it does once a day per account (the deadline sweep's daily pass, at the account's
    /// digest time): a mini program's trade-score snapshot. Nothing by default.
    fn daily(&self) -> &dyn DailyWork {
        &NoDailyWork
    }

    /// How it finds the complaints whose push never came (list, re-read, callback URLs): see
    /// [`crate::reconcile`]. None by default (its accounts are not reconciled).
    fn reconciler(&self) -> Option<&dyn crate::reconcile::reconciler::Reconciler> {
        None
    }
}

/// A platform's once-a-day work on one of its accounts, run by the daily pass
/// (`crate::deadlines::daily`) after the account's local digest time on each Beijing calendar
/// day. It may run more than once on a day (a later sweep after a failure): it keeps its own
/// record per (account, day) and does nothing when the day's is there. A failure is logged by
/// the caller and stops nothing else.
#[async_trait::async_trait]
pub trait DailyWork: Send + Sync {
    async fn run(
        &self,
        services: &Services,
        account: &domain::account::Account,
        day: chrono::NaiveDate,
    ) -> Result<(), crate::Error>;
}

/// The daily work of a platform that has none.
pub struct NoDailyWork;

#[async_trait::async_trait]
impl DailyWork for NoDailyWork {
    async fn run(
        &self,
        _services: &Services,
        _account: &domain::account::Account,
        _day: chrono::NaiveDate,
    ) -> Result<(), crate::Error> {
        Ok(())
    }
}

/// A registered platform's rules, declared for the process's complaint writes.
struct RulesOf(Arc<dyn Platform>);

impl domain::deadline::DeadlineRules for RulesOf {
    fn deadlines(
        &self,
        complaint: &domain::complaint::Complaint,
    ) -> Vec<domain::deadline::Deadline> {
        self.0.deadlines(complaint)
    }
}

/// The platforms of one build, in the order they were registered.
#[derive(Clone, Default)]
pub struct Platforms {
    list: Vec<Arc<dyn Platform>>,
    /// The account kinds of the registered platforms.
    kinds: Vec<AccountKindSpec>,
}

impl Platforms {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a platform (a second one of the same name replaces the first).
    pub fn with(mut self, platform: impl Platform) -> Self {
        self.register(Arc::new(platform));
        self
    }

    /// Add a platform (a second one of the same name replaces the first). Its account kinds
    /// are declared for this process ([`domain::account::AccountKind::declare`]), so a
    /// repository that sees an account of the kind knows its facts, and so are its deadline
    /// rules ([`domain::deadline::declare`]), so every write of one of its complaints
    /// re-computes them.
    pub fn register(&mut self, platform: Arc<dyn Platform>) {
        let name = platform.name();
        self.list.retain(|p| p.name() != name);
        self.kinds.retain(|k| k.facts.platform != name);
        for mut spec in platform.account_kinds() {
            spec.facts.platform = name;
            domain::account::AccountKind::declare(spec.facts);
            self.kinds.retain(|k| k.facts.kind != spec.facts.kind);
            self.kinds.push(spec);
        }
        domain::deadline::declare(name, Arc::new(RulesOf(platform.clone())));
        self.list.push(platform);
    }

    /// The platform of this name (a caller's text), if this build serves it.
    pub fn named(&self, name: &str) -> Option<domain::complaint::Platform> {
        self.list
            .iter()
            .map(|p| p.name())
            .find(|p| p.as_str() == name)
    }

    /// The account kind of this name (a caller's text), if a registered platform brings it.
    pub fn account_kind_named(&self, name: &str) -> Option<&AccountKindSpec> {
        self.kinds.iter().find(|k| k.facts.kind.as_str() == name)
    }

    /// The account kind, if a registered platform brings it.
    pub fn account_kind(&self, kind: domain::account::AccountKind) -> Option<&AccountKindSpec> {
        self.kinds.iter().find(|k| k.facts.kind == kind)
    }

    /// Every account kind of the registered platforms.
    pub fn account_kinds(&self) -> impl Iterator<Item = &AccountKindSpec> {
        self.kinds.iter()
    }

    /// The names of the account kinds served, for messages (`alipay_app, wechatpay_merchant`).
    pub fn account_kind_names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|k| k.facts.kind.as_str()).collect()
    }

    /// The platform of this name, if this build serves it.
    pub fn get(&self, name: domain::complaint::Platform) -> Option<&Arc<dyn Platform>> {
        self.list.iter().find(|p| p.name() == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Platform>> {
        self.list.iter()
    }

    /// The names of the platforms served, for messages (`wechatpay, alipay`).
    pub fn names(&self) -> Vec<&'static str> {
        self.list.iter().map(|p| p.name().as_str()).collect()
    }
}

impl std::fmt::Debug for Platforms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
