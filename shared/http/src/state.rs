//! The router states. Admin routes get [`AppState`]: the core's [`Services`] plus the
//! administrator token and the health check. Callback routes get [`CallbackState`]: the
//! services, the health check and the callback settings, no admin-token material, so a callback
//! function is built without it.

use crate::health::Health;
use desk_core::Services;
use desk_core::platform::Platforms;
use std::sync::Arc;

/// The default of [`CallbackState::plaintext_push_window_secs`]: 15 minutes.
pub use desk_core::callback::PLAINTEXT_PUSH_WINDOW_SECS;

/// What the callback routes use.
#[derive(Clone)]
pub struct CallbackState {
    pub services: Services,
    /// The platforms served (their callbacks, actions and account kinds), chosen by the
    /// composition root; none until [`CallbackState::with_platforms`].
    pub platforms: Arc<Platforms>,
    /// The health check's last result (it probes the store at most every few seconds).
    pub health: Arc<Health>,
    /// How far (seconds, either way) a plaintext mini-program push's timestamp may be from now
    /// (`PLAINTEXT_PUSH_WINDOW_SECS`).
    pub plaintext_push_window_secs: i64,
}

impl CallbackState {
    pub fn new(services: Services) -> Self {
        Self {
            services,
            platforms: Arc::default(),
            health: Arc::default(),
            plaintext_push_window_secs: PLAINTEXT_PUSH_WINDOW_SECS,
        }
    }

    /// Serve these platforms.
    pub fn with_platforms(mut self, platforms: Platforms) -> Self {
        self.platforms = Arc::new(platforms);
        self
    }

    /// The plaintext push window (seconds, at least 1); `None` keeps the default.
    pub fn with_plaintext_push_window(mut self, secs: Option<u32>) -> Self {
        if let Some(s) = secs {
            self.plaintext_push_window_secs = i64::from(s.max(1));
        }
        self
    }

    /// What the platforms' callback handlers are told about the settings.
    pub fn callback_settings(&self) -> desk_core::callback::CallbackSettings {
        desk_core::callback::CallbackSettings {
            plaintext_push_window_secs: self.plaintext_push_window_secs,
        }
    }
}

impl std::ops::Deref for CallbackState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}

#[cfg(feature = "full")]
pub use admin::AppState;

/// Renders the process's metrics for `GET /metrics` (the composition root's exporter, with
/// the gauges it reads at scrape time; see `crate::scrape`).
#[async_trait::async_trait]
pub trait Scrape: Send + Sync {
    async fn render(&self) -> String;
}

#[cfg(feature = "full")]
mod admin {
    use super::CallbackState;
    use crate::auth::AdminAuth;
    use axum::extract::FromRef;
    use desk_core::Services;

    /// What the admin routes use: the callback state (the all-in-one router serves callbacks
    /// and the platforms' pages too) and the administrator token.
    #[derive(Clone)]
    pub struct AppState {
        pub callbacks: CallbackState,
        pub admin: AdminAuth,
        /// The sandbox accounts' engine ("try it without a platform account"): set by the
        /// all-in-one binary started with `--sandbox`; none elsewhere (its routes answer 404).
        pub try_it: Option<std::sync::Arc<dyn crate::try_it::TryIt>>,
        /// What `GET /metrics` renders: set by the embedded binary; none elsewhere (404).
        pub metrics: Option<std::sync::Arc<dyn super::Scrape>>,
        /// The console dashboard's figures computed in the last minute.
        pub dashboard: std::sync::Arc<crate::dashboard_cache::DashboardCache>,
    }

    impl AppState {
        pub fn new(services: Services, admin: AdminAuth) -> Self {
            Self {
                callbacks: CallbackState::new(services),
                admin,
                try_it: None,
                metrics: None,
                dashboard: Default::default(),
            }
        }

        /// Serve `GET /metrics` from this exporter.
        pub fn with_metrics(mut self, metrics: std::sync::Arc<dyn super::Scrape>) -> Self {
            self.metrics = Some(metrics);
            self
        }

        /// Offer sandbox accounts through this engine.
        pub fn with_try_it(mut self, engine: std::sync::Arc<dyn crate::try_it::TryIt>) -> Self {
            self.try_it = Some(engine);
            self
        }

        /// Serve these platforms (their callbacks, staff actions and account kinds).
        pub fn with_platforms(mut self, platforms: desk_core::platform::Platforms) -> Self {
            self.callbacks = self.callbacks.with_platforms(platforms);
            self
        }

        /// The platforms served.
        pub fn platforms(&self) -> &desk_core::platform::Platforms {
            &self.callbacks.platforms
        }

        /// The plaintext push window (seconds, at least 1); `None` keeps the default.
        pub fn with_plaintext_push_window(mut self, secs: Option<u32>) -> Self {
            self.callbacks = self.callbacks.with_plaintext_push_window(secs);
            self
        }

        pub fn services(&self) -> &Services {
            &self.callbacks.services
        }
    }

    impl std::ops::Deref for AppState {
        type Target = Services;
        fn deref(&self) -> &Services {
            &self.callbacks.services
        }
    }

    impl FromRef<AppState> for CallbackState {
        fn from_ref(state: &AppState) -> Self {
            state.callbacks.clone()
        }
    }

    impl std::ops::DerefMut for AppState {
        fn deref_mut(&mut self) -> &mut Services {
            &mut self.callbacks.services
        }
    }
}
