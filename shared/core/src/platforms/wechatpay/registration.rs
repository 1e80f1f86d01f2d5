//! `/accounts/{id}/callback-registration` on a WeChat Pay account: register our callback URLs
//! with WeChat Pay (the complaint URL for merchants and providers, and the violation URL for
//! providers), read what it holds, or remove them. URLs are built from `PUBLIC_BASE_URL`.

use super::admin::platform_error;
use crate::Error;
use crate::account_actions::{AccountAction, AccountActions, AccountAnswer, Method, no_such_route};
use crate::platforms::wechatpay::limits::NOTIFICATION_URL;
use crate::staff_actions::{ActionBody, Staff, take_budget};
use crate::state::Services;
use async_trait::async_trait;
use domain::account::{Account, AccountKind};
use serde::Serialize;
use utoipa::ToSchema;
use wechatpay::client::NotificationUrl;

/// One callback URL and what the platform has registered.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registration {
    /// Our URL for this notification.
    pub ours: String,
    /// What the platform has registered (none if nothing).
    pub registered: Option<String>,
    pub matches: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Registrations {
    pub complaints: Registration,
    /// Service providers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violations: Option<Registration>,
}

const NAME: &str = "callback-registration";

/// WeChat Pay's account routes.
pub struct Actions;

#[async_trait]
impl AccountActions for Actions {
    fn actions(&self) -> Vec<AccountAction> {
        let kinds = [
            AccountKind::WechatpayMerchant,
            AccountKind::WechatpayProvider,
        ];
        vec![
            AccountAction::new(NAME, Method::Post, "register", &kinds)
                .answered_with::<Registrations>()
                .answer_described("Registered; what the platform now holds"),
            AccountAction::new(NAME, Method::Get, "get_registration", &kinds)
                .answered_with::<Registrations>(),
            AccountAction::new(NAME, Method::Delete, "unregister", &kinds),
        ]
    }

    async fn run(
        &self,
        services: &Services,
        _staff: &Staff,
        account: &Account,
        action: &AccountAction,
        _body: ActionBody,
    ) -> Result<AccountAnswer, Error> {
        match action.operation_id {
            "register" => AccountAnswer::json(&register(services, account).await?),
            "get_registration" => AccountAnswer::json(&describe(services, account).await?),
            "unregister" => {
                unregister(services, account).await?;
                Ok(AccountAnswer::NoContent)
            }
            _ => Err(no_such_route(
                account.kind(),
                action.method,
                action.name,
                &self.actions(),
            )),
        }
    }
}

pub(super) fn kinds(account: &Account) -> Result<Vec<(NotificationUrl, &'static str)>, Error> {
    match account.kind() {
        AccountKind::WechatpayMerchant => Ok(vec![(NotificationUrl::Complaints, "complaints")]),
        AccountKind::WechatpayProvider => Ok(vec![
            (NotificationUrl::Complaints, "complaints"),
            (NotificationUrl::Violations, "violations"),
        ]),
        other => Err(Error::Conflict(format!(
            "{other} has no registration API: set the callback URL in the platform's console"
        ))),
    }
}

pub(super) fn our_url(services: &Services, account: &Account, path: &str) -> Result<String, Error> {
    let base = services.public_base_url.as_ref().ok_or_else(|| {
        Error::Conflict(
            "PUBLIC_BASE_URL is not set: the platforms need an HTTPS address to call".into(),
        )
    })?;
    if base.scheme() != "https" {
        return Err(Error::Conflict(
            "PUBLIC_BASE_URL must be https: the platforms call only HTTPS addresses".into(),
        ));
    }
    Ok(format!(
        "{}/callbacks/wechatpay/{}/{path}",
        base.as_str().trim_end_matches('/'),
        account.platform_id()
    ))
}

async fn describe(services: &Services, account: &Account) -> Result<Registrations, Error> {
    let c = super::clients::client(services, account).await?;
    let mut out = Vec::new();
    for (which, path) in kinds(account)? {
        let ours = our_url(services, account, path)?;
        take_budget(services, account.platform_id(), &[NOTIFICATION_URL]).await?;
        let registered = c.notification_url(which).await.map_err(platform_error)?;
        out.push(Registration {
            matches: registered.as_deref() == Some(ours.as_str()),
            ours,
            registered,
        });
    }
    let mut it = out.into_iter();
    let complaints = it
        .next()
        .ok_or_else(|| Error::Internal("no complaint registration".into()))?;
    Ok(Registrations {
        complaints,
        violations: it.next(),
    })
}

#[tracing::instrument(skip_all, fields(account_id = %account.id))]
async fn register(services: &Services, account: &Account) -> Result<Registrations, Error> {
    let c = super::clients::client(services, account).await?;
    for (which, path) in kinds(account)? {
        let url = our_url(services, account, path)?;
        // Converges: an unchanged URL is not written again, a changed one is replaced.
        take_budget(services, account.platform_id(), &[NOTIFICATION_URL]).await?;
        let done = c
            .set_notification_url(which, &url)
            .await
            .map_err(platform_error)?;
        tracing::info!(%url, outcome = ?done, "callback URL registered");
    }
    describe(services, account).await
}

#[tracing::instrument(skip_all, fields(account_id = %account.id))]
async fn unregister(services: &Services, account: &Account) -> Result<(), Error> {
    let c = super::clients::client(services, account).await?;
    for (which, _) in kinds(account)? {
        take_budget(services, account.platform_id(), &[NOTIFICATION_URL]).await?;
        match c.delete_notification_url(which).await {
            Ok(()) | Err(wechatpay::PlatformError::Api { status: 404, .. }) => {}
            Err(e) => return Err(platform_error(e)),
        }
    }
    tracing::info!("callback URLs unregistered");
    Ok(())
}
