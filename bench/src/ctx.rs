//! What every part of the benchmark is given.

use std::path::PathBuf;

/// What every part needs.
pub struct Ctx {
    pub quick: bool,
    pub root: PathBuf,
    pub desk_binary: PathBuf,
    pub venv: PathBuf,
    /// Scratch space of this run (data directories, logs).
    pub work: PathBuf,
    /// Cached data sets (kept between runs).
    pub cache: PathBuf,
    pub cores: usize,
}
