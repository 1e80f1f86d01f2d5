//! DynamoDB records: the RecordStore port on one table.
//!
//! Table: partition key `pk` (S), sort key `sk` (S); one GSI per secondary index of the port,
//! `gsi{n}` on (`gsi{n}pk`, `gsi{n}sk`) for n in 1..=15, each projecting all attributes and
//! sparse (an item without the attributes is not in the index); TTL on `expires_at`. The
//! document is kept as a JSON string in `data`, so what the domain stores is exactly what it
//! reads back.
//!
//! Reads never Scan and never filter on the server: a query is a key condition on one index,
//! resumed with `ExclusiveStartKey`; items past their expiry (which DynamoDB deletes some time
//! later) are dropped from the page here, which reads nothing more than the page itself.

use crate::boxed::boxed;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use base64::Engine;
use domain::ports::{
    Index, IndexKey, Item, Page, Query, RecordStore, SECONDARY_INDEXES, SkCondition, StoreError,
    Write,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Attribute and index names.
pub mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const VERSION: &str = "version";
    pub const DATA: &str = "data";
    pub const GSI1PK: &str = "gsi1pk";
    pub const GSI1SK: &str = "gsi1sk";
    pub const GSI2PK: &str = "gsi2pk";
    pub const GSI2SK: &str = "gsi2sk";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const GSI1: &str = "gsi1";
    pub const GSI2: &str = "gsi2";

    /// The GSI of a secondary index (`gsi{n}`); None for the primary index.
    pub fn index_name(index: domain::ports::Index) -> Option<String> {
        index.number().map(|n| format!("gsi{n}"))
    }

    /// The partition and sort key attributes of an index.
    pub fn index_keys(index: domain::ports::Index) -> (String, String) {
        match index.number() {
            Some(n) => (format!("gsi{n}pk"), format!("gsi{n}sk")),
            None => (PK.to_string(), SK.to_string()),
        }
    }
}

/// The persistence shape of a record (mapped with serde_dynamo).
#[derive(Debug, Serialize, Deserialize)]
struct RecordItem {
    pk: String,
    sk: String,
    version: u64,
    data: String,
    /// Not mapped by serde: each index's key attributes (`gsi{n}pk`, `gsi{n}sk`).
    #[serde(skip)]
    indexes: [Option<IndexKey>; SECONDARY_INDEXES],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

impl RecordItem {
    fn from_item(item: &Item, version: u64) -> Result<Self, StoreError> {
        Ok(Self {
            pk: item.pk.clone(),
            sk: item.sk.clone(),
            version,
            data: serde_json::to_string(&item.data)
                .map_err(|e| StoreError::Invalid(format!("data is not serialisable: {e}")))?,
            indexes: item.indexes.clone(),
            expires_at: item.expires_at,
        })
    }

    fn into_item(self) -> Result<Item, StoreError> {
        let data = serde_json::from_str(&self.data).map_err(|e| {
            StoreError::Invalid(format!(
                "stored data of {}/{} is not JSON: {e}",
                self.pk, self.sk
            ))
        })?;
        Ok(Item {
            pk: self.pk,
            sk: self.sk,
            version: self.version,
            data,
            indexes: self.indexes,
            expires_at: self.expires_at,
        })
    }
}

/// Records in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoRecordStore {
    client: Client,
    table: String,
}

impl DynamoRecordStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The store of `table` with a client from an SDK configuration.
    pub fn from_sdk(sdk: &crate::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(attr::PK.to_string(), s(pk)), (attr::SK.to_string(), s(sk))])
}

fn to_attrs(rec: &RecordItem) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut attrs: HashMap<String, AttributeValue> = serde_dynamo::to_item(rec)
        .map_err(|e| StoreError::Invalid(format!("cannot map item: {e}")))?;
    for (index, key) in Index::SECONDARY.iter().zip(&rec.indexes) {
        if let Some(k) = key {
            let (p, s_attr) = attr::index_keys(*index);
            attrs.insert(p, s(k.pk.clone()));
            attrs.insert(s_attr, s(k.sk.clone()));
        }
    }
    Ok(attrs)
}

fn from_attrs(mut attrs: HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    let mut indexes: [Option<IndexKey>; SECONDARY_INDEXES] = Default::default();
    for (index, key) in Index::SECONDARY.iter().zip(indexes.iter_mut()) {
        let (p, s_attr) = attr::index_keys(*index);
        let text = |v: Option<AttributeValue>| v.and_then(|v| v.as_s().ok().cloned());
        if let (Some(pk), Some(sk)) = (text(attrs.remove(&p)), text(attrs.remove(&s_attr))) {
            *key = Some(IndexKey { pk, sk });
        }
    }
    let mut rec: RecordItem = serde_dynamo::from_item(attrs)
        .map_err(|e| StoreError::Invalid(format!("stored item has an unexpected shape: {e}")))?;
    rec.indexes = indexes;
    rec.into_item()
}

