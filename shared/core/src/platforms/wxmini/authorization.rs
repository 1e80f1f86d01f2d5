//! `POST /accounts/{id}/authorization-link` on a third-party platform (`wxopen_component`):
//! our launch page's URL ([`super::pages`]) with a signed `state` (account id, expiry 10
//! minutes, nonce; HMAC under the installation key), for the one-click authorisation of a mini
//! program.

use super::onboarding::{STATE_SECONDS, sign_state};
use super::pages::launch_url;
use crate::Error;
use crate::account_actions::{AccountAction, Method};
use crate::state::Services;
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountKind, AccountSettings};
use serde::Serialize;
use utoipa::ToSchema;

/// The operation's id in the document.
pub const OPERATION: &str = "authorization_link";

/// `POST /accounts/{id}/authorization-link`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationLink {
    /// Open it in a browser (it must be served from the domain registered with WeChat as the
    /// 授权发起页域名).
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// The route.
pub fn action() -> AccountAction {
    AccountAction::new(
        "authorization-link",
        Method::Post,
        OPERATION,
        &[AccountKind::WxopenComponent],
    )
    .answered_with::<AuthorizationLink>()
    .summary("A one-click authorisation link for mini programs (valid 10 minutes)")
    .id_described("Our id of a wxopen_component account")
}

/// The link for `account` (a third-party platform), valid [`STATE_SECONDS`] from now.
pub fn authorization_link(
    services: &Services,
    account: &Account,
) -> Result<AuthorizationLink, Error> {
    let AccountSettings::WxopenComponent(s) = &account.settings else {
        return Err(Error::Conflict(
            "authorization links are made for wxopen_component accounts".into(),
        ));
    };
    let base = services.public_base_url.as_ref().ok_or_else(|| {
        Error::Conflict(
            "PUBLIC_BASE_URL is not configured: WeChat cannot reach the launch page".into(),
        )
    })?;
    let now = services.ports.clock.now();
    let state = sign_state(services, &account.id, now);
    let mut url = launch_url(base, &s.component_appid).map_err(Error::internal)?;
    url.query_pairs_mut().append_pair("state", &state);
    Ok(AuthorizationLink {
        url: url.to_string(),
        expires_at: now + chrono::Duration::seconds(STATE_SECONDS),
    })
}
