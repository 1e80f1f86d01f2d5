//! The credentials of a WeChat app of the mini-program platform (a mini program in manual mode,
//! our third-party platform): what `PUT /accounts/{id}/credentials` takes
//! ([`WechatAppCredentialsInput`]) and how it is checked and described ([`credentials`]).

use crate::accounts::CredentialsChange;
use crate::credentials::validate::rules::app_secret;
use crate::credentials::validate::{Checker, read_input};
use crate::error::Error;
use crate::fingerprint::Fingerprinter;
use chrono::{DateTime, Utc};
use domain::Sensitive;
use domain::account::{Credentials, CredentialsStatus, Patch, WechatAppCredentials};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The message push Token: 3 to 32 letters or digits.
pub fn push_token(v: &str) -> Result<(), &'static str> {
    if (3..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err("must be 3 to 32 letters or digits")
    }
}

/// The EncodingAESKey: 43 characters of base64 (WeChat's sample ends in a character with
/// non-zero spare bits, so it is read as WeChat reads it).
pub fn encoding_aes_key(v: &str) -> Result<(), &'static str> {
    if wechat::crypt::aes_key(v).is_ok() {
        Ok(())
    } else {
        Err("must be the 43-character EncodingAESKey")
    }
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

/// A WeChat app's secret, push token and EncodingAESKey ([`WechatAppCredentialsInput`])
/// merged into the stored bundle, checked and described.
pub fn credentials(
    change: CredentialsChange<'_>,
) -> Result<(Credentials, CredentialsStatus), Error> {
    let input: WechatAppCredentialsInput = read_input(change.body)?;
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

fn describe_wechat_app(
    c: &WechatAppCredentials,
    fp: &Fingerprinter,
    now: DateTime<Utc>,
) -> Result<CredentialsStatus, Error> {
    let mut ck = Checker::new(fp);
    ck.short("secret", &c.secret, app_secret)?;
    ck.short("token", &c.token, push_token)?;
    ck.short("encoding_aes_key", &c.encoding_aes_key, encoding_aes_key)?;
    let missing = ck.missing(&["encoding_aes_key", "secret", "token"]);
    Ok(ck.status(missing, None, BTreeMap::new(), now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wechat_sample_encoding_aes_key_is_accepted() {
        // From WeChat's WXBizMsgCrypt sample: its last character carries non-zero spare bits.
        assert!(encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").is_ok());
        assert!(encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF").is_err());
        assert!(encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDE!G").is_err());
    }
}
