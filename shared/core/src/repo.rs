//! Typed repositories over the RecordStore port. Key shapes (single-table, DynamoDB style):
//!
//! | record | pk | sk | gsi1 | gsi2 |
//! |---|---|---|---|---|
//! | account | `ACCOUNT#{id}` | `META` | `ACCOUNTS` / `{created}#{id}` | `ACCOUNTS#{kind}` / `{created}#{id}` |
//! | platform id → account (and a copy of it) | `PLATFORM#{family}#{platform_id}` | `ACCOUNT` | | |
//! | sub-merchant | `ACCOUNT#{id}` | `SUB#{sub_mchid}` | | |
//! | notification settings | `ACCOUNT#{id}` | `NOTIFY` or `NOTIFY#SUB#{sub_mchid}` | | |
//! | token | `TOKEN#{id}` | `META` | `TOKENS` / `{created}#{id}` | |
//! | administrator token hash | `SYSTEM` | `ADMIN_TOKEN` | | |

use domain::account::{Account, AccountKind, NotificationSettings, SubMerchant};
use domain::ports::{Index, IndexKey, Item, Query, RecordStore, StoreError, Write};
use domain::token::StoredToken;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

pub mod keys {
    pub const META: &str = "META";
    pub const ACCOUNTS: &str = "ACCOUNTS";
    pub const TOKENS: &str = "TOKENS";
    pub const SUB_PREFIX: &str = "SUB#";
    pub const NOTIFY: &str = "NOTIFY";

    pub fn account(id: &str) -> String {
        format!("ACCOUNT#{id}")
    }
    pub fn accounts_of_kind(kind: &str) -> String {
        format!("ACCOUNTS#{kind}")
    }
    pub fn platform(family: &str, platform_id: &str) -> String {
        format!("PLATFORM#{family}#{platform_id}")
    }
    pub const PLATFORM_SK: &str = "ACCOUNT";
    pub fn sub(sub_mchid: &str) -> String {
        format!("{SUB_PREFIX}{sub_mchid}")
    }
    pub fn notify(sub_mchid: Option<&str>) -> String {
        match sub_mchid {
            None => NOTIFY.to_string(),
            Some(s) => format!("{NOTIFY}#SUB#{s}"),
        }
    }
    pub fn token(id: &str) -> String {
        format!("TOKEN#{id}")
    }
    pub const SYSTEM: &str = "SYSTEM";
    pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
}

/// Names of secrets in the secret store (adapters may add a deployment prefix).
pub use domain::ports::secret_names;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored record {pk}/{sk} cannot be read")]
    Corrupt {
        pk: String,
        sk: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("record cannot be serialised")]
    Serialise(#[source] serde_json::Error),
    /// The platform id is taken by another account.
    #[error("{family} id {platform_id} is already used by another account")]
    PlatformIdTaken { family: String, platform_id: String },
    /// No platform of this process declared the account's kind, so where its callbacks come
    /// in (the key of its platform id) is unknown.
    #[error("account kind {0} is not served by this build")]
    UnknownKind(String),
}

impl RepoError {
    /// Worth retrying (the store was unreachable), as opposed to a permanent problem.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RepoError::Store(StoreError::Unavailable(_)))
    }

    /// Someone else wrote first (version conflict, or the record or platform id exists).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            RepoError::Store(
                StoreError::VersionConflict { .. }
                    | StoreError::AlreadyExists { .. }
                    | StoreError::TransactionConflict { .. }
            ) | RepoError::PlatformIdTaken { .. }
        )
    }
}

impl From<RepoError> for crate::Error {
    fn from(e: crate::repo::RepoError) -> Self {
        use RepoError as R;
        match e {
            R::Store(s) => s.into(),
            R::PlatformIdTaken {
                family,
                platform_id,
            } => crate::Error::Conflict(format!(
                "another account already uses {family} id {platform_id}"
            )),
            R::UnknownKind(kind) => {
                crate::Error::Conflict(format!("account kind {kind} is not served by this build"))
            }
            other => crate::Error::internal(other),
        }
    }
}

