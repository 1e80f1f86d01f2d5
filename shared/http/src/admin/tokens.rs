//! `/admin/v1/tokens`: bearer tokens with a scope (what they see) and a role (what they may do
//! there), a name and an optional expiry. A token is shown once, at creation; only its SHA-256
//! hash is stored. A token mints only tokens of a role at most its own and a scope within its
//! own.

use super::page::{ListPage, PageParams};
use super::validate;
use crate::ApiError;
use crate::auth::{hash, new_token};
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiPath, ApiQuery};
use crate::http::ValidJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use desk_core::repo::{AccountRepo, SubMerchantRepo, TokenRepo};
use domain::token::{Role, StoredToken, TokenScope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// The person or system that holds it (shown in lists and in complaints' action logs).
    pub name: String,
    /// `{"type":"all"}`, `{"type":"account","account_id":...}` or
    /// `{"type":"sub_merchant","account_id":...,"sub_mchid":...}`; at most the caller's own.
    pub scope: TokenScope,
    /// `viewer` (reads), `agent` (also acts on complaints) or `admin` (everything within the
    /// scope); at most the caller's own. Default `admin`.
    #[serde(default)]
    pub role: Option<Role>,
    /// After this time the token is refused (401); in the future, and no later than the
    /// creating token's own expiry. Default: the creating token's expiry (never for a token
    /// without one).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last presented (to the minute); null if never.
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// The bearer token. Shown only now; store it safely.
    pub token: String,
}

impl From<StoredToken> for TokenView {
    fn from(t: StoredToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            scope: t.scope,
            role: t.role,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

#[utoipa::path(
    post, path = "/admin/v1/tokens", tag = "tokens",
    request_body = CreateToken,
    responses(
        (status = 201, body = CreatedToken), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The role asked for is above the caller's own, or scope `all` was asked for by a scoped token"),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ValidJson(body): ValidJson<CreateToken>,
) -> Result<impl IntoResponse, ApiError> {
    validate::name("name", &body.name)?;
    let role = body.role.unwrap_or_default();
    if role > caller.role {
        return Err(ApiError::forbidden_field(
            "role",
            format!(
                "a token with role \"{}\" cannot create one with role \"{role}\"",
                caller.role
            ),
        ));
    }
    let now = state.ports.clock.now();
    if body.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::field("expires_at", "must be in the future"));
    }
    // A token cannot outlive the one that creates it: omitted means the creator's expiry.
    let expires_at = match (body.expires_at, caller.expires_at) {
        (Some(at), Some(own)) if at > own => {
            return Err(ApiError::forbidden_field(
                "expires_at",
                format!("must not be later than this token's own expiry ({own})"),
            ));
        }
        (Some(at), _) => Some(at),
        (None, own) => own,
    };
    if !caller.scope.contains(&body.scope) {
        return Err(match &body.scope {
            TokenScope::All => ApiError::Forbidden(
                "a scoped token cannot create a token with scope \"all\"".into(),
            ),
            TokenScope::Account { account_id } | TokenScope::SubMerchant { account_id, .. } => {
                ApiError::not_found(format!("account {account_id} not found"))
            }
        });
    }
    let records = &*state.ports.records;
    match &body.scope {
        TokenScope::All => {}
        TokenScope::Account { account_id } => {
            if AccountRepo::new(records).get(account_id).await?.is_none() {
                return Err(ApiError::not_found(format!(
                    "account {account_id} not found"
                )));
            }
        }
        TokenScope::SubMerchant {
            account_id,
            sub_mchid,
        } => {
            // Only a kind with sub-merchants (its platform says which) has them.
            let has_subs = AccountRepo::new(records)
                .get(account_id)
                .await?
                .and_then(|(a, _)| state.platforms().account_kind(a.kind()))
                .is_some_and(|k| k.facts.has_sub_merchants);
            if !has_subs
                || SubMerchantRepo::new(records)
                    .get(account_id, sub_mchid)
                    .await?
                    .is_none()
            {
                return Err(ApiError::not_found(format!(
                    "sub-merchant {sub_mchid} of account {account_id} not found"
                )));
            }
        }
    }
    let (id, token) = new_token();
    let stored = StoredToken {
        id: id.clone(),
        name: body.name.trim().to_string(),
        scope: body.scope,
        role,
        hash: hex::encode(hash(&token)),
        created_at: now,
        expires_at,
        last_used_at: None,
    };
    TokenRepo::new(records).create(&stored).await?;
    tracing::info!(token_id = %id, role = %role, by = %caller.token_id, "token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            view: stored.into(),
            token,
        }),
    ))
}

#[utoipa::path(
    get, path = "/admin/v1/tokens", tag = "tokens",
    params(PageParams),
    responses((status = 200, body = ListPage<TokenView>)),
    security(("bearer" = []))
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListPage<TokenView>>, ApiError> {
    let listed = TokenRepo::new(&*state.ports.records)
        .list(page.limit()?, page.cursor)
        .await?;
    Ok(Json(ListPage {
        items: listed
            .items
            .into_iter()
            .filter(|t| caller.scope.contains(&t.scope) && t.role <= caller.role)
            .map(TokenView::from)
            .collect(),
        next_cursor: listed.next_cursor,
    }))
}

#[utoipa::path(
    delete, path = "/admin/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(token_id = %id))]
pub async fn delete_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let repo = TokenRepo::new(&*state.ports.records);
    let found = repo
        .get(&id)
        .await?
        .filter(|t| caller.scope.contains(&t.scope) && t.role <= caller.role);
    if found.is_none() || !repo.delete(&id).await? {
        return Err(ApiError::not_found(format!("token {id} not found")));
    }
    tracing::info!(by = %caller.token_id, "token deleted");
    Ok(StatusCode::NO_CONTENT)
}
