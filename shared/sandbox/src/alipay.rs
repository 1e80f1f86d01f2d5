//! An Alipay open-platform gateway simulator (`gateway.do`), with signing and SN code of its
//! own (not the alipay crate's): it checks our RSA2 request signatures and, in certificate
//! mode, our `app_cert_sn` and `alipay_root_cert_sn`; signs its answers over a deliberately
//! unevenly formatted `*_response` text (spaces, `\uXXXX` escapes) so that a re-serialising
//! verifier fails; keeps complaints and refunds (`out_request_no` idempotency); lists
//! complaints with the platform's paging rules ([`batchquery`]); builds signed complaint
//! messages.
//!
//! It never pushes by itself: a complaint added or changed here is a push that was dropped
//! until the test delivers its message ([`AlipaySim::trade_message`],
//! [`AlipaySim::risk_message`]). Times it writes follow its own clock ([`AlipaySim::set_now`]).

pub mod batchquery;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use md5::{Digest, Md5};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Which mode the simulator answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlipayMode {
    PublicKey,
    Certificate,
}

const ROOT_DN: &str =
    "CN=Sim Ant Financial Root R1,OU=Certification Authority,O=Sim Ant Financial,C=CN";

/// Alipay's keys and, for certificate mode, its root and certificates (PEM).
pub struct AlipayKeys {
    pub alipay_key: RsaPrivateKey,
    root_key: RsaPrivateKey,
    pub root_pem: String,
    pub alipay_cert_pem: String,
    /// SNs computed here: MD5(issuer DN + decimal serial).
    pub root_sn: String,
    pub alipay_cert_sn: String,
}

fn sn(issuer: &str, serial: u64) -> String {
    let mut h = Md5::new();
    h.update(issuer.as_bytes());
    h.update(serial.to_string().as_bytes());
    hex::encode(h.finalize())
}

fn certificate(
    subject: &str,
    key: &RsaPublicKey,
    issuer_key: &RsaPrivateKey,
    serial: u64,
    ca: bool,
) -> String {
    use std::str::FromStr;
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::EncodePem;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::Validity;
    let signer = SigningKey::<Sha256>::new(issuer_key.clone());
    let spki = SubjectPublicKeyInfoOwned::from_key(key.clone()).expect("spki");
    let profile = if ca {
        Profile::Root
    } else {
        Profile::Leaf {
            issuer: Name::from_str(ROOT_DN).expect("issuer"),
            enable_key_agreement: false,
            enable_key_encipherment: true,
        }
    };
    CertificateBuilder::new(
        profile,
        SerialNumber::from(serial),
        Validity::from_now(std::time::Duration::from_secs(365 * 86_400)).expect("validity"),
        Name::from_str(subject).expect("subject"),
        spki,
        &signer,
    )
    .expect("builder")
    .build::<Signature>()
    .expect("certificate")
    .to_pem(LineEnding::LF)
    .expect("pem")
}

impl AlipayKeys {
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let alipay_key = RsaPrivateKey::new(&mut rng, 2048).expect("key");
        let root_key = RsaPrivateKey::new(&mut rng, 2048).expect("key");
        Self::from_keys(alipay_key, root_key)
    }

    /// Alipay's keys from keys kept elsewhere (a sandbox that restarts with the keys its
    /// accounts trust): Alipay's signing key and its root's key; the certificates are issued
    /// anew (fresh serials).
    pub fn from_keys(alipay_key: RsaPrivateKey, root_key: RsaPrivateKey) -> Self {
        let root_serial = rand::random::<u32>() as u64 + 1;
        let cert_serial = rand::random::<u32>() as u64 + 1;
        Self {
            root_pem: certificate(
                ROOT_DN,
                &root_key.to_public_key(),
                &root_key,
                root_serial,
                true,
            ),
            alipay_cert_pem: certificate(
                "CN=2088000000000000,OU=Alipay,O=Sim Alipay,C=CN",
                &alipay_key.to_public_key(),
                &root_key,
                cert_serial,
                false,
            ),
            root_sn: sn(ROOT_DN, root_serial),
            alipay_cert_sn: sn(ROOT_DN, cert_serial),
            alipay_key,
            root_key,
        }
    }

    /// The root's key (to keep with [`AlipayKeys::from_keys`]).
    pub fn root_key(&self) -> &RsaPrivateKey {
        &self.root_key
    }

    pub fn alipay_public_key_pem(&self) -> String {
        self.alipay_key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem")
    }

    /// Issue an app certificate for an app's public key; (PEM, its SN).
    pub fn issue_app_cert(&self, app_key: &RsaPublicKey) -> (String, String) {
        let serial = rand::random::<u32>() as u64 + 1;
        (
            certificate(
                "CN=App,OU=Apps,O=Sim Merchant,C=CN",
                app_key,
                &self.root_key,
                serial,
                false,
            ),
            sn(ROOT_DN, serial),
        )
    }
}

