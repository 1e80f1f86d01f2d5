//! The blob port of a function built without S3 (feature `blobs` off): the callback functions,
//! the notifier and the scheduler store no evidence, and their roles may not touch the bucket.
//! Every call fails as a store that cannot be reached would, naming the reason.

use async_trait::async_trait;
use domain::ports::{Blob, BlobError, BlobStore};

/// Why a call failed: this function was built without the S3 adapter.
#[derive(Debug, thiserror::Error)]
#[error("this function is built without the S3 blob store (feature `blobs`)")]
pub struct NoBlobStoreError;

/// A [`BlobStore`] that refuses every call with [`NoBlobStoreError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBlobStore;

fn refused() -> BlobError {
    BlobError::Unavailable(Box::new(NoBlobStoreError))
}

#[async_trait]
impl BlobStore for NoBlobStore {
    async fn put(&self, _key: &str, _blob: Blob) -> Result<(), BlobError> {
        Err(refused())
    }
    async fn get(&self, _key: &str) -> Result<Option<Blob>, BlobError> {
        Err(refused())
    }
    async fn delete(&self, _key: &str) -> Result<(), BlobError> {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_is_refused_with_the_reason() {
        let store = NoBlobStore;
        let err = store.get("media/1").await.expect_err("refused");
        let source = std::error::Error::source(&err).expect("a source");
        assert!(
            source.to_string().contains("without the S3 blob store"),
            "{source}"
        );
        assert!(store.delete("media/1").await.is_err());
    }
}
