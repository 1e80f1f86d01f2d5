//! The P4 data sets: N complaints across accounts, sub-merchants, statuses and platforms,
//! written through the app's own repository (`ComplaintRepo::create_many`, 25 per transaction)
//! over the embedded store, so every key and index entry is exactly what the app writes. Built
//! once into `<target>/bench/data-<N>` and reused; rebuilt when the stamp changes (this file,
//! the repository's key code or the embedded schema).

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use desk_core::complaints::{ComplaintRepo, complaint_id};
use domain::complaint::{Complaint, ComplaintStatus, Platform};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Bump to rebuild every cached data set.
const SEED_VERSION: &str = "2";

/// Accounts in the data set (ids only; list filters take the id).
pub const ACCOUNTS: usize = 10;
/// Sub-merchants of the provider accounts.
pub const SUBS: usize = 20;
/// Filters P4 measures, chosen to match about a tenth to a fiftieth of the set.
pub const FILTER_ACCOUNT: &str = "acc_bench_00";
pub const FILTER_SUB: &str = "1900200003";

pub fn account(k: usize) -> String {
    format!("acc_bench_{k:02}")
}

fn stamp() -> String {
    let mut h = Sha256::new();
    for part in [
        SEED_VERSION,
        include_str!("seed.rs"),
        include_str!("../../shared/core/src/complaints.rs"),
        include_str!("../../shared/embedded/src/db.rs"),
        include_str!("../../shared/embedded/src/records.rs"),
        include_str!("../../shared/embedded/src/records_schema.rs"),
        include_str!("../../shared/core/src/repo.rs"),
        include_str!("../../shared/core/src/complaints/list.rs"),
        include_str!("../../shared/core/src/reindex.rs"),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// When complaint `i` was received: one second apart, newest (i = 0) first.
pub fn received_at(i: usize) -> DateTime<Utc> {
    let base = Utc
        .with_ymd_and_hms(2026, 6, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    base - chrono::Duration::seconds(i as i64)
}

const STATUSES: [ComplaintStatus; 5] = [
    ComplaintStatus::Pending,
    ComplaintStatus::Processing,
    ComplaintStatus::AwaitingPlatform,
    ComplaintStatus::Resolved,
    ComplaintStatus::Closed,
];

/// Complaint `i`: accounts 0-5 WeChat Pay (0-2 providers with sub-merchants), 6-7 Alipay,
/// 8-9 mini program; statuses cycle independently of accounts.
pub fn complaint(i: usize) -> Complaint {
    let k = i % ACCOUNTS;
    let platform = match k {
        0..=5 => Platform::Wechatpay,
        6 | 7 => Platform::Alipay,
        _ => Platform::Wxmini,
    };
    let family = (platform == Platform::Alipay).then(|| "trade".to_string());
    let pid = format!("{:027}", 200_000_000_000usize + i);
    let account_id = account(k);
    let at = received_at(i);
    let mut c = Complaint::new(
        complaint_id(platform, &account_id, &pid),
        platform,
        family,
        account_id,
        pid,
        at,
    );
    if k <= 2 {
        c.sub_mchid = Some(format!("{}", 1_900_200_000 + (i / ACCOUNTS) % SUBS));
    }
    c.status = STATUSES[(i / 7) % STATUSES.len()];
    c.raw_status = c.status.as_str().to_ascii_uppercase();
    c.problem_type = Some("REFUND".into());
    c.description = Some(format!("benchmark complaint {i}: 未收到商品"));
    c.complaint_amount_fen = Some(100 + (i % 5_000) as u64);
    c.complained_at = Some(at);
    c.replied = c.status != ComplaintStatus::Pending;
    c.completed = matches!(
        c.status,
        ComplaintStatus::Resolved | ComplaintStatus::Closed
    );
    c
}

/// The data directory with `n` complaints, built if missing or stale.
pub async fn ensure(cache: &Path, n: usize) -> anyhow::Result<PathBuf> {
    let dir = cache.join(format!("data-{n}"));
    let want = stamp();
    let stamp_file = cache.join(format!("data-{n}.stamp"));
    if dir.join("complaint-desk.db").exists()
        && std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == want)
    {
        println!(
            "P4: reusing the {n}-complaint data set at {}",
            dir.display()
        );
        return Ok(dir);
    }
    let _ = std::fs::remove_file(&stamp_file);
    let _ = std::fs::remove_dir_all(&dir);
    embedded::create_private_dir(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let started = Instant::now();
    println!(
        "P4: building the {n}-complaint data set at {}",
        dir.display()
    );
    let db = embedded::Db::open(dir.join("complaint-desk.db"))?;
    let store = Arc::new(embedded::SqliteRecordStore::new(db));
    const CHUNK: usize = 25;
    const IN_FLIGHT: usize = 4;
    let mut tasks = tokio::task::JoinSet::new();
    let mut next_report = 100_000;
    for start in (0..n).step_by(CHUNK) {
        while tasks.len() >= IN_FLIGHT {
            if let Some(r) = tasks.join_next().await {
                r??;
            }
        }
        let store = store.clone();
        tasks.spawn(async move {
            let batch: Vec<Complaint> = (start..(start + CHUNK).min(n)).map(complaint).collect();
            ComplaintRepo::new(&*store)
                .create_many(&batch)
                .await
                .map_err(|e| anyhow::anyhow!("seeding complaints {start}..: {e:?}"))
        });
        if start >= next_report {
            println!(
                "P4: {start} complaints written ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            next_report += 100_000;
        }
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    // Every complaint was written with this version's list keys: the backfill finds nothing
    // to do and marks the lists ready, as on a store that finished its upgrade (otherwise the
    // desk would run it at its first start, in the middle of the measurements).
    let p = desk_core::reindex::run(&*store, desk_core::reindex::PAGE)
        .await
        .map_err(|e| anyhow::anyhow!("marking the list keys done: {e:?}"))?;
    println!(
        "P4: list keys checked ({} complaints examined, {} re-saved)",
        p.examined, p.rewritten
    );
    drop(store);
    std::fs::write(&stamp_file, want)?;
    println!(
        "P4: {n} complaints written in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_set_spreads_over_every_filter() {
        let set: Vec<Complaint> = (0..1_000).map(complaint).collect();
        for s in STATUSES {
            assert!(set.iter().filter(|c| c.status == s).count() >= 150, "{s:?}");
        }
        for p in [Platform::Wechatpay, Platform::Alipay, Platform::Wxmini] {
            assert!(set.iter().any(|c| c.platform == p));
        }
        let in_sub = set
            .iter()
            .filter(|c| c.sub_mchid.as_deref() == Some(FILTER_SUB))
            .count();
        assert!(in_sub > 0);
        assert!(
            set.iter()
                .any(|c| c.account_id == FILTER_ACCOUNT && c.status == ComplaintStatus::Processing)
        );
        assert!(
            set.iter()
                .any(|c| c.sub_mchid.as_deref() == Some(FILTER_SUB)
                    && c.status == ComplaintStatus::Processing)
        );
        // Newest first by index, ids unique.
        assert!(received_at(0) > received_at(1));
        let ids: std::collections::HashSet<_> = set.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids.len(), set.len());
    }
}
