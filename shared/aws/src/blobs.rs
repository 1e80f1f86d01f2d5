//! S3 blobs: the BlobStore port.

use crate::boxed::boxed;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use domain::ports::{Blob, BlobError, BlobStore, valid_blob_key};

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
    /// Key prefix inside the bucket (e.g. `blobs/`).
    prefix: String,
}

impl S3BlobStore {
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    fn key(&self, key: &str) -> Result<String, BlobError> {
        if valid_blob_key(key) {
            Ok(format!("{}{key}", self.prefix))
        } else {
            Err(BlobError::InvalidKey(key.to_string()))
        }
    }
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> BlobError {
    BlobError::Unavailable(boxed(e))
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, blob: Blob) -> Result<(), BlobError> {
        let key = self.key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(blob.content_type)
            .body(ByteStream::from(blob.bytes))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        let key = self.key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        let content_type = out
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let bytes = out
            .body
            .collect()
            .await
            .map_err(unavailable)?
            .into_bytes()
            .to_vec();
        Ok(Some(Blob {
            bytes,
            content_type,
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let key = self.key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
