//! What the sandbox keeps under the data directory (`sandbox.json`, the owner's only): the
//! simulators' keys and the secrets the sandbox accounts share with them, and the ids of the
//! accounts it made. Kept so that after a restart the simulators sign and check with the keys
//! the accounts' stored credentials trust, and the same accounts are found again.

use anyhow::Context;
use rsa::RsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file's name under the data directory.
pub const FILE: &str = "sandbox.json";

/// Everything the sandbox keeps. No `Debug`: it holds private keys.
#[derive(Serialize, Deserialize)]
pub struct Kept {
    pub wechatpay: WechatpayKept,
    pub alipay: AlipayKept,
    pub wxmini: WxminiKept,
    /// The bot simulator's token (in the staff bot's webhook URL).
    pub bot_token: String,
    /// Our ids of the accounts the sandbox made, once made.
    #[serde(default)]
    pub accounts: AccountIds,
}

#[derive(Serialize, Deserialize, Default, Clone)]
pub struct AccountIds {
    pub wechatpay: Option<String>,
    pub alipay: Option<String>,
    pub wxmini: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct WechatpayKept {
    /// The platform's certificate key and certificate (PEM), and the certificate's serial.
    pub platform_cert_key: String,
    pub platform_cert: String,
    pub platform_cert_serial: String,
    /// The platform's public-key signing key (PEM) and its id (`PUB_KEY_ID_...`).
    pub platform_pub_key: String,
    pub platform_pub_key_id: String,
    /// The provider's API key (PEM), its certificate serial, and its API v3 key.
    pub merchant_key: String,
    pub merchant_serial_no: String,
    pub apiv3_key: String,
}

#[derive(Serialize, Deserialize)]
pub struct AlipayKept {
    /// Alipay's signing key and its root's key (PEM).
    pub alipay_key: String,
    pub root_key: String,
    /// The app's private key (PEM).
    pub app_key: String,
}

#[derive(Serialize, Deserialize)]
pub struct WxminiKept {
    pub secret: String,
    pub token: String,
    pub encoding_aes_key: String,
}

pub fn pem(key: &RsaPrivateKey) -> anyhow::Result<String> {
    Ok(key.to_pkcs8_pem(LineEnding::LF)?.to_string())
}

pub fn key(pem: &str, what: &str) -> anyhow::Result<RsaPrivateKey> {
    RsaPrivateKey::from_pkcs8_pem(pem)
        .with_context(|| format!("the sandbox's {what} cannot be read"))
}

/// A new 2048-bit RSA key.
pub fn new_key() -> anyhow::Result<RsaPrivateKey> {
    Ok(RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?)
}

impl Kept {
    /// New keys and secrets for every simulator (RSA key generation takes a moment).
    pub fn generate() -> anyhow::Result<Self> {
        let platform = sandbox::wechatpay::PlatformKeys::generate();
        let alipay = sandbox::alipay::AlipayKeys::generate();
        let token = crate::fixtures::hex_token();
        Ok(Self {
            wechatpay: WechatpayKept {
                platform_cert_key: pem(&platform.cert_key)?,
                platform_cert: platform.cert_pem.clone(),
                platform_cert_serial: platform.cert_serial.clone(),
                platform_pub_key: pem(&platform.pub_key)?,
                platform_pub_key_id: platform.pub_key_id.clone(),
                merchant_key: pem(&new_key()?)?,
                merchant_serial_no: token[..40].to_ascii_uppercase(),
                apiv3_key: crate::fixtures::hex_token()[..32].to_string(),
            },
            alipay: AlipayKept {
                alipay_key: pem(&alipay.alipay_key)?,
                root_key: pem(alipay.root_key())?,
                app_key: pem(&new_key()?)?,
            },
            wxmini: WxminiKept {
                secret: crate::fixtures::hex_token()[..32].to_string(),
                token: format!("sandbox{}", &crate::fixtures::hex_token()[..16]),
                // 43 characters of the EncodingAESKey alphabet.
                encoding_aes_key: crate::fixtures::hex_token()[..43].to_string(),
            },
            bot_token: crate::fixtures::hex_token()[..32].to_string(),
            accounts: AccountIds::default(),
        })
    }
}

/// The kept file of `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Read the kept file, or make and write a new one when there is none.
pub fn load_or_create(path: &Path) -> anyhow::Result<Kept> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "{} cannot be read as the sandbox's keys; move it away to start the sandbox afresh (its accounts then need deleting)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let kept = Kept::generate()?;
            save(path, &kept)?;
            Ok(kept)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Write the kept file (the owner's only, `0600`), replacing the old one atomically.
pub fn save(path: &Path, kept: &Kept) -> anyhow::Result<()> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(kept)?;
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_keys_come_back_the_same_and_the_file_is_the_owners_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = path(dir.path());
        let first = load_or_create(&p).unwrap_or_else(|e| panic!("{e:#}"));
        let again = load_or_create(&p).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(first.wechatpay.merchant_key, again.wechatpay.merchant_key);
        assert_eq!(first.alipay.alipay_key, again.alipay.alipay_key);
        assert_eq!(first.wxmini.encoding_aes_key.len(), 43);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p)
                .unwrap_or_else(|e| panic!("{e}"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        key(&again.wechatpay.platform_pub_key, "key").unwrap_or_else(|e| panic!("{e:#}"));
    }
}
