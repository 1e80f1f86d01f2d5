//! SQLite records: the RecordStore port.

use crate::db::{Db, DbError};
use async_trait::async_trait;
use base64::Engine;
use domain::ports::{
    Index, IndexKey, Item, Page, Query, RecordStore, SkCondition, StoreError, Write,
};
use rusqlite::{Connection, OptionalExtension, params};

/// Records in the `records` table, keyed like a DynamoDB single table.
#[derive(Debug, Clone)]
pub struct SqliteRecordStore {
    db: Db,
}

impl SqliteRecordStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

struct E(StoreError);

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

const COLUMNS: &str = "pk, sk, version, data, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at";

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let data: String = row.get(3)?;
    let data = serde_json::from_str(&data).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let key = |p: Option<String>, s: Option<String>| match (p, s) {
        (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
        _ => None,
    };
    Ok(Item {
        pk: row.get(0)?,
        sk: row.get(1)?,
        version: row.get::<_, i64>(2)? as u64,
        data,
        gsi1: key(row.get(4)?, row.get(5)?),
        gsi2: key(row.get(6)?, row.get(7)?),
        expires_at: row.get(8)?,
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
    tx.prepare_cached(
        "INSERT INTO records (pk, sk, version, data, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (pk, sk) DO UPDATE SET version = excluded.version, data = excluded.data,
           gsi1pk = excluded.gsi1pk, gsi1sk = excluded.gsi1sk, gsi2pk = excluded.gsi2pk,
           gsi2sk = excluded.gsi2sk, expires_at = excluded.expires_at",
    )?
    .execute(params![
        item.pk,
        item.sk,
        version as i64,
        data,
        item.gsi1.as_ref().map(|k| &k.pk),
        item.gsi1.as_ref().map(|k| &k.sk),
        item.gsi2.as_ref().map(|k| &k.pk),
        item.gsi2.as_ref().map(|k| &k.sk),
        item.expires_at,
    ])?;
    Ok(())
}

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
        Index::Gsi1 => item
            .gsi1
            .as_ref()
            .map(|k| (k.pk.clone(), k.sk.clone()))
            .unwrap_or_default(),
        Index::Gsi2 => item
            .gsi2
            .as_ref()
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

fn run_query(conn: &rusqlite::Connection, q: &Query) -> Result<Page, E> {
    q.check().map_err(E)?;
    let (pkcol, skcol) = match q.index {
        Index::Primary => ("pk", "sk"),
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        Index::Gsi2 => ("gsi2pk", "gsi2sk"),
    };
    // Order by (index sort key, pk, sk): for the primary index pk is fixed and this is by sk.
    let mut sql = format!(
        "SELECT {COLUMNS} FROM records WHERE {pkcol} = ?1 AND (expires_at IS NULL OR expires_at > ?2)"
    );
    let mut args: Vec<rusqlite::types::Value> = vec![q.pk.clone().into(), now_s().into()];
    match &q.sk {
        SkCondition::All => {}
        SkCondition::BeginsWith(prefix) => {
            args.push(prefix.clone().into());
            let n = args.len();
            sql.push_str(&format!(
                " AND {skcol} >= ?{n} AND substr({skcol}, 1, length(?{n})) = ?{n}"
            ));
        }
        SkCondition::Between(a, b) => {
            args.push(a.clone().into());
            args.push(b.clone().into());
            let n = args.len();
            sql.push_str(&format!(" AND {skcol} BETWEEN ?{} AND ?{n}", n - 1));
        }
    }
    let (cmp, dir) = if q.forward {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    if let Some(cursor) = &q.cursor {
        let (s, p, k) = decode_cursor(cursor, &q.pk)?;
        args.push(s.into());
        args.push(p.into());
        args.push(k.into());
        let n = args.len();
        sql.push_str(&format!(
            " AND ({skcol}, pk, sk) {cmp} (?{}, ?{}, ?{n})",
            n - 2,
            n - 1
        ));
    }
    args.push(((q.limit + 1) as i64).into());
    sql.push_str(&format!(
        " ORDER BY {skcol} {dir}, pk {dir}, sk {dir} LIMIT ?{}",
        args.len()
    ));
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
                        "SELECT {COLUMNS} FROM records WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)"
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
