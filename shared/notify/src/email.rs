//! E-mail over SMTP with lettre: implicit TLS (465, 163 Mail), STARTTLS, or none (a local
//! relay); AUTH with the mailbox's authorisation code, or no AUTH at all without one; a
//! plain-text and an HTML part. Settings that cannot work fail for good, naming the cause.

use crate::SendError;
use crate::channel::{Channel, Outgoing, Results, all_ok};
use crate::error::{SMTP_AUTH_REFUSED, SMTP_AUTH_REQUIRED, SMTP_CERTIFICATE, SMTP_NO_AUTH_OFFERED};
use crate::message::Render;
use async_trait::async_trait;
use domain::notification::NotificationSummary;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Implicit,
    Starttls,
    None,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// The login (163 Mail: the full address, equal to `sender`).
    pub username: String,
    /// The authorisation code (授权码), not the web password. `None`: no AUTH at all (a relay
    /// that needs no login, e.g. on the same host).
    pub password: Option<String>,
    pub sender: String,
    /// Extra trusted roots (PEM) for a server with a private CA.
    pub extra_roots_pem: Option<String>,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("login", &self.password.is_some())
            .finish_non_exhaustive()
    }
}

/// Why the server's certificate was not accepted, if that is what failed: the handshake's
/// rustls error sits inside an `io::Error` somewhere in the chain.
fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(err) = next {
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static));
        for candidate in [Some(err), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(why)) =
                candidate.downcast_ref::<rustls::Error>()
            {
                return Some(format!("{why:?}"));
            }
        }
        next = inner.map_or_else(|| err.source(), |i| i.source());
    }
    None
}

fn misconfigured(reason: String, e: lettre::transport::smtp::Error) -> SendError {
    SendError::Misconfigured {
        reason,
        source: Box::new(e),
    }
}

/// Classify a failed send. Settings that cannot work (authentication refused or not offered,
/// certificate not trusted, STARTTLS missing) are permanent and say so; a server that cannot
/// be reached or answers 4xx is worth trying again.
fn smtp_error(e: lettre::transport::smtp::Error, login: bool) -> SendError {
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    // lettre keeps the server's reply text as the source.
    let reply = std::error::Error::source(&e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    if let Some(why) = certificate_problem(&e) {
        return misconfigured(
            format!(
                "{SMTP_CERTIFICATE} ({why}): the SMTP server's certificate does not verify for this host; give its CA as tls_root_pem or use the host name the certificate names"
            ),
            e,
        );
    }
    if e.is_client() && reply.contains("authentication mechanism") {
        return misconfigured(
            format!(
                "{SMTP_NO_AUTH_OFFERED} (no AUTH PLAIN or LOGIN) but an auth_code is set: remove the auth_code for a relay without login, or use TLS if the server offers AUTH only over TLS"
            ),
            e,
        );
    }
    if e.is_client() {
        return misconfigured(
            format!("the SMTP server does not work with these settings: {reply}"),
            e,
        );
    }
    if e.is_permanent() && login && matches!(code.as_str(), "535" | "534" | "538") {
        return misconfigured(
            format!(
                "{SMTP_AUTH_REFUSED} ({code} {reply}): check the username and auth_code (163 Mail: the authorisation code, not the web password)"
            ),
            e,
        );
    }
    if e.is_permanent() && !login && code == "530" {
        return misconfigured(
            format!("{SMTP_AUTH_REQUIRED} ({code} {reply}): set an auth_code"),
            e,
        );
    }
    if e.is_permanent() || e.is_transient() {
        return SendError::Refused {
            service: "SMTP server",
            code,
            message: e.to_string(),
            retryable: e.is_transient(),
        };
    }
    SendError::Transport {
        service: "SMTP server",
        detail: e.to_string(),
    }
}

/// Send `notice` to `recipients` in one message, over a connection of its own.
pub async fn send(
    cfg: &SmtpConfig,
    recipients: &[String],
    notice: &NotificationSummary,
) -> Result<(), SendError> {
    let message = message(cfg, recipients, notice)?;
    transport(cfg, false)?
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| smtp_error(e, cfg.password.is_some()))
}

/// Open SMTP connections kept per server and login, so that a burst of mails to one server
/// reuses a few logged-in connections instead of a TCP connect, TLS handshake and AUTH per
/// mail. An idle connection is checked (NOOP) before reuse and closed after a while.
#[derive(Default)]
pub struct Mailer {
    transports: std::sync::Mutex<HashMap<[u8; 32], AsyncSmtpTransport<Tokio1Executor>>>,
}

