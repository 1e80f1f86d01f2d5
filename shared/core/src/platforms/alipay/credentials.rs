//! An Alipay app's credentials: what `PUT /accounts/{id}/credentials` takes
//! ([`AlipayCredentialsInput`]), how it is checked and described ([`credentials`]), and the key
//! that verifies the app's notifications, parsed once per credentials ([`verifying_key`]).

use crate::accounts::CredentialsChange;
use crate::credentials::validate::{Checker, read_input};
use crate::credentials::{
    cert_spki_der, certs_fingerprint, parse_certificates, parse_rsa_public_key,
};
use crate::error::Error;
use crate::fingerprint::{Fingerprinter, sha256_hex};
use chrono::{DateTime, Utc};
use crypto::PublicKey;
use domain::Sensitive;
use domain::account::{
    Account, AlipayCredentials, AlipayKeyMode, Credentials, CredentialsStatus, Patch,
};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use utoipa::ToSchema;

/// `PUT /accounts/{id}/credentials` for an `alipay_app`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlipayCredentialsInput {
    #[serde(default)]
    #[schema(value_type = Option<AlipayKeyMode>)]
    pub mode: Patch<AlipayKeyMode>,
    /// App private key: PEM (PKCS#8 or PKCS#1) or the bare base64 Alipay's key tool gives.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub app_private_key: Patch<Sensitive>,
    /// Certificate mode: appCertPublicKey_*.crt (PEM).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub app_cert: Patch<Sensitive>,
    /// Certificate mode: alipayCertPublicKey_RSA2.crt (PEM).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub alipay_cert: Patch<Sensitive>,
    /// Certificate mode: alipayRootCert.crt (PEM bundle).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub alipay_root_cert: Patch<Sensitive>,
    /// Public-key mode: the Alipay public key (PEM or bare base64).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub alipay_public_key: Patch<Sensitive>,
}

/// Alipay app keys ([`AlipayCredentialsInput`]) merged into the stored bundle, checked and
/// described.
pub fn credentials(
    change: CredentialsChange<'_>,
) -> Result<(Credentials, CredentialsStatus), Error> {
    let input: AlipayCredentialsInput = read_input(change.body)?;
    let old = match change.existing {
        Some(Credentials::Alipay(c)) => c,
        _ => AlipayCredentials::default(),
    };
    let merged = AlipayCredentials {
        mode: input.mode.apply(old.mode),
        app_private_key: input.app_private_key.apply(old.app_private_key),
        app_cert: input.app_cert.apply(old.app_cert),
        alipay_cert: input.alipay_cert.apply(old.alipay_cert),
        alipay_root_cert: input.alipay_root_cert.apply(old.alipay_root_cert),
        alipay_public_key: input.alipay_public_key.apply(old.alipay_public_key),
    };
    let status = describe_alipay(&merged, change.fingerprints, change.now)?;
    Ok((Credentials::Alipay(merged), status))
}

fn describe_alipay(
    c: &AlipayCredentials,
    fp: &Fingerprinter,
    now: DateTime<Utc>,
) -> Result<CredentialsStatus, Error> {
    let mut ck = Checker::new(fp);
    let private = ck.private_key("app_private_key", &c.app_private_key)?;
    let app_cert = ck.certificates("app_cert", &c.app_cert)?;
    ck.certificates("alipay_cert", &c.alipay_cert)?;
    ck.certificates("alipay_root_cert", &c.alipay_root_cert)?;
    ck.public_key("alipay_public_key", &c.alipay_public_key)?;
    if let (Some(key), Some(certs)) = (&private, &app_cert) {
        let mine = key.public_key().spki_der();
        if cert_spki_der(&certs[0]).as_deref() != Some(mine) {
            return Err(Error::field(
                "app_cert",
                "does not certify the public key of app_private_key (a key and certificate from different apps?)",
            ));
        }
    }
    let missing = match c.mode {
        None => vec!["mode".to_string()],
        Some(AlipayKeyMode::Certificate) => ck.missing(&[
            "app_private_key",
            "app_cert",
            "alipay_cert",
            "alipay_root_cert",
        ]),
        Some(AlipayKeyMode::PublicKey) => ck.missing(&["app_private_key", "alipay_public_key"]),
    };
    let mode = c.mode.map(|m| m.as_str().to_string());
    Ok(ck.status(missing, mode, BTreeMap::new(), now))
}

/// Alipay verifying keys, parsed, by what the account record says they are: `mode:fingerprint`
/// (the fingerprint of `alipay_public_key` or `alipay_cert`). The name is the content's hash,
/// so an entry is never stale: new credentials have a new fingerprint, hence a new entry.
fn alipay_keys() -> &'static Mutex<HashMap<String, PublicKey>> {
    static KEYS: OnceLock<Mutex<HashMap<String, PublicKey>>> = OnceLock::new();
    KEYS.get_or_init(Mutex::default)
}

/// More entries than any desk has Alipay apps: past it the cache starts again.
const ALIPAY_KEYS_MAX: usize = 4096;

/// The key that verifies an Alipay app's messages (certificate mode: the Alipay certificate's
/// key; key mode: the Alipay public key), parsed once per credentials: a message whose account
/// record names a key seen before reads neither the secret store nor any PEM.
pub async fn verifying_key(
    secrets: &dyn domain::ports::SecretStore,
    account: &Account,
) -> Option<PublicKey> {
    let named = |mode: &str, fingerprint: &str| format!("{mode}:{fingerprint}");
    let recorded = account.credentials.mode.as_deref().and_then(|mode| {
        let field = if mode == AlipayKeyMode::Certificate.as_str() {
            "alipay_cert"
        } else {
            "alipay_public_key"
        };
        let fp = account
            .credentials
            .fields
            .get(field)?
            .fingerprint
            .as_deref()?;
        Some(named(mode, fp))
    });
    if let Some(name) = &recorded
        && let Some(key) = alipay_keys()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
    {
        return Some(key.clone());
    }
    let Ok(Some(Credentials::Alipay(c))) = crate::credentials::load(secrets, &account.id).await
    else {
        return None;
    };
    let (mode, fingerprint, key) = match c.mode {
        Some(AlipayKeyMode::Certificate) => {
            let certs = parse_certificates(c.alipay_cert.as_ref()?.expose())?;
            let key = PublicKey::from_certificate(certs.first()?).ok()?;
            (AlipayKeyMode::Certificate, certs_fingerprint(&certs)?, key)
        }
        _ => {
            let key = parse_rsa_public_key(c.alipay_public_key.as_ref()?.expose())?;
            (AlipayKeyMode::PublicKey, sha256_hex(key.spki_der()), key)
        }
    };
    let mut keys = alipay_keys().lock().unwrap_or_else(|e| e.into_inner());
    if keys.len() >= ALIPAY_KEYS_MAX {
        keys.clear();
    }
    keys.insert(named(mode.as_str(), &fingerprint), key.clone());
    Some(key)
}
