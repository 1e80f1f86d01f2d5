//! Simulators of the notification services: the WeChat access-token and template-message API,
//! Tencent Cloud SMS (verifying TC3 signatures with code of its own) and the WeCom, DingTalk and
//! Feishu bots (verifying their signatures). One server, one port, paths as the real services.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct Inner {
    /// appid → secret.
    oa_apps: Mutex<HashMap<String, String>>,
    /// token → (appid, expires unix s).
    tokens: Mutex<HashMap<String, (String, i64)>>,
    token_calls: AtomicUsize,
    /// The `access_token` of every template-message call, accepted or not.
    received_tokens: Mutex<Vec<String>>,
    templates: Mutex<Vec<String>>,
    template_messages: Mutex<Vec<Value>>,
    /// SecretId → SecretKey.
    sms_keys: Mutex<HashMap<String, String>>,
    sms_sent: Mutex<Vec<Value>>,
    sms_rejected: AtomicUsize,
    /// TemplateId → its number of variables (templates not registered take any number).
    sms_templates: Mutex<HashMap<String, usize>>,
    /// bot token → signing secret (None: no signature).
    bots: Mutex<HashMap<String, Option<String>>>,
    bot_messages: Mutex<Vec<(String, Value)>>,
}

/// A running notification-services simulator.
#[derive(Clone)]
pub struct NotifySim {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

impl NotifySim {
    pub async fn start() -> std::io::Result<Self> {
        let inner = Arc::new(Inner::default());
        let router = Router::new()
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/cgi-bin/message/template/send", post(template_send))
            .route("/sms/", post(sms_send))
            .route("/wecom/send", post(wecom))
            .route("/dingtalk/send", post(dingtalk))
            .route("/feishu/hook/{token}", post(feishu))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { inner, addr })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn sms_url(&self) -> String {
        format!("http://{}/sms/", self.addr)
    }

    pub fn add_oa_app(&self, appid: &str, secret: &str, template_id: &str) {
        lock(&self.inner.oa_apps).insert(appid.into(), secret.into());
        lock(&self.inner.templates).push(template_id.into());
    }

    /// Expire every token issued so far (the next use answers 42001).
    pub fn expire_tokens(&self) {
        for (_, exp) in lock(&self.inner.tokens).values_mut() {
            *exp = 0;
        }
    }

    pub fn token_calls(&self) -> usize {
        self.inner.token_calls.load(Ordering::SeqCst)
    }