/// Connections kept open per server and login.
const POOL_SIZE: u32 = 8;
/// An unused connection is closed after this long (servers drop idle clients after a minute
/// or more).
const POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(30);
/// At most this many servers are remembered; then the oldest set is dropped.
const POOL_SERVERS: usize = 64;

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Send `notice` to `recipients` in one message, on a kept connection to the server.
    pub async fn send(
        &self,
        cfg: &SmtpConfig,
        recipients: &[String],
        notice: &NotificationSummary,
    ) -> Result<(), SendError> {
        let message = message(cfg, recipients, notice)?;
        let key = config_key(cfg);
        let kept = self
            .transports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let transport = match kept {
            Some(t) => t,
            None => {
                let t = transport(cfg, true)?;
                let mut map = self.transports.lock().unwrap_or_else(|e| e.into_inner());
                if map.len() >= POOL_SERVERS {
                    map.clear();
                }
                map.entry(key).or_insert(t).clone()
            }
        };
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| smtp_error(e, cfg.password.is_some()))
    }
}

/// The e-mail channel: one message to all the delivery's recipients, on a kept connection of
/// the [`Mailer`].
pub struct EmailChannel<'a> {
    pub mailer: &'a Mailer,
    pub config: SmtpConfig,
}

impl std::fmt::Debug for EmailChannel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Channel for EmailChannel<'_> {
    async fn send(&self, message: &Outgoing<'_>) -> Result<Results, SendError> {
        self.mailer
            .send(&self.config, message.recipients, message.notice)
            .await?;
        Ok(all_ok(message.recipients))
    }
}

/// What identifies a server and login: a digest, so the map holds no password in clear.
fn config_key(cfg: &SmtpConfig) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let security = match cfg.security {
        Security::Implicit => "implicit",
        Security::Starttls => "starttls",
        Security::None => "none",
    };
    for part in [
        cfg.host.as_str(),
        &cfg.port.to_string(),
        security,
        &cfg.username,
        cfg.password.as_deref().unwrap_or("\u{0}none"),
        cfg.extra_roots_pem.as_deref().unwrap_or(""),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

fn message(
    cfg: &SmtpConfig,
    recipients: &[String],
    notice: &NotificationSummary,
) -> Result<Message, SendError> {
    let from: Mailbox = cfg
        .sender
        .parse()
        .map_err(|e| SendError::Invalid(format!("sender address: {e}")))?;
    let mut b = Message::builder().from(from).subject(notice.title());
    if recipients.is_empty() {
        return Err(SendError::Invalid("no recipients".into()));
    }
    for r in recipients {
        b = b.to(r
            .parse()
            .map_err(|e| SendError::Invalid(format!("recipient {r}: {e}")))?);
    }
    b.multipart(MultiPart::alternative_plain_html(
        notice.text(),
        notice.html(),
    ))
    .map_err(|e| SendError::Invalid(e.to_string()))
}

/// A transport for `cfg`; `pooled` keeps connections open between sends.
fn transport(
    cfg: &SmtpConfig,
    pooled: bool,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let tls = if cfg.security == Security::None {
        Tls::None
    } else {
        let mut p = TlsParameters::builder(cfg.host.clone());
        if let Some(pem) = &cfg.extra_roots_pem {
            let cert = Certificate::from_pem(pem.as_bytes())
                .map_err(|e| SendError::Invalid(format!("extra root certificate: {e}")))?;
            p = p.add_root_certificate(cert);
        }
        let p = p
            .build_rustls()
            .map_err(|e| SendError::Invalid(format!("TLS: {e}")))?;
        match cfg.security {
            Security::Implicit => Tls::Wrapper(p),
            _ => Tls::Required(p),
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
        .port(cfg.port)
        .tls(tls)
        .timeout(Some(std::time::Duration::from_secs(15)));
    // No authorisation code, no AUTH: a relay that needs no login.
    if let Some(password) = &cfg.password {
        builder = builder.credentials(Credentials::new(cfg.username.clone(), password.clone()));
    }
    builder = if pooled {
        builder.pool_config(
            PoolConfig::new()
                .max_size(POOL_SIZE)
                .idle_timeout(POOL_IDLE),
        )
    } else {
        builder.pool_config(PoolConfig::new().max_size(0))
    };
    Ok(builder.build())
}
