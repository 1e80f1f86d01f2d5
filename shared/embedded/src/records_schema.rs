//! The shape of the `records` table beyond its fixed columns: a key column pair per secondary
//! index, and the migration that brings an older table up to it (run by the database at every
//! open; the record store reads and writes those columns).

use domain::ports::Index;

/// The columns of an index: `gsi{n}pk`, `gsi{n}sk`; the primary key for the primary index.
pub(crate) fn index_columns(index: Index) -> (String, String) {
    match index.number() {
        Some(n) => (format!("gsi{n}pk"), format!("gsi{n}sk")),
        None => ("pk".into(), "sk".into()),
    }
}

/// Bring an existing `records` table up to this version's shape: a key column pair and a
/// partial index per secondary index, and the expiry index. Adding a column is instant in
/// SQLite; building an index reads the table once (every key is still empty, so a secondary
/// index stays empty until the application's backfill fills the keys in). Idempotent: run at
/// every open.
pub(crate) fn migrate(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let mut existing = std::collections::HashSet::new();
    {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('records')")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            existing.insert(row.get::<_, String>(0)?);
        }
    }
    for index in Index::SECONDARY {
        let (p, s) = index_columns(index);
        for col in [&p, &s] {
            if !existing.contains(col.as_str()) {
                conn.execute_batch(&format!("ALTER TABLE records ADD COLUMN {col} TEXT"))?;
            }
        }
        let n = index.number().unwrap_or_default();
        conn.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS records_gsi{n} ON records ({p}, {s}, pk, sk) WHERE {p} IS NOT NULL"
        ))?;
    }
    // The items that expire, by when: what the purge of expired items walks (built once, by
    // reading the table once, on the first open of a table from before it).
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_at, pk, sk) WHERE expires_at IS NOT NULL",
    )?;
    Ok(())
}
