//! The staff console's sessions, one-time sign-in codes and sign-in throttle, in the record
//! store (DynamoDB on AWS, SQLite embedded). Only hashes of session ids and codes are stored:
//! a copy of the table signs nobody in.
//!
//! | record | pk | sk |
//! |---|---|---|
//! | session | `SESSION#{sha256(session id)}` | `META` |
//! | one-time sign-in code | `SIGNIN_CODE#{sha256(code)}` | `META` |
//! | sign-in attempts of an address | `SIGNIN_THROTTLE#{address}` | `META` |
//! | sign-in attempts of one name from an address | `SIGNIN_THROTTLE#{address}#{name}` | `META` |
//! | a console form sent (its one-time id) | `FORM_SENT#{form id}` | `META` |
//!
//! Every record expires (the store's TTL removes it); the expiry is also checked on read.

use crate::repo::RepoError;
use chrono::{DateTime, Duration, Utc};
use domain::ports::{Item, RecordStore, StoreError};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A session ends after this long without a request.
pub const IDLE_EXPIRY: Duration = Duration::days(7);
/// A session's `last_seen_at` is written at most this often.
pub const TOUCH_RESOLUTION: Duration = Duration::minutes(1);
/// A one-time sign-in code works this long, once.
pub const CODE_LIFETIME: Duration = Duration::minutes(10);
/// Failed sign-ins with one name (a token's id; see [`SessionRepo::reserve_attempt`]) from one
/// address within [`THROTTLE_WINDOW`]; after that every sign-in with that name from that
/// address (a right one too) is refused until the window has passed. Other names from the same
/// address (staff behind one NAT address) still sign in. Each attempt is counted before it is
/// verified and given back when it succeeds.
pub const THROTTLE_LIMIT: u32 = 10;
/// Failed sign-ins from one address within [`THROTTLE_WINDOW`], whatever the names: after that
/// every sign-in from the address is refused until the window has passed. Much looser than
/// [`THROTTLE_LIMIT`]: it stops spraying many names, not one person's typos.
pub const ADDRESS_THROTTLE_LIMIT: u32 = 100;
/// See [`THROTTLE_LIMIT`].
pub const THROTTLE_WINDOW: Duration = Duration::minutes(15);
/// Compare-and-set tries of the throttle's count before an attempt is refused as busy.
const THROTTLE_RETRIES: usize = 16;

const META: &str = "META";

fn hashed(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn session_pk(session_id: &str) -> String {
    format!("SESSION#{}", hashed(session_id))
}

fn code_pk(code: &str) -> String {
    format!("SIGNIN_CODE#{}", hashed(&normalize_code(code)))
}

fn throttle_pk(address: &str) -> String {
    format!("SIGNIN_THROTTLE#{address}")
}

fn name_throttle_pk(address: &str, name: &str) -> String {
    format!("SIGNIN_THROTTLE#{address}#{name}")
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// Who a session (or a sign-in code) stands for: a stored token, or the administrator token
/// as it was when the session began (its fingerprint: a changed `ADMIN_TOKEN` ends the
/// sessions of the old one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    Token { token_id: String },
    Admin { fingerprint: String },
}

/// A signed-in browser.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub principal: Principal,
    /// The value every form of this session carries (`csrf`).
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("principal", &self.principal)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    fn expires_at(&self) -> DateTime<Utc> {
        self.last_seen_at + IDLE_EXPIRY
    }
}

