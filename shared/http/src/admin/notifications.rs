//! `/admin/v1/accounts/{id}/notifications` and the sub-merchant's: staff notification
//! settings. Secret fields are write-only: omitted keeps, `null` clears, a value replaces;
//! reads show `{set, fingerprint}`. A stored secret is never sent to a new destination without
//! being sent again: changing the SMTP host, port, tls or tls_root_pem needs `auth_code`, the OA
//! appid `secret`, the SMS sdk_app_id or secret_id `secret_key`, a bot's webhook_url its
//! `signing_secret` (400 naming the secret); `api_base_url` needs a scope-`all` token (403).

use super::accounts::visible_account;
use super::sub_merchants::visible_sub_merchant;
use super::validate;
use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::ApiPath;
use crate::http::ValidJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use desk_core::credentials::validate::rules;
use desk_core::fingerprint::Fingerprinter;
use desk_core::repo::{NotificationRepo, secret_names};
use domain::Sensitive;
use domain::account::{
    BotChannel, BotKind, BotSecrets, EmailChannel, NotificationSecrets, NotificationSettings,
    OaTemplateChannel, Patch, SMS_LINK_PARAMS, SecretStatus, SmsChannel, SmtpTls,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use utoipa::ToSchema;

/// E-mail over SMTP (163 Mail: host smtp.163.com, port 465, tls implicit, the mailbox's
/// authorisation code).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailInput {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub sender: String,
    #[serde(default)]
    pub username: Option<String>,
    pub recipients: Vec<String>,
    /// Extra trusted root certificate (PEM) for a server with a private CA.
    #[serde(default)]
    pub tls_root_pem: Option<String>,
    /// SMTP authorisation code (授权码).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub auth_code: Patch<Sensitive>,
}

/// Official-account template message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OaTemplateInput {
    pub appid: String,
    pub template_id: String,
    pub openids: Vec<String>,
    #[serde(default)]
    pub field_mapping: BTreeMap<String, String>,
    /// Where the secret is sent (tests and private deployments). Only a token with scope
    /// `all` may change it (403 otherwise); a change also needs the secret again.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// The official account's AppSecret.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret: Patch<Sensitive>,
}

/// Tencent Cloud SMS.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsInput {
    pub secret_id: String,
    pub sdk_app_id: String,
    pub sign_name: String,
    pub template_id: String,
    pub phone_numbers: Vec<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// Where the secret is sent (tests and private deployments). Only a token with scope
    /// `all` may change it (403 otherwise); a change also needs the secret again.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// The template variable (1-based, 4 to 10; 1 to 3 carry what happened, who and the
    /// complaint's number) that carries the link to the notice's page in the staff console:
    /// the path after the console's base URL (`CONSOLE_BASE_URL`, by default
    /// `PUBLIC_BASE_URL`; `console/complaints/cmp_…`), so the template holds
    /// `https://your-host/` as fixed text before it (Tencent refuses a URL in a variable).
    /// Variables between the third and this one are sent as `-`. A link longer than 80
    /// characters, several events in one SMS, or no base URL: the variable gets the
    /// inbox's path (`-` with `CONSOLE_BASE_URL=off`). Omitted or `null`: the template has
    /// three variables and no link is sent.
    #[serde(default)]
    #[schema(minimum = 4, maximum = 10)]
    pub link_param: Option<u32>,
    /// Tencent Cloud SecretKey.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret_key: Patch<Sensitive>,
}

/// A group bot (WeCom, DingTalk, Feishu).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotInput {
    pub id: String,
    pub kind: BotKind,
    /// The webhook URL (it carries the bot's access token).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Patch<Sensitive>,
    /// DingTalk "加签" secret or Feishu signature secret.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub signing_secret: Patch<Sensitive>,
}