/// The key of the account's platform id record: its kind's callback family (as the platform
/// that declared the kind says) and its platform id.
fn platform_key(account: &Account) -> Result<(&'static str, &str), RepoError> {
    let facts = account
        .kind()
        .facts()
        .ok_or_else(|| RepoError::UnknownKind(account.kind().to_string()))?;
    Ok((facts.callback_family, account.platform_id()))
}

/// A time in a sort key: RFC 3339 in UTC with milliseconds, so keys sort in time order.
pub fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A stored record as `T`, with its version.
pub fn decode<T: DeserializeOwned>(item: Item) -> Result<(T, u64), RepoError> {
    let version = item.version;
    serde_json::from_value(item.data)
        .map(|v| (v, version))
        .map_err(|source| RepoError::Corrupt {
            pk: item.pk,
            sk: item.sk,
            source,
        })
}

fn decode_page<T: DeserializeOwned>(page: domain::ports::Page) -> Result<Listed<T>, RepoError> {
    let items = page
        .items
        .into_iter()
        .map(|i| decode(i).map(|(v, _)| v))
        .collect::<Result<_, _>>()?;
    Ok(Listed {
        items,
        next_cursor: page.next_cursor,
    })
}

/// `T` as a record's data.
pub fn encode<T: Serialize>(value: &T) -> Result<serde_json::Value, RepoError> {
    serde_json::to_value(value).map_err(RepoError::Serialise)
}

/// A page of results and the cursor for the next.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub struct AccountRepo<'a> {
    store: &'a dyn RecordStore,
}

impl<'a> AccountRepo<'a> {
    pub fn new(store: &'a dyn RecordStore) -> Self {
        Self { store }
    }

    fn item(account: &Account) -> Result<Item, RepoError> {
        let sort = format!("{}#{}", account.created_at.to_rfc3339(), account.id);
        Ok(
            Item::new(keys::account(&account.id), keys::META, encode(account)?)
                .with_gsi1(IndexKey::new(keys::ACCOUNTS, sort.clone()))
                .with_gsi2(IndexKey::new(
                    keys::accounts_of_kind(account.kind().as_str()),
                    sort,
                )),
        )
    }

    /// The platform id's record: the account's id and a copy of the account, written in the
    /// same transaction as the account itself, so a callback finds its account in one read.
    fn lookup(account: &Account) -> Result<Item, RepoError> {
        let (family, platform_id) = platform_key(account)?;
        Ok(Item::new(
            keys::platform(family, platform_id),
            keys::PLATFORM_SK,
            json!({ "account_id": account.id, "account": encode(account)? }),
        ))
    }

