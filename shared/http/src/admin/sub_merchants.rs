//! `/admin/v1/accounts/{id}/sub-merchants`: a provider's sub-merchants.

use super::accounts::visible_account;
use super::page::{ListPage, PageParams};
use super::validate;
use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiPath, ApiQuery};
use crate::http::ValidJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use desk_core::repo::{AccountRepo, NotificationRepo, RepoError, SubMerchantRepo, secret_names};
use domain::account::{Account, Patch, SubMerchant};
use domain::deadline::DeadlineSettings;
use domain::token::TokenScope;
use serde::Deserialize;
use utoipa::ToSchema;

/// `POST /accounts/{id}/sub-merchants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubMerchant {
    /// 子商户号.
    pub sub_mchid: String,
    pub name: String,
    /// Reply to its buyers; omitted: the provider's default reply.
    #[serde(default)]
    pub reply_text: Option<String>,
    #[serde(default)]
    pub auto_refund: bool,
    /// Omitted: the provider's cap.
    #[serde(default)]
    pub refund_cap_fen: Option<u64>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Its own deadline settings; omitted: the provider account's. No escalation recipients:
    /// its missed deadlines go to the provider's staff.
    #[serde(default)]
    pub deadlines: Option<DeadlineSettings>,
}

/// `PATCH /accounts/{id}/sub-merchants/{sub_mchid}`: given fields replace; `null` clears
/// `reply_text`, `refund_cap_fen` and `deadlines` (the provider's apply again); `deadlines` is
/// a JSON merge patch (RFC 7396) onto the settings that apply now.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSubMerchant {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub reply_text: Patch<String>,
    #[serde(default)]
    pub auto_refund: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub refund_cap_fen: Patch<u64>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub deadlines: Patch<serde_json::Value>,
}

/// The provider account, if the caller may see any of it; 409 if it is no provider.
async fn provider(state: &AppState, caller: &Caller, id: &str) -> Result<Account, ApiError> {
    caller.require_any_of_account(id)?;
    let (account, _) = AccountRepo::new(&*state.ports.records)
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {id} not found")))?;
    if !account.kind().facts().is_some_and(|f| f.has_sub_merchants) {
        let with: Vec<&str> = state
            .platforms()
            .account_kinds()
            .filter(|k| k.facts.has_sub_merchants)
            .map(|k| k.facts.kind.as_str())
            .collect();
        return Err(ApiError::Conflict(format!(
            "account {id} is a {}; only a {} has sub-merchants",
            account.kind(),
            with.join(" or ")
        )));
    }
    Ok(account)
}

/// Load a sub-merchant the caller may see, or 404.
pub async fn visible_sub_merchant(
    state: &AppState,
    caller: &Caller,
    id: &str,
    sub_mchid: &str,
) -> Result<(SubMerchant, u64), ApiError> {
    caller.require_sub_merchant(id, sub_mchid)?;
    provider(state, caller, id).await?;
    SubMerchantRepo::new(&*state.ports.records)
        .get(id, sub_mchid)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "sub-merchant {sub_mchid} of account {id} not found"
            ))
        })
}

#[utoipa::path(
    get, path = "/admin/v1/accounts/{id}/sub-merchants", tag = "sub-merchants",
    params(("id" = String, Path, description = "The provider's account id"), PageParams),
    responses((status = 200, body = ListPage<SubMerchant>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_sub_merchants(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListPage<SubMerchant>>, ApiError> {
    let limit = page.limit()?;
    provider(&state, &caller, &id).await?;
    let repo = SubMerchantRepo::new(&*state.ports.records);
    if let TokenScope::SubMerchant { sub_mchid, .. } = &caller.scope {
        let items = repo
            .get(&id, sub_mchid)
            .await?
            .map(|(s, _)| s)
            .into_iter()
            .collect();
        return Ok(Json(ListPage {
            items,
            next_cursor: None,
        }));
    }
    let listed = repo.list(&id, limit, page.cursor).await?;
    Ok(Json(ListPage {
        items: listed.items,
        next_cursor: listed.next_cursor,
    }))
}

#[utoipa::path(
    post, path = "/admin/v1/accounts/{id}/sub-merchants", tag = "sub-merchants",
    params(("id" = String, Path, description = "The provider's account id")),
    request_body = CreateSubMerchant,
    responses(
        (status = 201, body = SubMerchant), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub async fn create_sub_merchant(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ValidJson(body): ValidJson<CreateSubMerchant>,
) -> Result<impl IntoResponse, ApiError> {
    visible_account(&state, &caller, &id).await?;
    provider(&state, &caller, &id).await?;
    validate::digits("sub_mchid", &body.sub_mchid, "sub-merchant number")?;
    validate::name("name", &body.name)?;
    validate::reply_text("reply_text", &body.reply_text)?;
    if let Some(d) = &body.deadlines {
        super::deadline_settings::check_sub_merchant(d)?;
    }
    let now = state.ports.clock.now();
    let sub = SubMerchant {
        account_id: id.clone(),
        sub_mchid: body.sub_mchid,
        name: body.name.trim().to_string(),
        reply_text: body.reply_text,
        auto_refund: body.auto_refund,
        refund_cap_fen: body.refund_cap_fen,
        enabled: body.enabled.unwrap_or(true),
        deadlines: body.deadlines,
        created_at: now,
        updated_at: now,
    };
    if !SubMerchantRepo::new(&*state.ports.records)
        .create(&sub)
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "sub-merchant {} already exists under account {id}",
            sub.sub_mchid
        )));
    }
    tracing::info!(sub_mchid = %sub.sub_mchid, "sub-merchant created");
    Ok((StatusCode::CREATED, Json(sub)))
}