/// An app the simulator knows.
#[derive(Clone)]
pub struct SimApp {
    pub app_id: String,
    pub public_key: RsaPublicKey,
    /// Certificate mode: the app certificate's SN it must send.
    pub app_cert_sn: Option<String>,
}

/// One accepted call: method and biz_content.
#[derive(Debug, Clone)]
pub struct AlipayCall {
    pub app_id: String,
    pub method: String,
    pub biz: Value,
}

struct Inner {
    keys: AlipayKeys,
    mode: AlipayMode,
    apps: Mutex<HashMap<String, SimApp>>,
    complaints: Mutex<HashMap<String, Value>>,
    risk: Mutex<HashMap<i64, Value>>,
    /// (trade_no, out_request_no) → refund fen.
    refunds: Mutex<HashMap<(String, String), u64>>,
    calls: Mutex<Vec<AlipayCall>>,
    rejected: Mutex<Vec<String>>,
    /// Throttling switch: (method, calls left to let through first, calls left to refuse
    /// with `40005`).
    throttle: Mutex<Vec<(String, u32, u32)>>,
    /// Calls refused with `40005` (either switch): their methods.
    throttled: Mutex<Vec<String>>,
    /// Calls left to refuse with `40005 isv.app-call-limited`, whatever their method.
    app_throttle: Mutex<u32>,
    /// (app id, method) the app has no permission for (`40006`).
    denied: Mutex<Vec<(String, String)>>,
    /// The simulator's clock (None: the system's).
    now: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

#[derive(Clone)]
pub struct AlipaySim {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

impl AlipaySim {
    /// On a free loopback port.
    pub async fn start(keys: AlipayKeys, mode: AlipayMode) -> std::io::Result<Self> {
        Self::start_on(keys, mode, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// On `addr` (port 0: a free one).
    pub async fn start_on(
        keys: AlipayKeys,
        mode: AlipayMode,
        addr: SocketAddr,
    ) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            keys,
            mode,
            apps: Mutex::default(),
            complaints: Mutex::default(),
            risk: Mutex::default(),
            refunds: Mutex::default(),
            calls: Mutex::default(),
            rejected: Mutex::default(),
            throttle: Mutex::default(),
            throttled: Mutex::default(),
            app_throttle: Mutex::default(),
            denied: Mutex::default(),
            now: Mutex::default(),
        });
        let router = axum::Router::new()
            .route("/gateway.do", post(gateway))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { inner, addr })
    }

    /// Answer the next `calls` signed calls of `method` with `code 40005` and `sub_code
    /// isv.method-call-limited`, as Alipay does when an app calls a method too often.
    pub fn throttle_next(&self, method: &str, calls: u32) {
        self.throttle_after(method, 0, calls);
    }

    /// Let the next `pass` signed calls of `method` through, then answer `refuse` calls as
    /// [`AlipaySim::throttle_next`] does (a pass throttled in the middle of its pages).
    pub fn throttle_after(&self, method: &str, pass: u32, refuse: u32) {
        lock(&self.inner.throttle).push((method.to_string(), pass, refuse));
    }

    /// Answer the next `calls` signed calls, whatever their method, with `code 40005` and
    /// `sub_code isv.app-call-limited`, as Alipay does when an app calls too often.
    pub fn throttle_app_next(&self, calls: u32) {
        *lock(&self.inner.app_throttle) += calls;
    }

    /// Calls refused by the throttling switches so far: their methods.
    pub fn throttled(&self) -> Vec<String> {
        lock(&self.inner.throttled).clone()
    }

    /// The app has no permission for `method` (an API product it has not signed): its calls
    /// are answered `40006 Insufficient Permissions`, `isv.insufficient-isv-permissions`.
    pub fn deny(&self, app_id: &str, method: &str) {
        lock(&self.inner.denied).push((app_id.to_string(), method.to_string()));
    }

    /// Set the simulator's clock: the times it writes (a complaint's `gmt_create` when none
    /// is given, `gmt_modified`, `gmt_process`) and the default list window follow it.
    pub fn set_now(&self, at: chrono::DateTime<chrono::Utc>) {
        *lock(&self.inner.now) = Some(at);
    }

