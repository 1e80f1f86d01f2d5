//! `/admin/v1/accounts`: create, read, change, delete accounts; write-only credentials.

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
use desk_core::accounts::{CredentialsChange, ReferenceCheck, changed_guarded_setting};
use desk_core::credentials;
use desk_core::platform::AccountKindSpec;
use desk_core::repo::{AccountRepo, NotificationRepo, RepoError, SubMerchantRepo, secret_names};
use domain::account::{Account, AccountKind, AccountSettings, Credentials, CredentialsStatus};
use domain::token::TokenScope;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// `POST /accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// An account kind of a platform this build serves.
    #[schema(value_type = AccountKind)]
    pub kind: String,
    pub name: String,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The kind's settings (the document names each kind's schema), checked by the kind's
    /// platform.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Optional: the same body as `PUT /accounts/{id}/credentials`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Value>,
}

/// `PATCH /accounts/{id}`: fields given replace; `settings` is a JSON merge patch (RFC 7396).
/// Only a scope-`all` token may change the settings each kind guards (where the account's
/// secrets are sent, what it trusts): 403 naming the field; sending the stored value is no
/// change. The document lists them per kind, from the platforms.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAccount {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountFilter {
    /// Only accounts of this kind.
    #[param(value_type = Option<AccountKind>)]
    pub kind: Option<String>,
}

/// The account kind a caller named, if a platform of this build brings it; else 400 naming
/// `field` and listing the kinds served.
pub fn requested_kind<'a>(
    state: &'a AppState,
    field: &str,
    name: &str,
) -> Result<&'a AccountKindSpec, ApiError> {
    state.platforms().account_kind_named(name).ok_or_else(|| {
        ApiError::field(
            field,
            format!(
                "unknown account kind {:?}; this build serves {}",
                name.chars().take(64).collect::<String>(),
                state.platforms().account_kind_names().join(", ")
            ),
        )
    })
}

/// The kind of a stored account (409 when no platform of this build brings it any more).
fn stored_kind<'a>(
    state: &'a AppState,
    account: &Account,
) -> Result<&'a AccountKindSpec, ApiError> {
    state
        .platforms()
        .account_kind(account.kind())
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "account kind {} is not served by this build",
                account.kind()
            ))
        })
}

/// Parse a kind's settings from JSON (the kind's platform reads them), naming fields under
/// `settings.`.
pub fn parse_settings(spec: &AccountKindSpec, value: Value) -> Result<AccountSettings, ApiError> {
    if !value.is_object() {
        return Err(ApiError::field("settings", "must be a JSON object"));
    }
    Ok((spec.settings)(value)?)
}

/// The checks on settings that need nothing stored (the kind's platform makes them): each
/// error names its field under `settings.`.
pub fn check_setting_fields(
    spec: &AccountKindSpec,
    settings: &AccountSettings,
) -> Result<(), ApiError> {
    (spec.check_settings)(settings)?;
    super::deadline_settings::check_account(settings)
}

/// Check settings: their values, then what they refer to among stored records (the kind's
/// platform decides both; `old` is none for a new account).
async fn check_settings(
    state: &AppState,
    caller: &Caller,
    spec: &AccountKindSpec,
    account_id: &str,
    old: Option<&AccountSettings>,
    new: &AccountSettings,
) -> Result<(), ApiError> {
    check_setting_fields(spec, new)?;
    if let Some(check) = spec.check_references {
        check(ReferenceCheck {
            services: state,
            scope: &caller.scope,
            account_id,
            old,
            new,
        })
        .await?;
    }
    Ok(())
}

/// 403 naming the first setting only a scope-`all` token may change (the kind's platform
/// says which) that a scoped token tried to change. Writing the stored value again is no
/// change.
fn check_guarded(
    caller: &Caller,
    spec: &AccountKindSpec,
    old: &AccountSettings,
    new: &AccountSettings,
) -> Result<(), ApiError> {
    if caller.scope.is_all() {
        return Ok(());
    }
    match changed_guarded_setting(spec, old, new)? {
        Some((field, why)) => Err(ApiError::forbidden_field(field, why)),
        None => Ok(()),
    }
}

/// Settings carry `authorization` only through the one-click flow, never from a request.
pub fn has_authorization(value: &Value) -> bool {
    value.get("authorization").is_some()
}

/// Read the account's credential bundle from the secret store.
pub async fn load_credentials(
    state: &AppState,
    account_id: &str,
) -> Result<Option<Credentials>, ApiError> {
    Ok(credentials::load(&*state.ports.secrets, account_id).await?)
}

async fn store_credentials(
    state: &AppState,
    account_id: &str,
    creds: &Credentials,
) -> Result<(), ApiError> {
    let json = serde_json::to_string(creds).map_err(ApiError::internal)?;
    state
        .ports
        .secrets
        .put(
            &secret_names::credentials(account_id),
            SecretString::from(json),
        )
        .await?;
    Ok(())
}

