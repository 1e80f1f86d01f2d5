//! Bearer tokens: the administrator token and scoped tokens, stored only as SHA-256 hashes and
//! compared in constant time.

use crate::error::ApiError;
use base64::Engine;
use desk_core::repo::TokenRepo;
use domain::ports::RecordStore;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of tokens this system issues: `cdt_<id>_<secret>`.
pub const TOKEN_PREFIX: &str = "cdt_";

/// The administrator token's hash (from `ADMIN_TOKEN`, or generated on first start).
#[derive(Clone)]
pub struct AdminAuth {
    hash: [u8; 32],
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminAuth([redacted])")
    }
}

impl AdminAuth {
    pub fn from_hash(hash: [u8; 32]) -> Self {
        Self { hash }
    }

    /// A fingerprint of the administrator token (hex of half its SHA-256): what a console
    /// session of the administrator remembers, so a changed `ADMIN_TOKEN` ends those sessions.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.hash[..16])
    }

    /// Whether `fingerprint` is this token's [`AdminAuth::fingerprint`] (constant time).
    pub fn has_fingerprint(&self, fingerprint: &str) -> bool {
        bool::from(self.fingerprint().as_bytes().ct_eq(fingerprint.as_bytes()))
    }

    /// Whether `presented` is the administrator token (compared in constant time).
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(hash(presented).ct_eq(&self.hash))
    }
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn random_base64url(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// A new token id and the full token string.
pub fn new_token() -> (String, String) {
    let mut id = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut id);
    let id = hex::encode(id);
    let token = format!("{TOKEN_PREFIX}{id}_{}", random_base64url(32));
    (id, token)
}

/// What the caller presented: the administrator token or a stored scoped token.
pub fn token_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some(id)
}

/// Where the administrator token comes from at start-up.
pub enum AdminTokenSource {
    /// `ADMIN_TOKEN` was set: only its hash is kept, in memory.
    Environment,
    /// A stored hash from an earlier first start.
    Stored,
    /// Generated now; print it once, it is not shown again.
    Generated(String),
}

impl std::fmt::Debug for AdminTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminTokenSource::Environment => f.write_str("Environment"),
            AdminTokenSource::Stored => f.write_str("Stored"),
            AdminTokenSource::Generated(_) => f.write_str("Generated([redacted])"),
        }
    }
}

/// Establish the administrator token: `ADMIN_TOKEN` if given; otherwise the stored hash; on
/// first start a new token whose hash is stored (only its hash).
pub async fn ensure_admin_token(
    records: &dyn RecordStore,
    from_env: Option<&str>,
) -> Result<(AdminAuth, AdminTokenSource), ApiError> {
    if let Some(t) = from_env {
        if t.len() < 16 {
            return Err(ApiError::field(
                "ADMIN_TOKEN",
                "must be at least 16 characters",
            ));
        }
        return Ok((AdminAuth::from_hash(hash(t)), AdminTokenSource::Environment));
    }
    let repo = TokenRepo::new(records);
    if let Some(h) = repo.admin_hash().await? {
        return Ok((AdminAuth::from_hash(h), AdminTokenSource::Stored));
    }
    let token = format!("{TOKEN_PREFIX}admin_{}", random_base64url(32));
    let h = hash(&token);
    if repo.create_admin_hash(h).await? {
        Ok((AdminAuth::from_hash(h), AdminTokenSource::Generated(token)))
    } else {
        // Another process stored one first; use that.
        let h = repo
            .admin_hash()
            .await?
            .ok_or_else(|| ApiError::Conflict("admin token vanished while starting".into()))?;
        Ok((AdminAuth::from_hash(h), AdminTokenSource::Stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_carry_their_id() {
        let (id, token) = new_token();
        assert_eq!(token_id(&token), Some(id.as_str()));
        assert_eq!(token_id("cdt_admin_xyz"), None);
        assert_eq!(token_id("Bearer nonsense"), None);
        let (_, other) = new_token();
        assert_ne!(token, other);
    }
}
