//! The HTTP layer over the core (`desk-core`): the admin API routes, the platform callback
//! routes, the one-click authorisation pages, the health check, the server with its limits,
//! and `ApiError`, the one error type at the HTTP edge. The composition roots in `functions/`
//! choose adapters and build the states.

pub mod admin;
pub mod auth;
pub mod callbacks;
pub mod error;
pub mod extract;
pub mod health;
pub mod http;
pub mod server;
pub mod state;
pub mod wxopen;

pub use error::ApiError;
pub use state::{AppState, CallbackState};
