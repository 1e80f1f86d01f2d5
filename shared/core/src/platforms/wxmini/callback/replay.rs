//! Replay guard for plaintext mini-program pushes. Their `signature` covers only (Token,
//! timestamp, nonce), so a signed query seen once could carry any body. Each accepted triple is
//! claimed in the records store with its body's SHA-256 (a conditional create, so of two
//! concurrent posts of one triple exactly one claims it); the claim expires once the triple's
//! timestamp has left the window (nothing older is accepted anyway).
//!
//! A triple seen before with the same body is WeChat's own redelivery: it goes on to the
//! idempotent inbox (nothing is queued twice, and a first delivery that failed before it was
//! queued is still queued). With another body it is a forgery.

use domain::ports::{Item, RecordStore, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};

/// What the guard decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// First time this triple is seen, or a redelivery of the very same body.
    Fresh,
    /// The triple was seen with another body.
    Forged,
}

/// Seconds a claim outlives the window's edge.
const MARGIN_SECS: i64 = 60;

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// The record (pk, sk) that claims one (appid, timestamp, nonce, signature).
pub fn record_key(appid: &str, timestamp: &str, nonce: &str, signature: &str) -> (String, String) {
    let key = hex_sha256(&[
        appid.as_bytes(),
        timestamp.as_bytes(),
        nonce.as_bytes(),
        signature.to_ascii_lowercase().as_bytes(),
    ]);
    (format!("WXPLAINPUSH#{key}"), SK.to_string())
}

const SK: &str = "SEEN";

/// Claim (appid, timestamp, nonce, signature) for `body`. `timestamp` is already known to be
/// within `window_secs` of `now`.
pub async fn check(
    records: &dyn RecordStore,
    appid: &str,
    (timestamp, nonce, signature): (&str, &str, &str),
    body: &[u8],
    now: i64,
    window_secs: i64,
) -> Result<Replay, StoreError> {
    let (pk, sk) = record_key(appid, timestamp, nonce, signature);
    let body_hash = hex_sha256(&[body]);
    let ts: i64 = timestamp.trim().parse().unwrap_or(now);
    let expires = ts
        .max(now)
        .saturating_add(window_secs)
        .saturating_add(MARGIN_SECS);
    for _ in 0..3 {
        let item = Item::new(&pk, &sk, json!({"body_sha256": body_hash, "seen_at": now}))
            .expiring_at(expires);
        match records.create(item).await {
            Ok(_) => return Ok(Replay::Fresh),
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        match records.get(&pk, &sk).await? {
            Some(seen) if seen.data["body_sha256"] == body_hash.as_str() => {
                return Ok(Replay::Fresh);
            }
            Some(_) => return Ok(Replay::Forged),
            // Swept between the two calls: claim again.
            None => continue,
        }
    }
    Ok(Replay::Forged)
}
