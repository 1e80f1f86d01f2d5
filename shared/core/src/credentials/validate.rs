//! Validating the credentials a caller sends (the admin API): the input of each credential
//! family (the platforms' account kinds point their credentials check at one of these), the
//! checks on keys, certificates and short secrets, merging with what is stored, and the status
//! that describes the result by fingerprints only. Error messages name the field and never
//! echo a value. Each family is compiled with the platform that uses it.

#![cfg_attr(
    not(all(feature = "alipay", feature = "wechatpay", feature = "wechat")),
    allow(dead_code, unused_imports)
)]

use super::{certs_fingerprint, parse_certificates};
use crate::accounts::CredentialsChange;
use crate::error::{Error, from_value_at};
use crate::fingerprint::{Fingerprinter, sha256_hex};
use chrono::{DateTime, Utc};
use crypto::{PrivateKey, PublicKey};
use domain::Sensitive;
use domain::account::{
    AlipayCredentials, AlipayKeyMode, Credentials, CredentialsStatus, Patch, SecretStatus,
    WechatAppCredentials, WechatpayCredentials,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use x509_cert::Certificate;

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

/// `PUT /accounts/{id}/credentials` for a `wxmini_app` (manual mode) or `wxopen_component`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WechatAppCredentialsInput {
    /// AppSecret (mini program) or component_appsecret.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret: Patch<Sensitive>,
    /// Message push Token (3 to 32 letters or digits).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub token: Patch<Sensitive>,
    /// EncodingAESKey (43 characters).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub encoding_aes_key: Patch<Sensitive>,
}

/// The answer for a key that was refused: its size if that was the problem, else `otherwise`.
/// Never the key itself.
fn key_error(field: &str, e: crypto::KeyError, otherwise: &str) -> Error {
    match e {
        crypto::KeyError::TooSmall => {
            Error::field(field, "must be an RSA key of at least 2048 bits")
        }
        crypto::KeyError::TooLarge => {
            Error::field(field, "must be an RSA key of at most 8192 bits")
        }
        _ => Error::field(field, otherwise),
    }
}

struct Checker<'a> {
    fp: &'a Fingerprinter,
    fields: BTreeMap<String, SecretStatus>,
}

impl Checker<'_> {
    fn private_key(
        &mut self,
        field: &str,
        v: &Option<Sensitive>,
    ) -> Result<Option<PrivateKey>, Error> {
        let Some(v) = v else {
            self.fields.insert(field.into(), SecretStatus::unset());
            return Ok(None);
        };
        let key = PrivateKey::parse(v.expose()).map_err(|e| {
            key_error(
                field,
                e,
                "is not an RSA private key (PKCS#8 or PKCS#1, as PEM or bare base64)",
            )
        })?;
        self.fields.insert(
            field.into(),
            SecretStatus::set(sha256_hex(key.public_key().spki_der())),
        );
        Ok(Some(key))
    }

    fn public_key(&mut self, field: &str, v: &Option<Sensitive>) -> Result<(), Error> {
        let Some(v) = v else {
            self.fields.insert(field.into(), SecretStatus::unset());
            return Ok(());
        };
        let key = PublicKey::parse(v.expose())
            .map_err(|e| key_error(field, e, "is not an RSA public key (PEM or bare base64)"))?;
        self.fields
            .insert(field.into(), SecretStatus::set(sha256_hex(key.spki_der())));
        Ok(())
    }

    fn certificates(
        &mut self,
        field: &str,
        v: &Option<Sensitive>,
    ) -> Result<Option<Vec<Certificate>>, Error> {
        let Some(v) = v else {
            self.fields.insert(field.into(), SecretStatus::unset());
            return Ok(None);
        };
        let certs = parse_certificates(v.expose())
            .ok_or_else(|| Error::field(field, "is not a PEM certificate"))?;
        self.insert_certs(field, &certs)?;
        Ok(Some(certs))
    }

    fn insert_certs(&mut self, field: &str, certs: &[Certificate]) -> Result<(), Error> {
        let fingerprint =
            certs_fingerprint(certs).ok_or_else(|| Error::field(field, "cannot be encoded"))?;
        self.fields.insert(
            field.into(),
            SecretStatus {
                set: true,
                fingerprint: Some(fingerprint),
                count: Some(certs.len()),
            },
        );
        Ok(())
    }

    fn short(
        &mut self,
        field: &str,
        v: &Option<Sensitive>,
        check: impl Fn(&str) -> Result<(), &'static str>,
    ) -> Result<(), Error> {
        let Some(v) = v else {
            self.fields.insert(field.into(), SecretStatus::unset());
            return Ok(());
        };
        check(v.expose()).map_err(|m| Error::field(field, m))?;
        self.fields
            .insert(field.into(), SecretStatus::set(self.fp.short(v.expose())));
        Ok(())
    }
}

