//! WeChat Pay clients per merchant, built from the account and its credentials and kept while
//! what they were built from is unchanged (the settings they use and the credentials).

use crate::Error;
use crate::credentials::parse_rsa_private_key;
use crate::platform_caches::AccountScoped;
use crate::state::Services;
use domain::account::{Account, AccountSettings, Credentials, CredentialsStatus};
use domain::ports::SecretStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a client was built from: the settings it uses (merchant number, certificate serial,
/// API host) and the credential status (fingerprints and time of the last change) of the
/// bundle it read.
struct Built {
    mchid: String,
    serial: String,
    base_url: Option<String>,
    credentials: CredentialsStatus,
}

impl Built {
    fn of(account: &Account) -> Option<Self> {
        let (mchid, serial, base) = wechatpay_settings(account)?;
        Some(Self {
            mchid: mchid.clone(),
            serial: serial.clone(),
            base_url: base.clone(),
            credentials: account.credentials.clone(),
        })
    }

    fn matches(&self, account: &Account) -> bool {
        wechatpay_settings(account).is_some_and(|(mchid, serial, base)| {
            *mchid == self.mchid
                && *serial == self.serial
                && *base == self.base_url
                && account.credentials == self.credentials
        })
    }
}

fn wechatpay_settings(account: &Account) -> Option<(&String, &String, &Option<String>)> {
    match &account.settings {
        AccountSettings::WechatpayMerchant(s) => {
            Some((&s.mchid, &s.merchant_serial_no, &s.api_base_url))
        }
        AccountSettings::WechatpayProvider(s) => {
            Some((&s.mchid, &s.merchant_serial_no, &s.api_base_url))
        }
        _ => None,
    }
}

type Cached = (Built, Arc<wechatpay::Client>);

/// The WeChat Pay clients of this process, one per merchant, kept while what they were built
/// from is unchanged (a client holds the downloaded platform certificates and the refresh
/// throttle). One per process, in `Services::caches` ([`Clients::of`]).
#[derive(Default)]
pub struct Clients {
    by_account: Mutex<HashMap<String, Cached>>,
}

impl AccountScoped for Clients {
    fn account_changed(&self, account: &Account) {
        self.forget_unless_built_from(account);
    }

    fn forget(&self, account: &Account) {
        self.forget(&account.id);
    }
}

/// The WeChat Pay client of an account for a staff action or an account route (a conflict
/// when its credentials are incomplete).
pub async fn client(
    services: &Services,
    account: &Account,
) -> Result<Arc<wechatpay::Client>, Error> {
    Clients::of(services)
        .get(account, &*services.ports.secrets)
        .await
        .map_err(|e| Error::Conflict(format!("cannot call WeChat Pay: {e}")))
}

/// Why no client could be built for an account.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("account {0} is not a WeChat Pay merchant or provider")]
    NotWechatpay(String),
    #[error("account {account}: {missing} is not set")]
    Incomplete { account: String, missing: String },
    #[error("account {account}: {why}")]
    Invalid { account: String, why: String },
    #[error("the credentials cannot be read from the secret store")]
    Secrets(Error),
}

impl Clients {
    /// This process's clients.
    pub fn of(services: &Services) -> Arc<Self> {
        services.caches.get::<Self>()
    }

    /// The client of a WeChat Pay account (built on first use, and again after a change of
    /// its credentials, merchant number, certificate serial or API host).
    pub async fn get(
        &self,
        account: &Account,
        secrets: &dyn SecretStore,
    ) -> Result<Arc<wechatpay::Client>, ClientError> {
        if let Some((built, c)) = self
            .by_account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&account.id)
            && built.matches(account)
        {
            return Ok(c.clone());
        }
        let client = Arc::new(build(account, secrets).await?);
        if let Some(built) = Built::of(account) {
            self.by_account
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(account.id.clone(), (built, client.clone()));
        }
        Ok(client)
    }

    /// Drop the account's client unless it was built from this account's settings and
    /// credential status.
    pub fn forget_unless_built_from(&self, account: &Account) {
        let mut by_account = self.by_account.lock().unwrap_or_else(|e| e.into_inner());
        if by_account
            .get(&account.id)
            .is_some_and(|(built, _)| !built.matches(account))
        {
            by_account.remove(&account.id);
        }
    }

    /// Drop the account's client (it was deleted, or its secret was replaced).
    pub fn forget(&self, account_id: &str) {
        self.by_account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account_id);
    }
}

async fn build(
    account: &Account,
    secrets: &dyn SecretStore,
) -> Result<wechatpay::Client, ClientError> {
    let (mchid, serial, base) = match &account.settings {
        AccountSettings::WechatpayMerchant(s) => (&s.mchid, &s.merchant_serial_no, &s.api_base_url),
        AccountSettings::WechatpayProvider(s) => (&s.mchid, &s.merchant_serial_no, &s.api_base_url),
        _ => return Err(ClientError::NotWechatpay(account.id.clone())),
    };
    let incomplete = |missing: &str| ClientError::Incomplete {
        account: account.id.clone(),
        missing: missing.to_string(),
    };
    let invalid = |why: String| ClientError::Invalid {
        account: account.id.clone(),
        why,
    };
    let Some(Credentials::Wechatpay(c)) = crate::credentials::load(secrets, &account.id)
        .await
        .map_err(ClientError::Secrets)?
    else {
        return Err(incomplete("credentials"));
    };
    let key = c
        .private_key
        .as_ref()
        .ok_or_else(|| incomplete("private_key"))?;
    let apiv3 = c
        .apiv3_key
        .as_ref()
        .ok_or_else(|| incomplete("apiv3_key"))?;
    let private_key = parse_rsa_private_key(key.expose())
        .ok_or_else(|| invalid("private_key cannot be read".into()))?;
    let public_key = match (&c.wechatpay_public_key_id, &c.wechatpay_public_key) {
        (Some(id), Some(pem)) => Some((id.clone(), pem.expose().to_string())),
        _ => None,
    };
    let base_url = base
        .as_deref()
        .unwrap_or(wechatpay::client::PRODUCTION)
        .parse()
        .map_err(|e| invalid(format!("api_base_url: {e}")))?;
    wechatpay::Client::new(wechatpay::ClientConfig {
        base_url,
        mchid: mchid.clone(),
        serial_no: serial.clone(),
        private_key,
        apiv3_key: apiv3.expose().as_bytes().to_vec(),
        public_key,
        platform_certificates: c
            .platform_certificates
            .iter()
            .map(|p| p.expose().to_string())
            .collect(),
    })
    .map_err(|e| invalid(e.to_string()))
}

/// A failed platform call for a caller: unavailable when retrying may help, else the platform
/// error with its code and message.
pub fn api_error(e: wechatpay::PlatformError) -> Error {
    if e.is_retryable() {
        Error::Unavailable(Box::new(e))
    } else {
        Error::Platform(e.to_string())
    }
}