/// `PUT .../notifications`: the whole settings. A channel that is omitted or `null` is
/// switched off (its secrets are dropped).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationsInput {
    #[serde(default)]
    pub email: Option<EmailInput>,
    #[serde(default)]
    pub oa_template: Option<OaTemplateInput>,
    #[serde(default)]
    pub sms: Option<SmsInput>,
    #[serde(default)]
    pub bots: Vec<BotInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailView {
    #[serde(flatten)]
    pub channel: EmailChannel,
    pub auth_code: SecretStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OaTemplateView {
    #[serde(flatten)]
    pub channel: OaTemplateChannel,
    pub secret: SecretStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SmsView {
    #[serde(flatten)]
    pub channel: SmsChannel,
    pub secret_key: SecretStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotView {
    #[serde(flatten)]
    pub channel: BotChannel,
    pub webhook_url: SecretStatus,
    pub signing_secret: SecretStatus,
}

/// Staff notification settings as shown: secrets only as `{set, fingerprint}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationsView {
    pub email: Option<EmailView>,
    pub oa_template: Option<OaTemplateView>,
    pub sms: Option<SmsView>,
    pub bots: Vec<BotView>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn status(fp: &Fingerprinter, v: &Option<Sensitive>) -> SecretStatus {
    match v {
        Some(s) => SecretStatus::set(fp.short(s.expose())),
        None => SecretStatus::unset(),
    }
}

fn view(
    fp: &Fingerprinter,
    s: NotificationSettings,
    secrets: &NotificationSecrets,
) -> NotificationsView {
    NotificationsView {
        email: s.email.map(|channel| EmailView {
            channel,
            auth_code: status(fp, &secrets.email_auth_code),
        }),
        oa_template: s.oa_template.map(|channel| OaTemplateView {
            channel,
            secret: status(fp, &secrets.oa_secret),
        }),
        sms: s.sms.map(|channel| SmsView {
            channel,
            secret_key: status(fp, &secrets.sms_secret_key),
        }),
        bots: s
            .bots
            .into_iter()
            .map(|channel| {
                let b = secrets.bots.get(&channel.id).cloned().unwrap_or_default();
                BotView {
                    webhook_url: status(fp, &b.webhook_url),
                    signing_secret: status(fp, &b.signing_secret),
                    channel,
                }
            })
            .collect(),
        updated_at: s.updated_at,
    }
}

/// A secret the channel needs: `null` (clearing it) is 400; omitting it with nothing stored
/// to keep is 409 (the request is valid, the stored state lacks the secret).
fn required(
    field: &str,
    patch: Patch<Sensitive>,
    stored: Option<Sensitive>,
) -> Result<Sensitive, ApiError> {
    let cleared = matches!(patch, Patch::Clear);
    patch.apply(stored).ok_or_else(|| {
        if cleared {
            ApiError::field(
                field,
                "is required: it cannot be cleared (switch the channel off instead)",
            )
        } else {
            ApiError::conflict_field(
                field,
                "is required: nothing is stored to keep (send it once; later updates may omit it to keep it)",
            )
        }
    })
}

fn list(
    field: &str,
    items: &[String],
    check: impl Fn(&str, &str) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    if items.is_empty() || items.len() > 50 {
        return Err(ApiError::field(field, "must list 1 to 50 recipients"));
    }
    let mut seen = HashSet::new();
    for (i, v) in items.iter().enumerate() {
        let f = format!("{field}[{i}]");
        check(&f, v)?;
        if !seen.insert(v.as_str()) {
            return Err(ApiError::field(f, "is listed twice"));
        }
    }
    Ok(())
}

const NEEDS_ALL: &str = "decides where this channel's stored secret is sent; only a token with scope \"all\" may change it";

fn needs_secret(what: &str) -> String {
    format!(
        "is required when {what} changes: the stored one is not sent to a new destination (send it again)"
    )
}

/// Where stored secrets go may change only with the secret itself in the same request, and
/// `api_base_url` only with a scope-`all` token (403 naming the field). Sending the stored
/// value again is no change.
fn check_destinations(
    caller: &Caller,
    old: &NotificationSettings,
    old_secrets: &NotificationSecrets,
    input: &NotificationsInput,
) -> Result<(), ApiError> {
    let old_oa_url = old
        .oa_template
        .as_ref()
        .and_then(|o| o.api_base_url.clone());
    let old_sms_url = old.sms.as_ref().and_then(|o| o.api_base_url.clone());
    if !caller.scope.is_all() {
        let new_oa_url = input
            .oa_template
            .as_ref()
            .and_then(|o| o.api_base_url.clone());
        if input.oa_template.is_some() && new_oa_url != old_oa_url {
            return Err(ApiError::forbidden_field(
                "oa_template.api_base_url",
                NEEDS_ALL,
            ));
        }
        let new_sms_url = input.sms.as_ref().and_then(|o| o.api_base_url.clone());
        if input.sms.is_some() && new_sms_url != old_sms_url {
            return Err(ApiError::forbidden_field("sms.api_base_url", NEEDS_ALL));
        }
    }
    if let (Some(e), Some(o)) = (&input.email, &old.email)
        && old_secrets.email_auth_code.is_some()
        && e.auth_code.is_keep()
        && (e.host.trim() != o.host
            || e.port != o.port
            || e.tls != o.tls
            || e.tls_root_pem != o.tls_root_pem)
    {
        return Err(ApiError::conflict_field(
            "email.auth_code",
            needs_secret("the SMTP host, port, tls or tls_root_pem"),
        ));
    }
    if let (Some(n), Some(o)) = (&input.oa_template, &old.oa_template)
        && old_secrets.oa_secret.is_some()
        && n.secret.is_keep()
        && (n.appid != o.appid || n.api_base_url != o.api_base_url)
    {
        return Err(ApiError::conflict_field(
            "oa_template.secret",
            needs_secret("the official account's appid or api_base_url"),
        ));
    }
    if let (Some(n), Some(o)) = (&input.sms, &old.sms)
        && old_secrets.sms_secret_key.is_some()
        && n.secret_key.is_keep()
        && (n.sdk_app_id != o.sdk_app_id
            || n.secret_id != o.secret_id
            || n.api_base_url != o.api_base_url)
    {
        return Err(ApiError::conflict_field(
            "sms.secret_key",
            needs_secret("the SMS sdk_app_id, secret_id or api_base_url"),
        ));
    }
    for (i, b) in input.bots.iter().enumerate() {
        let Some(prev) = old_secrets.bots.get(&b.id) else {
            continue;
        };
        let new_url = match &b.webhook_url {
            Patch::Set(u) => Some(u.expose()),
            _ => None,
        };
        let changed =
            new_url.is_some_and(|u| prev.webhook_url.as_ref().map(|p| p.expose()) != Some(u));
        if changed && prev.signing_secret.is_some() && b.signing_secret.is_keep() {
            return Err(ApiError::conflict_field(
                format!("bots[{i}].signing_secret"),
                needs_secret("the bot's webhook_url"),
            ));
        }
    }
    Ok(())
}

/// The SMS template's link variable: a position after the three fixed ones.
fn sms_link_param(position: Option<u32>) -> Result<Option<u8>, ApiError> {
    let Some(p) = position else {
        return Ok(None);
    };
    u8::try_from(p)
        .ok()
        .filter(|p| SMS_LINK_PARAMS.contains(p))
        .map(Some)
        .ok_or_else(|| {
            ApiError::field(
                "sms.link_param",
                format!(
                    "must be {} to {}: the template variable that carries the link (variables 1 to 3 carry what happened, who and the complaint's number)",
                    SMS_LINK_PARAMS.start(),
                    SMS_LINK_PARAMS.end()
                ),
            )
        })
}

/// Merge the input with the stored secrets and check everything.
pub fn merge(
    input: NotificationsInput,
    old: NotificationSecrets,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(NotificationSettings, NotificationSecrets), ApiError> {
    let mut secrets = NotificationSecrets::default();
    let email = match input.email {
        None => None,
        Some(e) => {
            validate::host("email.host", &e.host)?;
            if e.port == 0 {
                return Err(ApiError::field("email.port", "must be 1 to 65535"));
            }
            validate::email("email.sender", &e.sender)?;
            if let Some(pem) = &e.tls_root_pem
                && pem
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\r')
            {
                return Err(ApiError::field(
                    "email.tls_root_pem",
                    "must be a PEM certificate (no control characters but line breaks)",
                ));
            }
            if let Some(u) = &e.username {
                validate::non_empty("email.username", u, 254)?;
            }
            list("email.recipients", &e.recipients, validate::email)?;
            secrets.email_auth_code = e.auth_code.apply(old.email_auth_code);
            if let Some(code) = &secrets.email_auth_code {
                validate::non_empty("email.auth_code", code.expose(), 256)?;
            }
            Some(EmailChannel {
                host: e.host.trim().to_string(),
                port: e.port,
                tls: e.tls,
                sender: e.sender,
                username: e.username,
                recipients: e.recipients,
                tls_root_pem: e.tls_root_pem,
            })
        }
    };
    let oa_template = match input.oa_template {
        None => None,
        Some(o) => {
            validate::wx_appid("oa_template.appid", &o.appid)?;
            validate::non_empty("oa_template.template_id", &o.template_id, 128)?;
            list("oa_template.openids", &o.openids, |f, v| {
                validate::non_empty(f, v, 64)
            })?;
            for (k, v) in &o.field_mapping {
                validate::non_empty(&format!("oa_template.field_mapping.{k}"), v, 64)?;
            }
            validate::base_url("oa_template.api_base_url", &o.api_base_url)?;
            let secret = required("oa_template.secret", o.secret, old.oa_secret)?;
            rules::app_secret(secret.expose())
                .map_err(|m| ApiError::field("oa_template.secret", m))?;
            secrets.oa_secret = Some(secret);
            Some(OaTemplateChannel {
                appid: o.appid,
                template_id: o.template_id,
                openids: o.openids,
                field_mapping: o.field_mapping,
                api_base_url: o.api_base_url,
            })
        }
    };
    let sms = match input.sms {
        None => None,
        Some(s) => {
            validate::non_empty("sms.secret_id", &s.secret_id, 128)?;
            validate::non_empty("sms.sdk_app_id", &s.sdk_app_id, 32)?;
            validate::non_empty("sms.sign_name", &s.sign_name, 64)?;
            validate::non_empty("sms.template_id", &s.template_id, 32)?;
            list("sms.phone_numbers", &s.phone_numbers, validate::phone)?;
            if let Some(r) = &s.region {
                validate::identifier("sms.region", r)?;
            }
            validate::base_url("sms.api_base_url", &s.api_base_url)?;
            let link_param = sms_link_param(s.link_param)?;
            let key = required("sms.secret_key", s.secret_key, old.sms_secret_key)?;
            validate::non_empty("sms.secret_key", key.expose(), 128)?;
            secrets.sms_secret_key = Some(key);
            Some(SmsChannel {
                secret_id: s.secret_id,
                sdk_app_id: s.sdk_app_id,
                sign_name: s.sign_name,
                template_id: s.template_id,
                phone_numbers: s.phone_numbers,
                region: s.region,
                api_base_url: s.api_base_url,
                link_param,
            })
        }
    };
    let mut bots = Vec::new();
    let mut ids = HashSet::new();
    let mut old_bots = old.bots;
    for (i, b) in input.bots.into_iter().enumerate() {
        let f = |name: &str| format!("bots[{i}].{name}");
        validate::identifier(&f("id"), &b.id)?;
        if !ids.insert(b.id.clone()) {
            return Err(ApiError::field(f("id"), "is used by another bot"));
        }
        let prev = old_bots.remove(&b.id).unwrap_or_default();
        let url = required(&f("webhook_url"), b.webhook_url, prev.webhook_url)?;
        validate::base_url(&f("webhook_url"), &Some(url.expose().to_string()))
            .map_err(|_| ApiError::field(f("webhook_url"), "must be an http(s) URL"))?;
        let signing = b.signing_secret.apply(prev.signing_secret);
        if b.kind == BotKind::Wecom && signing.is_some() {
            return Err(ApiError::field(
                f("signing_secret"),
                "WeCom bots have no signing secret",
            ));
        }
        secrets.bots.insert(
            b.id.clone(),
            BotSecrets {
                webhook_url: Some(url),
                signing_secret: signing,
            },
        );
        bots.push(BotChannel {
            id: b.id,
            kind: b.kind,
        });
    }
    Ok((
        NotificationSettings {
            email,
            oa_template,
            sms,
            bots,
            updated_at: Some(now),
        },
        secrets,
    ))
}

/// A settings write that lost the race with another one.
const CHANGED_MEANWHILE: &str =
    "the notification settings were changed by someone else meanwhile: reload them and save again";

async fn load_secrets(
    state: &AppState,
    account_id: &str,
    sub_mchid: Option<&str>,
) -> Result<NotificationSecrets, ApiError> {
    Ok(desk_core::repo::notification_secrets(&*state.ports.secrets, account_id, sub_mchid).await?)
}

async fn read(
    state: &AppState,
    account_id: &str,
    sub_mchid: Option<&str>,
) -> Result<NotificationsView, ApiError> {
    let settings = NotificationRepo::new(&*state.ports.records)
        .get(account_id, sub_mchid)
        .await?
        .unwrap_or_default();
    let secrets = load_secrets(state, account_id, sub_mchid).await?;
    Ok(view(&state.fingerprints, settings, &secrets))
}

async fn write(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    sub_mchid: Option<&str>,
    input: NotificationsInput,
) -> Result<NotificationsView, ApiError> {
    // Past the cache: a kept secret must be the one stored now, not this instance's copy
    // from before another instance changed it.
    // The settings first, then the secret: a secret not saved for these settings belongs to
    // a write under way (or one that failed half-way) and may not be kept.
    let repo = NotificationRepo::new(&*state.ports.records);
    let (stored, version) = repo.get_versioned(account_id, sub_mchid).await?;
    let stored = stored.unwrap_or_default();
    let mut old =
        desk_core::repo::notification_secrets_fresh(&*state.ports.secrets, account_id, sub_mchid)
            .await?;
    old.drop_unfit(&stored);
    check_destinations(caller, &stored, &old, &input)?;
    let (settings, mut secrets) = merge(input, old, state.ports.clock.now())?;
    // Every secret is bound to where these settings send it: an instance that finds other
    // settings reads the secret again, and refuses to send it if it still does not fit.
    secrets.bind(&settings);
    let json = serde_json::to_string(&secrets).map_err(ApiError::internal)?;
    // The settings first, only if nobody wrote since they were read; then the secret. In
    // between (or if the secret's write fails), settings and secret do not fit and nothing
    // is sent with it: never the old secret to a new destination.
    match repo
        .replace(account_id, sub_mchid, &settings, version)
        .await
    {
        Err(e) if e.is_conflict() => return Err(ApiError::Conflict(CHANGED_MEANWHILE.into())),
        other => other?,
    }
    state
        .ports
        .secrets
        .put(
            &secret_names::notifications(account_id, sub_mchid),
            SecretString::from(json),
        )
        .await?;
    tracing::info!(
        account_id,
        sub_mchid,
        email = settings.email.is_some(),
        oa_template = settings.oa_template.is_some(),
        sms = settings.sms.is_some(),
        bots = settings.bots.len(),
        "notification settings updated"
    );
    Ok(view(&state.fingerprints, settings, &secrets))
}

#[utoipa::path(
    get, path = "/admin/v1/accounts/{id}/notifications", tag = "notifications",
    params(("id" = String, Path)),
    responses((status = 200, body = NotificationsView), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_account_notifications(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<NotificationsView>, ApiError> {
    visible_account(&state, &caller, &id).await?;
    Ok(Json(read(&state, &id, None).await?))
}

#[utoipa::path(
    put, path = "/admin/v1/accounts/{id}/notifications", tag = "notifications",
    params(("id" = String, Path)),
    request_body = NotificationsInput,
    responses(
        (status = 200, body = NotificationsView),
        (status = 400, body = ErrorBody, description = "Invalid input; `field` names it"),
        (status = 409, body = ErrorBody, description = "A destination (SMTP host, port, tls or tls_root_pem; OA appid; SMS sdk_app_id or secret_id; a bot's webhook_url) changed without that channel's secret in the same request, or a channel turned on with no secret stored: the stored secret is never sent to a new destination; `field` names the secret. Also when the settings were saved by someone else since they were read (no `field`): reload and save again"),
        (status = 403, body = ErrorBody, description = "A scoped token changed `oa_template.api_base_url` or `sms.api_base_url`; `field` names it"),
        (status = 404, body = ErrorBody)
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub async fn put_account_notifications(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ValidJson(input): ValidJson<NotificationsInput>,
) -> Result<Json<NotificationsView>, ApiError> {
    visible_account(&state, &caller, &id).await?;
    Ok(Json(write(&state, &caller, &id, None, input).await?))
}

#[utoipa::path(
    get, path = "/admin/v1/accounts/{id}/sub-merchants/{sub_mchid}/notifications", tag = "notifications",
    params(("id" = String, Path), ("sub_mchid" = String, Path)),
    responses((status = 200, body = NotificationsView), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_sub_merchant_notifications(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, sub_mchid)): ApiPath<(String, String)>,
) -> Result<Json<NotificationsView>, ApiError> {
    visible_sub_merchant(&state, &caller, &id, &sub_mchid).await?;
    Ok(Json(read(&state, &id, Some(&sub_mchid)).await?))
}

#[utoipa::path(
    put, path = "/admin/v1/accounts/{id}/sub-merchants/{sub_mchid}/notifications", tag = "notifications",
    params(("id" = String, Path), ("sub_mchid" = String, Path)),
    request_body = NotificationsInput,
    responses(
        (status = 200, body = NotificationsView),
        (status = 400, body = ErrorBody, description = "Invalid input; `field` names it"),
        (status = 409, body = ErrorBody, description = "A destination (SMTP host, port, tls or tls_root_pem; OA appid; SMS sdk_app_id or secret_id; a bot's webhook_url) changed without that channel's secret in the same request, or a channel turned on with no secret stored: the stored secret is never sent to a new destination; `field` names the secret. Also when the settings were saved by someone else since they were read (no `field`): reload and save again"),
        (status = 403, body = ErrorBody, description = "A scoped token changed `oa_template.api_base_url` or `sms.api_base_url`; `field` names it"),
        (status = 404, body = ErrorBody)
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(account_id = %id, sub_mchid = %sub_mchid))]
pub async fn put_sub_merchant_notifications(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, sub_mchid)): ApiPath<(String, String)>,
    ValidJson(input): ValidJson<NotificationsInput>,
) -> Result<Json<NotificationsView>, ApiError> {
    visible_sub_merchant(&state, &caller, &id, &sub_mchid).await?;
    Ok(Json(
        write(&state, &caller, &id, Some(&sub_mchid), input).await?,
    ))
}
