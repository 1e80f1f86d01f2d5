//! Test support: the real router over the embedded adapters in a temp dir.
#![allow(dead_code)]

pub mod console;
pub mod counting;
pub mod metrics;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use desk_core::fingerprint::Fingerprinter;
use desk_core::{Ports, Services};
use desk_http::AppState;
use desk_http::auth::AdminAuth;
use domain::clock::SystemClock;
use embedded::{
    Db, FileBlobStore, MasterKey, QueueSettings, SqliteQueue, SqliteRecordStore, SqliteSecretStore,
};
use http_body_util::BodyExt;
use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

pub const ADMIN: &str = "test-admin-token-0123456789";

pub struct Harness {
    pub state: AppState,
    pub router: axum::Router,
    pub db: Db,
    pub dir: tempfile::TempDir,
}

pub fn harness() -> Harness {
    harness_with(None)
}

/// A harness whose `PUBLIC_BASE_URL` is `public_base_url`.
pub fn harness_with(public_base_url: Option<&str>) -> Harness {
    harness_over(public_base_url, |p| p)
}

/// A harness whose ports are the embedded adapters as `wrap` decorates them.
pub fn harness_over(public_base_url: Option<&str>, wrap: impl FnOnce(Ports) -> Ports) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path().join("desk.db")).expect("db");
    let master = MasterKey::generate();
    let queue_settings = QueueSettings {
        poll_interval: std::time::Duration::from_millis(50),
        ..QueueSettings::default()
    };
    let ports = Ports {
        records: Arc::new(SqliteRecordStore::new(db.clone())),
        inbox: Arc::new(embedded::SqliteInbox::new(db.clone(), &queue_settings)),
        queue: Arc::new(SqliteQueue::new(db.clone(), queue_settings)),
        blobs: Arc::new(FileBlobStore::new(dir.path().join("blobs"))),
        secrets: Arc::new(SqliteSecretStore::new(db.clone(), &master)),
        clock: Arc::new(SystemClock),
    };
    let state = AppState::new(
        Services::new(wrap(ports), Fingerprinter::new(master.derive("fp")))
            .with_public_base_url(public_base_url.map(|u| u.parse().expect("url"))),
        AdminAuth::from_hash(desk_http::auth::hash(ADMIN)),
    )
    .with_platforms(desk_core::platforms::builtin());
    let router = desk_http::router::router(state.clone());
    Harness {
        state,
        router,
        db,
        dir,
    }
}

/// A harness whose router is served on a loopback port (its base URL, also its
/// `PUBLIC_BASE_URL`), after `configure` adjusted the state; serving stops with the token.
pub async fn served(
    configure: impl FnOnce(&mut AppState),
) -> (Harness, String, desk_core::worker::CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let mut h = harness_with(Some(&format!("{base}/")));
    configure(&mut h.state);
    h.router = desk_http::router::router(h.state.clone());
    let stop = desk_core::worker::CancellationToken::new();
    tokio::spawn(desk_http::server::serve_default(
        listener,
        h.router.clone(),
        stop.clone(),
    ));
    (h, base, stop)
}

/// Run the worker loop on `queue` (every job handler; fast retries) until `stop`.
pub fn spawn_worker(h: &Harness, queue: &str, stop: &desk_core::worker::CancellationToken) {
    use desk_core::worker::{RetryPolicy, WorkerSettings};
    let registry = Arc::new(desk_core::policy::registry(&h.state, h.state.platforms()));
    tokio::spawn(desk_core::worker::run(
        h.state.ports.queue.clone(),
        registry,
        WorkerSettings {
            concurrency: 2,
            wait: std::time::Duration::from_millis(200),
            retry: RetryPolicy {
                max_attempts: 4,
                base_delay: std::time::Duration::from_millis(200),
                max_delay: std::time::Duration::from_secs(1),
            },
            ..WorkerSettings::for_queue(queue)
        },
        stop.clone(),
    ));
}

