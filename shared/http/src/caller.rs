//! Who is calling an admin route: the [`Caller`] extractor (the administrator token or a stored
//! scoped token, from `Authorization: Bearer`) and what its scope lets it see.

use crate::auth::{hash, token_id};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use desk_core::repo::TokenRepo;
use domain::token::TokenScope;
use subtle::ConstantTimeEq;

/// The authenticated caller of an admin route.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `admin` for the administrator token, otherwise the token's id.
    pub token_id: String,
    pub scope: TokenScope,
}

impl Caller {
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

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The admin router authenticates every request first (`admin::authenticate`).
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
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
        if state.admin.matches(presented) {
            return Ok(Caller {
                token_id: "admin".into(),
                scope: TokenScope::All,
            });
        }
        let invalid = ApiError::Unauthorized("the token is not valid");
        let Some(id) = token_id(presented) else {
            return Err(invalid);
        };
        let repo = TokenRepo::new(&*state.ports.records);
        let Some(stored) = repo.get(id).await? else {
            return Err(invalid);
        };
        let expected = hex::decode(&stored.hash).unwrap_or_default();
        if bool::from(hash(presented).as_slice().ct_eq(expected.as_slice())) {
            Ok(Caller {
                token_id: stored.id,
                scope: stored.scope,
            })
        } else {
            Err(invalid)
        }
    }
}
