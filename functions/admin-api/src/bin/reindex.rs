//! `reindex`: give the complaint and delivery records of a DynamoDB table the keys of this version's list
//! indexes (the backfill; see `desk_core::reindex`). Run it once after the stack updates that add
//! the indexes (infra/README.md), with credentials that may read and write the table:
//!
//! ```sh
//! TABLE_NAME=<the stack's table> cargo run --release -p admin-api --bin reindex
//! ```
//!
//! It resumes where a stopped run stopped, never overwrites a concurrent update, and refuses
//! to declare the lists ready while an index is missing or still being built. Until it has
//! finished, the admin API lists complaints and deliveries the older way (correct, slower).

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Like every binary: the process's rustls provider first (reqwest has none of its own).
    crypto::tls::install_default();
    desk_core::telemetry::init(desk_core::telemetry::LogFormat::Text);
    let table = std::env::var("TABLE_NAME")
        .ok()
        .filter(|t| !t.is_empty())
        .context("set TABLE_NAME to the stack's DynamoDB table")?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.is_empty());
    let sdk = aws::sdk_config(endpoint.as_deref()).await;
    let store = aws::DynamoRecordStore::from_sdk(&sdk, table);
    // The platforms' deadline rules, declared on registration: the backfill re-computes every
    // complaint's deadlines by them.
    let _platforms = desk_core::platforms::builtin();
    let p = desk_core::reindex::run(&store, desk_core::reindex::PAGE)
        .await
        .context("the backfill stopped (run again to resume)")?;
    println!(
        "list keys: {} complaints examined, {} re-saved; {} deliveries examined, {} re-saved; {} unreadable; lists ready",
        p.examined, p.rewritten, p.deliveries_examined, p.deliveries_rewritten, p.unreadable
    );
    Ok(())
}
