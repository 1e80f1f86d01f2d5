//! The use-cases, with no web framework: repositories with their own error type, credentials,
//! staff notices and their delivery, the worker loop, the platform policies (what the workers
//! do with platform events), the rate limiter, the backfills. Use-cases take their ports as
//! parameters ([`Services`]); only the composition roots choose adapters. The HTTP layer
//! (admin routes, callbacks, authorisation pages) sits on top, in `desk-http`.

pub mod account_actions;
pub mod account_cache;
pub mod accounts;
pub mod automatic;
pub mod callback;
pub mod complaint_images;
pub mod complaints;
pub mod console_links;
pub mod credentials;
pub mod dashboard;
pub mod deadlines;
pub mod deliveries;
pub mod error;
pub mod fingerprint;
pub mod inbox;
pub mod metrics;
#[cfg(test)]
mod metrics_tests;
pub mod notices;
#[cfg(feature = "notifier")]
pub mod notifier;
pub mod platform;
pub mod platform_caches;
pub mod platforms;
pub mod policy;
pub mod ratelimit;
pub mod reconcile;
pub mod reindex;
pub mod repo;
pub mod schedule;
pub mod schema;
pub mod sessions;
pub mod staff_actions;
pub mod state;
pub mod telemetry;
pub mod test_notice;
#[cfg(test)]
pub(crate) mod test_support;
pub mod worker;

pub use error::Error;
pub use state::{ConsoleBase, NotifierSettings, Ports, Services};
