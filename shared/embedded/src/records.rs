//! SQLite records: the RecordStore port.

use crate::db::{Db, DbError};
use crate::records_schema::index_columns;
use async_trait::async_trait;
use base64::Engine;
use domain::ports::{
    Index, IndexKey, Item, Page, Query, RecordStore, SECONDARY_INDEXES, SkCondition, StoreError,
    Write,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::LazyLock;

/// Records in the `records` table, keyed like a DynamoDB single table.
#[derive(Debug, Clone)]
pub struct SqliteRecordStore {
    pub(crate) db: Db,
}

impl SqliteRecordStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

pub(crate) struct E(pub(crate) StoreError);

impl crate::db::SqliteCause for E {
    fn sqlite_cause(&self) -> Option<&rusqlite::Error> {
        crate::db::find_sqlite(&self.0)
    }
}

impl From<DbError> for E {
    fn from(e: DbError) -> Self {
        E(StoreError::Unavailable(Box::new(e)))
    }
}

impl From<rusqlite::Error> for E {
    fn from(e: rusqlite::Error) -> Self {
        E(StoreError::Unavailable(Box::new(e)))
    }
}

impl From<StoreError> for E {
    fn from(e: StoreError) -> Self {
        E(e)
    }
}

/// Every column of a record row, in the order `row_to_item` reads them: the five fixed ones,
/// then each secondary index's partition and sort key.
static COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let mut cols = vec!["pk", "sk", "version", "data", "expires_at"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    for index in Index::SECONDARY {
        let (p, s) = index_columns(index);
        cols.push(p);
        cols.push(s);
    }
    cols.join(", ")
});

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let data: String = row.get(3)?;
    let data = serde_json::from_str(&data).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let mut indexes: [Option<IndexKey>; SECONDARY_INDEXES] = Default::default();
    for (n, key) in indexes.iter_mut().enumerate() {
        let p: Option<String> = row.get(5 + 2 * n)?;
        let s: Option<String> = row.get(6 + 2 * n)?;
        if let (Some(pk), Some(sk)) = (p, s) {
            *key = Some(IndexKey { pk, sk });
        }
    }
    Ok(Item {
        pk: row.get(0)?,
        sk: row.get(1)?,
        version: row.get::<_, i64>(2)? as u64,
        data,
        indexes,
        expires_at: row.get(4)?,
    })
}

/// Current (unexpired) version of a key, if any.
fn current_version(tx: &Connection, pk: &str, sk: &str) -> rusqlite::Result<Option<u64>> {
    tx.prepare_cached(
        "SELECT version FROM records WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
    )?
    .query_row(params![pk, sk, now_s()], |r| r.get::<_, i64>(0))
    .optional()
    .map(|v| v.map(|v| v as u64))
}

fn write_row(tx: &Connection, item: &Item, version: u64) -> Result<(), E> {
    let data = serde_json::to_string(&item.data)
        .map_err(|e| StoreError::Invalid(format!("data is not serialisable: {e}")))?;
    let mut args: Vec<rusqlite::types::Value> = vec![
        item.pk.clone().into(),
        item.sk.clone().into(),
        (version as i64).into(),
        data.into(),
        item.expires_at.into(),
    ];
    for key in &item.indexes {
        args.push(key.as_ref().map(|k| k.pk.clone()).into());
        args.push(key.as_ref().map(|k| k.sk.clone()).into());
    }
    tx.prepare_cached(&UPSERT)?
        .execute(rusqlite::params_from_iter(args))?;
    Ok(())
}