    /// The simulator's time now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.now()
    }

    pub fn gateway_url(&self) -> String {
        format!("http://{}/gateway.do", self.addr)
    }

    pub fn keys(&self) -> &AlipayKeys {
        &self.inner.keys
    }

    pub fn add_app(&self, app: SimApp) {
        lock(&self.inner.apps).insert(app.app_id.clone(), app);
    }

    /// A trade complaint (`alipay.merchant.tradecomplain.*`), keyed by `complain_event_id`
    /// (without a `gmt_create`, it was made now; without a `gmt_modified`, it has not changed
    /// since). No message is sent: deliver [`AlipaySim::trade_message`] to push it.
    pub fn add_trade_complaint(&self, mut c: Value) {
        let id = c["complain_event_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if c.get("gmt_create").is_none() {
            c["gmt_create"] = json!(china_time(self.now()));
        }
        if c.get("gmt_modified").is_none() {
            c["gmt_modified"] = c["gmt_create"].clone();
        }
        lock(&self.inner.complaints).insert(id, c);
    }

    pub fn trade_complaint(&self, id: &str) -> Option<Value> {
        lock(&self.inner.complaints).get(id).cloned()
    }

    /// A RiskGO consumer complaint, keyed by `id`. Without a `gmt_complain` it was made now;
    /// without a `gmt_overdue` (过期时间) it expires three days after it was made, as in the
    /// documented sample (the real window is not published).
    pub fn add_risk_complaint(&self, mut c: Value) {
        let id = c["id"].as_i64().unwrap_or_default();
        let made = c["gmt_complain"]
            .as_str()
            .and_then(batchquery::parse_china_time)
            .unwrap_or_else(|| self.now());
        if c.get("gmt_complain").is_none() {
            c["gmt_complain"] = json!(china_time(made));
        }
        if c.get("gmt_overdue").is_none() {
            c["gmt_overdue"] = json!(china_time(made + chrono::Duration::days(3)));
        }
        lock(&self.inner.risk).insert(id, c);
    }

    /// A RiskGO complaint as the platform now has it.
    pub fn risk_complaint(&self, id: i64) -> Option<Value> {
        lock(&self.inner.risk).get(&id).cloned()
    }

    /// Change fields of a RiskGO complaint (its `status`, `gmt_overdue`, ...), as the
    /// platform or the buyer would. No message is sent: deliver [`AlipaySim::risk_message`]
    /// to push the change.
    pub fn update_risk_complaint(&self, id: i64, fields: Value) {
        if let (Some(c), Some(fields)) = (lock(&self.inner.risk).get_mut(&id), fields.as_object()) {
            for (k, v) in fields {
                c[k] = v.clone();
            }
        }
    }

    /// Change fields of a trade complaint (its `status`, ...); `gmt_modified` becomes now
    /// unless the fields set it. No message is sent: deliver [`AlipaySim::trade_message`] to
    /// push the change.
    pub fn update_trade_complaint(&self, id: &str, fields: Value) {
        let now = china_time(self.now());
        if let (Some(c), Some(fields)) =
            (lock(&self.inner.complaints).get_mut(id), fields.as_object())
        {
            c["gmt_modified"] = json!(now);
            for (k, v) in fields {
                c[k] = v.clone();
            }
        }
    }

    /// The message Alipay pushes when trade complaint `complain_event_id` is made or changes
    /// (`alipay.merchant.tradecomplain.changed`), signed, with a fresh `notify_id`.
    pub fn trade_message(&self, app_id: &str, complain_event_id: &str) -> Vec<(String, String)> {
        self.message(
            app_id,
            "alipay.merchant.tradecomplain.changed",
            &json!({"complain_event_id": complain_event_id}),
        )
    }

    /// The message Alipay pushes when RiskGO complaint `id` is made or changes
    /// (`alipay.security.risk.complaints.merchants.notify`), signed, with a fresh `notify_id`.
    pub fn risk_message(&self, app_id: &str, id: i64) -> Vec<(String, String)> {
        self.message(
            app_id,
            "alipay.security.risk.complaints.merchants.notify",
            &json!({"complaint_id": id}),
        )
    }

    pub fn calls(&self, method: &str) -> Vec<AlipayCall> {
        lock(&self.inner.calls)
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Why requests were refused (`invalid-signature`, `invalid-app-cert-sn`, ...).
    pub fn rejected(&self) -> Vec<String> {
        lock(&self.inner.rejected).clone()
    }

    pub fn refund_count(&self) -> usize {
        lock(&self.inner.refunds).len()
    }

    /// A complaint message as Alipay pushes it to the app's gateway: form fields, signed with
    /// the V1 rule (`sign` and `sign_type` excluded).
    pub fn message(&self, app_id: &str, msg_method: &str, biz: &Value) -> Vec<(String, String)> {
        let mut p = vec![
            ("msg_method".to_string(), msg_method.to_string()),
            ("app_id".into(), app_id.into()),
            ("biz_content".into(), biz.to_string()),
            ("charset".into(), "utf-8".into()),
            ("version".into(), "1.1".into()),
            (
                "utc_timestamp".into(),
                chrono::Utc::now().timestamp_millis().to_string(),
            ),
            ("notify_id".into(), hex::encode(rand::random::<[u8; 16]>())),
            ("sign_type".into(), "RSA2".into()),
        ];
        let content = sign_content(&p, &["sign_type"]);
        p.push((
            "sign".into(),
            rsa_sign(&self.inner.keys.alipay_key, &content),
        ));
        p
    }
}

