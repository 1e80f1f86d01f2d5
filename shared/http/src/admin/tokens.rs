//! `/admin/v1/tokens`: scoped bearer tokens. A token is shown once, at creation; only its
//! SHA-256 hash is stored.

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
use domain::token::{StoredToken, TokenScope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Who or what uses it (shown in lists).
    pub name: String,
    /// `{"type":"all"}`, `{"type":"account","account_id":...}` or
    /// `{"type":"sub_merchant","account_id":...,"sub_mchid":...}`; at most the caller's own.
    pub scope: TokenScope,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    pub created_at: DateTime<Utc>,
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
            created_at: t.created_at,
        }
    }
}

#[utoipa::path(
    post, path = "/admin/v1/tokens", tag = "tokens",
    request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ValidJson(body): ValidJson<CreateToken>,
) -> Result<impl IntoResponse, ApiError> {
    validate::name("name", &body.name)?;
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
        hash: hex::encode(hash(&token)),
        created_at: state.ports.clock.now(),
    };
    TokenRepo::new(records).create(&stored).await?;
    tracing::info!(token_id = %id, by = %caller.token_id, "token created");
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
            .filter(|t| caller.scope.contains(&t.scope))
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
        .filter(|t| caller.scope.contains(&t.scope));
    if found.is_none() || !repo.delete(&id).await? {
        return Err(ApiError::not_found(format!("token {id} not found")));
    }
    tracing::info!(by = %caller.token_id, "token deleted");
    Ok(StatusCode::NO_CONTENT)
}