    /// The tokens issued so far (valid or expired).
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.inner.tokens).keys().cloned().collect()
    }

    /// The `access_token` of every template-message call, accepted or not.
    pub fn received_tokens(&self) -> Vec<String> {
        lock(&self.inner.received_tokens).clone()
    }

    pub fn template_messages(&self) -> Vec<Value> {
        lock(&self.inner.template_messages).clone()
    }

    pub fn add_sms_key(&self, secret_id: &str, secret_key: &str) {
        lock(&self.inner.sms_keys).insert(secret_id.into(), secret_key.into());
    }

    /// Register an approved SMS template with `variables` variables: a message to it must
    /// carry exactly that many values, as Tencent checks (templates never registered take any
    /// number).
    pub fn add_sms_template(&self, template_id: &str, variables: usize) {
        lock(&self.inner.sms_templates).insert(template_id.into(), variables);
    }

    pub fn sms_sent(&self) -> Vec<Value> {
        lock(&self.inner.sms_sent).clone()
    }

    pub fn sms_rejected(&self) -> usize {
        self.inner.sms_rejected.load(Ordering::SeqCst)
    }

    /// Register a bot; its webhook URL (which carries `token`).
    pub fn add_bot(&self, kind: &str, token: &str, secret: Option<&str>) -> String {
        lock(&self.inner.bots).insert(token.into(), secret.map(String::from));
        match kind {
            "wecom" => format!("http://{}/wecom/send?key={token}", self.addr),
            "dingtalk" => format!("http://{}/dingtalk/send?access_token={token}", self.addr),
            _ => format!("http://{}/feishu/hook/{token}", self.addr),
        }
    }

    /// (bot token, body) of every accepted bot message.
    pub fn bot_messages(&self) -> Vec<(String, Value)> {
        lock(&self.inner.bot_messages).clone()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn stable_token(State(s): State<Arc<Inner>>, Json(b): Json<Value>) -> Response {
    s.token_calls.fetch_add(1, Ordering::SeqCst);
    let appid = b["appid"].as_str().unwrap_or_default();
    let ok = lock(&s.oa_apps).get(appid).map(String::as_str) == b["secret"].as_str();
    if !ok {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"})).into_response();
    }
    let force = b["force_refresh"] == true;
    let mut tokens = lock(&s.tokens);
    // Normal mode returns the current token while it is valid.
    if !force
        && let Some((t, (_, exp))) = tokens.iter().find(|(_, (a, e))| a == appid && *e > now())
    {
        return Json(json!({"access_token": t, "expires_in": exp - now()})).into_response();
    }
    let token = format!("TOKEN{}", hex::encode(rand::random::<[u8; 24]>()));
    tokens.insert(token.clone(), (appid.to_string(), now() + 7200));
    Json(json!({"access_token": token, "expires_in": 7200})).into_response()
}

async fn template_send(
    State(s): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
    Json(b): Json<Value>,
) -> Response {
    let answer =
        |code: i64, msg: &str| Json(json!({"errcode": code, "errmsg": msg})).into_response();
    if let Some(t) = q.get("access_token") {
        lock(&s.received_tokens).push(t.clone());
    }
    match q
        .get("access_token")
        .and_then(|t| lock(&s.tokens).get(t).cloned())
    {
        None => return answer(40014, "invalid access_token"),
        Some((_, exp)) if exp <= now() => return answer(42001, "access_token expired"),
        Some(_) => {}
    }
    let template = b["template_id"].as_str().unwrap_or_default();
    if !lock(&s.templates).iter().any(|t| t == template) {
        return answer(40037, "invalid template_id");
    }
    if b["touser"].as_str().is_none_or(|o| o.len() < 20) {
        return answer(40003, "invalid openid");
    }
    for (k, v) in b["data"].as_object().into_iter().flatten() {
        let n = v["value"].as_str().map(|s| s.chars().count()).unwrap_or(0);
        if k.starts_with("thing") && n > 20 {
            return answer(47003, "argument invalid! data.thing.value exceeds limit");
        }
    }
    lock(&s.template_messages).push(b);
    Json(json!({"errcode": 0, "errmsg": "ok", "msgid": rand::random::<u32>()})).into_response()
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC key");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn tc_error(code: &str, message: &str) -> Response {
    Json(json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "sim"}}))
        .into_response()
}

/// TC3-HMAC-SHA256 verification, written here from Tencent's documented steps.
async fn sms_send(State(s): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let refuse = |code: &str, msg: &str| {
        s.sms_rejected.fetch_add(1, Ordering::SeqCst);
        tc_error(code, msg)
    };
    let auth = h("authorization");
    let Some(rest) = auth.strip_prefix("TC3-HMAC-SHA256 ") else {
        return refuse("AuthFailure.InvalidAuthorization", "Authorization 格式错误");
    };
    let parts: HashMap<&str, &str> = rest.split(", ").filter_map(|p| p.split_once('=')).collect();
    let credential = parts.get("Credential").copied().unwrap_or_default();
    let mut cred = credential.splitn(2, '/');
    let (secret_id, scope) = (
        cred.next().unwrap_or_default(),
        cred.next().unwrap_or_default(),
    );
    let Some(secret_key) = lock(&s.sms_keys).get(secret_id).cloned() else {
        return refuse("AuthFailure.SecretIdNotFound", "The SecretId is not found.");
    };
    let ts: i64 = h("x-tc-timestamp").parse().unwrap_or_default();
    if (now() - ts).abs() > 300 {
        return refuse("AuthFailure.SignatureExpire", "Signature expired.");
    }
    let date = chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    if scope != format!("{date}/sms/tc3_request")
        || parts.get("SignedHeaders") != Some(&"content-type;host")
    {
        return refuse(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated.",
        );
    }
    let canonical = format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\n\ncontent-type;host\n{}",
        h("content-type").to_ascii_lowercase(),
        h("host").to_ascii_lowercase(),
        hex::encode(Sha256::digest(&body))
    );
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{ts}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k = hmac(&k, b"sms");
    let k = hmac(&k, b"tc3_request");
    if parts.get("Signature").copied() != Some(hex::encode(hmac(&k, to_sign.as_bytes())).as_str()) {
        return refuse(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        );
    }
    if h("x-tc-action") != "SendSms" || h("x-tc-version") != "2021-01-11" {
        return refuse("InvalidAction", "action or version");
    }
    let Ok(b) = serde_json::from_slice::<Value>(&body) else {
        return tc_error("InvalidParameter", "body is not JSON");
    };
    let phones: Vec<String> = b["PhoneNumberSet"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(String::from))
        .collect();
    if phones.is_empty() || b["SignName"].as_str().unwrap_or_default().is_empty() {
        return tc_error(
            "MissingParameter",
            "PhoneNumberSet and SignName are required",
        );
    }
    if let Some(refusal) = template_refusal(&s, &b) {
        return refusal;
    }
    let set: Vec<Value> = phones
        .iter()
        .map(|p| json!({"SerialNo": format!("2028:{}", rand::random::<u32>()), "PhoneNumber": p, "Fee": 1,
                        "SessionContext": b["SessionContext"], "Code": "Ok", "Message": "send success", "IsoCode": "CN"}))
        .collect();
    lock(&s.sms_sent).push(b);
    Json(json!({"Response": {"SendStatusSet": set, "RequestId": "sim"}})).into_response()
}