#[utoipa::path(
    post, path = "/admin/v1/accounts", tag = "accounts",
    request_body = CreateAccount,
    responses(
        (status = 201, body = Account),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(kind))]
pub async fn create_account(
    State(state): State<AppState>,
    caller: Caller,
    ValidJson(body): ValidJson<CreateAccount>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin("creating accounts")?;
    let spec = requested_kind(&state, "kind", &body.kind)?;
    tracing::Span::current().record("kind", spec.facts.kind.as_str());
    validate::name("name", &body.name)?;
    if has_authorization(&body.settings) {
        return Err(ApiError::field(
            "settings.authorization",
            "is set by the one-click authorisation flow, not by hand",
        ));
    }
    let settings = parse_settings(spec, body.settings)?;
    let id = format!("acc_{}", uuid::Uuid::now_v7().simple());
    check_settings(&state, &caller, spec, &id, None, &settings).await?;
    let now = state.ports.clock.now();
    let mut account = Account {
        id: id.clone(),
        name: body.name.trim().to_string(),
        enabled: body.enabled.unwrap_or(true),
        settings,
        credentials: CredentialsStatus::default(),
        created_at: now,
        updated_at: now,
    };
    let mut wrote_secret = false;
    if let Some(creds) = body.credentials {
        let (bundle, status) = (spec.credentials)(CredentialsChange {
            settings: &account.settings,
            existing: None,
            body: creds,
            fingerprints: &state.fingerprints,
            now,
        })
        .map_err(|e| prefix_field(e.into(), "credentials"))?;
        store_credentials(&state, &id, &bundle).await?;
        account.credentials = status;
        wrote_secret = true;
    } else {
        account.credentials = (spec.empty_credentials)(&account.settings);
    }
    let repo = AccountRepo::new(&*state.ports.records);
    if let Err(e) = repo.create(&account).await {
        if wrote_secret {
            let _ = state
                .ports
                .secrets
                .delete(&secret_names::credentials(&id))
                .await;
        }
        return Err(e.into());
    }
    // Nothing of it can be cached yet, but an earlier account under the same platform id may
    // have been.
    state.account_changed(&account);
    tracing::info!(account_id = %id, kind = %account.kind(), "account created");
    Ok((StatusCode::CREATED, Json(account)))
}

fn prefix_field(e: ApiError, prefix: &str) -> ApiError {
    match e {
        ApiError::Invalid { field, message } => ApiError::Invalid {
            field: Some(match field {
                Some(f) => format!("{prefix}.{f}"),
                None => prefix.to_string(),
            }),
            message,
        },
        other => other,
    }
}

#[utoipa::path(
    get, path = "/admin/v1/accounts", tag = "accounts",
    params(AccountFilter, PageParams),
    responses((status = 200, body = ListPage<Account>), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_accounts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<AccountFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListPage<Account>>, ApiError> {
    let limit = page.limit()?;
    let kind = filter
        .kind
        .as_deref()
        .map(|k| requested_kind(&state, "kind", k).map(|spec| spec.facts.kind))
        .transpose()?;
    let repo = AccountRepo::new(&*state.ports.records);
    match &caller.scope {
        TokenScope::All => {
            let listed = repo.list(kind, limit, page.cursor).await?;
            Ok(Json(ListPage {
                items: listed
                    .items
                    .into_iter()
                    .map(|a| shown(&caller, a))
                    .collect(),
                next_cursor: listed.next_cursor,
            }))
        }
        TokenScope::Account { account_id } => {
            let items = repo
                .get(account_id)
                .await?
                .map(|(a, _)| shown(&caller, a))
                .filter(|a| kind.is_none_or(|k| a.kind() == k))
                .into_iter()
                .collect();
            Ok(Json(ListPage {
                items,
                next_cursor: None,
            }))
        }
        TokenScope::SubMerchant { .. } => Ok(Json(ListPage {
            items: vec![],
            next_cursor: None,
        })),
    }
}

/// Load an account the caller may see as a whole, or 404.
pub async fn visible_account(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(Account, u64), ApiError> {
    caller.require_account(id)?;
    AccountRepo::new(&*state.ports.records)
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {id} not found")))
}

#[utoipa::path(
    get, path = "/admin/v1/accounts/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Our account id")),
    responses((status = 200, body = Account), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(shown(
        &caller,
        visible_account(&state, &caller, &id).await?.0,
    )))
}

/// An account as `caller` may read it: the escalation recipients in `settings.deadlines` are
/// staff contacts, shown in full only to an `admin` (as the notification settings are) and
/// masked for other roles.
pub fn shown(caller: &Caller, mut account: Account) -> Account {
    if caller.role != domain::token::Role::Admin {
        account.settings.mask_escalation_recipients();
    }
    account
}