#[derive(Serialize, Deserialize)]
struct CodeRecord {
    principal: Principal,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct ThrottleRecord {
    failures: u32,
    window_start: DateTime<Utc>,
}

impl ThrottleRecord {
    /// A window's first failure.
    fn fresh(now: DateTime<Utc>) -> Self {
        Self {
            failures: 1,
            window_start: now,
        }
    }
}

/// When a throttle count read as `item` stops refusing, if it has reached `limit` in a window
/// that has not passed.
fn locked_until(
    item: Option<&Item>,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, RepoError> {
    let Some(item) = item else {
        return Ok(None);
    };
    let t: ThrottleRecord = decode(item)?;
    let until = t.window_start + THROTTLE_WINDOW;
    Ok((until > now && t.failures >= limit).then_some(until))
}

fn decode<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, RepoError> {
    serde_json::from_value(item.data.clone()).map_err(|source| RepoError::Corrupt {
        pk: item.pk.clone(),
        sk: item.sk.clone(),
        source,
    })
}

fn encode(pk: String, data: &impl Serialize, expires: DateTime<Utc>) -> Item {
    Item::new(pk, META, serde_json::to_value(data).unwrap_or_default())
        .expiring_at(expires.timestamp())
}

/// Sessions, codes and the throttle over the record store.
pub struct SessionRepo<'a> {
    store: &'a dyn RecordStore,
}

impl<'a> SessionRepo<'a> {
    pub fn new(store: &'a dyn RecordStore) -> Self {
        Self { store }
    }

    /// A new session for `principal`: its id (the cookie's value, shown only now) and record.
    pub async fn create(
        &self,
        principal: Principal,
        now: DateTime<Utc>,
    ) -> Result<(String, Session), RepoError> {
        let id = base64url(&random_bytes::<32>());
        let session = Session {
            principal,
            csrf: base64url(&random_bytes::<24>()),
            created_at: now,
            last_seen_at: now,
        };
        self.store
            .create(encode(session_pk(&id), &session, session.expires_at()))
            .await?;
        Ok((id, session))
    }

