//! `/admin/v1/accounts`: create, read, change, delete accounts; write-only credentials.

use super::page::{ListPage, PageParams};
use super::validate;
use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiPath, ApiQuery};
use crate::http::{ValidJson, from_value_at};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use desk_core::complaints::ComplaintRepo;
use desk_core::credentials;
use desk_core::repo::{AccountRepo, NotificationRepo, RepoError, SubMerchantRepo, secret_names};
use domain::account::{
    Account, AccountKind, AccountSettings, Credentials, CredentialsStatus, WxminiMode,
};
use domain::token::TokenScope;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// `POST /accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    pub kind: AccountKind,
    pub name: String,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The kind's settings: AlipayAppSettings, WechatpayMerchantSettings,
    /// WechatpayProviderSettings, WxminiAppSettings or WxopenComponentSettings.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Optional: the same body as `PUT /accounts/{id}/credentials`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Value>,
}

/// `PATCH /accounts/{id}`: fields given replace; `settings` is a JSON merge patch (RFC 7396).
/// Only a scope-`all` token may change where the account's secrets are sent:
/// `settings.api_base_url`, `settings.auth_page_base_url`, `settings.component_account_id` and
/// `settings.payment.account_id` and `settings.payment.sub_mchid` (whose money the linked
/// provider's keys move), and whether a mini program trusts plaintext pushes
/// (`settings.allow_plaintext`) (403 naming the field; sending the stored value is no change).
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
    pub kind: Option<AccountKind>,
}

/// Parse a kind's settings from JSON, naming fields under `settings.`.
pub fn parse_settings(kind: AccountKind, value: Value) -> Result<AccountSettings, ApiError> {
    if !value.is_object() {
        return Err(ApiError::field("settings", "must be a JSON object"));
    }
    Ok(match kind {
        AccountKind::AlipayApp => AccountSettings::AlipayApp(from_value_at("settings", value)?),
        AccountKind::WechatpayMerchant => {
            AccountSettings::WechatpayMerchant(from_value_at("settings", value)?)
        }
        AccountKind::WechatpayProvider => {
            AccountSettings::WechatpayProvider(from_value_at("settings", value)?)
        }
        AccountKind::WxminiApp => AccountSettings::WxminiApp(from_value_at("settings", value)?),
        AccountKind::WxopenComponent => {
            AccountSettings::WxopenComponent(from_value_at("settings", value)?)
        }
    })
}