    /// Create the account and claim its platform id in one transaction.
    pub async fn create(&self, account: &Account) -> Result<(), RepoError> {
        let (family, _) = platform_key(account)?;
        let lookup = Self::lookup(account)?;
        match self
            .store
            .transact(vec![
                Write::Create(Self::item(account)?),
                Write::Create(lookup),
            ])
            .await
        {
            Err(StoreError::TransactionConflict { index: 1, .. }) => {
                Err(RepoError::PlatformIdTaken {
                    family: family.into(),
                    platform_id: account.platform_id().into(),
                })
            }
            other => Ok(other?),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<(Account, u64)>, RepoError> {
        match self.store.get(&keys::account(id), keys::META).await? {
            None => Ok(None),
            Some(item) => decode(item).map(Some),
        }
    }

    /// The account a callback path names (`/callbacks/{family}/{platform_id}`): one read of
    /// the platform id's record, which carries a copy of the account. A record written before
    /// the copy was kept there (it is added by the account's next change) costs a second read.
    pub async fn find_by_platform_id(
        &self,
        family: &str,
        platform_id: &str,
    ) -> Result<Option<Account>, RepoError> {
        let Some(mut item) = self
            .store
            .get(&keys::platform(family, platform_id), keys::PLATFORM_SK)
            .await?
        else {
            return Ok(None);
        };
        if let Some(copy) = item.data.get_mut("account").map(serde_json::Value::take) {
            return serde_json::from_value(copy)
                .map(Some)
                .map_err(|source| RepoError::Corrupt {
                    pk: item.pk,
                    sk: item.sk,
                    source,
                });
        }
        let Some(id) = item.data.get("account_id").and_then(|v| v.as_str()) else {
            return Ok(None);
        };
        Ok(self.get(id).await?.map(|(a, _)| a))
    }

    /// Replace the account if its version is `expected_version` (a `VersionConflict` if not),
    /// and its copy on the platform id's record with it, in one transaction. The new version.
    pub async fn update(&self, account: &Account, expected_version: u64) -> Result<u64, RepoError> {
        let item = Self::item(account)?;
        let (pk, sk) = (item.pk.clone(), item.sk.clone());
        match self
            .store
            .transact(vec![
                Write::Update {
                    item,
                    expected_version,
                },
                Write::Put(Self::lookup(account)?),
            ])
            .await
        {
            Ok(()) => Ok(expected_version + 1),
            Err(StoreError::TransactionConflict { index: 0, .. }) => {
                Err(RepoError::Store(StoreError::VersionConflict {
                    pk,
                    sk,
                    expected: expected_version,
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list(
        &self,
        kind: Option<AccountKind>,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Listed<Account>, RepoError> {
        let q = match kind {
            None => Query::partition(Index::Gsi1, keys::ACCOUNTS),
            Some(k) => Query::partition(Index::Gsi2, keys::accounts_of_kind(k.as_str())),
        }
        .limit(limit)
        .after(cursor);
        decode_page(self.store.query(&q).await?)
    }

    /// Delete the account and release its platform id (atomically).
    pub async fn delete(&self, account: &Account, expected_version: u64) -> Result<(), RepoError> {
        let (family, platform_id) = platform_key(account)?;
        self.store
            .transact(vec![
                Write::Delete {
                    pk: keys::account(&account.id),
                    sk: keys::META.into(),
                    expected_version: Some(expected_version),
                },
                Write::Delete {
                    pk: keys::platform(family, platform_id),
                    sk: keys::PLATFORM_SK.into(),
                    expected_version: None,
                },
            ])
            .await?;
        Ok(())
    }
}

pub struct SubMerchantRepo<'a> {
    store: &'a dyn RecordStore,
}

impl<'a> SubMerchantRepo<'a> {
    pub fn new(store: &'a dyn RecordStore) -> Self {
        Self { store }
    }

    fn item(sub: &SubMerchant) -> Result<Item, RepoError> {
        Ok(Item::new(
            keys::account(&sub.account_id),
            keys::sub(&sub.sub_mchid),
            encode(sub)?,
        ))
    }

    /// Create; `Ok(false)` if the sub-merchant already exists.
    pub async fn create(&self, sub: &SubMerchant) -> Result<bool, RepoError> {
        match self.store.create(Self::item(sub)?).await {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(
        &self,
        account_id: &str,
        sub_mchid: &str,
    ) -> Result<Option<(SubMerchant, u64)>, RepoError> {
        match self
            .store
            .get(&keys::account(account_id), &keys::sub(sub_mchid))
            .await?
        {
            None => Ok(None),
            Some(item) => decode(item).map(Some),
        }
    }

    pub async fn update(&self, sub: &SubMerchant, expected_version: u64) -> Result<u64, RepoError> {
        Ok(self
            .store
            .update(Self::item(sub)?, expected_version)
            .await?
            .version)
    }

    pub async fn list(
        &self,
        account_id: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Listed<SubMerchant>, RepoError> {
        decode_page(
            self.store
                .query(
                    &Query::partition(Index::Primary, keys::account(account_id))
                        .begins_with(keys::SUB_PREFIX)
                        .limit(limit)
                        .after(cursor),
                )
                .await?,
        )
    }

    pub async fn delete(&self, account_id: &str, sub_mchid: &str) -> Result<bool, RepoError> {
        Ok(self
            .store
            .delete(&keys::account(account_id), &keys::sub(sub_mchid), None)
            .await?)
    }
}

pub struct NotificationRepo<'a> {
    store: &'a dyn RecordStore,
}

impl<'a> NotificationRepo<'a> {
    pub fn new(store: &'a dyn RecordStore) -> Self {
        Self { store }
    }

    pub async fn get(
        &self,
        account_id: &str,
        sub_mchid: Option<&str>,
    ) -> Result<Option<NotificationSettings>, RepoError> {
        match self
            .store
            .get(&keys::account(account_id), &keys::notify(sub_mchid))
            .await?
        {
            None => Ok(None),
            Some(item) => decode(item).map(|(s, _)| Some(s)),
        }
    }

    pub async fn put(
        &self,
        account_id: &str,
        sub_mchid: Option<&str>,
        settings: &NotificationSettings,
    ) -> Result<(), RepoError> {
        self.store
            .put(Item::new(
                keys::account(account_id),
                keys::notify(sub_mchid),
                encode(settings)?,
            ))
            .await?;
        Ok(())
    }

    /// The settings and their record's version (None: no record yet), for [`Self::replace`].
    pub async fn get_versioned(
        &self,
        account_id: &str,
        sub_mchid: Option<&str>,
    ) -> Result<(Option<NotificationSettings>, Option<u64>), RepoError> {
        match self
            .store
            .get(&keys::account(account_id), &keys::notify(sub_mchid))
            .await?
        {
            None => Ok((None, None)),
            Some(item) => decode(item).map(|(s, v)| (Some(s), Some(v))),
        }
    }

    /// Write the settings only if the record is still at the version read (None: still
    /// absent); a conflict ([`RepoError::is_conflict`]) if someone wrote in between.
    pub async fn replace(
        &self,
        account_id: &str,
        sub_mchid: Option<&str>,
        settings: &NotificationSettings,
        expected_version: Option<u64>,
    ) -> Result<(), RepoError> {
        let item = Item::new(
            keys::account(account_id),
            keys::notify(sub_mchid),
            encode(settings)?,
        );
        match expected_version {
            None => self.store.create(item).await?,
            Some(v) => self.store.update(item, v).await?,
        };
        Ok(())
    }

    pub async fn delete(&self, account_id: &str, sub_mchid: Option<&str>) -> Result<(), RepoError> {
        self.store
            .delete(&keys::account(account_id), &keys::notify(sub_mchid), None)
            .await?;
        Ok(())
    }
}

pub struct TokenRepo<'a> {
    store: &'a dyn RecordStore,
}

impl<'a> TokenRepo<'a> {
    pub fn new(store: &'a dyn RecordStore) -> Self {
        Self { store }
    }

    pub async fn create(&self, token: &StoredToken) -> Result<(), RepoError> {
        let sort = format!("{}#{}", token.created_at.to_rfc3339(), token.id);
        self.store
            .create(
                Item::new(keys::token(&token.id), keys::META, encode(token)?)
                    .with_gsi1(IndexKey::new(keys::TOKENS, sort)),
            )
            .await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<StoredToken>, RepoError> {
        Ok(self.get_versioned(id).await?.map(|(t, _)| t))
    }

    /// The token with the version of its record (for [`TokenRepo::touch`]).
    pub async fn get_versioned(&self, id: &str) -> Result<Option<(StoredToken, u64)>, RepoError> {
        match self.store.get(&keys::token(id), keys::META).await? {
            None => Ok(None),
            Some(item) => decode(item).map(Some),
        }
    }

    /// Record that the token was used at `at`, unless its record changed since `version` was
    /// read (another request recorded a use, or it was deleted): `Ok(false)` then.
    pub async fn touch(
        &self,
        token: &StoredToken,
        version: u64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, RepoError> {
        let mut used = token.clone();
        used.last_used_at = Some(at);
        let sort = format!("{}#{}", used.created_at.to_rfc3339(), used.id);
        let item = Item::new(keys::token(&used.id), keys::META, encode(&used)?)
            .with_gsi1(IndexKey::new(keys::TOKENS, sort));
        match self.store.update(item, version).await {
            Ok(_) => Ok(true),
            Err(StoreError::VersionConflict { .. } | StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list(
        &self,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Listed<StoredToken>, RepoError> {
        decode_page(
            self.store
                .query(
                    &Query::partition(Index::Gsi1, keys::TOKENS)
                        .limit(limit)
                        .after(cursor),
                )
                .await?,
        )
    }

    pub async fn delete(&self, id: &str) -> Result<bool, RepoError> {
        Ok(self
            .store
            .delete(&keys::token(id), keys::META, None)
            .await?)
    }

    pub async fn admin_hash(&self) -> Result<Option<[u8; 32]>, RepoError> {
        let Some(item) = self.store.get(keys::SYSTEM, keys::ADMIN_TOKEN).await? else {
            return Ok(None);
        };
        Ok(item
            .data
            .get("sha256")
            .and_then(|v| v.as_str())
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok()))
    }

    /// Store the administrator token's hash unless one exists; `Ok(false)` if one did.
    pub async fn create_admin_hash(&self, hash: [u8; 32]) -> Result<bool, RepoError> {
        match self
            .store
            .create(Item::new(
                keys::SYSTEM,
                keys::ADMIN_TOKEN,
                json!({ "sha256": hex::encode(hash) }),
            ))
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// The notification secrets of an account, or of a sub-merchant under it (none stored: none
/// set). Read by the notifier and by the notification settings routes alike.
pub async fn notification_secrets(
    secrets: &dyn domain::ports::SecretStore,
    account_id: &str,
    sub_mchid: Option<&str>,
) -> Result<domain::account::NotificationSecrets, crate::Error> {
    let name = secret_names::notifications(account_id, sub_mchid);
    parse_notification_secrets(secrets.get(&name).await?)
}

/// The notification secrets as stored right now, past any cache: what a settings write
/// keeps must be the newest value, never another instance's stale copy.
pub async fn notification_secrets_fresh(
    secrets: &dyn domain::ports::SecretStore,
    account_id: &str,
    sub_mchid: Option<&str>,
) -> Result<domain::account::NotificationSecrets, crate::Error> {
    let name = secret_names::notifications(account_id, sub_mchid);
    parse_notification_secrets(secrets.get_fresh(&name).await?)
}

/// The notification secrets to send with these settings: the cached copy when every secret
/// in it was saved for where the settings send it, else read again past the cache (the
/// settings changed after this instance cached the secret). What still does not fit is
/// refused by the channel ([`domain::account::NotificationSecrets::fits`]).
pub async fn notification_secrets_for(
    secrets: &dyn domain::ports::SecretStore,
    account_id: &str,
    sub_mchid: Option<&str>,
    settings: &domain::account::NotificationSettings,
) -> Result<domain::account::NotificationSecrets, crate::Error> {
    let cached = notification_secrets(secrets, account_id, sub_mchid).await?;
    if cached.needs_fresh_read(settings) {
        notification_secrets_fresh(secrets, account_id, sub_mchid).await
    } else {
        Ok(cached)
    }
}

fn parse_notification_secrets(
    raw: Option<secrecy::SecretString>,
) -> Result<domain::account::NotificationSecrets, crate::Error> {
    use secrecy::ExposeSecret;
    match raw {
        None => Ok(Default::default()),
        Some(raw) => serde_json::from_str(raw.expose_secret()).map_err(|_| {
            crate::Error::Internal("stored notification secrets cannot be read".into())
        }),
    }
}
