//! E-mail over SMTP with lettre: implicit TLS (465, 163 Mail), STARTTLS, or none (a local
//! relay); AUTH with the mailbox's authorisation code; a plain-text and an HTML part.

use crate::{Notice, SendError};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

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
    /// The authorisation code (授权码), not the web password.
    pub password: String,
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
            .finish_non_exhaustive()
    }
}

fn smtp_error(e: lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() {
        let code = e.status().map(|c| c.to_string()).unwrap_or_default();
        SendError::Refused {
            service: "SMTP server",
            code,
            message: e.to_string(),
            retryable: false,
        }
    } else if e.is_transient() {
        let code = e.status().map(|c| c.to_string()).unwrap_or_default();
        SendError::Refused {
            service: "SMTP server",
            code,
            message: e.to_string(),
            retryable: true,
        }
    } else {
        SendError::Transport {
            service: "SMTP server",
            detail: e.to_string(),
        }
    }
}

/// Send `notice` to `recipients` in one message.
pub async fn send(
    cfg: &SmtpConfig,
    recipients: &[String],
    notice: &Notice,
) -> Result<(), SendError> {
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
    let message = b
        .multipart(MultiPart::alternative_plain_html(
            notice.text(),
            notice.html(),
        ))
        .map_err(|e| SendError::Invalid(e.to_string()))?;
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
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
        .port(cfg.port)
        .tls(tls)
        .credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()))
        .timeout(Some(std::time::Duration::from_secs(15)))
        .build();
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(smtp_error)
}
