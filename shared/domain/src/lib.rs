//! The complaint desk domain: accounts and their settings, complaint records, jobs, and the
//! ports (records, queue, blobs, secrets, clock) that adapters implement.
//!
//! This crate has no AWS, HTTP or SQL dependency.

pub mod account;
pub mod backoff;
pub mod clock;
pub mod complaint;
pub mod deadline;
pub mod ids;
pub mod job;
pub mod money;
pub mod names;
pub mod notification;
pub mod ports;
pub mod sensitive;
pub mod token;

pub use sensitive::Sensitive;
