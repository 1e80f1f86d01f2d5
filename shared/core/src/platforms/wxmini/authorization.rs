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
    // It signs a state with the installation key: no platform call.
    .spends_no_budget()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::wxmini::onboarding::verify_state;
    use domain::account::WxopenComponentSettings;

    fn services(dir: &tempfile::TempDir, base: Option<&str>) -> Services {
        crate::test_support::embedded_services(dir)
            .with_public_base_url(base.map(|b| b.parse().expect("url")))
    }

    fn component() -> Account {
        let settings = AccountSettings::WxopenComponent(WxopenComponentSettings {
            component_appid: "wx0000000000000001".into(),
            api_base_url: None,
            auth_page_base_url: None,
        });
        let now = Utc::now();
        Account {
            id: "acc_component".into(),
            name: "Our platform".into(),
            enabled: true,
            credentials: (super::super::accounts::WXOPEN_COMPONENT.empty_credentials)(&settings),
            settings,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn the_link_is_our_launch_page_with_a_state_signed_for_the_account() {
        let dir = tempfile::tempdir().expect("dir");
        let services = services(&dir, Some("https://desk.example.com/tenant/"));
        let before = Utc::now();
        let link = authorization_link(&services, &component()).expect("link");
        let (page, state) = link.url.split_once("?state=").expect("state");
        assert_eq!(
            page,
            "https://desk.example.com/tenant/wxopen/wx0000000000000001/authorize"
        );
        assert_eq!(
            verify_state(&services, state, Utc::now()).as_deref(),
            Ok("acc_component")
        );
        let valid = link.expires_at - before;
        assert!(
            (STATE_SECONDS - 5..=STATE_SECONDS).contains(&valid.num_seconds()),
            "{valid}"
        );
    }

    #[test]
    fn no_link_without_a_public_base_url_or_for_another_kind() {
        let dir = tempfile::tempdir().expect("dir");
        let err = authorization_link(&services(&dir, None), &component())
            .map(|l| l.url)
            .expect_err("no base URL");
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "PUBLIC_BASE_URL is not configured: WeChat cannot reach the launch page"
        );
        let mut app = component();
        app.settings = AccountSettings::WxminiApp(
            serde_json::from_value(
                serde_json::json!({"appid": "wx0000000000000002", "mode": "manual"}),
            )
            .expect("settings"),
        );
        let err = authorization_link(&services(&dir, Some("https://desk.example.com/")), &app)
            .map(|l| l.url)
            .expect_err("a mini program");
        assert!(matches!(err, Error::Conflict(_)), "{err}");
    }
}