fn expired(attrs: &HashMap<String, AttributeValue>, now: i64) -> bool {
    attrs
        .get(attr::EXPIRES_AT)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .is_some_and(|t| t <= now)
}

fn version_of(attrs: &HashMap<String, AttributeValue>) -> Option<u64> {
    attrs
        .get(attr::VERSION)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

const LIVE: &str = "(attribute_not_exists(#exp) OR #exp > :now)";

fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(boxed(e))
}

/// A conditional write, as a transaction item or a single request.
struct Conditional {
    put: Option<HashMap<String, AttributeValue>>,
    key: HashMap<String, AttributeValue>,
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn names(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn conditional(write: &Write, now: i64) -> Result<Conditional, StoreError> {
    Ok(match write {
        Write::Create(item) => Conditional {
            put: Some(to_attrs(&RecordItem::from_item(item, 1)?)?),
            key: key(&item.pk, &item.sk),
            condition: "attribute_not_exists(#pk) OR #exp <= :now".into(),
            names: names(&[("#pk", attr::PK), ("#exp", attr::EXPIRES_AT)]),
            values: HashMap::from([(":now".to_string(), n(now))]),
        },
        Write::Update {
            item,
            expected_version,
        } => Conditional {
            put: Some(to_attrs(&RecordItem::from_item(
                item,
                expected_version + 1,
            )?)?),
            key: key(&item.pk, &item.sk),
            condition: format!("#v = :expected AND {LIVE}"),
            names: names(&[("#v", attr::VERSION), ("#exp", attr::EXPIRES_AT)]),
            values: HashMap::from([
                (":expected".to_string(), n(expected_version)),
                (":now".to_string(), n(now)),
            ]),
        },
        Write::Delete {
            pk,
            sk,
            expected_version,
        } => {
            let mut values = HashMap::from([(":now".to_string(), n(now))]);
            let mut condition = format!("attribute_exists(#pk) AND {LIVE}");
            let mut nm = names(&[("#pk", attr::PK), ("#exp", attr::EXPIRES_AT)]);
            if let Some(v) = expected_version {
                condition.push_str(" AND #v = :expected");
                nm.insert("#v".into(), attr::VERSION.into());
                values.insert(":expected".into(), n(v));
            }
            Conditional {
                put: None,
                key: key(pk, sk),
                condition,
                names: nm,
                values,
            }
        }
        Write::Check {
            pk,
            sk,
            expected_version,
        } => Conditional {
            put: None,
            key: key(pk, sk),
            condition: format!("#v = :expected AND {LIVE}"),
            names: names(&[("#v", attr::VERSION), ("#exp", attr::EXPIRES_AT)]),
            values: HashMap::from([
                (":expected".to_string(), n(expected_version)),
                (":now".to_string(), n(now)),
            ]),
        },
        Write::Put(_) => {
            return Err(StoreError::Invalid("put is not a conditional write".into()));
        }
    })
}

/// The UpdateItem that creates or replaces an item and bumps its version.
struct Upsert {
    key: HashMap<String, AttributeValue>,
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn upsert(item: &Item) -> Result<Upsert, StoreError> {
    let rec = RecordItem::from_item(item, 0)?;
    let mut set = vec![
        "#d = :d".to_string(),
        "#v = if_not_exists(#v, :zero) + :one".to_string(),
    ];
    let mut remove = Vec::new();
    let mut nm = names(&[("#d", attr::DATA), ("#v", attr::VERSION)]);
    let mut values = HashMap::from([
        (":d".to_string(), s(rec.data)),
        (":zero".to_string(), n(0)),
        (":one".to_string(), n(1)),
    ]);
    let mut optional = vec![(attr::EXPIRES_AT.to_string(), rec.expires_at.map(n))];
    for (index, key) in Index::SECONDARY.iter().zip(&rec.indexes) {
        let (p, s_attr) = attr::index_keys(*index);
        optional.push((p, key.as_ref().map(|k| s(k.pk.clone()))));
        optional.push((s_attr, key.as_ref().map(|k| s(k.sk.clone()))));
    }
    for (i, (name, value)) in optional.into_iter().enumerate() {
        let alias = format!("#o{i}");
        nm.insert(alias.clone(), name);
        match value {
            Some(v) => {
                set.push(format!("{alias} = :o{i}"));
                values.insert(format!(":o{i}"), v);
            }
            None => remove.push(alias),
        }
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    Ok(Upsert {
        key: key(&item.pk, &item.sk),
        expression,
        names: nm,
        values,
    })
}

fn encode_cursor(lek: &HashMap<String, AttributeValue>) -> Option<String> {
    let mut map = serde_json::Map::new();
    for (k, v) in lek {
        map.insert(k.clone(), serde_json::Value::String(v.as_s().ok()?.clone()));
    }
    Some(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::Value::Object(map).to_string()),
    )
}

fn decode_cursor(cursor: &str) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let invalid = || StoreError::InvalidCursor;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    let map: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let mut allowed = vec![attr::PK.to_string(), attr::SK.to_string()];
    for index in Index::SECONDARY {
        let (p, s_attr) = attr::index_keys(index);
        allowed.push(p);
        allowed.push(s_attr);
    }
    if map.is_empty() || !map.keys().all(|k| allowed.contains(k)) {
        return Err(invalid());
    }
    Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

/// Does a sort-key position lie in a query's range? (A cursor is the last entry of a page of
/// that very range; one outside it was not issued for this query.)
fn inside(range: &SkCondition, at: &str) -> bool {
    match range {
        SkCondition::All => true,
        SkCondition::BeginsWith(prefix) => at.starts_with(prefix.as_str()),
        SkCondition::Between(a, b) => a.as_str() <= at && at <= b.as_str(),
    }
}

impl DynamoRecordStore {
    /// A conditional PutItem (create or update): `Ok(false)` when the condition did not hold.
    async fn put_if(&self, write: &Write) -> Result<bool, StoreError> {
        let c = conditional(write, now_s())?;
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(c.put)
            .condition_expression(c.condition)
            .set_expression_attribute_names(Some(c.names))
            .set_expression_attribute_values(Some(c.values))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl RecordStore for DynamoRecordStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match out.item {
            Some(attrs) if !expired(&attrs, now_s()) => from_attrs(attrs).map(Some),
            _ => Ok(None),
        }
    }

    async fn create(&self, item: Item) -> Result<Item, StoreError> {
        if self.put_if(&Write::Create(item.clone())).await? {
            Ok(Item { version: 1, ..item })
        } else {
            Err(StoreError::AlreadyExists {
                pk: item.pk,
                sk: item.sk,
            })
        }
    }

    async fn update(&self, item: Item, expected_version: u64) -> Result<Item, StoreError> {
        let write = Write::Update {
            item: item.clone(),
            expected_version,
        };
        if self.put_if(&write).await? {
            Ok(Item {
                version: expected_version + 1,
                ..item
            })
        } else {
            Err(StoreError::VersionConflict {
                pk: item.pk,
                sk: item.sk,
                expected: expected_version,
            })
        }
    }

    async fn put(&self, item: Item) -> Result<Item, StoreError> {
        let u = upsert(&item)?;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(u.key))
            .update_expression(u.expression)
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let version = out
            .attributes
            .as_ref()
            .and_then(version_of)
            .ok_or_else(|| StoreError::Invalid("update returned no version".into()))?;
        Ok(Item { version, ..item })
    }

    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let now = now_s();
        let c = conditional(
            &Write::Delete {
                pk: pk.into(),
                sk: sk.into(),
                expected_version,
            },
            now,
        )?;
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(c.key))
            .condition_expression(c.condition)
            .set_expression_attribute_names(Some(c.names))
            .set_expression_attribute_values(Some(c.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let Some(svc) = e.as_service_error() else {
                    return Err(unavailable(e));
                };
                if let aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(c) = svc {
                    // An existing, live item with another version is a conflict; otherwise
                    // there was nothing to delete.
                    return match c.item() {
                        Some(old) if !expired(old, now) => Err(StoreError::VersionConflict {
                            pk: pk.into(),
                            sk: sk.into(),
                            expected: expected_version.unwrap_or_default(),
                        }),
                        _ => Ok(false),
                    };
                }
                Err(unavailable(e))
            }
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() || writes.len() > 25 {
            return Err(StoreError::Invalid(
                "a transaction has 1 to 25 writes".into(),
            ));
        }
        let now = now_s();
        let mut items = Vec::with_capacity(writes.len());
        for w in &writes {
            let built = if let Write::Put(item) = w {
                let u = upsert(item)?;
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(u.key))
                            .update_expression(u.expression)
                            .set_expression_attribute_names(Some(u.names))
                            .set_expression_attribute_values(Some(u.values))
                            .build()
                            .map_err(|e| StoreError::Invalid(e.to_string()))?,
                    )
                    .build()
            } else {
                let c = conditional(w, now)?;
                match (w, c.put) {
                    (Write::Create(_) | Write::Update { .. }, Some(put)) => {
                        TransactWriteItem::builder()
                            .put(
                                Put::builder()
                                    .table_name(&self.table)
                                    .set_item(Some(put))
                                    .condition_expression(c.condition)
                                    .set_expression_attribute_names(Some(c.names))
                                    .set_expression_attribute_values(Some(c.values))
                                    .build()
                                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
                            )
                            .build()
                    }
                    (Write::Delete { .. }, _) => TransactWriteItem::builder()
                        .delete(
                            Delete::builder()
                                .table_name(&self.table)
                                .set_key(Some(c.key))
                                .condition_expression(c.condition)
                                .set_expression_attribute_names(Some(c.names))
                                .set_expression_attribute_values(Some(c.values))
                                .build()
                                .map_err(|e| StoreError::Invalid(e.to_string()))?,
                        )
                        .build(),
                    _ => TransactWriteItem::builder()
                        .condition_check(
                            ConditionCheck::builder()
                                .table_name(&self.table)
                                .set_key(Some(c.key))
                                .condition_expression(c.condition)
                                .set_expression_attribute_names(Some(c.names))
                                .set_expression_attribute_values(Some(c.values))
                                .build()
                                .map_err(|e| StoreError::Invalid(e.to_string()))?,
                        )
                        .build(),
                }
            };
            items.push(built);
        }
        let res = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as T;
                if let Some(T::TransactionCanceledException(c)) = e.as_service_error() {
                    let reasons = c.cancellation_reasons();
                    if let Some((index, r)) = reasons
                        .iter()
                        .enumerate()
                        .find(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                    {
                        return Err(StoreError::TransactionConflict {
                            index,
                            reason: r.message().unwrap_or("condition failed").to_string(),
                        });
                    }
                }
                Err(unavailable(e))
            }
        }
    }

    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        q.check()?;
        let index = attr::index_name(q.index);
        let (pk_attr, sk_attr) = attr::index_keys(q.index);
        let (pk_attr, sk_attr) = (pk_attr.as_str(), sk_attr.as_str());
        let mut nm = names(&[("#p", pk_attr)]);
        let mut values = HashMap::from([(":p".to_string(), s(q.pk.clone()))]);
        let mut condition = "#p = :p".to_string();
        match &q.sk {
            SkCondition::All => {}
            SkCondition::BeginsWith(prefix) => {
                condition.push_str(" AND begins_with(#s, :a)");
                nm.insert("#s".into(), sk_attr.into());
                values.insert(":a".into(), s(prefix.clone()));
            }
            SkCondition::Between(a, b) => {
                condition.push_str(" AND #s BETWEEN :a AND :b");
                nm.insert("#s".into(), sk_attr.into());
                values.insert(":a".into(), s(a.clone()));
                values.insert(":b".into(), s(b.clone()));
            }
        }
        let start = match &q.cursor {
            Some(c) => {
                let start = decode_cursor(c)?;
                // A cursor is an index bound inside the queried partition: it names this
                // query's partition and carries the index's and the table's keys.
                let fits = start.get(pk_attr).and_then(|v| v.as_s().ok()) == Some(&q.pk)
                    && [attr::PK, attr::SK, sk_attr]
                        .iter()
                        .all(|k| start.contains_key(*k))
                    && start.len() == if q.index == Index::Primary { 2 } else { 4 }
                    && start
                        .get(sk_attr)
                        .and_then(|v| v.as_s().ok())
                        .is_some_and(|at| inside(&q.sk, at));
                if !fits {
                    return Err(StoreError::InvalidCursor);
                }
                Some(start)
            }
            None => None,
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index)
            .key_condition_expression(condition)
            .set_expression_attribute_names(Some(nm))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(q.forward)
            .limit(q.limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.meta().code() == Some("ValidationException"))
                {
                    if q.cursor.is_some() {
                        StoreError::InvalidCursor
                    } else {
                        StoreError::Invalid("the query was refused as invalid".into())
                    }
                } else {
                    unavailable(e)
                }
            })?;
        let now = now_s();
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter(|attrs| !expired(attrs, now))
            .map(from_attrs)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = out.last_evaluated_key.as_ref().and_then(encode_cursor);
        Ok(Page { items, next_cursor })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key("SYSTEM", "PING")))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// One small item rewritten (`SYSTEM`/`HEALTH`): the table accepts writes.
    async fn probe_write(&self) -> Result<(), StoreError> {
        let mut item = key("SYSTEM", "HEALTH");
        item.insert(
            "at".to_string(),
            AttributeValue::N(chrono::Utc::now().timestamp().to_string()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
