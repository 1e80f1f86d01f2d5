//! Shared by every function and the all-in-one binary: configuration, the admin API router,
//! the callback routes (as platforms are added), the worker loop and its job registry, and
//! tracing set-up. Use-cases take their ports as parameters; only the composition roots in
//! `functions/` choose adapters.

pub mod account_cache;
pub mod admin;
pub mod auth;
pub mod callbacks;
pub mod complaints;
pub mod credentials;
pub mod error;
pub mod extract;
pub mod fingerprint;
pub mod health;
pub mod http;
pub mod inbox;
pub mod notices;
pub mod notifier;
pub mod platforms;
pub mod policy;
pub mod ratelimit;
pub mod reindex;
pub mod repo;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod worker;
pub mod wxopen;

pub use error::ApiError;
pub use state::{AppState, Ports};
