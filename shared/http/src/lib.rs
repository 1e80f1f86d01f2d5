//! The HTTP layer over the core (`desk-core`): the admin API routes, the platforms' callback
//! routes and browser pages, the health check, the server with its limits, and `ApiError`, the
//! one error type at the HTTP edge. The composition roots in `functions/`
//! choose adapters and build the states.

// The admin API needs every platform: it is built with the `full` feature only.
#[cfg(feature = "full")]
pub mod admin;
#[cfg(feature = "full")]
pub mod auth;
pub mod callbacks;
#[cfg(feature = "full")]
pub mod caller;
#[cfg(feature = "full")]
pub mod console;
#[cfg(feature = "full")]
pub mod dashboard_cache;
pub mod error;
#[cfg(feature = "full")]
pub mod extract;
pub mod health;
pub mod http;
pub mod router;
#[cfg(feature = "full")]
pub mod scrape;
pub mod server;
pub mod state;
#[cfg(feature = "full")]
pub mod try_it;

pub use error::ApiError;
#[cfg(feature = "full")]
pub use state::AppState;
pub use state::CallbackState;
