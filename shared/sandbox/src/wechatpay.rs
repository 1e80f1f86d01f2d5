//! A WeChat Pay API v3 simulator.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Which key signs the simulator's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// The platform certificate (serial = certificate serial).
    Certificate,
    /// The WeChat Pay public key (serial = `PUB_KEY_ID_...`).
    PublicKey,
}

/// A merchant the simulator knows: its API key (to check our signatures) and API v3 key.
#[derive(Clone)]
pub struct SimMerchant {
    pub mchid: String,
    pub serial_no: String,
    pub public_key: RsaPublicKey,
    pub apiv3_key: String,
}

/// The platform's own keys.
pub struct PlatformKeys {
    pub cert_key: RsaPrivateKey,
    pub cert_pem: String,
    pub cert_serial: String,
    pub pub_key: RsaPrivateKey,
    pub pub_key_id: String,
}

impl PlatformKeys {
    /// Generate a platform certificate key (with a self-signed certificate) and a public key.
    pub fn generate() -> Self {
        use std::str::FromStr;
        use x509_cert::builder::{Builder, CertificateBuilder, Profile};
        use x509_cert::der::EncodePem;
        use x509_cert::name::Name;
        use x509_cert::serial_number::SerialNumber;
        use x509_cert::spki::SubjectPublicKeyInfoOwned;
        use x509_cert::time::Validity;
        let mut rng = rand::thread_rng();
        let cert_key = RsaPrivateKey::new(&mut rng, 2048).expect("key generation");
        let pub_key = RsaPrivateKey::new(&mut rng, 2048).expect("key generation");
        let mut serial = [0u8; 20];
        rand::RngCore::fill_bytes(&mut rng, &mut serial);
        serial[0] &= 0x3f;
        serial[0] |= 0x10;
        let signer = SigningKey::<Sha256>::new(cert_key.clone());
        let spki = SubjectPublicKeyInfoOwned::from_key(cert_key.to_public_key()).expect("spki");
        let cert = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::new(&serial).expect("serial"),
            Validity::from_now(std::time::Duration::from_secs(5 * 365 * 86_400)).expect("validity"),
            Name::from_str("CN=Tenpay.com Root CA").expect("name"),
            spki,
            &signer,
        )
        .expect("builder")
        .build::<Signature>()
        .expect("certificate");
        Self {
            cert_pem: cert.to_pem(LineEnding::LF).expect("pem"),
            cert_serial: hex::encode_upper(serial),
            cert_key,
            pub_key,
            pub_key_id: format!("PUB_KEY_ID_{:030}", rand::random::<u64>()),
        }
    }

    pub fn public_key_pem(&self) -> String {
        self.pub_key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem")
    }
}

struct Inner {
    keys: PlatformKeys,
    mode: Mutex<KeyMode>,
    merchants: Mutex<HashMap<String, SimMerchant>>,
    complaints: Mutex<HashMap<String, Value>>,
    certificate_downloads: AtomicUsize,
    rejected: AtomicUsize,
    /// (mchid, "complaints" | "violations") → registered URL.
    notification_urls: Mutex<HashMap<(String, &'static str), String>>,
}

/// A running simulator.
#[derive(Clone)]
pub struct WechatPaySim {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl WechatPaySim {
    /// Start on a random loopback port.
    pub async fn start(keys: PlatformKeys, mode: KeyMode) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            keys,
            mode: Mutex::new(mode),
            merchants: Mutex::new(HashMap::new()),
            complaints: Mutex::new(HashMap::new()),
            certificate_downloads: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
            notification_urls: Mutex::new(HashMap::new()),
        });
        let router = Router::new()
            .route("/v3/certificates", get(certificates))
            .route("/v3/merchant-service/complaints-v2/{id}", get(complaint))
            .route(
                "/v3/merchant-service/complaint-notifications",
                axum::routing::any(complaint_notifications),
            )
            .route(
                "/v3/merchant-risk-manage/violation-notifications",
                axum::routing::any(violation_notifications),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { inner, addr })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn keys(&self) -> &PlatformKeys {
        &self.inner.keys
    }

    pub fn set_mode(&self, mode: KeyMode) {
        *self.inner.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    pub fn add_merchant(&self, m: SimMerchant) {
        self.inner
            .merchants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(m.mchid.clone(), m);
    }

    pub fn add_complaint(&self, complaint: Value) {
        let id = complaint["complaint_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.inner
            .complaints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, complaint);
    }

    /// How many times `/v3/certificates` was downloaded.
    pub fn certificate_downloads(&self) -> usize {
        self.inner.certificate_downloads.load(Ordering::SeqCst)
    }

    /// The URL registered for `kind` (`complaints` or `violations`), as the platform keeps it.
    pub fn notification_url(&self, mchid: &str, kind: &'static str) -> Option<String> {
        self.inner
            .notification_urls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(mchid.to_string(), kind))
            .cloned()
    }

