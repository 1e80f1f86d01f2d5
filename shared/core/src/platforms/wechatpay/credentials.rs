//! A WeChat Pay merchant's or provider's API v3 credentials: what
//! `PUT /accounts/{id}/credentials` takes ([`WechatpayCredentialsInput`]) and how it is checked
//! and described ([`credentials`]: the platform certificates' serials as WeChat Pay writes them).

use crate::accounts::CredentialsChange;
use crate::credentials::parse_certificates;
use crate::credentials::validate::{Checker, read_input};
use crate::error::Error;
use crate::fingerprint::Fingerprinter;
use chrono::{DateTime, Utc};
use domain::Sensitive;
use domain::account::{Credentials, CredentialsStatus, Patch, SecretStatus, WechatpayCredentials};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The API v3 key: 32 printable characters.
pub fn apiv3_key(v: &str) -> Result<(), &'static str> {
    if v.len() == 32 && v.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err("must be the 32-character API v3 key")
    }
}

/// `PUT /accounts/{id}/credentials` for a `wechatpay_merchant` or `wechatpay_provider`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WechatpayCredentialsInput {
    /// Merchant API private key (apiclient_key.pem).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub private_key: Patch<Sensitive>,
    /// API v3 key: 32 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub apiv3_key: Patch<Sensitive>,
    /// Platform certificates (PEM), if you have them; more are downloaded when needed.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub platform_certificates: Patch<Vec<Sensitive>>,
    /// WeChat Pay public key (PEM).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub wechatpay_public_key: Patch<Sensitive>,
    /// Its id, `PUB_KEY_ID_...`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub wechatpay_public_key_id: Patch<String>,
}

/// WeChat Pay API v3 keys ([`WechatpayCredentialsInput`]) merged into the stored bundle,
/// checked and described.
pub fn credentials(
    change: CredentialsChange<'_>,
) -> Result<(Credentials, CredentialsStatus), Error> {
    let input: WechatpayCredentialsInput = read_input(change.body)?;
    let old = match change.existing {
        Some(Credentials::Wechatpay(c)) => c,
        _ => WechatpayCredentials::default(),
    };
    let merged = WechatpayCredentials {
        private_key: input.private_key.apply(old.private_key),
        apiv3_key: input.apiv3_key.apply(old.apiv3_key),
        platform_certificates: input
            .platform_certificates
            .apply(Some(old.platform_certificates))
            .unwrap_or_default(),
        wechatpay_public_key: input.wechatpay_public_key.apply(old.wechatpay_public_key),
        wechatpay_public_key_id: input
            .wechatpay_public_key_id
            .apply(old.wechatpay_public_key_id),
    };
    let status = describe_wechatpay(&merged, change.fingerprints, change.now)?;
    Ok((Credentials::Wechatpay(merged), status))
}

fn describe_wechatpay(
    c: &WechatpayCredentials,
    fp: &Fingerprinter,
    now: DateTime<Utc>,
) -> Result<CredentialsStatus, Error> {
    let mut ck = Checker::new(fp);
    ck.private_key("private_key", &c.private_key)?;
    ck.short("apiv3_key", &c.apiv3_key, apiv3_key)?;
    let mut identifiers = BTreeMap::new();
    if c.platform_certificates.is_empty() {
        ck.fields
            .insert("platform_certificates".into(), SecretStatus::unset());
    } else {
        let mut certs = Vec::new();
        for (i, pem) in c.platform_certificates.iter().enumerate() {
            let field = format!("platform_certificates[{i}]");
            let mut parsed = parse_certificates(pem.expose())
                .ok_or_else(|| Error::field(field, "is not a PEM certificate"))?;
            certs.append(&mut parsed);
        }
        ck.insert_certs("platform_certificates", &certs)?;
        // Serials as WeChat Pay writes them (`Wechatpay-Serial`): the number in upper-case
        // hex, without the leading 00 DER gives a serial whose top bit is set.
        let serials: Vec<String> = certs
            .iter()
            .map(|c| {
                wechatpay::serial::from_der_integer(c.tbs_certificate.serial_number.as_bytes())
            })
            .collect();
        identifiers.insert("platform_certificate_serials".into(), serials.join(","));
    }
    ck.public_key("wechatpay_public_key", &c.wechatpay_public_key)?;
    if let Some(id) = &c.wechatpay_public_key_id {
        let ok = id.strip_prefix("PUB_KEY_ID_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !ok {
            return Err(Error::field(
                "wechatpay_public_key_id",
                "must look like PUB_KEY_ID_0114232134912410000000000000",
            ));
        }
        identifiers.insert("wechatpay_public_key_id".into(), id.clone());
    }
    let has_key = c.wechatpay_public_key.is_some();
    if has_key != c.wechatpay_public_key_id.is_some() {
        let field = if has_key {
            "wechatpay_public_key_id"
        } else {
            "wechatpay_public_key"
        };
        return Err(Error::field(
            field,
            "the WeChat Pay public key and its id go together",
        ));
    }
    // Verification needs platform certificates or the public key, but certificates can be
    // downloaded with the private key and the API v3 key, so those two are what is required.
    let missing = ck.missing(&["private_key", "apiv3_key"]);
    Ok(ck.status(missing, None, identifiers, now))
}