/// Tencent's checks of the template values: no URL in a variable (links are fixed text of the
/// template), and as many values as the approved template has variables.
fn template_refusal(s: &Inner, b: &Value) -> Option<Response> {
    let params: Vec<&str> = b["TemplateParamSet"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p.as_str().unwrap_or_default())
        .collect();
    let url = |p: &str| {
        let p = p.to_ascii_lowercase();
        p.contains("://") || p.starts_with("www.")
    };
    if params.iter().any(|p| url(p)) {
        return Some(tc_error(
            "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
            "禁止在模板变量中使用 URL。",
        ));
    }
    let template = b["TemplateId"].as_str().unwrap_or_default();
    let variables = lock(&s.sms_templates).get(template).copied();
    if variables.is_some_and(|n| n != params.len()) {
        return Some(tc_error(
            "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
            "请求内容与审核通过的模板内容不匹配。",
        ));
    }
    None
}

fn bot_ok(s: &Inner, token: &str, body: Value, ok: Value) -> Response {
    lock(&s.bot_messages).push((token.to_string(), body));
    Json(ok).into_response()
}

async fn wecom(
    State(s): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
    Json(b): Json<Value>,
) -> Response {
    let key = q.get("key").cloned().unwrap_or_default();
    if !lock(&s.bots).contains_key(&key) {
        return Json(json!({"errcode": 93000, "errmsg": "invalid webhook url"})).into_response();
    }
    if b["msgtype"] != "markdown" || b["markdown"]["content"].as_str().is_none_or(str::is_empty) {
        return Json(json!({"errcode": 40008, "errmsg": "invalid message type"})).into_response();
    }
    bot_ok(&s, &key, b, json!({"errcode": 0, "errmsg": "ok"}))
}

async fn dingtalk(
    State(s): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
    Json(b): Json<Value>,
) -> Response {
    let token = q.get("access_token").cloned().unwrap_or_default();
    let Some(secret) = lock(&s.bots).get(&token).cloned() else {
        return Json(json!({"errcode": 300001, "errmsg": "token is not exist"})).into_response();
    };
    if let Some(secret) = secret {
        let ts: i64 = q
            .get("timestamp")
            .and_then(|t| t.parse().ok())
            .unwrap_or_default();
        let want = base64::engine::general_purpose::STANDARD.encode(hmac(
            secret.as_bytes(),
            format!("{ts}\n{secret}").as_bytes(),
        ));
        if (chrono::Utc::now().timestamp_millis() - ts).abs() > 3_600_000
            || q.get("sign") != Some(&want)
        {
            return Json(json!({"errcode": 310000, "errmsg": "sign not match"})).into_response();
        }
    }
    bot_ok(&s, &token, b, json!({"errcode": 0, "errmsg": "ok"}))
}

async fn feishu(
    State(s): State<Arc<Inner>>,
    Path(token): Path<String>,
    Json(b): Json<Value>,
) -> Response {
    let Some(secret) = lock(&s.bots).get(&token).cloned() else {
        return (StatusCode::NOT_FOUND, Json(json!({"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}))).into_response();
    };
    if let Some(secret) = secret {
        let ts: i64 = b["timestamp"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_default();
        let want = base64::engine::general_purpose::STANDARD
            .encode(hmac(format!("{ts}\n{secret}").as_bytes(), b""));
        if (now() - ts).abs() > 3600 || b["sign"].as_str() != Some(want.as_str()) {
            return Json(json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})).into_response();
        }
    }
    bot_ok(
        &s,
        &token,
        b,
        json!({"code": 0, "msg": "success", "data": {}}),
    )
}
