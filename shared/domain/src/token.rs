//! Admin API tokens: their scopes (what they see) and roles (what they may do there).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a token may see and do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TokenScope {
    /// Everything (an administrator).
    All,
    /// One account and, for a provider, all its sub-merchants.
    Account { account_id: String },
    /// One sub-merchant of a provider.
    SubMerchant {
        account_id: String,
        sub_mchid: String,
    },
}

impl TokenScope {
    pub fn is_all(&self) -> bool {
        matches!(self, TokenScope::All)
    }

    /// May this scope see the account itself (its settings and credentials status)?
    pub fn covers_account(&self, account_id: &str) -> bool {
        match self {
            TokenScope::All => true,
            TokenScope::Account { account_id: a } => a == account_id,
            TokenScope::SubMerchant { .. } => false,
        }
    }

    /// May this scope see the sub-merchant?
    pub fn covers_sub_merchant(&self, account_id: &str, sub_mchid: &str) -> bool {
        match self {
            TokenScope::All => true,
            TokenScope::Account { account_id: a } => a == account_id,
            TokenScope::SubMerchant {
                account_id: a,
                sub_mchid: s,
            } => a == account_id && s == sub_mchid,
        }
    }

    /// May this scope see something that belongs to (account, optional sub-merchant)?
    pub fn covers(&self, account_id: Option<&str>, sub_mchid: Option<&str>) -> bool {
        match (self, account_id, sub_mchid) {
            (TokenScope::All, _, _) => true,
            (_, None, _) => false,
            (_, Some(a), None) => self.covers_account(a),
            (_, Some(a), Some(s)) => self.covers_sub_merchant(a, s),
        }
    }

    /// Is `other` the same as or narrower than this scope?
    pub fn contains(&self, other: &TokenScope) -> bool {
        match other {
            TokenScope::All => self.is_all(),
            TokenScope::Account { account_id } => self.covers_account(account_id),
            TokenScope::SubMerchant {
                account_id,
                sub_mchid,
            } => self.covers_sub_merchant(account_id, sub_mchid),
        }
    }
}

/// What a token may do within its scope; each role may do everything the ones before it may.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads complaints, violations, deliveries, accounts and sub-merchants.
    Viewer,
    /// Also acts on complaints: reply, refund, complete, every platform action, media upload.
    Agent,
    /// Everything within its scope: accounts, settings, credentials, notifications,
    /// registration, tokens, dead letters.
    #[default]
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Agent, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token as stored: the secret part only as a SHA-256 hash. Tokens stored before roles,
/// expiry and use times existed read as `admin`, never expiring, not used yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredToken {
    pub id: String,
    /// The person or system that holds it.
    pub name: String,
    pub scope: TokenScope,
    #[serde(default)]
    pub role: Role,
    /// hex SHA-256 of the whole token string.
    pub hash: String,
    pub created_at: DateTime<Utc>,
    /// After this the token is refused (401).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last presented (kept to the minute).
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_old_tokens_are_admins() {
        assert!(Role::Viewer < Role::Agent && Role::Agent < Role::Admin);
        let old: StoredToken = serde_json::from_value(serde_json::json!({
            "id": "0123456789abcdef", "name": "ci", "scope": {"type": "all"},
            "hash": "00", "created_at": "2026-01-01T00:00:00Z"
        }))
        .expect("a token stored before roles");
        assert_eq!(old.role, Role::Admin);
        assert_eq!((old.expires_at, old.last_used_at), (None, None));
    }

    #[test]
    fn scopes_nest() {
        let all = TokenScope::All;
        let acc = TokenScope::Account {
            account_id: "a".into(),
        };
        let sub = TokenScope::SubMerchant {
            account_id: "a".into(),
            sub_mchid: "s".into(),
        };
        let other = TokenScope::Account {
            account_id: "b".into(),
        };
        assert!(all.contains(&acc) && all.contains(&sub) && acc.contains(&sub));
        assert!(!acc.contains(&all) && !sub.contains(&acc) && !acc.contains(&other));
        assert!(sub.covers(Some("a"), Some("s")));
        assert!(!sub.covers(Some("a"), None));
        assert!(!sub.covers(Some("a"), Some("t")));
        assert!(acc.covers(Some("a"), Some("anything")));
        assert!(!acc.covers(None, None));
    }
}
