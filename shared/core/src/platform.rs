//! The seam between the generic desk and each platform: what a platform brings ([`Platform`])
//! and the registry a composition root fills ([`Platforms`]). Generic code (the worker, the
//! automatic handling, the admin API) never names a platform; it asks the registry.

use crate::staff_actions::StaffActions;
use crate::state::Services;
use crate::worker::JobRegistry;
use std::sync::Arc;

/// One platform the desk serves, implemented once in the platform's own folder
/// (`platforms/<name>/`) and registered at the composition root.
pub trait Platform: Send + Sync + 'static {
    /// The platform's name in complaint records, jobs, notices and paths (`wechatpay`).
    fn name(&self) -> domain::complaint::Platform;

    /// Register the handlers of its jobs (events queue).
    fn register_jobs(&self, jobs: &mut JobRegistry, services: &Services);

    /// The actions staff take by hand on its complaints (`POST /complaints/{id}/{action}`),
    /// each with its request schema.
    fn staff_actions(&self) -> &dyn StaffActions;
}

/// The platforms of one build, in the order they were registered.
#[derive(Clone, Default)]
pub struct Platforms {
    list: Vec<Arc<dyn Platform>>,
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

    /// Add a platform (a second one of the same name replaces the first).
    pub fn register(&mut self, platform: Arc<dyn Platform>) {
        let name = platform.name();
        self.list.retain(|p| p.name() != name);
        self.list.push(platform);
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