    /// How many requests were refused for their signature.
    pub fn rejected(&self) -> usize {
        self.inner.rejected.load(Ordering::SeqCst)
    }
}

/// `WECHATPAY2-SHA256-RSA2048 k="v",...` → map.
fn parse_authorization(h: &str) -> Option<HashMap<String, String>> {
    let rest = h.strip_prefix("WECHATPAY2-SHA256-RSA2048 ")?;
    let mut out = HashMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        out.insert(k.to_string(), v.trim_matches('"').to_string());
    }
    Some(out)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"code": code, "message": message}))).into_response()
}

impl Inner {
    /// Check a request's signature as WeChat Pay does; the merchant on success.
    fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<SimMerchant, Box<Response>> {
        let refuse = |why: &str| {
            self.rejected.fetch_add(1, Ordering::SeqCst);
            Err(Box::new(error(StatusCode::UNAUTHORIZED, "SIGN_ERROR", why)))
        };
        let Some(auth) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_authorization)
        else {
            return refuse("Authorization 格式错误");
        };
        let field = |k: &str| auth.get(k).cloned().unwrap_or_default();
        let merchant = self
            .merchants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&field("mchid"))
            .cloned();
        let Some(m) = merchant else {
            return refuse("商户号不存在");
        };
        if !field("serial_no").eq_ignore_ascii_case(&m.serial_no) {
            return refuse("证书序列号错误");
        }
        let ts: i64 = field("timestamp").parse().unwrap_or_default();
        if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
            return refuse("timestamp 已过期");
        }
        let canonical = match uri.query() {
            Some(q) => format!("{}?{q}", uri.path()),
            None => uri.path().to_string(),
        };
        let mut message =
            format!("{method}\n{canonical}\n{ts}\n{}\n", field("nonce_str")).into_bytes();
        message.extend_from_slice(body);
        message.push(b'\n');
        let sig = b64()
            .decode(field("signature"))
            .ok()
            .and_then(|s| Signature::try_from(s.as_slice()).ok());
        let ok = sig.is_some_and(|s| {
            VerifyingKey::<Sha256>::new(m.public_key.clone())
                .verify(&message, &s)
                .is_ok()
        });
        if ok { Ok(m) } else { refuse("签名错误") }
    }

    /// Sign an answer with the key of the current mode.
    fn signed(&self, status: StatusCode, body: String) -> Response {
        let mode = *self.mode.lock().unwrap_or_else(|e| e.into_inner());
        self.signed_as(mode, status, body)
    }

    fn signed_as(&self, mode: KeyMode, status: StatusCode, body: String) -> Response {
        let (key, serial) = match mode {
            KeyMode::Certificate => (&self.keys.cert_key, self.keys.cert_serial.clone()),
            KeyMode::PublicKey => (&self.keys.pub_key, self.keys.pub_key_id.clone()),
        };
        let ts = chrono::Utc::now().timestamp().to_string();
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let message = format!("{ts}\n{nonce}\n{body}\n");
        let sig = b64().encode(
            SigningKey::<Sha256>::new(key.clone())
                .sign(message.as_bytes())
                .to_bytes(),
        );
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert("content-type", "application/json".parse().expect("header"));
        for (k, v) in [
            ("wechatpay-timestamp", ts),
            ("wechatpay-nonce", nonce),
            ("wechatpay-signature", sig),
            ("wechatpay-serial", serial),
            ("request-id", hex::encode(rand::random::<[u8; 8]>())),
        ] {
            if let Ok(v) = v.parse() {
                h.insert(k, v);
            }
        }
        res
    }
}

/// AEAD_AES_256_GCM encryption, written here on the primitive.
pub fn encrypt_resource(
    apiv3_key: &str,
    associated_data: &str,
    plaintext: &str,
) -> (String, String) {
    let nonce: String = hex::encode(rand::random::<[u8; 6]>());
    let cipher = Aes256Gcm::new_from_slice(apiv3_key.as_bytes()).expect("32-byte API v3 key");
    let ct = cipher
        .encrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: plaintext.as_bytes(),
                aad: associated_data.as_bytes(),
            },
        )
        .expect("encryption");
    (nonce, b64().encode(ct))
}

async fn certificates(
    State(s): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let m = match s.authenticate(&method, &uri, &headers, b"") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    s.certificate_downloads.fetch_add(1, Ordering::SeqCst);
    let (nonce, ciphertext) = encrypt_resource(&m.apiv3_key, "certificate", &s.keys.cert_pem);
    let body = json!({"data": [{
        "serial_no": s.keys.cert_serial,
        "effective_time": "2026-01-01T00:00:00+08:00",
        "expire_time": "2031-01-01T00:00:00+08:00",
        "encrypt_certificate": {"algorithm": "AEAD_AES_256_GCM", "associated_data": "certificate", "nonce": nonce, "ciphertext": ciphertext}
    }]});
    // The certificate list is signed with the platform certificate it carries (the SDKs'
    // bootstrap verifies it with the certificates just decrypted).
    s.signed_as(KeyMode::Certificate, StatusCode::OK, body.to_string())
}

