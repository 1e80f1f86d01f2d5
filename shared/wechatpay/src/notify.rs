//! The notification envelope shared by every API v3 callback.

use serde::{Deserialize, Serialize};

/// `{"id","create_time","resource_type","event_type","summary","resource":{...}}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The notification id (idempotency key), up to 36 characters.
    pub id: String,
    /// Kept as sent: a sample in the violation docs is not RFC 3339.
    #[serde(default)]
    pub create_time: String,
    #[serde(default)]
    pub resource_type: String,
    pub event_type: String,
    #[serde(default)]
    pub summary: String,
    pub resource: Resource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub algorithm: String,
    pub ciphertext: String,
    pub nonce: String,
    /// Used verbatim; may be empty.
    #[serde(default)]
    pub associated_data: String,
    #[serde(default)]
    pub original_type: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("the body is not a notification envelope: {0}")]
    Malformed(String),
    #[error("unsupported algorithm {0}")]
    Algorithm(String),
    #[error(transparent)]
    Decrypt(#[from] crate::aead::AeadError),
}

impl Envelope {
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        serde_json::from_slice(body).map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }

    /// Decrypt the resource with the API v3 key; the plaintext is JSON.
    pub fn decrypt(&self, apiv3_key: &[u8]) -> Result<String, EnvelopeError> {
        if self.resource.algorithm != "AEAD_AES_256_GCM" {
            return Err(EnvelopeError::Algorithm(self.resource.algorithm.clone()));
        }
        Ok(crate::aead::decrypt(
            apiv3_key,
            &self.resource.nonce,
            &self.resource.associated_data,
            &self.resource.ciphertext,
        )?)
    }
}