fn sign_content(p: &[(String, String)], exclude: &[&str]) -> String {
    let m: BTreeMap<&str, &str> = p
        .iter()
        .filter(|(k, v)| k != "sign" && !v.is_empty() && !exclude.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn rsa_sign(key: &RsaPrivateKey, content: &str) -> String {
    b64().encode(
        SigningKey::<Sha256>::new(key.clone())
            .sign(content.as_bytes())
            .to_bytes(),
    )
}

/// JSON with a space after every `:` and `,` and non-ASCII as `\uXXXX`, as Alipay's answers
/// sometimes look.
fn uneven(v: &Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        if c as u32 > 127 {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{:04x}", u));
            }
        } else {
            out.push(c);
        }
    }
    out.replace("\":", "\": ").replace(",\"", ", \"")
}

impl Inner {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        lock(&self.now).unwrap_or_else(chrono::Utc::now)
    }

    fn answer(&self, method: &str, v: Value) -> Response {
        let node = format!("{}_response", method.replace('.', "_"));
        let raw = uneven(&v);
        let sign = rsa_sign(&self.keys.alipay_key, &raw);
        let sn = match self.mode {
            AlipayMode::Certificate => {
                format!(",\"alipay_cert_sn\":\"{}\"", self.keys.alipay_cert_sn)
            }
            AlipayMode::PublicKey => String::new(),
        };
        let body = format!(
            "{{\"{node}\":{raw}{sn},\"sign\":\"{}\"}}",
            sign.replace('/', "\\/")
        );
        ([("content-type", "text/html;charset=utf-8")], body).into_response()
    }

    fn refuse(&self, method: &str, sub_code: &str, sub_msg: &str) -> Response {
        lock(&self.rejected).push(sub_code.to_string());
        let node = format!("{}_response", method.replace('.', "_"));
        let body = json!({node: {"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}});
        (
            [("content-type", "text/html;charset=utf-8")],
            body.to_string(),
        )
            .into_response()
    }

    fn business(&self, method: &str, sub_code: &str, sub_msg: &str) -> Response {
        self.answer(method, json!({"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}))
    }

    /// A business parameter out of its rules (signed, as Alipay signs its answers).
    fn invalid(&self, method: &str, e: batchquery::Invalid) -> Response {
        self.answer(method, json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-parameter", "sub_msg": e.0}))
    }
}

fn ok(extra: Value) -> Value {
    let mut v = json!({"code": "10000", "msg": "Success"});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

async fn gateway(State(s): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let params: Vec<(String, String)> = if ct.starts_with("multipart/form-data") {
        let boundary = ct.split("boundary=").nth(1).unwrap_or_default().to_string();
        let mut out = Vec::new();
        let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut m = multer::Multipart::new(stream, boundary);
        while let Ok(Some(field)) = m.next_field().await {
            let name = field.name().unwrap_or_default().to_string();
            if field.file_name().is_some() {
                let _ = field.bytes().await;
                out.push((format!("@file:{name}"), String::new()));
            } else if let Ok(t) = field.text().await {
                out.push((name, t));
            }
        }
        out
    } else {
        url::form_urlencoded::parse(&body).into_owned().collect()
    };
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let method = get("method");
    let Some(app) = lock(&s.apps).get(&get("app_id")).cloned() else {
        return s.refuse(&method, "isv.invalid-app-id", "无效的AppID参数");
    };
    let signed: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !k.starts_with("@file:"))
        .cloned()
        .collect();
    let sig_ok = b64()
        .decode(get("sign"))
        .ok()
        .and_then(|b| Signature::try_from(b.as_slice()).ok())
        .is_some_and(|sig| {
            VerifyingKey::<Sha256>::new(app.public_key.clone())
                .verify(sign_content(&signed, &[]).as_bytes(), &sig)
                .is_ok()
        });
    if !sig_ok {
        return s.refuse(&method, "isv.invalid-signature", "验签出错");
    }
    if s.mode == AlipayMode::Certificate {
        if app.app_cert_sn.as_deref() != Some(get("app_cert_sn").as_str()) {
            return s.refuse(
                &method,
                "isv.invalid-app-cert-sn",
                "应用公钥证书序列号不匹配",
            );
        }
        if get("alipay_root_cert_sn") != s.keys.root_sn {
            return s.refuse(
                &method,
                "isv.invalid-alipay-root-cert-sn",
                "支付宝根证书序列号不匹配",
            );
        }
    }
    let app_throttled = {
        let mut left = lock(&s.app_throttle);
        let refuse = *left > 0;
        *left = left.saturating_sub(1);
        refuse
    };
    if app_throttled {
        lock(&s.throttled).push(method.clone());
        return s.answer(
            &method,
            json!({"code": "40005", "msg": "Call Limited", "sub_code": "isv.app-call-limited", "sub_msg": "应用调用次数超限"}),
        );
    }
    if lock(&s.denied)
        .iter()
        .any(|(a, m)| *a == app.app_id && *m == method)
    {
        return s.answer(
            &method,
            json!({"code": "40006", "msg": "Insufficient Permissions", "sub_code": "isv.insufficient-isv-permissions", "sub_msg": "ISV权限不足"}),
        );
    }
    let throttled = lock(&s.throttle)
        .iter_mut()
        .find(|(m, _, left)| *left > 0 && *m == method)
        .is_some_and(|(_, pass, left)| {
            if *pass > 0 {
                *pass -= 1;
                false
            } else {
                *left -= 1;
                true
            }
        });
    if throttled {
        lock(&s.throttled).push(method.clone());
        return s.answer(
            &method,
            json!({"code": "40005", "msg": "Call Limited", "sub_code": "isv.method-call-limited", "sub_msg": "方法调用次数超限"}),
        );
    }
    let biz: Value = serde_json::from_str(&get("biz_content")).unwrap_or(Value::Null);
    lock(&s.calls).push(AlipayCall {
        app_id: app.app_id.clone(),
        method: method.clone(),
        biz: biz.clone(),
    });
    let cid = biz["complain_event_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match method.as_str() {
        "alipay.merchant.tradecomplain.query" => match lock(&s.complaints).get(&cid).cloned() {
            Some(c) => s.answer(&method, ok(c)),
            None => s.business(&method, "COMPLAIN_NOT_EXIST", "投诉单不存在"),
        },
        "alipay.merchant.tradecomplain.reply.submit" | "alipay.merchant.tradecomplain.supplement.submit" | "alipay.merchant.tradecomplain.feedback.submit" => {
            let mut complaints = lock(&s.complaints);
            let Some(c) = complaints.get_mut(&cid) else {
                drop(complaints);
                return s.business(&method, "COMPLAIN_NOT_EXIST", "投诉单不存在");
            };
            if c["status"] == "FINISHED" || c["status"] == "MERCHANT_FEEDBACKED" {
                drop(complaints);
                return s.business(&method, "COMPLAIN_STATUS_NOT_SUPPORT", "投诉单状态不支持该操作");
            }
            let content = ["reply_content", "supplement_content", "feedback_content"].iter().find_map(|k| biz[*k].as_str()).unwrap_or_default().to_string();
            if content.is_empty() || content.chars().count() > 200 {
                drop(complaints);
                return s.business(&method, "PARAM_ILLEGAL", "内容长度应在1到200之间");
            }
            let now = china_time(s.now());
            if method.ends_with("feedback.submit") {
                c["status"] = json!("MERCHANT_FEEDBACKED");
            }
            c["gmt_modified"] = json!(now);
            let entry = json!({"content": content, "gmt_create": now, "images": [], "replier_name": "商家", "replier_role": "MERCHANT"});
            if let Some(a) = c["reply_detail_infos"].as_array_mut() {
                a.push(entry);
            } else {
                c["reply_detail_infos"] = json!([entry]);
            }
            drop(complaints);
            s.answer(&method, ok(json!({})))
        }
        "alipay.merchant.tradecomplain.batchquery" => {
            let all: Vec<Value> = lock(&s.complaints).values().cloned().collect();
            match batchquery::trade(all, &biz, s.now()) {
                Ok(page) => s.answer(&method, ok(page)),
                Err(e) => s.invalid(&method, e),
            }
        }
        "alipay.security.risk.complaint.info.batchquery" => {
            let all: Vec<Value> = lock(&s.risk).values().cloned().collect();
            match batchquery::risk(all, &biz) {
                Ok(page) => s.answer(&method, ok(page)),
                Err(e) => s.invalid(&method, e),
            }
        }
        "alipay.security.risk.complaint.file.upload" => s.answer(&method, ok(json!({"file_key": format!("FK{}", hex::encode(rand::random::<[u8; 8]>())), "file_name": "evidence", "file_url": ""}))),
        "alipay.merchant.image.upload" => s.answer(&method, ok(json!({"image_id": format!("IMG{}", hex::encode(rand::random::<[u8; 8]>())), "image_url": ""}))),
        "alipay.security.risk.complaint.info.query" => match lock(&s.risk).get(&biz["complain_id"].as_i64().unwrap_or_default()).cloned() {
            Some(c) => s.answer(&method, ok(c)),
            None => s.business(&method, "COMPLAINT_NOT_EXIST", "投诉不存在"),
        },
        "alipay.security.risk.complaint.process.finish" => {
            let mut risk = lock(&s.risk);
            for id in biz["id_list"].as_array().into_iter().flatten().filter_map(Value::as_i64) {
                if let Some(c) = risk.get_mut(&id) {
                    // Finished after `gmt_overdue`: a late finish.
                    let late = matches!(c["status"].as_str(), Some("OVERDUE" | "PART_OVERDUE"));
                    c["status"] = json!(if late { "OVERDUE_PROCESSED" } else { "PROCESSED" });
                    c["process_code"] = biz["process_code"].clone();
                    c["gmt_process"] = json!(china_time(s.now()));
                }
            }
            drop(risk);
            s.answer(&method, ok(json!({"complaint_process_success": true})))
        }
        "alipay.trade.refund" => {
            let trade_no = biz["trade_no"].as_str().unwrap_or_default().to_string();
            let Ok(fen) = parse_yuan(biz["refund_amount"].as_str().unwrap_or_default()) else {
                return s.business(&method, "ACQ.INVALID_PARAMETER", "refund_amount 格式错误");
            };
            let req_no = biz["out_request_no"].as_str().unwrap_or_default().to_string();
            let mut refunds = lock(&s.refunds);
            let fund_change = if let Some(prev) = refunds.get(&(trade_no.clone(), req_no.clone())) {
                if *prev != fen {
                    drop(refunds);
                    return s.business(&method, "ACQ.REQUEST_AMOUNT_EXCEED", "同一退款请求号金额不一致");
                }
                "N"
            } else {
                refunds.insert((trade_no.clone(), req_no), fen);
                "Y"
            };
            drop(refunds);
            s.answer(&method, ok(json!({"trade_no": trade_no, "refund_fee": biz["refund_amount"], "fund_change": fund_change})))
        }
        "alipay.trade.fastpay.refund.query" => {
            let key = (biz["trade_no"].as_str().unwrap_or_default().to_string(), biz["out_request_no"].as_str().unwrap_or_default().to_string());
            match lock(&s.refunds).get(&key).copied() {
                Some(fen) => s.answer(&method, ok(json!({"trade_no": key.0, "out_request_no": key.1, "refund_amount": format!("{}.{:02}", fen / 100, fen % 100), "refund_status": "REFUND_SUCCESS"}))),
                None => s.answer(&method, ok(json!({}))),
            }
        }
        _ => s.refuse(&method, "isv.invalid-method", "不存在的方法名"),
    }
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time, as Alipay writes times.
fn china_time(t: chrono::DateTime<chrono::Utc>) -> String {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    t.with_timezone(&beijing)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn parse_yuan(s: &str) -> Result<u64, ()> {
    let (i, f) = s.split_once('.').unwrap_or((s, ""));
    if i.is_empty() || f.len() > 2 {
        return Err(());
    }
    let i: u64 = i.parse().map_err(|_| ())?;
    let f: u64 = format!("{f:0<2}").parse().map_err(|_| ())?;
    Ok(i * 100 + f)
}