    /// The session with this id, unless it is unknown or idle for longer than
    /// [`IDLE_EXPIRY`] (then it is removed). Its last use is recorded (at most once per
    /// [`TOUCH_RESOLUTION`]).
    pub async fn get(
        &self,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, RepoError> {
        if session_id.is_empty() || session_id.len() > 128 {
            return Ok(None);
        }
        let pk = session_pk(session_id);
        let Some(item) = self.store.get(&pk, META).await? else {
            return Ok(None);
        };
        let mut session: Session = decode(&item)?;
        if session.expires_at() <= now {
            self.store.delete(&pk, META, Some(item.version)).await?;
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_RESOLUTION {
            session.last_seen_at = now;
            match self
                .store
                .update(encode(pk, &session, session.expires_at()), item.version)
                .await
            {
                // Another request of the same browser touched it first.
                Ok(_) | Err(StoreError::VersionConflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(session))
    }

    /// End a session (sign-out, or its token is gone).
    pub async fn delete(&self, session_id: &str) -> Result<(), RepoError> {
        self.store
            .delete(&session_pk(session_id), META, None)
            .await?;
        Ok(())
    }

    /// A new one-time sign-in code for `principal` (`XXXX-XXXX`, letters and digits that are
    /// hard to confuse), valid for [`CODE_LIFETIME`].
    pub async fn create_code(
        &self,
        principal: Principal,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), RepoError> {
        const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
        let bytes = random_bytes::<8>();
        let chars: String = bytes
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect();
        let code = format!("{}-{}", &chars[..4], &chars[4..]);
        let expires_at = now + CODE_LIFETIME;
        let record = CodeRecord {
            principal,
            expires_at,
        };
        self.store
            .create(encode(code_pk(&code), &record, expires_at))
            .await?;
        Ok((code, expires_at))
    }

    /// Who the code stands for, once: the first use removes it; an unknown, used or expired
    /// code is none.
    pub async fn redeem_code(
        &self,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Principal>, RepoError> {
        let normalized = normalize_code(code);
        if normalized.len() != 8 {
            return Ok(None);
        }
        let pk = code_pk(code);
        let Some(item) = self.store.get(&pk, META).await? else {
            return Ok(None);
        };
        let record: CodeRecord = decode(&item)?;
        // Only one redemption removes it.
        if !self.store.delete(&pk, META, Some(item.version)).await? {
            return Ok(None);
        }
        Ok((record.expires_at > now).then_some(record.principal))
    }

    /// Reserve a sign-in attempt with `name` from `address` before its token or code is
    /// verified. `name` says who the attempt claims to be, never a secret: a token's id, or one
    /// name for every attempt that claims no one in particular (one-time codes, tokens without
    /// an id). Both counts are read first: a name at [`THROTTLE_LIMIT`] from the address, or
    /// an address at [`ADDRESS_THROTTLE_LIMIT`], is refused without a write (a locked address
    /// sending a fresh name each time costs two reads, no item). Otherwise the name's count
    /// goes up by one while it is below its limit, then the address's while it is below its
    /// own (each a compare-and-set, so concurrent attempts cannot all slip under a limit; an
    /// attempt the address's count refuses then gives the name's back). A successful sign-in
    /// gives its attempt back ([`SessionRepo::release_attempt`]), so the counts are of
    /// failures. When a count cannot be taken within a few tries (many concurrent attempts)
    /// the answer is [`Attempt::Busy`]: the caller refuses (fails closed).
    pub async fn reserve_attempt(
        &self,
        address: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Attempt, RepoError> {
        let named = name_throttle_pk(address, name);
        let whole = throttle_pk(address);
        let named_item = self.store.get(&named, META).await?;
        if let Some(until) = locked_until(named_item.as_ref(), THROTTLE_LIMIT, now)? {
            return Ok(Attempt::Throttled(until));
        }
        let whole_item = self.store.get(&whole, META).await?;
        if let Some(until) = locked_until(whole_item.as_ref(), ADDRESS_THROTTLE_LIMIT, now)? {
            return Ok(Attempt::AddressThrottled(until));
        }
        match self
            .reserve(&named, THROTTLE_LIMIT, now, named_item)
            .await?
        {
            Attempt::Reserved => {}
            refused => return Ok(refused),
        }
        let refused = match self
            .reserve(&whole, ADDRESS_THROTTLE_LIMIT, now, whole_item)
            .await
        {
            Ok(Attempt::Reserved) => return Ok(Attempt::Reserved),
            Ok(Attempt::Throttled(until) | Attempt::AddressThrottled(until)) => {
                Ok(Attempt::AddressThrottled(until))
            }
            other => other,
        };
        if !matches!(self.release(&named, now).await, Ok(true)) {
            tracing::warn!("a refused sign-in's attempt stays counted for its name");
        }
        refused
    }

    /// Count one attempt under `pk` while its count is below `limit`, starting from `current`
    /// (the item as last read; read again after a conflicting write).
    async fn reserve(
        &self,
        pk: &str,
        limit: u32,
        now: DateTime<Utc>,
        mut current: Option<Item>,
    ) -> Result<Attempt, RepoError> {
        for _ in 0..THROTTLE_RETRIES {
            if let Some(until) = locked_until(current.as_ref(), limit, now)? {
                return Ok(Attempt::Throttled(until));
            }
            let (record, version) = match &current {
                Some(item) => {
                    let t: ThrottleRecord = decode(item)?;
                    if t.window_start + THROTTLE_WINDOW <= now {
                        (ThrottleRecord::fresh(now), Some(item.version))
                    } else {
                        (
                            ThrottleRecord {
                                failures: t.failures + 1,
                                window_start: t.window_start,
                            },
                            Some(item.version),
                        )
                    }
                }
                None => (ThrottleRecord::fresh(now), None),
            };
            let item = encode(
                pk.to_string(),
                &record,
                record.window_start + THROTTLE_WINDOW,
            );
            let written = match version {
                Some(v) => self.store.update(item, v).await.map(|_| ()),
                None => self.store.create(item).await.map(|_| ()),
            };
            match written {
                Ok(()) => return Ok(Attempt::Reserved),
                Err(StoreError::VersionConflict { .. } | StoreError::AlreadyExists { .. }) => {
                    current = self.store.get(pk, META).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Attempt::Busy)
    }

    /// Give back the attempt a successful sign-in with `name` from `address` reserved (best
    /// effort: `false` when a count kept changing under it; the attempt then stays counted).
    pub async fn release_attempt(
        &self,
        address: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let named = self.release(&name_throttle_pk(address, name), now).await?;
        Ok(self.release(&throttle_pk(address), now).await? && named)
    }

    async fn release(&self, pk: &str, now: DateTime<Utc>) -> Result<bool, RepoError> {
        for _ in 0..THROTTLE_RETRIES {
            let Some(item) = self.store.get(pk, META).await? else {
                return Ok(true);
            };
            let t: ThrottleRecord = decode(&item)?;
            if t.failures == 0 || t.window_start + THROTTLE_WINDOW <= now {
                return Ok(true);
            }
            let record = ThrottleRecord {
                failures: t.failures - 1,
                window_start: t.window_start,
            };
            let item_new = encode(
                pk.to_string(),
                &record,
                record.window_start + THROTTLE_WINDOW,
            );
            match self.store.update(item_new, item.version).await {
                Ok(_) => return Ok(true),
                Err(StoreError::VersionConflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    }

    /// The failed attempts `address` has counted in its current window, whatever the names
    /// (0 when none or the window has passed).
    pub async fn attempts(&self, address: &str, now: DateTime<Utc>) -> Result<u32, RepoError> {
        self.counted(&throttle_pk(address), now).await
    }

    /// The failed attempts with `name` from `address` in their current window.
    pub async fn name_attempts(
        &self,
        address: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<u32, RepoError> {
        self.counted(&name_throttle_pk(address, name), now).await
    }

    async fn counted(&self, pk: &str, now: DateTime<Utc>) -> Result<u32, RepoError> {
        let Some(item) = self.store.get(pk, META).await? else {
            return Ok(0);
        };
        let t: ThrottleRecord = decode(&item)?;
        Ok(if t.window_start + THROTTLE_WINDOW <= now {
            0
        } else {
            t.failures
        })
    }
}

/// What [`SessionRepo::reserve_attempt`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted: verify the token or code.
    Reserved,
    /// The name made [`THROTTLE_LIMIT`] failed attempts from the address; refused until then.
    Throttled(DateTime<Utc>),
    /// The address made [`ADDRESS_THROTTLE_LIMIT`] failed attempts, whatever the names;
    /// refused until then.
    AddressThrottled(DateTime<Utc>),
    /// Too many attempts of the address at once: the count could not be taken; refuse.
    Busy,
}

/// A new one-time id for a rendered form: sending the form claims it ([`SessionRepo::claim_form`]),
/// so a form sent twice (a double tap, a resubmission) acts once.
pub fn new_form_id() -> String {
    hex::encode(random_bytes::<16>())
}

/// How long a sent form's id is remembered.
pub const FORM_ID_LIFETIME: Duration = Duration::days(2);

impl SessionRepo<'_> {
    /// Claim a form's one-time id: `true` the first time, `false` when the form was sent
    /// before (or the id is not one of ours).
    pub async fn claim_form(&self, form_id: &str, now: DateTime<Utc>) -> Result<bool, RepoError> {
        if form_id.len() != 32 || !form_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let item = Item::new(
            format!("FORM_SENT#{form_id}"),
            META,
            serde_json::json!({"at": now}),
        )
        .expiring_at((now + FORM_ID_LIFETIME).timestamp());
        match self.store.create(item).await {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// A code as typed: upper case, without the dash or spaces.
fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .take(16)
        .collect()
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_as_typed() {
        assert_eq!(normalize_code("abcd-efgh"), "ABCDEFGH");
        assert_eq!(normalize_code(" AbCd efGH "), "ABCDEFGH");
        assert_eq!(code_pk("abcd-efgh"), code_pk("ABCDEFGH"));
    }
}
