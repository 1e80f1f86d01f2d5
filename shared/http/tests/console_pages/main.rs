//! The console's settings and operations pages over the in-process router (one test binary,
//! a module per page group): who may see them, what each form sends, and what it changes.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod dashboard;
mod notifications;
mod operations;
mod settings;
mod violations;