impl Harness {
    /// Send a request; returns the status and the JSON body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, bytes) = self
            .raw(
                method,
                path,
                token,
                body.map(|b| b.to_string()),
                "application/json",
            )
            .await;
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, json)
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        content_type: &str,
    ) -> (StatusCode, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header("content-type", content_type).body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let res = self.router.clone().oneshot(req).await.expect("response");
        let status = res.status();
        let bytes = res
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, bytes)
    }

    /// POST a body with the given headers (platform callbacks).
    pub async fn post_with_headers(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: String,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(Method::POST).uri(path);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let res = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body)).expect("request"))
            .await
            .expect("response");
        let status = res.status();
        let bytes = res
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, Some(ADMIN), body).await
    }

    /// The jobs waiting on `queue` (up to 10), taken off it for 30 s.
    pub async fn queued_jobs(&self, queue: &str) -> Vec<domain::job::JobEnvelope> {
        let msgs = self
            .state
            .ports
            .queue
            .receive(
                queue,
                10,
                std::time::Duration::from_secs(30),
                std::time::Duration::from_millis(300),
            )
            .await
            .expect("receive");
        msgs.iter()
            .map(|m| serde_json::from_str(&m.body).expect("job"))
            .collect()
    }

    /// The admin detail of the complaint with this platform id, if recorded.
    pub async fn complaint_detail(&self, platform_id: &str) -> Option<Value> {
        let (_, list) = self
            .admin(Method::GET, "/admin/v1/complaints?limit=200", None)
            .await;
        let id = list["items"]
            .as_array()?
            .iter()
            .find(|c| c["platform_complaint_id"] == platform_id)?["id"]
            .as_str()?
            .to_string();
        let (s, d) = self
            .admin(Method::GET, &format!("/admin/v1/complaints/{id}"), None)
            .await;
        (s == StatusCode::OK).then_some(d)
    }

    /// Poll (up to 10 s) until the complaint's detail satisfies `ok`.
    pub async fn wait_for_complaint(
        &self,
        platform_id: &str,
        what: &str,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        for _ in 0..100 {
            if let Some(d) = self.complaint_detail(platform_id).await
                && ok(&d)
            {
                return d;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "timed out waiting for {what}: {:?}",
            self.complaint_detail(platform_id).await
        );
    }

    /// Create an account as the administrator; returns its id.
    pub async fn create(&self, body: Value) -> String {
        let (status, json) = self
            .admin(Method::POST, "/admin/v1/accounts", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        json["id"].as_str().expect("id").to_string()
    }

    /// Create a scoped token; returns the bearer string.
    pub async fn token(&self, scope: Value) -> String {
        let (status, json) = self
            .admin(
                Method::POST,
                "/admin/v1/tokens",
                Some(serde_json::json!({"name": "scoped", "scope": scope})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        json["token"].as_str().expect("token").to_string()
    }
}

pub fn provider_body(mchid: &str) -> Value {
    serde_json::json!({
        "kind": "wechatpay_provider",
        "name": format!("Provider {mchid}"),
        "settings": {
            "mchid": mchid,
            "appid": "wx2c2769f8efd9abc2",
            "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            "default_reply_text": "您好，我们已收到您的投诉，正在处理。",
            "default_auto_refund": true
        }
    })
}

/// A 2048-bit RSA key generated once per test binary.
pub fn rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen"))
}

pub fn second_rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen"))
}

pub fn private_pem(key: &RsaPrivateKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string()
}

pub fn public_pem(key: &RsaPrivateKey) -> String {
    key.to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem")
}

/// SHA-256 of the SubjectPublicKeyInfo DER, computed here independently of the app.
pub fn spki_sha256(key: &RsaPrivateKey) -> String {
    use sha2::Digest;
    let der = key.to_public_key().to_public_key_der().expect("der");
    hex::encode(sha2::Sha256::digest(der.as_bytes()))
}

/// A self-signed certificate (PEM) for `key`, made here with the x509-cert builder.
pub fn certificate_for(key: &RsaPrivateKey, cn: &str) -> String {
    use std::str::FromStr;
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::EncodePem;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::Validity;
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let spki = SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).expect("spki");
    let builder = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(42u32),
        Validity::from_now(std::time::Duration::from_secs(3600)).expect("validity"),
        Name::from_str(&format!("CN={cn}")).expect("name"),
        spki,
        &signer,
    )
    .expect("builder");
    let cert = builder
        .build::<rsa::pkcs1v15::Signature>()
        .expect("certificate");
    cert.to_pem(LineEnding::LF).expect("pem")
}

/// A real SMTP server (aiosmtpd from `.venv-test`, `scripts/smtp_sink.py`) with AUTH and TLS
/// from a test CA: implicit TLS on `implicit_port`, STARTTLS on `starttls_port`, and optionally
/// a plain relay without TLS or AUTH on `relay_port`. Messages land in `dir/mail`. Dropping it
/// stops the server.
pub struct SmtpSink {
    child: std::process::Child,
    pub dir: std::path::PathBuf,
    pub ca_pem: String,
    pub implicit_port: u16,
    pub starttls_port: u16,
    pub relay_port: Option<u16>,
}

pub const SMTP_USER: &str = "desk@example.com";
pub const SMTP_PASSWORD: &str = "auth-code-0123456789";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl SmtpSink {
    pub fn start(dir: &std::path::Path, implicit_port: u16, starttls_port: u16) -> SmtpSink {
        Self::start_with_relay(dir, implicit_port, starttls_port, None)
    }

    /// With `relay_port`: also a plain relay there that offers no TLS and no AUTH.
    pub fn start_with_relay(
        dir: &std::path::Path,
        implicit_port: u16,
        starttls_port: u16,
        relay_port: Option<u16>,
    ) -> SmtpSink {
        use std::io::BufRead;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join(".venv-test/bin/python");
        assert!(
            python.exists(),
            "aiosmtpd is not installed: run ./scripts/test once (it creates .venv-test)"
        );
        let mut child = std::process::Command::new(python)
            .arg(root.join("scripts/smtp_sink.py"))
            .arg(dir)
            .args([SMTP_USER, SMTP_PASSWORD])
            .arg(implicit_port.to_string())
            .arg(starttls_port.to_string())
            .arg(std::process::id().to_string())
            .args(relay_port.map(|p| p.to_string()))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("SMTP sink output");
        let v: Value = serde_json::from_str(&line).expect("SMTP sink did not start");
        SmtpSink {
            child,
            dir: dir.to_path_buf(),
            ca_pem: v["ca_pem"].as_str().expect("ca").to_string(),
            implicit_port,
            starttls_port,
            relay_port,
        }
    }

    /// The messages received so far (raw RFC 5322 text with envelope headers first).
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.join("mail"))
            .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