#[utoipa::path(
    patch, path = "/admin/v1/accounts/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Our account id")),
    request_body = PatchAccount,
    responses(
        (status = 200, body = Account), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "A scoped token changed a field that decides where stored secrets go (`settings.api_base_url` and the like); `field` names it"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub async fn patch_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ValidJson(patch): ValidJson<PatchAccount>,
) -> Result<Json<Account>, ApiError> {
    if let Some(n) = &patch.name {
        validate::name("name", n)?;
    }
    if let Some(s) = &patch.settings {
        if !s.is_object() {
            return Err(ApiError::field(
                "settings",
                "must be a JSON object (a merge patch)",
            ));
        }
        if has_authorization(s) {
            return Err(ApiError::field(
                "settings.authorization",
                "is set by the one-click authorisation flow, not by hand",
            ));
        }
    }
    let repo = AccountRepo::new(&*state.ports.records);
    // Compare-and-set; a concurrent change makes us re-read and re-apply the patch.
    for _ in 0..5 {
        let (mut account, version) = visible_account(&state, &caller, &id).await?;
        if let Some(n) = &patch.name {
            account.name = n.trim().to_string();
        }
        if let Some(e) = patch.enabled {
            account.enabled = e;
        }
        if let Some(p) = &patch.settings {
            let spec = stored_kind(&state, &account)?;
            let platform_id = account.platform_id().to_string();
            let mut current = account
                .settings
                .settings_value()
                .map_err(ApiError::internal)?;
            validate::merge_patch(&mut current, p);
            let settings = parse_settings(spec, current)?;
            if settings.platform_id() != platform_id {
                return Err(ApiError::field(
                    format!("settings.{}", spec.facts.platform_id_field),
                    "cannot be changed; create a new account instead",
                ));
            }
            check_guarded(&caller, spec, &account.settings, &settings)?;
            check_settings(
                &state,
                &caller,
                spec,
                &id,
                Some(&account.settings),
                &settings,
            )
            .await?;
            account.settings = settings;
        }
        account.updated_at = state.ports.clock.now();
        match repo.update(&account, version).await {
            Ok(_) => {
                state.account_changed(&account);
                tracing::info!(enabled = account.enabled, "account changed");
                return Ok(Json(account));
            }
            Err(RepoError::Store(domain::ports::StoreError::VersionConflict { .. })) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict(
        "the account keeps changing; retry".into(),
    ))
}

#[utoipa::path(
    delete, path = "/admin/v1/accounts/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Our account id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let (account, version) = visible_account(&state, &caller, &id).await?;
    let records = &*state.ports.records;
    AccountRepo::new(records).delete(&account, version).await?;
    state.forget_account(&account);
    // The account is gone (and its platform id free); now its dependants and secrets.
    let subs = SubMerchantRepo::new(records);
    let notify = NotificationRepo::new(records);
    let mut cursor = None;
    loop {
        let page = subs.list(&id, 200, cursor).await?;
        for s in &page.items {
            subs.delete(&id, &s.sub_mchid).await?;
            notify.delete(&id, Some(&s.sub_mchid)).await?;
            state
                .ports
                .secrets
                .delete(&secret_names::notifications(&id, Some(&s.sub_mchid)))
                .await?;
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    notify.delete(&id, None).await?;
    state
        .ports
        .secrets
        .delete(&secret_names::notifications(&id, None))
        .await?;
    state
        .ports
        .secrets
        .delete(&secret_names::credentials(&id))
        .await?;
    tracing::info!("account deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put, path = "/admin/v1/accounts/{id}/credentials", tag = "accounts",
    params(("id" = String, Path, description = "Our account id")),
    request_body(
        description = "The credentials of the account's kind, checked by its platform (the document names each kind's schema). Omitted fields keep their value, null clears, a value replaces.",
        content = Object
    ),
    responses(
        (status = 200, body = CredentialsStatus, description = "What is set, by fingerprint; never the values"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub async fn put_credentials(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ValidJson(body): ValidJson<Value>,
) -> Result<Json<CredentialsStatus>, ApiError> {
    let (account, _) = visible_account(&state, &caller, &id).await?;
    let spec = stored_kind(&state, &account)?;
    let existing = load_credentials(&state, &id).await?;
    let now = state.ports.clock.now();
    let (bundle, status) = (spec.credentials)(CredentialsChange {
        settings: &account.settings,
        existing,
        body,
        fingerprints: &state.fingerprints,
        now,
    })?;
    store_credentials(&state, &id, &bundle).await?;
    // The secret has changed: whatever was built from the old one goes now, whether or not
    // the record update below succeeds.
    state.forget_account(&account);
    let repo = AccountRepo::new(&*state.ports.records);
    for _ in 0..5 {
        let (mut account, version) = visible_account(&state, &caller, &id).await?;
        account.credentials = status.clone();
        account.updated_at = now;
        match repo.update(&account, version).await {
            Ok(_) => {
                state.account_changed(&account);
                tracing::info!(complete = status.complete, "credentials updated");
                return Ok(Json(status));
            }
            Err(RepoError::Store(domain::ports::StoreError::VersionConflict { .. })) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict(
        "the account keeps changing; retry".into(),
    ))
}
