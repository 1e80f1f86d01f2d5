//! Who is calling an admin route: the [`Caller`] extractor (the administrator token or a stored
//! token, from `Authorization: Bearer`), what its scope lets it see and what its role lets it do.

use crate::auth::{hash, token_id};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use desk_core::repo::TokenRepo;
use domain::token::{Role, TokenScope};
use subtle::ConstantTimeEq;

/// How often a token's `last_used_at` is written: at most once per this many seconds.
pub const LAST_USED_RESOLUTION_SECS: i64 = 60;

/// The authenticated caller of an admin route.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `admin` for the administrator token, otherwise the token's id.
    pub token_id: String,
    /// The token's name (`administrator` for the administrator token).
    pub token_name: String,
    pub scope: TokenScope,
    pub role: Role,
    /// When the token stops working (none for the administrator token or a token without
    /// expiry): the tokens it creates expire no later.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Caller {
    /// 403 naming the role needed unless the caller's role is at least `needed`.
    pub fn require_role(&self, needed: Role, what: &str) -> Result<(), ApiError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{what} needs a token with role \"{needed}\" or higher (this token's role is \"{}\")",
                self.role
            )))
        }
    }

    /// 404 unless the caller may see the account itself.
    pub fn require_account(&self, account_id: &str) -> Result<(), ApiError> {
        if self.scope.covers_account(account_id) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!(
                "account {account_id} not found"
            )))
        }
    }

    /// 404 unless the caller may see the sub-merchant.
    pub fn require_sub_merchant(&self, account_id: &str, sub_mchid: &str) -> Result<(), ApiError> {
        if self.scope.covers_sub_merchant(account_id, sub_mchid) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!(
                "sub-merchant {sub_mchid} of account {account_id} not found"
            )))
        }
    }

    /// 404 unless the caller may see something of the account (itself or a sub-merchant).
    pub fn require_any_of_account(&self, account_id: &str) -> Result<(), ApiError> {
        match &self.scope {
            TokenScope::All => Ok(()),
            TokenScope::Account { account_id: a }
            | TokenScope::SubMerchant { account_id: a, .. }
                if a == account_id =>
            {
                Ok(())
            }
            _ => Err(ApiError::not_found(format!(
                "account {account_id} not found"
            ))),
        }
    }

    /// 403 unless the caller is the administrator (installation-wide actions).
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.scope.is_all() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{what} needs a token with scope \"all\""
            )))
        }
    }
}

/// The caller the admin router's authentication found (`admin::authenticate`, which also checks
/// the route's role). A handler outside that layer gets 500 rather than a caller whose role
/// nobody checked.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            tracing::error!(
                path = parts.uri.path(),
                "an admin handler ran outside the authentication layer"
            );
            ApiError::internal(std::io::Error::other("no authenticated caller"))
        })
    }
}

impl Caller {
    /// Authenticate the request's bearer token: the administrator token, or a stored token
    /// that has not expired (recording its use, at most once per
    /// [`LAST_USED_RESOLUTION_SECS`]).
    pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized("send Authorization: Bearer <token>"))?;
        Self::of_token(state, presented).await
    }

    /// The caller `presented` (a whole token) stands for: the administrator token, or a stored
    /// token that has not expired (recording its use).
    pub async fn of_token(state: &AppState, presented: &str) -> Result<Self, ApiError> {
        if state.admin.matches(presented) {
            return Ok(Self::administrator());
        }
        let invalid = ApiError::Unauthorized("the token is not valid");
        let Some(id) = token_id(presented) else {
            return Err(invalid);
        };
        let repo = TokenRepo::new(&*state.ports.records);
        let Some((stored, version)) = repo.get_versioned(id).await? else {
            return Err(invalid);
        };
        let expected = hex::decode(&stored.hash).unwrap_or_default();
        if !bool::from(hash(presented).as_slice().ct_eq(expected.as_slice())) {
            return Err(invalid);
        }
        Self::stored(state, stored, version).await
    }

    /// The caller a console session stands for, checked again on every request: a stored
    /// token that still exists and has not expired (recording its use), or the administrator
    /// token the session began with. `Unauthorized` when that is no longer so (the token was
    /// revoked, expired, or `ADMIN_TOKEN` changed): the session ends.
    pub async fn of_principal(
        state: &AppState,
        principal: &desk_core::sessions::Principal,
    ) -> Result<Self, ApiError> {
        use desk_core::sessions::Principal;
        match principal {
            Principal::Admin { fingerprint } => {
                if state.admin.has_fingerprint(fingerprint) {
                    Ok(Self::administrator())
                } else {
                    Err(ApiError::Unauthorized(
                        "the administrator token has changed",
                    ))
                }
            }
            Principal::Token { token_id } => {
                let repo = TokenRepo::new(&*state.ports.records);
                let Some((stored, version)) = repo.get_versioned(token_id).await? else {
                    return Err(ApiError::Unauthorized("the token was revoked"));
                };
                Self::stored(state, stored, version).await
            }
        }
    }

    /// What a console session remembers of this caller.
    pub fn principal(&self, state: &AppState) -> desk_core::sessions::Principal {
        use desk_core::sessions::Principal;
        if self.token_id == "admin" {
            Principal::Admin {
                fingerprint: state.admin.fingerprint(),
            }
        } else {
            Principal::Token {
                token_id: self.token_id.clone(),
            }
        }
    }

    fn administrator() -> Self {
        Caller {
            token_id: "admin".into(),
            token_name: "administrator".into(),
            scope: TokenScope::All,
            role: Role::Admin,
            expires_at: None,
        }
    }

    /// A stored token's caller, unless it has expired; its use is recorded (at most once per
    /// [`LAST_USED_RESOLUTION_SECS`]).
    async fn stored(
        state: &AppState,
        stored: domain::token::StoredToken,
        version: u64,
    ) -> Result<Self, ApiError> {
        let repo = TokenRepo::new(&*state.ports.records);
        let now = state.ports.clock.now();
        if stored.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiError::Unauthorized("the token has expired"));
        }
        let stale = stored
            .last_used_at
            .is_none_or(|at| (now - at).num_seconds() >= LAST_USED_RESOLUTION_SECS);
        if stale && let Err(e) = repo.touch(&stored, version, now).await {
            // Best effort: a request is not refused because its use could not be recorded.
            tracing::warn!(token_id = %stored.id, error = %e, "last use of the token not recorded");
        }
        Ok(Caller {
            token_id: stored.id,
            token_name: stored.name,
            scope: stored.scope,
            role: stored.role,
            expires_at: stored.expires_at,
        })
    }
}
