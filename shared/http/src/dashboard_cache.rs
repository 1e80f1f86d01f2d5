//! The console dashboard's figures computed in the last minute, per (caller's scope, account,
//! range, day): what `/console/dashboard` shows again instead of reading the records anew. In
//! the application state, so each state (and each test) has its own.

use chrono::{DateTime, Utc};
use desk_core::dashboard::Summary;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How long computed figures are shown again (seconds).
pub const CACHE_TTL_SECS: i64 = 60;
/// Computed figures kept at most (the oldest go first).
pub const CACHE_ENTRIES: usize = 64;

/// (the caller's scope, the account filter, the range's days, its last day).
pub type CacheKey = (String, Option<String>, u32, chrono::NaiveDate);

/// Figures computed at `at`: the summary, and whether more complaints were there than read.
#[derive(Clone)]
pub struct Figures {
    pub summary: Arc<Summary>,
    pub more: bool,
    pub at: DateTime<Utc>,
}

/// The dashboard's figures computed in the last [`CACHE_TTL_SECS`], per [`CacheKey`].
#[derive(Default)]
pub struct DashboardCache {
    entries: Mutex<HashMap<CacheKey, Figures>>,
}

impl DashboardCache {
    fn fresh(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        at <= now && now - at < chrono::Duration::seconds(CACHE_TTL_SECS)
    }

    pub fn get(&self, key: &CacheKey, now: DateTime<Utc>) -> Option<Figures> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|f| Self::fresh(f.at, now)).cloned()
    }

    pub fn put(&self, key: CacheKey, figures: Figures) {
        let now = figures.at;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, f| Self::fresh(f.at, now));
            if entries.len() >= CACHE_ENTRIES
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, f)| f.at)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, figures);
    }
}
