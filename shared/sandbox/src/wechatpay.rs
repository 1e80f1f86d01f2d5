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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// A serial written in hex (any case, any leading zeros) as WeChat Pay writes it.
fn wechat_serial_text(hex_text: &str) -> String {
    match hex_text.trim_start_matches('0') {
        "" => "0".to_string(),
        digits => digits.to_ascii_uppercase(),
    }
}

/// A certificate serial as WeChat Pay sends it (`Wechatpay-Serial`, `serial_no`): the plain
/// upper-case hex of the number, no leading zeros. `number` is big-endian, any zero padding.
pub fn wechat_serial(number: &[u8]) -> String {
    let hex: String = number.iter().map(|b| format!("{b:02X}")).collect();
    match hex.trim_start_matches('0') {
        "" => "0".to_string(),
        digits => digits.to_string(),
    }
}

impl PlatformKeys {
    /// Generate a platform certificate key (with a self-signed certificate under a random
    /// serial) and a public key.
    pub fn generate() -> Self {
        let mut serial = [0u8; 20];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut serial);
        serial[0] &= 0x3f;
        serial[0] |= 0x10;
        Self::generate_with_serial(&serial)
    }

    /// The same with the certificate serial `number` (big-endian, at most 20 bytes in DER,
    /// sign byte included): e.g. one whose top bit is set (DER writes it `00…`) or whose hex
    /// starts with a zero nibble.
    pub fn generate_with_serial(number: &[u8]) -> Self {
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
        let signer = SigningKey::<Sha256>::new(cert_key.clone());
        let spki = SubjectPublicKeyInfoOwned::from_key(cert_key.to_public_key()).expect("spki");
        let cert = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::new(number).expect("serial"),
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
            cert_serial: wechat_serial(number),
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
    complaints: Mutex<HashMap<String, SimComplaint>>,
    /// (mchid, out_refund_no) → refund.
    refunds: Mutex<HashMap<(String, String), Value>>,
    /// media_id → (filename, bytes).
    images: Mutex<HashMap<String, (String, Vec<u8>)>>,
    /// Every write the simulator accepted: (mchid, path, body).
    writes: Mutex<Vec<SimWrite>>,
    /// Every request whose signature verified, in order (accepted or not).
    requests: Mutex<Vec<SimRequest>>,
    certificate_downloads: AtomicUsize,
    rejected: AtomicUsize,
    /// Milliseconds every answer is held back (simulated network and platform latency).
    latency_ms: AtomicU64,
    /// Every request that reached the simulator: "METHOD path?query", in order.
    arrivals: Mutex<Vec<String>>,
    /// (mchid, "complaints" | "violations") → registered URL.
    notification_urls: Mutex<HashMap<(String, &'static str), String>>,
    /// Orders paid outside complaints (e.g. in a mini program): transaction_id, out_trade_no,
    /// amount.
    orders: Mutex<Vec<(String, String, u64)>>,
    /// Throttling switch: which paths, and how many calls left to refuse with 429.
    throttle: Mutex<Vec<Throttle>>,
    /// Service provider mchid → its sub-merchants (a merchant with none is a direct merchant).
    sub_merchants: Mutex<HashMap<String, Vec<String>>>,
    /// Requests refused with 429 `FREQUENCY_LIMITED`: "METHOD path".
    throttled: Mutex<Vec<String>>,
    /// The `nonce_str` of every request whose signature verified (throttled ones included).
    nonces: Mutex<Vec<String>>,
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
            refunds: Mutex::new(HashMap::new()),
            images: Mutex::new(HashMap::new()),
            writes: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            certificate_downloads: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
            latency_ms: AtomicU64::new(0),
            arrivals: Mutex::new(Vec::new()),
            notification_urls: Mutex::new(HashMap::new()),
            orders: Mutex::new(Vec::new()),
            throttle: Mutex::new(Vec::new()),
            sub_merchants: Mutex::new(HashMap::new()),
            throttled: Mutex::new(Vec::new()),
            nonces: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/v3/certificates", get(certificates))
            .route("/v3/merchant-service/complaints-v2", get(complaint_list))
            .route("/v3/merchant-service/complaints-v2/{id}", get(complaint))
            .route(
                "/v3/merchant-service/complaints-v2/{id}/negotiation-historys",
                get(negotiation_history),
            )
            .route(
                "/v3/merchant-service/complaints-v2/{id}/{action}",
                axum::routing::post(complaint_action),
            )
            .route(
                "/v3/merchant-service/images/upload",
                axum::routing::post(upload_image),
            )
            .route(
                "/v3/merchant-service/images/{media_id}",
                get(download_image),
            )
            .route(
                "/v3/refund/domestic/refunds",
                axum::routing::post(create_refund),
            )
            .route(
                "/v3/refund/domestic/refunds/{out_refund_no}",
                get(query_refund),
            )
            .route(
                "/v3/merchant-service/complaint-notifications",
                axum::routing::any(complaint_notifications),
            )
            .route(
                "/v3/merchant-risk-manage/violation-notifications",
                axum::routing::any(violation_notifications),
            )
            .layer(axum::middleware::from_fn_with_state(
                inner.clone(),
                log_request,
            ))
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

    /// Add a complaint any known merchant may read by id (its history starts with the user's
    /// complaint); the list shows it to the complained merchant (`complainted_mchid`) and its
    /// provider ([`WechatPaySim::add_sub_merchant`]). Like every complaint added here, nothing
    /// is pushed: a push is sent only when a test posts [`WechatPaySim::complaint_push`] (so
    /// a complaint whose push was dropped is one added and never pushed).
    pub fn add_complaint(&self, complaint: Value) {
        self.insert_complaint(None, complaint);
    }

    /// Add a complaint that only `owner` (the merchant or the provider of the complained
    /// sub-merchant) may read and act on.
    pub fn add_complaint_for(&self, owner: &str, complaint: Value) {
        self.insert_complaint(Some(owner.to_string()), complaint);
    }

    fn insert_complaint(&self, owner: Option<String>, complaint: Value) {
        let id = complaint["complaint_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let first = json!({
            "log_id": format!("{id}-0001"),
            "operator": "投诉人",
            "operate_time": complaint["complaint_time"].as_str().unwrap_or_default(),
            "operate_type": "USER_CREATE_COMPLAINT",
            "operate_details": complaint["complaint_detail"].as_str().unwrap_or_default(),
            "image_list": [],
        });
        lock(&self.inner.complaints).insert(
            id,
            SimComplaint {
                owner,
                data: complaint,
                history: vec![first],
                refund_decision: None,
                immediate: HashMap::new(),
            },
        );
    }

    /// An order paid to this simulator (refundable), outside any complaint.
    pub fn add_order(&self, transaction_id: &str, out_trade_no: &str, amount_fen: u64) {
        lock(&self.inner.orders).push((transaction_id.into(), out_trade_no.into(), amount_fen));
    }

    /// The complaint as the platform now has it (state, refund flags).
    pub fn complaint_state(&self, complaint_id: &str) -> Option<Value> {
        lock(&self.inner.complaints)
            .get(complaint_id)
            .map(|c| c.data.clone())
    }

    /// The negotiation history the platform keeps for a complaint.
    pub fn history(&self, complaint_id: &str) -> Vec<Value> {
        lock(&self.inner.complaints)
            .get(complaint_id)
            .map(|c| c.history.clone())
            .unwrap_or_default()
    }

    /// Make `provider` a service provider of `sub_mchid`: its list (without
    /// `complainted_mchid`) shows the complaints about all its sub-merchants. A merchant with
    /// no sub-merchant is a direct merchant and lists only complaints about itself.
    pub fn add_sub_merchant(&self, provider: &str, sub_mchid: &str) {
        lock(&self.inner.sub_merchants)
            .entry(provider.to_string())
            .or_default()
            .push(sub_mchid.to_string());
    }

    /// The buyer continues a complaint (继续投诉) at `at`, and no push is sent: the history
    /// gains `USER_CONTINUE_COMPLAINT` and the complaint waits for the merchant again
    /// (`PENDING`, with an unanswered user message).
    pub fn continue_complaint(
        &self,
        complaint_id: &str,
        text: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        if let Some(c) = lock(&self.inner.complaints).get_mut(complaint_id) {
            c.push_history_at("投诉人", "USER_CONTINUE_COMPLAINT", text, vec![], at);
            c.set_state("PENDING");
            c.data["incoming_user_response"] = json!(true);
        }
    }

    /// The platform closes a complaint at `at` with a message of its own (`PLATFORM_RESPONSE`,
    /// state `PROCESSED`), and no push is sent.
    pub fn close_by_platform(
        &self,
        complaint_id: &str,
        text: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        if let Some(c) = lock(&self.inner.complaints).get_mut(complaint_id) {
            c.push_history_at("微信支付平台", "PLATFORM_RESPONSE", text, vec![], at);
            c.set_state("PROCESSED");
        }
    }

    /// The signed push WeChat Pay would send now about `complaint_id` (`CREATE_COMPLAINT` on
    /// `COMPLAINT.CREATE`, any other action on `COMPLAINT.STATE_CHANGE`), encrypted with the
    /// API v3 key of the merchant it goes to (the owner given at
    /// [`WechatPaySim::add_complaint_for`], else the complained merchant) and signed in the
    /// simulator's key mode, with the timestamp `signed_at` (a test's clock). None if the
    /// complaint or that merchant is unknown. Post it (or never: a dropped push) with
    /// [`Notification::post`].
    pub fn complaint_push(
        &self,
        complaint_id: &str,
        action_type: &str,
        signed_at: chrono::DateTime<chrono::Utc>,
    ) -> Option<Notification> {
        let to = {
            let complaints = lock(&self.inner.complaints);
            let c = complaints.get(complaint_id)?;
            let about = c.data["complainted_mchid"].as_str().map(String::from);
            let provider = about.as_ref().and_then(|a| {
                lock(&self.inner.sub_merchants)
                    .iter()
                    .find(|(_, subs)| subs.contains(a))
                    .map(|(p, _)| p.clone())
            });
            c.owner.clone().or(provider).or(about)?
        };
        let apiv3_key = lock(&self.inner.merchants).get(&to)?.apiv3_key.clone();
        let event_type = if action_type == "CREATE_COMPLAINT" {
            "COMPLAINT.CREATE"
        } else {
            "COMPLAINT.STATE_CHANGE"
        };
        let mode = *lock(&self.inner.mode);
        Some(self.notification(
            &apiv3_key,
            event_type,
            "complaint",
            &json!({"complaint_id": complaint_id, "action_type": action_type}),
            mode,
            (signed_at - chrono::Utc::now()).num_seconds(),
        ))
    }

    /// Change the URL registered for `kind` (`complaints` or `violations`) behind our back,
    /// as someone in the merchant platform's console would (None: remove it).
    pub fn replace_notification_url(&self, mchid: &str, kind: &'static str, url: Option<&str>) {
        let mut urls = lock(&self.inner.notification_urls);
        match url {
            Some(u) => {
                urls.insert((mchid.to_string(), kind), u.to_string());
            }
            None => {
                urls.remove(&(mchid.to_string(), kind));
            }
        }
    }

    /// Append a user message to a complaint's history (as if the buyer wrote again).
    pub fn add_user_message(&self, complaint_id: &str, text: &str) {
        self.add_user_message_with_images(complaint_id, text, vec![]);
    }

    /// Append a user message with images (media URLs, e.g. from
    /// [`WechatPaySim::add_user_image`]) to a complaint's history: the entry's `image_list`.
    pub fn add_user_message_with_images(
        &self,
        complaint_id: &str,
        text: &str,
        images: Vec<String>,
    ) {
        if let Some(c) = lock(&self.inner.complaints).get_mut(complaint_id) {
            c.push_history("投诉人", "USER_RESPONSE", text, images);
            c.data["incoming_user_response"] = json!(true);
        }
    }

    /// Every write the simulator accepted, in order.
    pub fn writes(&self) -> Vec<SimWrite> {
        lock(&self.inner.writes).clone()
    }

    /// Every signed request the simulator authenticated, in order, whatever it answered.
    pub fn requests(&self) -> Vec<SimRequest> {
        lock(&self.inner.requests).clone()
    }

    /// Authenticated requests to exactly `path`, in order.
    pub fn requests_to(&self, path: &str) -> Vec<SimRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Accepted writes whose path ends with `suffix` (e.g. `/response`, `/complete`,
    /// `/refund/domestic/refunds`).
    pub fn writes_to(&self, suffix: &str) -> Vec<SimWrite> {
        self.writes()
            .into_iter()
            .filter(|w| w.path.ends_with(suffix))
            .collect()
    }

    /// Refunds the platform holds, one per `out_refund_no`.
    pub fn refunds(&self) -> Vec<Value> {
        lock(&self.inner.refunds).values().cloned().collect()
    }

    /// Store an image the way a buyer's upload would be; returns its absolute media URL.
    pub fn add_user_image(&self, bytes: Vec<u8>) -> String {
        let id = format!("{}.png", hex::encode_upper(rand::random::<[u8; 16]>()));
        lock(&self.inner.images).insert(id.clone(), ("user.png".into(), bytes));
        format!("{}/v3/merchant-service/images/{id}", self.base_url())
    }

    /// The bytes of an uploaded image.
    pub fn image(&self, media_id: &str) -> Option<Vec<u8>> {
        lock(&self.inner.images)
            .get(media_id)
            .map(|(_, b)| b.clone())
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

    /// Every request that reached the simulator ("METHOD path?query"), in order, signed or not.
    pub fn arrivals(&self) -> Vec<String> {
        lock(&self.inner.arrivals).clone()
    }

    /// Answer the next `calls` signed requests whose path contains `path_fragment` with
    /// HTTP 429 `FREQUENCY_LIMITED`, as WeChat Pay does when a merchant calls too often.
    pub fn throttle_next(&self, path_fragment: &str, calls: u32) {
        lock(&self.inner.throttle).push(Throttle {
            path: path_fragment.to_string(),
            exact: false,
            left: calls,
        });
    }

    /// The same for requests to exactly `path` (e.g. the complaint list
    /// `/v3/merchant-service/complaints-v2`, not the details under it).
    pub fn throttle_next_exact(&self, path: &str, calls: u32) {
        lock(&self.inner.throttle).push(Throttle {
            path: path.to_string(),
            exact: true,
            left: calls,
        });
    }

    /// Requests refused with 429 so far: "METHOD path".
    pub fn throttled(&self) -> Vec<String> {
        lock(&self.inner.throttled).clone()
    }

    /// The nonces of every request whose signature verified, in order: a request sent again
    /// with a fresh signature shows a new nonce.
    pub fn nonces(&self) -> Vec<String> {
        lock(&self.inner.nonces).clone()
    }

    /// How many requests were refused for their signature.
    pub fn rejected(&self) -> usize {
        self.inner.rejected.load(Ordering::SeqCst)
    }

    /// Hold every answer back by `latency` from now on (zero: answer at once), as a platform
    /// far away would; requests are still handled concurrently.
    pub fn set_latency(&self, latency: std::time::Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.inner.latency_ms.store(ms, Ordering::SeqCst);
    }
}

async fn log_request(
    State(s): State<Arc<Inner>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let line = format!(
        "{} {}",
        req.method(),
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_default()
    );
    lock(&s.arrivals).push(line);
    let latency = s.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    next.run(req).await
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One throttling rule: requests to `path` (containing it, or exactly it) are refused with
/// 429 while `left` is above zero.
struct Throttle {
    path: String,
    exact: bool,
    left: u32,
}

/// A complaint as the simulator keeps it.
struct SimComplaint {
    owner: Option<String>,
    data: Value,
    history: Vec<Value>,
    /// `APPROVE` or `REJECT` once decided.
    refund_decision: Option<String>,
    /// idempotent_id → log_id of immediate-service replies.
    immediate: HashMap<String, String>,
}

impl SimComplaint {
    fn push_history(
        &mut self,
        operator: &str,
        operate_type: &str,
        details: &str,
        images: Vec<String>,
    ) -> String {
        self.push_history_at(operator, operate_type, details, images, chrono::Utc::now())
    }

    fn push_history_at(
        &mut self,
        operator: &str,
        operate_type: &str,
        details: &str,
        images: Vec<String>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let id = self.data["complaint_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let log_id = format!("{id}-{:04}", self.history.len() + 1);
        self.history.push(json!({
            "log_id": log_id,
            "operator": operator,
            "operate_time": at.with_timezone(&china()).to_rfc3339(),
            "operate_type": operate_type,
            "operate_details": details,
            "image_list": images,
        }));
        log_id
    }

    fn state(&self) -> &str {
        self.data["complaint_state"].as_str().unwrap_or_default()
    }

    fn set_state(&mut self, state: &str) {
        self.data["complaint_state"] = json!(state);
    }
}

fn china() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("offset")
}

/// One write the simulator accepted.
#[derive(Debug, Clone)]
pub struct SimWrite {
    pub mchid: String,
    pub path: String,
    pub body: Value,
}

/// One authenticated request: who sent it, its method and path (no query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRequest {
    pub mchid: String,
    pub method: String,
    pub path: String,
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
        // WeChat Pay knows the merchant certificate by its serial as it writes it.
        if field("serial_no") != wechat_serial_text(&m.serial_no) {
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
        if !ok {
            return refuse("签名错误");
        }
        lock(&self.nonces).push(field("nonce_str"));
        if self.take_throttle(uri.path()) {
            lock(&self.throttled).push(format!("{method} {}", uri.path()));
            let body = json!({"code": "FREQUENCY_LIMITED", "message": "请求频率超过限制"});
            return Err(Box::new(
                self.signed(StatusCode::TOO_MANY_REQUESTS, body.to_string()),
            ));
        }
        lock(&self.requests).push(SimRequest {
            mchid: m.mchid.clone(),
            method: method.to_string(),
            path: uri.path().to_string(),
        });
        Ok(m)
    }

    /// Whether the throttling switch refuses a request to `path` (and count it).
    fn take_throttle(&self, path: &str) -> bool {
        let mut rules = lock(&self.throttle);
        let hit = rules.iter_mut().find(|t| {
            t.left > 0
                && if t.exact {
                    path == t.path
                } else {
                    path.contains(t.path.as_str())
                }
        });
        match hit {
            Some(t) => {
                t.left -= 1;
                true
            }
            None => false,
        }
    }

    /// Check the signature, then read the body as JSON (PARAM_ERROR if it is not).
    fn authenticate_json(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(SimMerchant, Value), Box<Response>> {
        let m = self.authenticate(method, uri, headers, body)?;
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => Ok((m, v)),
            Err(_) => Err(Box::new(refuse(
                self,
                StatusCode::BAD_REQUEST,
                "PARAM_ERROR",
                "请求体不是合法的JSON",
            ))),
        }
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

/// A sensitive field (e.g. `payer_phone`) as the platform sends it: RSA-OAEP (SHA-1, MGF1-SHA1)
/// with the merchant's public key, base64. Written here on the primitive.
pub fn encrypt_sensitive(merchant_public_key: &RsaPublicKey, plaintext: &str) -> String {
    let ct = merchant_public_key
        .encrypt(
            &mut rand::thread_rng(),
            rsa::Oaep::new::<sha1::Sha1>(),
            plaintext.as_bytes(),
        )
        .expect("OAEP encryption");
    b64().encode(ct)
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
    let m = match s.authenticate(&method, &uri, &headers, &body) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let found = lock(&s.complaints)
        .get(&id)
        .filter(|c| c.owner.as_deref().is_none_or(|o| o == m.mchid))
        .map(|c| c.data.clone());
    match found {
        Some(c) => s.signed(StatusCode::OK, c.to_string()),
        None => not_found(&s),
    }
}

fn not_found(s: &Inner) -> Response {
    s.signed(
        StatusCode::NOT_FOUND,
        json!({"code": "RESOURCE_NOT_EXISTS", "message": "投诉单不存在"}).to_string(),
    )
}

fn refuse(s: &Inner, status: StatusCode, code: &str, message: &str) -> Response {
    s.signed(
        status,
        json!({"code": code, "message": message}).to_string(),
    )
}

/// Query parameters as a map.
fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// How a list pages: its largest `limit`, its default, and whether `total_count` is given
/// on every page or only on the first (`offset=0`, the complaint list).
struct Paging {
    max_limit: usize,
    default_limit: usize,
    total_only_first: bool,
}

/// One page of `items` as WeChat Pay pages them (`limit`, `offset`, `total_count`).
fn page(items: Vec<Value>, q: &HashMap<String, String>, paging: &Paging) -> Result<Value, String> {
    let number = |name: &str, default: usize| match q.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| format!("{name} 必须是非负整数")),
    };
    let limit = number("limit", paging.default_limit)?;
    let offset = number("offset", 0)?;
    let max_limit = paging.max_limit;
    if limit == 0 || limit > max_limit {
        return Err(format!("limit 必须在 1 到 {max_limit} 之间"));
    }
    let total = items.len();
    let data: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    let mut answer = json!({"data": data, "limit": limit, "offset": offset});
    if offset == 0 || !paging.total_only_first {
        answer["total_count"] = json!(total);
    }
    Ok(answer)
}

/// The complaint list: at most 50 a page, 10 by default, `total_count` only at `offset=0`.
const COMPLAINT_LIST: Paging = Paging {
    max_limit: 50,
    default_limit: 10,
    total_only_first: true,
};

/// The negotiation history: at most 300 a page, 100 by default.
const HISTORY_LIST: Paging = Paging {
    max_limit: 300,
    default_limit: 100,
    total_only_first: false,
};

async fn complaint_list(
    State(s): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let m = match s.authenticate(&method, &uri, &headers, b"") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let q = query_map(&uri);
    let (Some(begin), Some(end)) = (q.get("begin_date"), q.get("end_date")) else {
        return refuse(
            &s,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "begin_date 和 end_date 必填",
        );
    };
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
    let (Some(b), Some(e)) = (day(begin), day(end)) else {
        return refuse(
            &s,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "日期格式应为 yyyy-MM-dd",
        );
    };
    if e < b || (e - b).num_days() > 30 {
        return refuse(
            &s,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "查询时间跨度不能超过30天",
        );
    }
    let sub = q.get("complainted_mchid");
    // A provider sees its sub-merchants' complaints, a direct merchant its own.
    let subs = lock(&s.sub_merchants)
        .get(&m.mchid)
        .cloned()
        .unwrap_or_default();
    let visible = |c: &SimComplaint| {
        let about = c.data["complainted_mchid"].as_str().unwrap_or_default();
        match c.owner.as_deref() {
            Some(o) => o == m.mchid,
            None => about == m.mchid || subs.iter().any(|x| x == about),
        }
    };
    let mut items: Vec<Value> = lock(&s.complaints)
        .values()
        .filter(|c| visible(c))
        .filter(|c| sub.is_none_or(|x| c.data["complainted_mchid"].as_str() == Some(x)))
        .filter(|c| {
            chrono::DateTime::parse_from_rfc3339(
                c.data["complaint_time"].as_str().unwrap_or_default(),
            )
            .map(|t| {
                let d = t.with_timezone(&china()).date_naive();
                d >= b && d <= e
            })
            .unwrap_or(false)
        })
        .map(|c| {
            let mut d = c.data.clone();
            d.as_object_mut().map(|o| o.remove("payer_openid"));
            d
        })
        .collect();
    items.sort_by(|a, b| {
        let key = |v: &Value| {
            (
                v["complaint_time"].as_str().map(String::from),
                v["complaint_id"].as_str().map(String::from),
            )
        };
        key(a).cmp(&key(b))
    });
    match page(items, &q, &COMPLAINT_LIST) {
        Ok(p) => s.signed(StatusCode::OK, p.to_string()),
        Err(why) => refuse(&s, StatusCode::BAD_REQUEST, "PARAM_ERROR", &why),
    }
}

async fn negotiation_history(
    State(s): State<Arc<Inner>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let m = match s.authenticate(&method, &uri, &headers, b"") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let found = lock(&s.complaints)
        .get(&id)
        .filter(|c| c.owner.as_deref().is_none_or(|o| o == m.mchid))
        .map(|c| c.history.clone());
    let Some(history) = found else {
        return not_found(&s);
    };
    match page(history, &query_map(&uri), &HISTORY_LIST) {
        Ok(p) => s.signed(StatusCode::OK, p.to_string()),
        Err(why) => refuse(&s, StatusCode::BAD_REQUEST, "PARAM_ERROR", &why),
    }
}

/// `response`, `response-immediate-service`, `complete`, `update-refund-progress`.
async fn complaint_action(
    State(s): State<Arc<Inner>>,
    Path((id, action)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (m, req) = match s.authenticate_json(&method, &uri, &headers, &body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let known_media = |ids: &Value| {
        let images = lock(&s.images);
        ids.as_array()
            .map(|a| {
                a.iter()
                    .all(|v| v.as_str().is_some_and(|id| images.contains_key(id)))
            })
            .unwrap_or(true)
    };
    let media_ok = known_media(&req["response_images"]) && known_media(&req["reject_media_list"]);
    let mut complaints = lock(&s.complaints);
    let Some(c) = complaints
        .get_mut(&id)
        .filter(|c| c.owner.as_deref().is_none_or(|o| o == m.mchid))
    else {
        drop(complaints);
        return not_found(&s);
    };
    let complainted = c.data["complainted_mchid"].clone();
    let mchid_ok = req["complainted_mchid"] == complainted;
    let processed = c.state() == "PROCESSED";
    let answer: Result<(StatusCode, String), (StatusCode, &str, &str)> = match action.as_str() {
        "response" => {
            let text = req["response_content"].as_str().unwrap_or_default();
            if !mchid_ok {
                Err((
                    StatusCode::BAD_REQUEST,
                    "PARAM_ERROR",
                    "complainted_mchid 与投诉单不符",
                ))
            } else if text.is_empty() || text.chars().count() > 200 {
                Err((
                    StatusCode::BAD_REQUEST,
                    "PARAM_ERROR",
                    "回复内容长度应在1到200之间",
                ))
            } else if !media_ok {
                Err((StatusCode::BAD_REQUEST, "PARAM_ERROR", "图片media_id无效"))
            } else if processed {
                Err((
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "投诉单已处理完成，无法回复",
                ))
            } else {
                let images = req["response_images"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let urls = images
                    .iter()
                    .filter_map(|v| v.as_str())
                    .map(|id| {
                        format!(
                            "http://{}/v3/merchant-service/images/{id}",
                            headers
                                .get("host")
                                .and_then(|h| h.to_str().ok())
                                .unwrap_or("localhost")
                        )
                    })
                    .collect();
                c.push_history("商户", "MERCHANT_RESPONSE", text, urls);
                if c.state() == "PENDING" {
                    c.set_state("PROCESSING");
                }
                c.data["incoming_user_response"] = json!(false);
                Ok((StatusCode::NO_CONTENT, String::new()))
            }
        }
        "response-immediate-service" => {
            let idem = req["idempotent_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let text = req["message"]["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap_or_default();
            if !mchid_ok || idem.is_empty() || idem.len() > 128 || text.is_empty() {
                Err((StatusCode::BAD_REQUEST, "PARAM_ERROR", "参数错误"))
            } else if c.data["need_immediate_service"] != json!(true) {
                Err((
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "该投诉单不需要即时服务",
                ))
            } else if let Some(log_id) = c.immediate.get(&idem) {
                Ok((StatusCode::OK, json!({"log_id": log_id}).to_string()))
            } else if processed {
                Err((
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "投诉单已处理完成，无法回复",
                ))
            } else {
                let log_id = c.push_history("商户", "MERCHANT_RESPONSE", text, vec![]);
                c.immediate.insert(idem, log_id.clone());
                if c.state() == "PENDING" {
                    c.set_state("PROCESSING");
                }
                c.data["incoming_user_response"] = json!(false);
                Ok((StatusCode::OK, json!({"log_id": log_id}).to_string()))
            }
        }
        "complete" => {
            if !mchid_ok {
                Err((
                    StatusCode::BAD_REQUEST,
                    "PARAM_ERROR",
                    "complainted_mchid 与投诉单不符",
                ))
            } else if processed {
                Err((
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "投诉单已处理完成，无需重复操作",
                ))
            } else if c
                .history
                .iter()
                .all(|h| h["operate_type"] != "MERCHANT_RESPONSE")
            {
                Err((
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "请先回复用户再反馈处理完成",
                ))
            } else {
                c.push_history("商户", "MERCHANT_CONFIRM_COMPLETE", "", vec![]);
                c.set_state("PROCESSED");
                Ok((StatusCode::NO_CONTENT, String::new()))
            }
        }
        "update-refund-progress" => {
            let act = req["action"].as_str().unwrap_or_default();
            if c.data["problem_type"] != "REFUND" {
                Err((StatusCode::BAD_REQUEST, "INVALID_REQUEST", "非退款类投诉单"))
            } else if act != "APPROVE" && act != "REJECT" {
                Err((
                    StatusCode::BAD_REQUEST,
                    "PARAM_ERROR",
                    "action 应为 APPROVE 或 REJECT",
                ))
            } else if act == "REJECT"
                && req["reject_reason"].as_str().unwrap_or_default().is_empty()
            {
                Err((
                    StatusCode::BAD_REQUEST,
                    "PARAM_ERROR",
                    "拒绝时必须填写 reject_reason",
                ))
            } else if !media_ok {
                Err((StatusCode::BAD_REQUEST, "PARAM_ERROR", "图片media_id无效"))
            } else if c.refund_decision.is_some() || processed {
                Err((
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "退款审批结果已提交，请勿重复操作",
                ))
            } else {
                c.refund_decision = Some(act.to_string());
                if act == "APPROVE" {
                    c.push_history("商户", "MERCHANT_APPROVE_REFUND", "", vec![]);
                } else {
                    c.push_history(
                        "商户",
                        "MERCHANT_REFUSE_RERUND",
                        req["reject_reason"].as_str().unwrap_or_default(),
                        vec![],
                    );
                    c.set_state("PROCESSED");
                }
                Ok((StatusCode::NO_CONTENT, String::new()))
            }
        }
        _ => {
            drop(complaints);
            return error(StatusCode::NOT_FOUND, "NOT_FOUND", "接口不存在");
        }
    };
    drop(complaints);
    match answer {
        Ok((status, body)) => {
            lock(&s.writes).push(SimWrite {
                mchid: m.mchid,
                path: uri.path().to_string(),
                body: req,
            });
            s.signed(status, body)
        }
        Err((status, code, message)) => refuse(&s, status, code, message),
    }
}

async fn upload_image(
    State(s): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    mut form: axum::extract::Multipart,
) -> Response {
    let mut meta: Option<String> = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("meta") => meta = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_string();
                if let Ok(b) = field.bytes().await {
                    file = Some((name, b.to_vec()));
                }
            }
            _ => {}
        }
    }
    let Some(meta) = meta else {
        return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "缺少 meta");
    };
    // The signature covers the meta JSON, exactly as sent.
    let m = match s.authenticate(&method, &uri, &headers, meta.as_bytes()) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let Some((name, bytes)) = file else {
        return refuse(&s, StatusCode::BAD_REQUEST, "PARAM_ERROR", "缺少 file");
    };
    let Ok(meta_v) = serde_json::from_str::<Value>(&meta) else {
        return refuse(
            &s,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "meta 不是合法的JSON",
        );
    };
    use sha2::Digest;
    if meta_v["sha256"].as_str().map(str::to_ascii_lowercase)
        != Some(hex::encode(Sha256::digest(&bytes)))
    {
        return refuse(
            &s,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "文件sha256与meta不一致",
        );
    }
    let ext = name
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !matches!(ext.as_str(), "jpg" | "jpeg" | "png" | "bmp") || bytes.len() > 2 * 1024 * 1024 {
        return refuse(
            &s,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "仅支持2M以内的jpg、png、bmp图片",
        );
    }
    let media_id = format!("{}.{ext}", hex::encode_upper(rand::random::<[u8; 16]>()));
    lock(&s.images).insert(media_id.clone(), (name, bytes));
    lock(&s.writes).push(SimWrite {
        mchid: m.mchid,
        path: uri.path().to_string(),
        body: meta_v,
    });
    s.signed(StatusCode::OK, json!({"media_id": media_id}).to_string())
}

async fn download_image(
    State(s): State<Arc<Inner>>,
    Path(media_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = s.authenticate(&method, &uri, &headers, b"") {
        return *r;
    }
    match lock(&s.images).get(&media_id).cloned() {
        Some((_, bytes)) => {
            let mut res = (StatusCode::OK, bytes).into_response();
            res.headers_mut()
                .insert("content-type", "image/png".parse().expect("header"));
            res
        }
        None => error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "图片不存在"),
    }
}

/// The order amount the platform knows for a transaction (from its complaints).
fn order_total(
    s: &Inner,
    transaction_id: Option<&str>,
    out_trade_no: Option<&str>,
) -> Option<(String, String, u64)> {
    if let Some((t, o, a)) = lock(&s.orders)
        .iter()
        .find(|(t, o, _)| transaction_id == Some(t.as_str()) || out_trade_no == Some(o.as_str()))
    {
        return Some((t.clone(), o.clone(), *a));
    }
    lock(&s.complaints).values().find_map(|c| {
        c.data["complaint_order_info"]
            .as_array()?
            .iter()
            .find_map(|o| {
                let tid = o["transaction_id"].as_str()?;
                let otn = o["out_trade_no"].as_str().unwrap_or_default();
                (transaction_id == Some(tid) || out_trade_no == Some(otn)).then(|| {
                    (
                        tid.to_string(),
                        otn.to_string(),
                        o["amount"].as_u64().unwrap_or_default(),
                    )
                })
            })
    })
}

async fn create_refund(
    State(s): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (m, req) = match s.authenticate_json(&method, &uri, &headers, &body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let out_refund_no = req["out_refund_no"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let refund = req["amount"]["refund"].as_u64().unwrap_or_default();
    let total = req["amount"]["total"].as_u64().unwrap_or_default();
    if out_refund_no.is_empty()
        || out_refund_no.len() > 64
        || !out_refund_no
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-|*@".contains(c))
    {
        return refuse(
            &s,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "out_refund_no 格式错误",
        );
    }
    if refund == 0 || refund > total || req["amount"]["currency"] != "CNY" {
        return refuse(&s, StatusCode::BAD_REQUEST, "PARAM_ERROR", "退款金额错误");
    }
    let Some((transaction_id, out_trade_no, order_amount)) = order_total(
        &s,
        req["transaction_id"].as_str(),
        req["out_trade_no"].as_str(),
    ) else {
        return refuse(
            &s,
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "订单不存在",
        );
    };
    if total != order_amount {
        return refuse(
            &s,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "订单金额与原订单不符",
        );
    }
    let key = (m.mchid.clone(), out_refund_no.clone());
    let mut refunds = lock(&s.refunds);
    if let Some(existing) = refunds.get(&key) {
        // Same out_refund_no: the same refund (idempotent), never a second one.
        if existing["amount"]["refund"].as_u64() != Some(refund) {
            drop(refunds);
            return refuse(
                &s,
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "同一退款单号参数不一致",
            );
        }
        let v = existing.clone();
        drop(refunds);
        return s.signed(StatusCode::OK, v.to_string());
    }
    let refunded: u64 = refunds
        .values()
        .filter(|r| r["transaction_id"] == json!(transaction_id))
        .filter_map(|r| r["amount"]["refund"].as_u64())
        .sum();
    if refunded + refund > order_amount {
        drop(refunds);
        return refuse(&s, StatusCode::FORBIDDEN, "NOT_ENOUGH", "订单可退金额不足");
    }
    let now = chrono::Utc::now().with_timezone(&china()).to_rfc3339();
    let v = json!({
        "refund_id": format!("50300{}", rand::random::<u64>()),
        "out_refund_no": out_refund_no,
        "transaction_id": transaction_id,
        "out_trade_no": out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": now,
        "status": "PROCESSING",
        "funds_account": "AVAILABLE",
        "sub_mchid": req["sub_mchid"],
        "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund, "currency": "CNY"},
    });
    refunds.insert(key, v.clone());
    drop(refunds);
    lock(&s.writes).push(SimWrite {
        mchid: m.mchid.clone(),
        path: uri.path().to_string(),
        body: req.clone(),
    });
    // The money arrives: complaints about this order learn it; REFUND complaints whose refund
    // was approved move to PROCESSED.
    for c in lock(&s.complaints).values_mut() {
        let about = c.data["complaint_order_info"].as_array().is_some_and(|a| {
            a.iter()
                .any(|o| o["transaction_id"] == json!(transaction_id))
        });
        if about {
            if refunded + refund == order_amount {
                c.data["complaint_full_refunded"] = json!(true);
            }
            if c.refund_decision.as_deref() == Some("APPROVE") {
                c.set_state("PROCESSED");
            }
        }
    }
    if let Some(url) = req["notify_url"].as_str() {
        let sim = WechatPaySim {
            inner: s.clone(),
            addr: "127.0.0.1:0".parse().expect("addr"),
        };
        let mut done = v.clone();
        done["status"] = json!("SUCCESS");
        done["success_time"] = json!(now);
        let plain = json!({
            "sp_mchid": m.mchid, "sub_mchid": req["sub_mchid"], "mchid": m.mchid,
            "transaction_id": done["transaction_id"], "out_trade_no": done["out_trade_no"],
            "refund_id": done["refund_id"], "out_refund_no": done["out_refund_no"],
            "refund_status": "SUCCESS", "success_time": now, "user_received_account": "支付用户零钱",
            "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund},
        });
        let mode = *lock(&s.mode);
        let n = sim.notification(&m.apiv3_key, "REFUND.SUCCESS", "refund", &plain, mode, 0);
        let url = url.to_string();
        let key = (
            m.mchid.clone(),
            done["out_refund_no"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        tokio::spawn(async move {
            // The money takes a moment to arrive.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            lock(&sim.inner.refunds).insert(key, done);
            if let Err(e) = n.post(&url).await {
                tracing::warn!(error = %e, "refund notification not delivered");
            }
        });
    }
    s.signed(StatusCode::OK, v.to_string())
}

async fn query_refund(
    State(s): State<Arc<Inner>>,
    Path(out_refund_no): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let m = match s.authenticate(&method, &uri, &headers, b"") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    match lock(&s.refunds).get(&(m.mchid, out_refund_no)).cloned() {
        Some(v) => s.signed(StatusCode::OK, v.to_string()),
        None => refuse(
            &s,
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "退款单不存在",
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

    /// POST it to `url` as WeChat Pay does; the HTTP status of the answer.
    pub async fn post(&self, url: &str) -> Result<u16, String> {
        crate::install_tls_provider();
        let mut req = reqwest::Client::new().post(url).body(self.body.clone());
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        req.timeout(std::time::Duration::from_secs(5))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.without_url().to_string())
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
    // As the platform answers "none registered": the complaint API says
    // RESOURCE_NOT_EXISTS, the violation API NOT_FOUND.
    let not_found = || {
        let code = if kind == "complaints" {
            "RESOURCE_NOT_EXISTS"
        } else {
            "NOT_FOUND"
        };
        s.signed(
            StatusCode::NOT_FOUND,
            json!({"code": code, "message": "通知地址不存在"}).to_string(),
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
