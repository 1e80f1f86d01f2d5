//! No code: this crate's `Cargo.toml` (written by `cargo hakari generate`) asks for each external
//! crate with the features the whole workspace builds it with, so a function built alone reuses
//! the workspace's builds of them. See the README's "Development" section.
