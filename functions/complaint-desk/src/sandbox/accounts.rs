//! The sandbox accounts in the instance's own store: made once (settings, credentials, the
//! WeChat Pay provider's sub-merchant, a staff bot), found again at each start by the ids the
//! sandbox kept, and pointed at the simulators' new ports (`api_base_url`, the bot's webhook).
//! Internal writes through the core's repositories, as the admin API's handlers make them, with
//! the platforms' own checks of settings and credentials.

use anyhow::{Context, bail};
use desk_core::Services;
use desk_core::accounts::CredentialsChange;
use desk_core::platform::Platforms;
use desk_core::repo::{AccountRepo, NotificationRepo, SubMerchantRepo, secret_names};
use domain::Sensitive;
use domain::account::{
    Account, AccountKind, AccountSettings, BotChannel, BotKind, BotSecrets, NotificationSecrets,
    NotificationSettings, SubMerchant,
};
use secrecy::SecretString;
use serde_json::Value;

/// The staff bot every sandbox account notifies (its id in the notification settings).
pub const BOT_ID: &str = "sandbox-bot";

/// One sandbox account to have: what it is made of.
pub struct Wanted {
    /// Its kind (by name, as the platforms register them).
    pub kind: AccountKind,
    pub name: String,
    /// The kind's settings, `api_base_url` included.
    pub settings: Value,
    pub credentials: Value,
    /// For a provider: its one sub-merchant.
    pub sub_merchant: Option<SubMerchant>,
    /// The bot simulator's webhook URL for its staff notices.
    pub bot_webhook: String,
}

/// The account `kept_id` names, pointed at the simulators now; or, when there is none, a new
/// one. Its id.
pub async fn ensure(
    services: &Services,
    platforms: &Platforms,
    kept_id: Option<&str>,
    wanted: Wanted,
) -> anyhow::Result<String> {
    let repo = AccountRepo::new(&*services.ports.records);
    let found = match kept_id {
        Some(id) => repo.get(id).await?,
        None => None,
    };
    let id = match found {
        Some((account, version)) => {
            point_at_simulator(services, account, version, &wanted.settings).await?
        }
        None => create(services, platforms, &wanted).await?,
    };
    point_bot(services, &id, &wanted.bot_webhook).await?;
    Ok(id)
}

/// Write the simulator's `api_base_url` into a stored sandbox account (when it moved).
async fn point_at_simulator(
    services: &Services,
    mut account: Account,
    version: u64,
    wanted: &Value,
) -> anyhow::Result<String> {
    let mut settings = account.settings.settings_value()?;
    if settings["api_base_url"] == wanted["api_base_url"] {
        return Ok(account.id);
    }
    settings["api_base_url"] = wanted["api_base_url"].clone();
    account.settings = AccountSettings::from_parts(account.kind(), settings)
        .map_err(anyhow::Error::msg)
        .context("the sandbox account's settings")?;
    account.updated_at = services.ports.clock.now();
    AccountRepo::new(&*services.ports.records)
        .update(&account, version)
        .await
        .with_context(|| format!("cannot update sandbox account {}", account.id))?;
    services.account_changed(&account);
    tracing::info!(account_id = %account.id, "sandbox account pointed at its simulator");
    Ok(account.id)
}

async fn create(
    services: &Services,
    platforms: &Platforms,
    wanted: &Wanted,
) -> anyhow::Result<String> {
    let spec = platforms
        .account_kind(wanted.kind)
        .with_context(|| format!("this build serves no {} accounts", wanted.kind))?;
    let settings = (spec.settings)(wanted.settings.clone())
        .with_context(|| format!("the sandbox's {} settings", wanted.kind))?;
    (spec.check_settings)(&settings)
        .with_context(|| format!("the sandbox's {} settings", wanted.kind))?;
    let now = services.ports.clock.now();
    let id = format!("acc_{}", &crate::fixtures::hex_token()[..32]);
    let mut account = Account {
        id: id.clone(),
        name: wanted.name.clone(),
        enabled: true,
        settings,
        credentials: Default::default(),
        created_at: now,
        updated_at: now,
    };
    let (bundle, status) = (spec.credentials)(CredentialsChange {
        settings: &account.settings,
        existing: None,
        body: wanted.credentials.clone(),
        fingerprints: &services.fingerprints,
        now,
    })
    .with_context(|| format!("the sandbox's {} credentials", wanted.kind))?;
    account.credentials = status;
    services
        .ports
        .secrets
        .put(
            &secret_names::credentials(&id),
            SecretString::from(serde_json::to_string(&bundle)?),
        )
        .await?;
    let repo = AccountRepo::new(&*services.ports.records);
    if let Err(e) = repo.create(&account).await {
        let _ = services
            .ports
            .secrets
            .delete(&secret_names::credentials(&id))
            .await;
        if matches!(e, desk_core::repo::RepoError::PlatformIdTaken { .. }) {
            bail!(
                "cannot make the sandbox's {} account: {e} (an account the sandbox did not make; delete it or rename its platform id)",
                wanted.kind
            );
        }
        return Err(e.into());
    }
    services.account_changed(&account);
    if let Some(sub) = &wanted.sub_merchant {
        let sub = SubMerchant {
            account_id: id.clone(),
            created_at: now,
            updated_at: now,
            ..sub.clone()
        };
        SubMerchantRepo::new(&*services.ports.records)
            .create(&sub)
            .await?;
    }
    NotificationRepo::new(&*services.ports.records)
        .put(
            &id,
            None,
            &NotificationSettings {
                bots: vec![BotChannel {
                    id: BOT_ID.into(),
                    kind: BotKind::Wecom,
                }],
                updated_at: Some(now),
                ..Default::default()
            },
        )
        .await?;
    tracing::info!(account_id = %id, kind = %wanted.kind, "sandbox account created");
    Ok(id)
}

/// Point the account's sandbox bot at the bot simulator's webhook of this run (when staff
/// still have it in the account's notification settings; the other secrets are kept).
async fn point_bot(services: &Services, account_id: &str, webhook: &str) -> anyhow::Result<()> {
    let settings = NotificationRepo::new(&*services.ports.records)
        .get(account_id, None)
        .await?
        .unwrap_or_default();
    if !settings.bots.iter().any(|b| b.id == BOT_ID) {
        return Ok(());
    }
    let secrets = &*services.ports.secrets;
    let mut kept: NotificationSecrets =
        desk_core::repo::notification_secrets(secrets, account_id, None)
            .await
            .map_err(|e| anyhow::anyhow!("the sandbox bot's secrets: {e}"))?;
    kept.bots.insert(
        BOT_ID.into(),
        BotSecrets {
            webhook_url: Some(Sensitive::new(webhook)),
            signing_secret: None,
        },
    );
    secrets
        .put(
            &secret_names::notifications(account_id, None),
            SecretString::from(serde_json::to_string(&kept)?),
        )
        .await?;
    Ok(())
}