/// Checks for short secrets, shared with the notification settings.
pub mod rules {
    pub fn apiv3_key(v: &str) -> Result<(), &'static str> {
        if v.len() == 32 && v.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(())
        } else {
            Err("must be the 32-character API v3 key")
        }
    }

    pub fn app_secret(v: &str) -> Result<(), &'static str> {
        if !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(())
        } else {
            Err("must be 1 to 128 printable ASCII characters")
        }
    }

    pub fn push_token(v: &str) -> Result<(), &'static str> {
        if (3..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(())
        } else {
            Err("must be 3 to 32 letters or digits")
        }
    }

    #[cfg(feature = "wechat")]
    pub fn encoding_aes_key(v: &str) -> Result<(), &'static str> {
        let ok = wechat::crypt::aes_key(v).is_ok();
        if ok {
            Ok(())
        } else {
            Err("must be the 43-character EncodingAESKey")
        }
    }
}

fn object(body: &serde_json::Value) -> Result<(), Error> {
    if body.is_object() {
        Ok(())
    } else {
        Err(Error::Invalid {
            field: None,
            message: "credentials must be a JSON object".into(),
        })
    }
}

/// Alipay app keys ([`AlipayCredentialsInput`]) merged into the stored bundle, checked and
/// described.
#[cfg(feature = "alipay")]
pub fn alipay(change: CredentialsChange<'_>) -> Result<(Credentials, CredentialsStatus), Error> {
    object(&change.body)?;
    let input: AlipayCredentialsInput = from_value_at("", change.body)?;
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

/// WeChat Pay API v3 keys ([`WechatpayCredentialsInput`]) merged into the stored bundle,
/// checked and described.
#[cfg(feature = "wechatpay")]
pub fn wechatpay(change: CredentialsChange<'_>) -> Result<(Credentials, CredentialsStatus), Error> {
    object(&change.body)?;
    let input: WechatpayCredentialsInput = from_value_at("", change.body)?;
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

/// A WeChat app's secret, push token and EncodingAESKey ([`WechatAppCredentialsInput`])
/// merged into the stored bundle, checked and described.
#[cfg(feature = "wechat")]
pub fn wechat_app(
    change: CredentialsChange<'_>,
) -> Result<(Credentials, CredentialsStatus), Error> {
    object(&change.body)?;
    let input: WechatAppCredentialsInput = from_value_at("", change.body)?;
    let old = match change.existing {
        Some(Credentials::WechatApp(c)) => c,
        _ => WechatAppCredentials::default(),
    };
    let merged = WechatAppCredentials {
        secret: input.secret.apply(old.secret),
        token: input.token.apply(old.token),
        encoding_aes_key: input.encoding_aes_key.apply(old.encoding_aes_key),
    };
    let status = describe_wechat_app(&merged, change.fingerprints, change.now)?;
    Ok((Credentials::WechatApp(merged), status))
}

/// The status of credentials none of which is set yet: `required` is what is missing.
pub fn nothing_set(required: &[&str]) -> CredentialsStatus {
    CredentialsStatus {
        complete: required.is_empty(),
        missing: required.iter().map(|f| f.to_string()).collect(),
        ..CredentialsStatus::default()
    }
}

fn missing(fields: &BTreeMap<String, SecretStatus>, required: &[&str]) -> Vec<String> {
    required
        .iter()
        .filter(|f| !fields.get(**f).is_some_and(|s| s.set))
        .map(|f| f.to_string())
        .collect()
}

#[cfg(feature = "alipay")]
fn describe_alipay(
    c: &AlipayCredentials,
    fp: &Fingerprinter,
    now: DateTime<Utc>,
) -> Result<CredentialsStatus, Error> {
    let mut ck = Checker {
        fp,
        fields: BTreeMap::new(),
    };
    let private = ck.private_key("app_private_key", &c.app_private_key)?;
    let app_cert = ck.certificates("app_cert", &c.app_cert)?;
    ck.certificates("alipay_cert", &c.alipay_cert)?;
    ck.certificates("alipay_root_cert", &c.alipay_root_cert)?;
    ck.public_key("alipay_public_key", &c.alipay_public_key)?;
    if let (Some(key), Some(certs)) = (&private, &app_cert) {
        let mine = key.public_key().spki_der();
        if super::cert_spki_der(&certs[0]).as_deref() != Some(mine) {
            return Err(Error::field(
                "app_cert",
                "does not certify the public key of app_private_key (a key and certificate from different apps?)",
            ));
        }
    }
    let mut missing_fields = match c.mode {
        None => vec!["mode".to_string()],
        Some(AlipayKeyMode::Certificate) => missing(
            &ck.fields,
            &[
                "app_private_key",
                "app_cert",
                "alipay_cert",
                "alipay_root_cert",
            ],
        ),
        Some(AlipayKeyMode::PublicKey) => {
            missing(&ck.fields, &["app_private_key", "alipay_public_key"])
        }
    };
    missing_fields.sort();
    Ok(CredentialsStatus {
        complete: missing_fields.is_empty(),
        mode: c.mode.map(|m| m.as_str().to_string()),
        identifiers: BTreeMap::new(),
        fields: ck.fields,
        missing: missing_fields,
        updated_at: Some(now),
    })
}

#[cfg(feature = "wechatpay")]
fn describe_wechatpay(
    c: &WechatpayCredentials,
    fp: &Fingerprinter,
    now: DateTime<Utc>,
) -> Result<CredentialsStatus, Error> {
    let mut ck = Checker {
        fp,
        fields: BTreeMap::new(),
    };
    ck.private_key("private_key", &c.private_key)?;
    ck.short("apiv3_key", &c.apiv3_key, rules::apiv3_key)?;
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
    let mut missing_fields = missing(&ck.fields, &["private_key", "apiv3_key"]);
    missing_fields.sort();
    Ok(CredentialsStatus {
        complete: missing_fields.is_empty(),
        mode: None,
        identifiers,
        fields: ck.fields,
        missing: missing_fields,
        updated_at: Some(now),
    })
}

#[cfg(feature = "wechat")]
fn describe_wechat_app(
    c: &WechatAppCredentials,
    fp: &Fingerprinter,
    now: DateTime<Utc>,
) -> Result<CredentialsStatus, Error> {
    let mut ck = Checker {
        fp,
        fields: BTreeMap::new(),
    };
    ck.short("secret", &c.secret, rules::app_secret)?;
    ck.short("token", &c.token, rules::push_token)?;
    ck.short(
        "encoding_aes_key",
        &c.encoding_aes_key,
        rules::encoding_aes_key,
    )?;
    let missing_fields = missing(&ck.fields, &["encoding_aes_key", "secret", "token"]);
    Ok(CredentialsStatus {
        complete: missing_fields.is_empty(),
        mode: None,
        identifiers: BTreeMap::new(),
        fields: ck.fields,
        missing: missing_fields,
        updated_at: Some(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "wechat")]
    fn wechat_sample_encoding_aes_key_is_accepted() {
        // From WeChat's WXBizMsgCrypt sample: its last character carries non-zero spare bits.
        assert!(rules::encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").is_ok());
        assert!(rules::encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF").is_err());
        assert!(rules::encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDE!G").is_err());
    }
}