#[utoipa::path(
    get, path = "/admin/v1/accounts/{id}/sub-merchants/{sub_mchid}", tag = "sub-merchants",
    params(("id" = String, Path), ("sub_mchid" = String, Path)),
    responses((status = 200, body = SubMerchant), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_sub_merchant(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, sub_mchid)): ApiPath<(String, String)>,
) -> Result<Json<SubMerchant>, ApiError> {
    Ok(Json(
        visible_sub_merchant(&state, &caller, &id, &sub_mchid)
            .await?
            .0,
    ))
}

#[utoipa::path(
    patch, path = "/admin/v1/accounts/{id}/sub-merchants/{sub_mchid}", tag = "sub-merchants",
    params(("id" = String, Path), ("sub_mchid" = String, Path)),
    request_body = PatchSubMerchant,
    responses((status = 200, body = SubMerchant), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id, sub_mchid = %sub_mchid))]
pub async fn patch_sub_merchant(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, sub_mchid)): ApiPath<(String, String)>,
    ValidJson(patch): ValidJson<PatchSubMerchant>,
) -> Result<Json<SubMerchant>, ApiError> {
    if let Some(n) = &patch.name {
        validate::name("name", n)?;
    }
    if let Patch::Set(t) = &patch.reply_text {
        validate::reply_text("reply_text", &Some(t.clone()))?;
    }
    let repo = SubMerchantRepo::new(&*state.ports.records);
    for _ in 0..5 {
        let (mut sub, version) = visible_sub_merchant(&state, &caller, &id, &sub_mchid).await?;
        if let Some(n) = &patch.name {
            sub.name = n.trim().to_string();
        }
        sub.reply_text = patch.reply_text.clone().apply(sub.reply_text);
        if let Some(a) = patch.auto_refund {
            sub.auto_refund = a;
        }
        sub.refund_cap_fen = patch.refund_cap_fen.clone().apply(sub.refund_cap_fen);
        if let Some(e) = patch.enabled {
            sub.enabled = e;
        }
        match &patch.deadlines {
            Patch::Keep => {}
            Patch::Clear => sub.deadlines = None,
            Patch::Set(p) => {
                let provider = provider(&state, &caller, &id).await?;
                sub.deadlines = Some(super::deadline_settings::patched_sub_merchant(
                    sub.deadlines.as_ref(),
                    &provider.settings.deadlines(),
                    p,
                )?);
            }
        }
        sub.updated_at = state.ports.clock.now();
        match repo.update(&sub, version).await {
            Ok(_) => {
                tracing::info!(enabled = sub.enabled, "sub-merchant changed");
                return Ok(Json(sub));
            }
            Err(RepoError::Store(domain::ports::StoreError::VersionConflict { .. })) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict(
        "the sub-merchant keeps changing; retry".into(),
    ))
}

#[utoipa::path(
    delete, path = "/admin/v1/accounts/{id}/sub-merchants/{sub_mchid}", tag = "sub-merchants",
    params(("id" = String, Path), ("sub_mchid" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id, sub_mchid = %sub_mchid))]
pub async fn delete_sub_merchant(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, sub_mchid)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    visible_sub_merchant(&state, &caller, &id, &sub_mchid).await?;
    let records = &*state.ports.records;
    SubMerchantRepo::new(records)
        .delete(&id, &sub_mchid)
        .await?;
    NotificationRepo::new(records)
        .delete(&id, Some(&sub_mchid))
        .await?;
    state
        .ports
        .secrets
        .delete(&secret_names::notifications(&id, Some(&sub_mchid)))
        .await?;
    tracing::info!("sub-merchant deleted");
    Ok(StatusCode::NO_CONTENT)
}
