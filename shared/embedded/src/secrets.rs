//! Secrets encrypted with AES-256-GCM under a master key file.

use crate::db::{Db, DbError};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine;
use domain::ports::{SecretError, SecretStore, valid_secret_name};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rusqlite::{OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::path::{Path, PathBuf};

/// The 32-byte master key. Kept in a file (base64), created on first start with mode 0600.
/// Keep it outside the data directory (and its backups) where you can.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("cannot read the master key file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the master key file {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the master key file {path} does not hold a base64 32-byte key (was it edited or truncated?)"
    )]
    Malformed { path: PathBuf },
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self(key)
    }

    /// Load the key at `path`, or create one there if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, MasterKeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(text.trim()).ok_or_else(|| MasterKeyError::Malformed {
                path: path.to_path_buf(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                key.write_new(path)
                    .map_err(|source| MasterKeyError::Create {
                        path: path.to_path_buf(),
                        source,
                    })?;
                Ok(key)
            }
            Err(source) => Err(MasterKeyError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        let key: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(key))
    }

    fn write_new(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(dir) = path.parent() {
            crate::private_dir::create_private_dir(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        let text = base64::engine::general_purpose::STANDARD.encode(self.0);
        file.write_all(format!("{text}\n").as_bytes())?;
        file.sync_all()
    }

    /// A key for another purpose, derived from the master key (HMAC-SHA256 over the label).
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC-SHA256 accepts a key of any length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Secrets in the `secrets` table: AES-256-GCM with a random 96-bit nonce per write and the
/// secret's name as associated data (a ciphertext moved to another name does not decrypt).
#[derive(Clone)]
pub struct SqliteSecretStore {
    db: Db,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SqliteSecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSecretStore")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

struct Se(SecretError);

impl crate::db::SqliteCause for Se {
    fn sqlite_cause(&self) -> Option<&rusqlite::Error> {
        crate::db::find_sqlite(&self.0)
    }
}

impl From<DbError> for Se {
    fn from(e: DbError) -> Self {
        Se(SecretError::Unavailable(Box::new(e)))
    }
}

impl From<rusqlite::Error> for Se {
    fn from(e: rusqlite::Error) -> Self {
        Se(SecretError::Unavailable(Box::new(e)))
    }
}

impl SqliteSecretStore {
    pub fn new(db: Db, key: &MasterKey) -> Self {
        let cipher = Aes256Gcm::new_from_slice(&key.derive("complaint-desk secrets v1"))
            .expect("AES-256 takes a 32-byte key");
        Self { db, cipher }
    }

    fn check(name: &str) -> Result<(), SecretError> {
        if valid_secret_name(name) {
            Ok(())
        } else {
            Err(SecretError::InvalidName(name.to_string()))
        }
    }
}

#[async_trait]
impl SecretStore for SqliteSecretStore {
    async fn get(&self, name: &str) -> Result<Option<SecretString>, SecretError> {
        Self::check(name)?;
        let n = name.to_string();
        let row = self
            .db
            .read(move |conn| {
                Ok::<_, Se>(
                    conn.query_row(
                        "SELECT nonce, ciphertext FROM secrets WHERE name = ?1",
                        params![n],
                        |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)),
                    )
                    .optional()?,
                )
            })
            .await
            .map_err(|e| e.0)?;
        let Some((nonce, ciphertext)) = row else {
            return Ok(None);
        };
        if nonce.len() != 12 {
            return Err(SecretError::Undecryptable(name.to_string()));
        }
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Undecryptable(name.to_string()))?;
        let text =
            String::from_utf8(plain).map_err(|_| SecretError::Undecryptable(name.to_string()))?;
        Ok(Some(SecretString::from(text)))
    }

    async fn put(&self, name: &str, value: SecretString) -> Result<(), SecretError> {
        Self::check(name)?;
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.expose_secret().as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Undecryptable(name.to_string()))?;
        let n = name.to_string();
        self.db
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO secrets (name, nonce, ciphertext, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce,
                        ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                    params![n, nonce.to_vec(), ciphertext, crate::time::now_ms()],
                )?;
                Ok::<_, Se>(())
            })
            .await
            .map_err(|e| e.0)
    }

    async fn delete(&self, name: &str) -> Result<(), SecretError> {
        Self::check(name)?;
        let n = name.to_string();
        self.db
            .write(move |conn| {
                conn.execute("DELETE FROM secrets WHERE name = ?1", params![n])?;
                Ok::<_, Se>(())
            })
            .await
            .map_err(|e| e.0)
    }
}
