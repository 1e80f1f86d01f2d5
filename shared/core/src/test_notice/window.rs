//! At most one test notice per audience per [`WINDOW`], durable across processes (a record).

use crate::Error;
use chrono::{DateTime, Utc};
use domain::notification::Audience;
use domain::ports::{Item, RecordStore, StoreError};

/// At most one test per audience within this window.
pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(30);

fn guard_pk(a: &Audience) -> String {
    format!(
        "NOTIFYTEST#{}#{}",
        a.account_id,
        a.sub_mchid.as_deref().unwrap_or("-")
    )
}

fn too_soon(left: std::time::Duration) -> Error {
    Error::RateLimited {
        message: format!(
            "a test notice was sent to this audience less than {} seconds ago: wait {} seconds",
            WINDOW.as_secs(),
            left.as_secs().max(1)
        ),
        retry_after: left,
    }
}

/// Take this audience's test window: `Ok` when no test was sent within [`WINDOW`], else
/// [`Error::RateLimited`] with the time left. Durable and shared: conditional create, or
/// compare-and-set on an older record (of two concurrent claims one wins).
pub async fn claim(
    records: &dyn RecordStore,
    audience: &Audience,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let pk = guard_pk(audience);
    let window = chrono::Duration::from_std(WINDOW).unwrap_or_default();
    let item = Item::new(
        &pk,
        "META",
        serde_json::json!({"at": now.timestamp_millis()}),
    )
    .expiring_at((now + window).timestamp() + 60);
    let current = records.get(&pk, "META").await?;
    let written = match &current {
        None => records.create(item).await.map(|_| ()),
        Some(old) => {
            let at = old.data["at"]
                .as_i64()
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .unwrap_or(DateTime::UNIX_EPOCH);
            let elapsed = now - at;
            if elapsed < window && elapsed >= chrono::Duration::zero() {
                return Err(too_soon((window - elapsed).to_std().unwrap_or(WINDOW)));
            }
            records.update(item, old.version).await.map(|_| ())
        }
    };
    match written {
        Ok(()) => Ok(()),
        Err(StoreError::AlreadyExists { .. } | StoreError::VersionConflict { .. }) => {
            Err(too_soon(WINDOW))
        }
        Err(e) => Err(e.into()),
    }
}