/// Insert or replace a whole row (every column of [`COLUMNS`], in order).
static UPSERT: LazyLock<String> = LazyLock::new(|| {
    let cols: Vec<&str> = COLUMNS.split(", ").collect();
    let places: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    let set: Vec<String> = cols
        .iter()
        .filter(|c| !matches!(**c, "pk" | "sk"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO records ({}) VALUES ({}) ON CONFLICT (pk, sk) DO UPDATE SET {}",
        cols.join(", "),
        places.join(", "),
        set.join(", ")
    )
});

fn validate(item: &Item) -> Result<(), StoreError> {
    if item.pk.is_empty() || item.sk.is_empty() {
        return Err(StoreError::Invalid("pk and sk must not be empty".into()));
    }
    Ok(())
}

/// Apply one write inside the writer's transaction (its savepoint); returns the written item's new version (0 for
/// deletes and checks).
fn apply(tx: &Connection, write: &Write) -> Result<u64, E> {
    match write {
        Write::Create(item) => {
            validate(item)?;
            if current_version(tx, &item.pk, &item.sk)?.is_some() {
                return Err(E(StoreError::AlreadyExists {
                    pk: item.pk.clone(),
                    sk: item.sk.clone(),
                }));
            }
            write_row(tx, item, 1)?;
            Ok(1)
        }
        Write::Update {
            item,
            expected_version,
        } => {
            validate(item)?;
            if current_version(tx, &item.pk, &item.sk)? != Some(*expected_version) {
                return Err(E(StoreError::VersionConflict {
                    pk: item.pk.clone(),
                    sk: item.sk.clone(),
                    expected: *expected_version,
                }));
            }
            write_row(tx, item, expected_version + 1)?;
            Ok(expected_version + 1)
        }
        Write::Put(item) => {
            validate(item)?;
            let next = current_version(tx, &item.pk, &item.sk)?.unwrap_or(0) + 1;
            write_row(tx, item, next)?;
            Ok(next)
        }
        Write::Delete {
            pk,
            sk,
            expected_version,
        } => {
            match (current_version(tx, pk, sk)?, expected_version) {
                (None, _) => {
                    return Err(E(StoreError::NotFound {
                        pk: pk.clone(),
                        sk: sk.clone(),
                    }));
                }
                (Some(v), Some(expected)) if v != *expected => {
                    return Err(E(StoreError::VersionConflict {
                        pk: pk.clone(),
                        sk: sk.clone(),
                        expected: *expected,
                    }));
                }
                _ => {}
            }
            tx.execute(
                "DELETE FROM records WHERE pk = ?1 AND sk = ?2",
                params![pk, sk],
            )?;
            Ok(0)
        }
        Write::Check {
            pk,
            sk,
            expected_version,
        } => {
            if current_version(tx, pk, sk)? != Some(*expected_version) {
                return Err(E(StoreError::VersionConflict {
                    pk: pk.clone(),
                    sk: sk.clone(),
                    expected: *expected_version,
                }));
            }
            Ok(0)
        }
    }
}

/// The position of an item in an index, for cursors: (index partition key, index sort key,
/// pk, sk). The partition key ties a cursor to the partition it was issued for.
type Position = (String, String, String, String);

fn position(item: &Item, index: Index) -> Position {
    let (part, sort) = match index {
        Index::Primary => (item.pk.clone(), item.sk.clone()),
        _ => item
            .index_key(index)
            .map(|k| (k.pk.clone(), k.sk.clone()))
            .unwrap_or_default(),
    };
    (part, sort, item.pk.clone(), item.sk.clone())
}

fn encode_cursor(pos: &Position) -> String {
    let json = serde_json::json!([pos.0, pos.1, pos.2, pos.3]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// The sort position a cursor names, if it is one issued for partition `pk`.
fn decode_cursor(cursor: &str, pk: &str) -> Result<(String, String, String), StoreError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let (part, s, p, k): Position =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    if part != pk {
        return Err(StoreError::InvalidCursor);
    }
    Ok((s, p, k))
}

/// The smallest string above every string that starts with `prefix`, if there is one: the
/// prefix with its last character that can grow grown by one (characters at the top of the
/// range are dropped first). `BeginsWith` then becomes a range the index answers.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The SQL and arguments of a query. Every condition is a bound on the index the query runs
/// on (partition key equal; sort-key range; the cursor as a row-value bound on (sort key,
/// pk, sk), the index's own column order), so SQLite walks exactly the entries it returns
/// (plus one, to know whether more follow), at any depth. The only condition that is not a
/// key bound is the expiry check, on the rows read.
pub(crate) fn query_sql(q: &Query) -> Result<(String, Vec<rusqlite::types::Value>), StoreError> {
    q.check()?;
    let (pkcol, skcol) = index_columns(q.index);
    let mut sql = format!(
        "SELECT {} FROM records WHERE {pkcol} = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
        *COLUMNS
    );
    let mut args: Vec<rusqlite::types::Value> = vec![q.pk.clone().into(), now_s().into()];
    // The sort-key range: lower bound inclusive, upper bound (value, inclusive).
    let (lower, upper): (Option<String>, Option<(String, bool)>) = match &q.sk {
        SkCondition::All => (None, None),
        SkCondition::BeginsWith(prefix) => (
            Some(prefix.clone()),
            prefix_successor(prefix).map(|s| (s, false)),
        ),
        SkCondition::Between(a, b) => (Some(a.clone()), Some((b.clone(), true))),
    };
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, &q.pk))
        .transpose()?;
    if let Some((s, _, _)) = &cursor {
        // A cursor is the last entry of a page of this very range: one outside it was not.
        let inside = lower.as_ref().is_none_or(|l| s >= l)
            && upper
                .as_ref()
                .is_none_or(|(u, incl)| if *incl { s <= u } else { s < u });
        if !inside {
            return Err(StoreError::InvalidCursor);
        }
    }
    let push = |args: &mut Vec<rusqlite::types::Value>, v: String| {
        args.push(v.into());
        args.len()
    };
    // The bound on the side the walk starts from is the cursor's, when there is one.
    let resumed = cursor.is_some();
    let cmp = if q.forward { ">" } else { "<" };
    if (!q.forward || !resumed)
        && let Some(l) = &lower
    {
        let n = push(&mut args, l.clone());
        sql.push_str(&format!(" AND {skcol} >= ?{n}"));
    }
    if (q.forward || !resumed)
        && let Some((u, incl)) = &upper
    {
        let n = push(&mut args, u.clone());
        let op = if *incl { "<=" } else { "<" };
        sql.push_str(&format!(" AND {skcol} {op} ?{n}"));
    }
    if let Some((s, p, k)) = cursor {
        if q.index == Index::Primary {
            let n = push(&mut args, k);
            sql.push_str(&format!(" AND sk {cmp} ?{n}"));
        } else {
            let a = push(&mut args, s);
            push(&mut args, p);
            let c = push(&mut args, k);
            sql.push_str(&format!(
                " AND ({skcol}, pk, sk) {cmp} (?{a}, ?{}, ?{c})",
                a + 1
            ));
        }
    }
    let dir = if q.forward { "ASC" } else { "DESC" };
    let n = args.len() + 1;
    args.push(((q.limit + 1) as i64).into());
    if q.index == Index::Primary {
        sql.push_str(&format!(" ORDER BY sk {dir} LIMIT ?{n}"));
    } else {
        sql.push_str(&format!(
            " ORDER BY {skcol} {dir}, pk {dir}, sk {dir} LIMIT ?{n}"
        ));
    }
    Ok((sql, args))
}