/// Check settings, including references to other accounts.
async fn check_settings(state: &AppState, settings: &AccountSettings) -> Result<(), ApiError> {
    check_setting_fields(settings)?;
    let AccountSettings::WxminiApp(s) = settings else {
        return Ok(());
    };
    let repo = AccountRepo::new(&*state.ports.records);
    if let (WxminiMode::Authorised, Some(id)) = (s.mode, &s.component_account_id) {
        let ok = repo
            .get(id)
            .await?
            .is_some_and(|(a, _)| a.kind() == AccountKind::WxopenComponent);
        if !ok {
            return Err(ApiError::field(
                "settings.component_account_id",
                format!("{id} is not a wxopen_component account"),
            ));
        }
    }
    if let Some(p) = &s.payment {
        let target = repo.get(&p.account_id).await?.map(|(a, _)| a.kind());
        match (target, &p.sub_mchid) {
            (Some(AccountKind::WechatpayMerchant), None) => {}
            (Some(AccountKind::WechatpayMerchant), Some(_)) => {
                return Err(ApiError::field(
                    "settings.payment.sub_mchid",
                    "only a wechatpay_provider has sub-merchants",
                ));
            }
            (Some(AccountKind::WechatpayProvider), Some(sub)) => {
                validate::digits("settings.payment.sub_mchid", sub, "sub-merchant number")?
            }
            (Some(AccountKind::WechatpayProvider), None) => {
                return Err(ApiError::field(
                    "settings.payment.sub_mchid",
                    "is required with a wechatpay_provider",
                ));
            }
            _ => {
                return Err(ApiError::field(
                    "settings.payment.account_id",
                    format!(
                        "{} is not a wechatpay_merchant or wechatpay_provider account",
                        p.account_id
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The checks on settings that need nothing stored (references to other accounts are checked
/// by the handlers): each error names its field under `settings.`.
pub fn check_setting_fields(settings: &AccountSettings) -> Result<(), ApiError> {
    match settings {
        AccountSettings::AlipayApp(s) => {
            validate::digits("settings.app_id", &s.app_id, "Alipay app id")?;
            validate::reply_text("settings.reply_text", &s.reply_text)?;
            validate::reply_text("settings.refund_finish_text", &s.refund_finish_text)?;
            validate::reply_text("settings.refund_finish_remark", &s.refund_finish_remark)?;
            validate::base_url("settings.api_base_url", &s.api_base_url)?;
        }
        AccountSettings::WechatpayMerchant(s) => {
            validate::digits("settings.mchid", &s.mchid, "merchant number")?;
            validate::wx_appid("settings.appid", &s.appid)?;
            validate::hex_serial("settings.merchant_serial_no", &s.merchant_serial_no)?;
            validate::reply_text("settings.reply_text", &s.reply_text)?;
            validate::base_url("settings.api_base_url", &s.api_base_url)?;
        }
        AccountSettings::WechatpayProvider(s) => {
            validate::digits("settings.mchid", &s.mchid, "merchant number")?;
            validate::wx_appid("settings.appid", &s.appid)?;
            validate::hex_serial("settings.merchant_serial_no", &s.merchant_serial_no)?;
            validate::reply_text("settings.reply_text", &s.reply_text)?;
            validate::reply_text("settings.default_reply_text", &s.default_reply_text)?;
            validate::base_url("settings.api_base_url", &s.api_base_url)?;
        }
        AccountSettings::WxminiApp(s) => {
            validate::wx_appid("settings.appid", &s.appid)?;
            validate::base_url("settings.api_base_url", &s.api_base_url)?;
            match (s.mode, &s.component_account_id) {
                (WxminiMode::Manual, Some(_)) => {
                    return Err(ApiError::field(
                        "settings.component_account_id",
                        "only an authorised mini program has a third-party platform",
                    ));
                }
                (WxminiMode::Authorised, None) => {
                    return Err(ApiError::field(
                        "settings.component_account_id",
                        "is required in authorised mode (our id of the wxopen_component account)",
                    ));
                }
                _ => {}
            }
            if s.allow_plaintext && s.mode == WxminiMode::Authorised {
                return Err(ApiError::field(
                    "settings.allow_plaintext",
                    "only a manual mini program may accept plaintext pushes (a third-party platform's pushes are always encrypted)",
                ));
            }
            if let Some(r) = &s.auto_response {
                validate::text_controls("settings.auto_response.text", &r.text)?;
                if r.text.chars().count() > 500 {
                    return Err(ApiError::field(
                        "settings.auto_response.text",
                        "must be at most 500 characters",
                    ));
                }
                if r.enabled && r.text.trim().is_empty() {
                    return Err(ApiError::field(
                        "settings.auto_response.text",
                        "is required when the automatic response is enabled",
                    ));
                }
                if r.images.len() > 9 {
                    return Err(ApiError::field(
                        "settings.auto_response.images",
                        "at most 9 images",
                    ));
                }
            }
        }
        AccountSettings::WxopenComponent(s) => {
            validate::wx_appid("settings.component_appid", &s.component_appid)?;
            validate::base_url("settings.api_base_url", &s.api_base_url)?;
            validate::base_url("settings.auth_page_base_url", &s.auth_page_base_url)?;
        }
    }
    Ok(())
}

/// The fields of a kind's settings that decide where its stored secrets go: the API hosts its
/// app secret, keys and tokens are sent to, and the accounts whose credentials it borrows.
/// Only a scope-`all` token may change them.
fn secret_destinations(settings: &AccountSettings) -> Vec<(&'static str, Option<String>)> {
    match settings {
        AccountSettings::AlipayApp(s) => vec![("settings.api_base_url", s.api_base_url.clone())],
        AccountSettings::WechatpayMerchant(s) => {
            vec![("settings.api_base_url", s.api_base_url.clone())]
        }
        AccountSettings::WechatpayProvider(s) => {
            vec![("settings.api_base_url", s.api_base_url.clone())]
        }
        AccountSettings::WxminiApp(s) => vec![
            ("settings.api_base_url", s.api_base_url.clone()),
            (
                "settings.component_account_id",
                s.component_account_id.clone(),
            ),
            (
                "settings.payment.account_id",
                s.payment.as_ref().map(|p| p.account_id.clone()),
            ),
            (
                "settings.payment.sub_mchid",
                s.payment.as_ref().and_then(|p| p.sub_mchid.clone()),
            ),
        ],
        AccountSettings::WxopenComponent(s) => vec![
            ("settings.api_base_url", s.api_base_url.clone()),
            ("settings.auth_page_base_url", s.auth_page_base_url.clone()),
        ],
    }
}

/// 403 naming the first secret destination a scoped token tried to change. Writing the stored
/// value again is no change.
fn check_destinations(
    caller: &Caller,
    old: &AccountSettings,
    new: &AccountSettings,
) -> Result<(), ApiError> {
    if caller.scope.is_all() {
        return Ok(());
    }
    if let (AccountSettings::WxminiApp(before), AccountSettings::WxminiApp(after)) = (old, new)
        && before.allow_plaintext != after.allow_plaintext
    {
        return Err(ApiError::forbidden_field(
            "settings.allow_plaintext",
            "decides whether unencrypted pushes, whose signature covers no body, are trusted; only a token with scope \"all\" may change it",
        ));
    }
    for ((field, before), (_, after)) in secret_destinations(old)
        .into_iter()
        .zip(secret_destinations(new))
    {
        if before != after {
            return Err(ApiError::forbidden_field(
                field,
                "decides where this account's stored secrets are sent; only a token with scope \"all\" may change it",
            ));
        }
    }
    Ok(())
}

/// Images named in an automatic response must be media the caller may use for this account
/// (another scope's is answered like an unknown id). Images already stored are not checked
/// again.
async fn check_media(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    old: Option<&AccountSettings>,
    new: &AccountSettings,
) -> Result<(), ApiError> {
    let images = |s: &AccountSettings| match s {
        AccountSettings::WxminiApp(s) => s
            .auto_response
            .as_ref()
            .map(|r| r.images.clone())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let kept = old.map(images).unwrap_or_default();
    let repo = ComplaintRepo::new(&*state.ports.records);
    for (n, id) in images(new).iter().enumerate() {
        if kept.contains(id) {
            continue;
        }
        if repo
            .media_for(id, &caller.scope, account_id, None)
            .await?
            .is_none()
        {
            return Err(ApiError::field(
                format!("settings.auto_response.images[{n}]"),
                format!("no media {id}"),
            ));
        }
    }
    Ok(())
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

fn credentials_allowed(settings: &AccountSettings) -> Result<(), ApiError> {
    if let AccountSettings::WxminiApp(s) = settings
        && s.mode == WxminiMode::Authorised
    {
        return Err(ApiError::Conflict(
            "an authorised mini program is reached through its third-party platform and has no credentials of its own".into(),
        ));
    }
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
    tracing::Span::current().record("kind", body.kind.as_str());
    validate::name("name", &body.name)?;
    if has_authorization(&body.settings) {
        return Err(ApiError::field(
            "settings.authorization",
            "is set by the one-click authorisation flow, not by hand",
        ));
    }
    let settings = parse_settings(body.kind, body.settings)?;
    check_settings(&state, &settings).await?;
    let now = state.ports.clock.now();
    let id = format!("acc_{}", uuid::Uuid::now_v7().simple());
    check_media(&state, &caller, &id, None, &settings).await?;
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
        credentials_allowed(&account.settings)?;
        let (bundle, status) =
            credentials::validate::apply(account.kind(), None, creds, &state.fingerprints, now)
                .map_err(|e| prefix_field(e.into(), "credentials"))?;
        store_credentials(&state, &id, &bundle).await?;
        account.credentials = status;
        wrote_secret = true;
    } else {
        account.credentials =
            desk_core::credentials::empty_status(account.kind(), &account.settings);
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
    let repo = AccountRepo::new(&*state.ports.records);
    match &caller.scope {
        TokenScope::All => {
            let listed = repo.list(filter.kind, limit, page.cursor).await?;
            Ok(Json(ListPage {
                items: listed.items,
                next_cursor: listed.next_cursor,
            }))
        }
        TokenScope::Account { account_id } => {
            let items = repo
                .get(account_id)
                .await?
                .map(|(a, _)| a)
                .filter(|a| filter.kind.is_none_or(|k| a.kind() == k))
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
    Ok(Json(visible_account(&state, &caller, &id).await?.0))
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
            let kind = account.kind();
            let platform_id = account.platform_id().to_string();
            let mut current = serde_json::to_value(&account.settings)
                .map_err(ApiError::internal)?
                .get_mut("settings")
                .map(Value::take)
                .unwrap_or(Value::Null);
            validate::merge_patch(&mut current, p);
            let settings = parse_settings(kind, current)?;
            if settings.platform_id() != platform_id {
                return Err(ApiError::field(
                    format!("settings.{}", kind.platform_id_field()),
                    "cannot be changed; create a new account instead",
                ));
            }
            check_destinations(&caller, &account.settings, &settings)?;
            check_settings(&state, &settings).await?;
            check_media(&state, &caller, &id, Some(&account.settings), &settings).await?;
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
        description = "AlipayCredentialsInput, WechatpayCredentialsInput or WechatAppCredentialsInput, by the account's kind. Omitted fields keep their value, null clears, a value replaces.",
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
    credentials_allowed(&account.settings)?;
    let existing = load_credentials(&state, &id).await?;
    let now = state.ports.clock.now();
    let (bundle, status) =
        credentials::validate::apply(account.kind(), existing, body, &state.fingerprints, now)?;
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
