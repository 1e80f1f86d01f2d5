//! Blobs as files under a folder.

use async_trait::async_trait;
use domain::ports::{Blob, BlobError, BlobStore, valid_blob_key};
use std::path::{Path, PathBuf};

/// Each blob is `<root>/data/<key>` with its content type in `<root>/meta/<key>`; writes go to
/// a temporary file, are synced, then renamed into place. Folders are created `0700`, files
/// `0600`.
#[derive(Debug, Clone)]
pub struct FileBlobStore {
    root: PathBuf,
}

impl FileBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn paths(&self, key: &str) -> Result<(PathBuf, PathBuf), BlobError> {
        if !valid_blob_key(key) {
            return Err(BlobError::InvalidKey(key.to_string()));
        }
        Ok((
            self.root.join("data").join(key),
            self.root.join("meta").join(key),
        ))
    }
}

fn io(e: std::io::Error) -> BlobError {
    BlobError::Unavailable(Box::new(e))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::private_dir::create_private_dir(dir)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        // The owner's only from creation (blobs are evidence images from buyers).
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[async_trait]
impl BlobStore for FileBlobStore {
    async fn put(&self, key: &str, blob: Blob) -> Result<(), BlobError> {
        let (data, meta) = self.paths(key)?;
        tokio::task::spawn_blocking(move || {
            write_atomically(&meta, blob.content_type.as_bytes())?;
            write_atomically(&data, &blob.bytes)
        })
        .await
        .map_err(|e| BlobError::Unavailable(Box::new(e)))?
        .map_err(io)
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        let (data, meta) = self.paths(key)?;
        tokio::task::spawn_blocking(move || {
            let bytes = match std::fs::read(&data) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let content_type = std::fs::read_to_string(&meta)
                .unwrap_or_else(|_| "application/octet-stream".to_string());
            Ok(Some(Blob {
                bytes,
                content_type,
            }))
        })
        .await
        .map_err(|e| BlobError::Unavailable(Box::new(e)))?
        .map_err(io)
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let (data, meta) = self.paths(key)?;
        tokio::task::spawn_blocking(move || {
            remove_if_present(&data)?;
            remove_if_present(&meta)
        })
        .await
        .map_err(|e| BlobError::Unavailable(Box::new(e)))?
        .map_err(io)
    }
}