fn run_query(conn: &rusqlite::Connection, q: &Query) -> Result<Page, E> {
    let (sql, args) = query_sql(q)?;
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut items = stmt
        .query_map(rusqlite::params_from_iter(args), row_to_item)?
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if items.len() > q.limit as usize {
        items.truncate(q.limit as usize);
        items.last().map(|i| encode_cursor(&position(i, q.index)))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

impl SqliteRecordStore {
    /// One write in its own savepoint; the written item (none for deletes and checks).
    async fn write_one(&self, write: Write) -> Result<Option<Item>, StoreError> {
        self.db
            .write(move |conn| {
                let version = apply(conn, &write)?;
                Ok::<_, E>(match write {
                    Write::Create(mut item)
                    | Write::Put(mut item)
                    | Write::Update { mut item, .. } => {
                        item.version = version;
                        Some(item)
                    }
                    _ => None,
                })
            })
            .await
            .map_err(|e| e.0)
    }

    async fn write_item(&self, write: Write) -> Result<Item, StoreError> {
        self.write_one(write)
            .await?
            .ok_or_else(|| StoreError::Invalid("write returned no item".into()))
    }
}

#[async_trait]
impl RecordStore for SqliteRecordStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_string(), sk.to_string());
        self.db
            .read(move |conn| {
                Ok::<_, E>(
                    conn.prepare_cached(&format!(
                        "SELECT {} FROM records WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
                        *COLUMNS
                    ))?
                    .query_row(params![pk, sk, now_s()], row_to_item)
                    .optional()?,
                )
            })
            .await
            .map_err(|e| e.0)
    }

    async fn create(&self, item: Item) -> Result<Item, StoreError> {
        self.write_item(Write::Create(item)).await
    }

    async fn update(&self, item: Item, expected_version: u64) -> Result<Item, StoreError> {
        self.write_item(Write::Update {
            item,
            expected_version,
        })
        .await
    }

    async fn put(&self, item: Item) -> Result<Item, StoreError> {
        self.write_item(Write::Put(item)).await
    }

    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let write = Write::Delete {
            pk: pk.to_string(),
            sk: sk.to_string(),
            expected_version,
        };
        match self.write_one(write).await {
            Err(StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
            Ok(_) => Ok(true),
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() || writes.len() > 25 {
            return Err(StoreError::Invalid(
                "a transaction has 1 to 25 writes".into(),
            ));
        }
        self.db
            .write(move |conn| {
                // All or nothing: an error rolls back this request's savepoint.
                for (index, write) in writes.iter().enumerate() {
                    if let Err(E(e)) = apply(conn, write) {
                        return Err(E(match e {
                            StoreError::Unavailable(_) | StoreError::Invalid(_) => e,
                            other => StoreError::TransactionConflict {
                                index,
                                reason: other.to_string(),
                            },
                        }));
                    }
                }
                Ok(())
            })
            .await
            .map_err(|e: E| e.0)
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let q = query.clone();
        self.db
            .read(move |conn| run_query(conn, &q))
            .await
            .map_err(|e| e.0)
    }

    /// Constant work: one row looked up, never a count of the table.
    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .read(|conn| {
                conn.prepare_cached("SELECT 1 FROM records LIMIT 1")?
                    .exists([])?;
                Ok::<_, E>(())
            })
            .await
            .map_err(|e| e.0)
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        self.db
            .probe_write()
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))
    }

    fn last_write(&self) -> Option<domain::ports::WriteOutcome> {
        self.db.last_write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// A database with the tables of a version before this one (two secondary indexes) and a
    /// record in it, then opened by this version.
    fn old_database(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("old.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "CREATE TABLE records (
                pk TEXT NOT NULL, sk TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL,
                gsi1pk TEXT, gsi1sk TEXT, gsi2pk TEXT, gsi2sk TEXT, expires_at INTEGER,
                PRIMARY KEY (pk, sk)
            ) WITHOUT ROWID;
            CREATE INDEX records_gsi1 ON records (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
            CREATE INDEX records_gsi2 ON records (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
            INSERT INTO records VALUES ('a', 'META', 3, '{\"n\":1}', 'p1', 's1', NULL, NULL, NULL);",
        )
        .expect("old schema");
        path
    }

    fn plan(conn: &Connection, q: &Query) -> String {
        let (sql, args) = query_sql(q).expect("query");
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .expect("plan rows")
            .collect::<Result<Vec<_>, _>>()
            .expect("plan");
        rows.join(" | ")
    }

    fn cursor_of(part: &str, sort: &str) -> String {
        encode_cursor(&(part.into(), sort.into(), "c#1".into(), "META".into()))
    }

    #[tokio::test]
    async fn every_query_shape_is_an_index_search_without_sorting() {
        let dir = tempfile::tempdir().expect("dir");
        let db = Db::open(dir.path().join("plan.db")).expect("db");
        let shapes = |index: Index| {
            let base = Query::partition(index, "P");
            let c = Some(cursor_of("P", "2026-01-02#x"));
            vec![
                base.clone(),
                base.clone().backward(),
                base.clone().between("2026-01-01", "2026-01-03#~"),
                base.clone()
                    .between("2026-01-01", "2026-01-03#~")
                    .backward(),
                base.clone()
                    .between("2026-01-01", "2026-01-03#~")
                    .backward()
                    .after(c.clone()),
                base.clone()
                    .between("2026-01-01", "2026-01-03#~")
                    .after(c.clone()),
                base.clone().begins_with("2026-01").after(c.clone()),
                base.clone().backward().after(c.clone()),
                base.clone().after(c),
            ]
        };
        let plans = db
            .read(move |conn| {
                let mut out = Vec::new();
                for index in std::iter::once(Index::Primary).chain(Index::SECONDARY) {
                    for q in shapes(index) {
                        out.push((q.clone(), plan(conn, &q)));
                    }
                }
                Ok::<_, E>(out)
            })
            .await
            .map_err(|e| e.0)
            .expect("plans");
        for (q, plan) in plans {
            let name = match q.index.number() {
                Some(n) => format!("records_gsi{n}"),
                None => "PRIMARY KEY".into(),
            };
            assert!(
                plan.starts_with("SEARCH records USING") && plan.contains(&name),
                "{q:?}: {plan}"
            );
            assert!(!plan.contains("SCAN"), "{q:?}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{q:?}: {plan}");
            if q.cursor.is_some() && q.index != Index::Primary {
                // The cursor is a bound of the search, not a filter on what it walks.
                let (_, skcol) = index_columns(q.index);
                assert!(plan.contains(&format!("({skcol},pk,sk)")), "{q:?}: {plan}");
            }
        }
    }

    #[tokio::test]
    async fn an_old_database_gains_the_new_indexes_and_keeps_its_records() {
        let dir = tempfile::tempdir().expect("dir");
        let path = old_database(dir.path());
        let store = SqliteRecordStore::new(Db::open(&path).expect("open"));
        let got = store.get("a", "META").await.expect("get").expect("kept");
        assert_eq!(got.version, 3);
        assert_eq!(got.data, serde_json::json!({"n": 1}));
        assert_eq!(got.indexes[0], Some(IndexKey::new("p1", "s1")));
        assert!(got.indexes[1..].iter().all(Option::is_none));
        // The new indexes exist and hold what is written now.
        let item = Item::new("b", "META", serde_json::json!({}))
            .with_index(Index::Gsi10, IndexKey::new("ten", "1"))
            .with_index(Index::Gsi15, IndexKey::new("fifteen", "1"));
        store.create(item).await.expect("create");
        for (index, part) in [(Index::Gsi10, "ten"), (Index::Gsi15, "fifteen")] {
            let page = store
                .query(&Query::partition(index, part))
                .await
                .expect("query");
            assert_eq!(page.items.len(), 1, "{index:?}");
        }
        // Opening again changes nothing.
        drop(store);
        let store = SqliteRecordStore::new(Db::open(&path).expect("reopen"));
        assert_eq!(
            store
                .get("a", "META")
                .await
                .expect("get")
                .map(|i| i.version),
            Some(3)
        );
    }

    #[test]
    fn prefix_successor_is_the_first_string_past_the_prefix() {
        assert_eq!(prefix_successor("REFUND#").as_deref(), Some("REFUND$"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
    }
}