async fn complaint(
    State(s): State<Arc<Inner>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = s.authenticate(&method, &uri, &headers, &body) {
        return *r;
    }
    let found = s
        .complaints
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned();
    match found {
        Some(c) => s.signed(StatusCode::OK, c.to_string()),
        None => s.signed(
            StatusCode::NOT_FOUND,
            json!({"code": "RESOURCE_NOT_EXISTS", "message": "投诉单不存在"}).to_string(),
        ),
    }
}

/// A notification as WeChat Pay would POST it: headers and body.
#[derive(Debug, Clone)]
pub struct Notification {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Notification {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set_header(&mut self, name: &str, value: String) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value));
    }
}

impl WechatPaySim {
    /// Build a signed notification whose resource is `plaintext` encrypted with `apiv3_key`,
    /// signed now (plus `clock_skew_s`) with the key of `mode`.
    pub fn notification(
        &self,
        apiv3_key: &str,
        event_type: &str,
        original_type: &str,
        plaintext: &Value,
        mode: KeyMode,
        clock_skew_s: i64,
    ) -> Notification {
        let (nonce, ciphertext) = encrypt_resource(apiv3_key, "", &plaintext.to_string());
        let id = format!("EV-{}", hex::encode(rand::random::<[u8; 8]>()));
        let body = json!({
            "id": id,
            "create_time": chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("offset")).to_rfc3339(),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "通知",
            "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext, "nonce": nonce,
                         "associated_data": "", "original_type": original_type}
        })
        .to_string();
        self.sign_notification(body, mode, clock_skew_s)
    }

    /// Sign a body as a notification (used to re-sign a changed body).
    pub fn sign_notification(
        &self,
        body: String,
        mode: KeyMode,
        clock_skew_s: i64,
    ) -> Notification {
        let keys = &self.inner.keys;
        let (key, serial) = match mode {
            KeyMode::Certificate => (&keys.cert_key, keys.cert_serial.clone()),
            KeyMode::PublicKey => (&keys.pub_key, keys.pub_key_id.clone()),
        };
        let ts = (chrono::Utc::now().timestamp() + clock_skew_s).to_string();
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let message = format!("{ts}\n{nonce}\n{body}\n");
        let sig = b64().encode(
            SigningKey::<Sha256>::new(key.clone())
                .sign(message.as_bytes())
                .to_bytes(),
        );
        Notification {
            headers: vec![
                ("Wechatpay-Timestamp".into(), ts),
                ("Wechatpay-Nonce".into(), nonce),
                ("Wechatpay-Signature".into(), sig),
                ("Wechatpay-Serial".into(), serial),
                (
                    "Wechatpay-Signature-Type".into(),
                    "WECHATPAY2-SHA256-RSA2048".into(),
                ),
                ("Content-Type".into(), "application/json".into()),
            ],
            body,
        }
    }
}

async fn complaint_notifications(
    State(s): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    notification_url(s, method, uri, headers, body, "complaints", "url").await
}

async fn violation_notifications(
    State(s): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    notification_url(s, method, uri, headers, body, "violations", "notify_url").await
}

/// Create (POST), query (GET), update (PUT) or delete (DELETE) a notification URL.
async fn notification_url(
    s: Arc<Inner>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    kind: &'static str,
    field: &str,
) -> Response {
    let m = match s.authenticate(&method, &uri, &headers, &body) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let key = (m.mchid.clone(), kind);
    let current = s
        .notification_urls
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned();
    let answer = |url: &str| json!({"mchid": m.mchid, field: url}).to_string();
    let not_found = || {
        s.signed(
            StatusCode::NOT_FOUND,
            json!({"code": "RESOURCE_NOT_EXISTS", "message": "通知地址不存在"}).to_string(),
        )
    };
    match method {
        Method::GET => match current {
            Some(url) => s.signed(StatusCode::OK, answer(&url)),
            None => not_found(),
        },
        Method::DELETE => {
            if current.is_none() {
                return not_found();
            }
            s.notification_urls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            s.signed(StatusCode::NO_CONTENT, String::new())
        }
        Method::POST | Method::PUT => {
            let url = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v[field].as_str().map(String::from));
            let Some(url) = url.filter(|u| u.starts_with("https://") && u.len() <= 255) else {
                return s.signed(
                    StatusCode::BAD_REQUEST,
                    json!({"code": "PARAM_ERROR", "message": "通知地址必须是 HTTPS"}).to_string(),
                );
            };
            if method == Method::POST && current.is_some() {
                return s.signed(
                    StatusCode::BAD_REQUEST,
                    json!({"code": "PARAM_ERROR", "message": "通知地址已存在，请使用更新接口"})
                        .to_string(),
                );
            }
            if method == Method::PUT && current.is_none() {
                return not_found();
            }
            s.notification_urls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, url.clone());
            s.signed(StatusCode::OK, answer(&url))
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "不支持的方法",
        ),
    }
}
