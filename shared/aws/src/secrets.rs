//! Secrets Manager: the SecretStore port. One secret per name under a deployment prefix, read
//! through an in-memory cache with a time-to-live (Lambda containers live for minutes to hours,
//! and every platform call needs a key).

use crate::boxed::boxed;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use domain::ports::{SecretError, SecretStore, valid_secret_name};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct SecretsManagerStore {
    client: Client,
    /// Prepended to every name (e.g. `complaint-desk/`); IAM policies are scoped to it.
    prefix: String,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Option<SecretString>, Instant)>>,
}

impl std::fmt::Debug for SecretsManagerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerStore")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> SecretError {
    SecretError::Unavailable(boxed(e))
}

/// Secrets Manager's answer for a name whose secret is scheduled for deletion.
fn scheduled_for_deletion(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("InvalidRequestException")
        && message.is_some_and(|m| m.contains("deleted") || m.contains("deletion"))
}

impl SecretsManagerStore {
    pub fn new(client: Client, prefix: impl Into<String>, ttl: Duration) -> Self {
        Self {
            client,
            prefix: prefix.into(),
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn id(&self, name: &str) -> Result<String, SecretError> {
        let id = format!("{}{name}", self.prefix);
        if valid_secret_name(name) && valid_secret_name(&id) {
            Ok(id)
        } else {
            Err(SecretError::InvalidName(name.to_string()))
        }
    }

    fn remember(&self, name: &str, value: Option<SecretString>) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), (value, Instant::now()));
    }

    fn cached(&self, name: &str) -> Option<Option<SecretString>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(name)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    async fn create(&self, id: &str, value: &SecretString) -> Result<(), SecretError> {
        let res = self
            .client
            .create_secret()
            .name(id)
            .secret_string(value.expose_secret())
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                let (code, msg) = e
                    .as_service_error()
                    .map(|s| (s.meta().code(), s.meta().message()))
                    .unwrap_or((None, None));
                if scheduled_for_deletion(code, msg) {
                    // The name is still taken by a secret pending deletion: bring it back and
                    // overwrite it.
                    self.client
                        .restore_secret()
                        .secret_id(id)
                        .send()
                        .await
                        .map_err(unavailable)?;
                    self.client
                        .put_secret_value()
                        .secret_id(id)
                        .secret_string(value.expose_secret())
                        .send()
                        .await
                        .map_err(unavailable)?;
                    Ok(())
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, name: &str) -> Result<Option<SecretString>, SecretError> {
        self.id(name)?;
        if let Some(v) = self.cached(name) {
            return Ok(v);
        }
        self.get_fresh(name).await
    }

    async fn get_fresh(&self, name: &str) -> Result<Option<SecretString>, SecretError> {
        let id = self.id(name)?;
        let value = match self.client.get_secret_value().secret_id(&id).send().await {
            Ok(out) => out.secret_string.map(SecretString::from),
            Err(e) => {
                let svc = e.as_service_error();
                let gone = svc.is_some_and(|s| s.is_resource_not_found_exception())
                    || svc.is_some_and(|s| {
                        scheduled_for_deletion(s.meta().code(), s.meta().message())
                    });
                if gone {
                    None
                } else {
                    return Err(unavailable(e));
                }
            }
        };
        self.remember(name, value.clone());
        Ok(value)
    }

    async fn put(&self, name: &str, value: SecretString) -> Result<(), SecretError> {
        let id = self.id(name)?;
        // Look first: a secret pending deletion must be restored before it takes a value
        // (Secrets Manager refuses the write; moto accepts it but keeps the secret deleted).
        let state = match self.client.describe_secret().secret_id(&id).send().await {
            Ok(d) => Some(d.deleted_date.is_some()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => return Err(unavailable(e)),
        };
        match state {
            None => self.create(&id, &value).await?,
            Some(pending_deletion) => {
                if pending_deletion {
                    self.client
                        .restore_secret()
                        .secret_id(&id)
                        .send()
                        .await
                        .map_err(unavailable)?;
                }
                self.client
                    .put_secret_value()
                    .secret_id(&id)
                    .secret_string(value.expose_secret())
                    .send()
                    .await
                    .map_err(unavailable)?;
            }
        }
        self.remember(name, Some(value));
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), SecretError> {
        let id = self.id(name)?;
        let res = self
            .client
            .delete_secret()
            .secret_id(&id)
            .force_delete_without_recovery(true)
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(unavailable(e)),
        }
        self.remember(name, None);
        Ok(())
    }
}
