//! Checking the credentials a caller sends (the admin API), written once for every platform:
//! reading a credentials body ([`read_input`]), the checks on keys, certificates and short
//! secrets ([`Checker`]), and the status that describes the result by fingerprints only. Each
//! platform's account kinds bring their own input type and rules (`platforms/<name>/credentials.rs`)
//! and build on these. Error messages name the field and never echo a value.

use super::{certs_fingerprint, parse_certificates};
use crate::error::{Error, from_value_at};
use crate::fingerprint::{Fingerprinter, sha256_hex};
use chrono::{DateTime, Utc};
use crypto::{PrivateKey, PublicKey};
use domain::Sensitive;
use domain::account::{CredentialsStatus, SecretStatus};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use x509_cert::Certificate;

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

/// Checks the fields of a credential bundle one by one and records what each is (set or not,
/// and a fingerprint: never the value); [`Checker::status`] describes the bundle.
pub struct Checker<'a> {
    fp: &'a Fingerprinter,
    /// What was recorded, by field name.
    pub fields: BTreeMap<String, SecretStatus>,
}

impl<'a> Checker<'a> {
    pub fn new(fp: &'a Fingerprinter) -> Self {
        Self {
            fp,
            fields: BTreeMap::new(),
        }
    }

    /// An RSA private key (PKCS#8 or PKCS#1, PEM or bare base64), fingerprinted by its public
    /// key.
    pub fn private_key(
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

    /// An RSA public key (PEM or bare base64).
    pub fn public_key(&mut self, field: &str, v: &Option<Sensitive>) -> Result<(), Error> {
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

    /// PEM certificates (one or a bundle).
    pub fn certificates(
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

    /// Record certificates read already under `field`.
    pub fn insert_certs(&mut self, field: &str, certs: &[Certificate]) -> Result<(), Error> {
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

    /// A short secret (an API key, a token) checked by `check`, fingerprinted with the
    /// installation key.
    pub fn short(
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

    /// Which of `required` are not set, sorted.
    pub fn missing(&self, required: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = required
            .iter()
            .filter(|f| !self.fields.get(**f).is_some_and(|s| s.set))
            .map(|f| f.to_string())
            .collect();
        out.sort();
        out
    }

    /// The status of the bundle checked: what was recorded, `missing` (complete when none),
    /// the key mode and identifiers it has, changed `now`.
    pub fn status(
        self,
        missing: Vec<String>,
        mode: Option<String>,
        identifiers: BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> CredentialsStatus {
        CredentialsStatus {
            complete: missing.is_empty(),
            mode,
            identifiers,
            fields: self.fields,
            missing,
            updated_at: Some(now),
        }
    }
}

/// Checks for short secrets, shared with the notification settings.
pub mod rules {
    /// A WeChat AppSecret (mini program, third-party platform, official account).
    pub fn app_secret(v: &str) -> Result<(), &'static str> {
        if !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(())
        } else {
            Err("must be 1 to 128 printable ASCII characters")
        }
    }
}

/// A credentials body read as the kind's input type `T`: a JSON object, fields named without
/// a prefix (`app_private_key`).
pub fn read_input<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, Error> {
    if !body.is_object() {
        return Err(Error::Invalid {
            field: None,
            message: "credentials must be a JSON object".into(),
        });
    }
    from_value_at("", body)
}

/// The status of credentials none of which is set yet: `required` is what is missing.
pub fn nothing_set(required: &[&str]) -> CredentialsStatus {
    CredentialsStatus {
        complete: required.is_empty(),
        missing: required.iter().map(|f| f.to_string()).collect(),
        ..CredentialsStatus::default()
    }
}
