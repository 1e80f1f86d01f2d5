//! Admin API tokens and their scopes.

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

/// A token as stored: the secret part only as a SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredToken {
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    /// hex SHA-256 of the whole token string.
    pub hash: String,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
