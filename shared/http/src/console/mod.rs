//! The staff console (`/console/`): server-rendered pages over the same use-cases as the admin
//! API, signed in with a session cookie.

pub mod forms;
pub mod lang;

pub use lang::Lang;
