//! Simulator of the WeChat server APIs a mini program and a third-party platform use: access
//! tokens (`stable_token`; component tokens from the latest ticket; authorizer tokens with a
//! refresh token that rotates and refuses an old one), the one-click authorisation page and
//! code exchange, mini-program trade complaints (answering 309 in the wrong state), media, the
//! trade experience score (its penalty list paged by `offset`/`limit` with `totalNum`), violation
//! and appeal records. It pushes complaint events and
//! third-party platform events in every crypto mode (plaintext, compatible, safe; XML or JSON),
//! with message crypto written here on the primitives (AES block cipher, SHA-1), not taken from
//! the `wechat` crate.
//!
//! Nothing changes a complaint *and* pushes it at once: tests add complaints, move them and add
//! the buyer's messages silently (a push the platform dropped), then push on demand
//! ([`WechatSim::push_complaint`]). [`WechatSim::throttle_next`] answers calls with WeChat's
//! quota errcodes; [`WechatSim::requests`] shows what reached it.

use aes::cipher::{BlockEncrypt, KeyInit};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rand_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:x}", rand::random::<u8>() % 16))
        .collect()
}

/// How a push is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    Plain,
    Compatible,
    Safe,
}

/// How a push body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFormat {
    Xml,
    Json,
}

/// Message push settings of an app or a third-party platform.
#[derive(Clone)]
pub struct PushConfig {
    pub token: String,
    pub encoding_aes_key: String,
    pub mode: PushMode,
    pub format: PushFormat,
    /// Where pushes go. For a third-party platform's authorised apps: the message URL with
    /// `$APPID$` where the app's appid goes.
    pub url: String,
}

/// A mini program with its own secret (manual onboarding).
#[derive(Clone)]
pub struct SimMini {
    pub appid: String,
    pub secret: String,
    pub nick_name: String,
    pub push: Option<PushConfig>,
}

/// A third-party platform.
#[derive(Clone)]
pub struct SimComponent {
    pub appid: String,
    pub secret: String,
    /// The events URL (tickets, authorisation events), encrypted in safe mode always.
    pub events: PushConfig,
    /// The message URL of authorised apps (`...$APPID$...`).
    pub messages: PushConfig,
}

#[derive(Default)]
struct Inner {
    minis: Mutex<HashMap<String, SimMini>>,
    components: Mutex<HashMap<String, SimComponent>>,
    /// component appid → the latest ticket.
    tickets: Mutex<HashMap<String, String>>,
    /// access token → (appid, expires).
    tokens: Mutex<HashMap<String, (String, i64)>>,
    /// component access token → (component appid, expires).
    component_tokens: Mutex<HashMap<String, (String, i64)>>,
    authorizers: Mutex<HashMap<String, Authorizer>>,
    pre_auth_codes: Mutex<HashSet<String>>,
    /// auth code → (component appid, authorizer appid).
    auth_codes: Mutex<HashMap<String, (String, String)>>,
    /// What the next visit to the authorisation page grants: (appid, nick name, permission sets).
    next_authorizer: Mutex<Option<(String, String, Vec<u32>)>>,
    complaints: Mutex<HashMap<String, SimComplaint>>,
    media: Mutex<HashMap<String, SimMedia>>,
    penalties: Mutex<HashMap<String, Value>>,
    illegal: Mutex<HashMap<String, Vec<Value>>>,
    appeals: Mutex<HashMap<String, Vec<Value>>>,
    /// Accepted writes: (appid, path, body).
    writes: Mutex<Vec<(String, String, Value)>>,
    /// Every API call that reached the simulator: `METHOD path?query` without the token.
    requests: Mutex<Vec<String>>,
    /// Throttling switches: (path fragment, calls left, errcode to answer).
    throttle: Mutex<Vec<(String, u32, i64)>>,
    stable_token_calls: AtomicUsize,
    component_token_calls: AtomicUsize,
    refresh_calls: AtomicUsize,
    query_auth_calls: AtomicUsize,
    rejected_tokens: AtomicUsize,
}

/// An app authorised to a component.
#[derive(Clone)]
struct Authorizer {
    component: String,
    /// The one refresh token that works now.
    refresh: String,
    permission_sets: Vec<u32>,
    nick_name: String,
}

struct SimMedia {
    appid: String,
    content_type: String,
    bytes: Vec<u8>,
}

struct SimComplaint {
    appid: String,
    order: Value,
    items: Vec<Value>,
}

/// A running WeChat API simulator.
#[derive(Clone)]
pub struct WechatSim {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
    http: reqwest::Client,
}

impl WechatSim {
    pub async fn start() -> std::io::Result<Self> {
        let inner = Arc::new(Inner::default());
        let router = Router::new()
            .route("/cgi-bin/stable_token", post(stable_token))
            .route(
                "/cgi-bin/component/api_component_token",
                post(component_token),
            )
            .route(
                "/cgi-bin/component/api_create_preauthcode",
                post(pre_auth_code),
            )
            .route("/cgi-bin/component/api_query_auth", post(query_auth))
            .route(
                "/cgi-bin/component/api_authorizer_token",
                post(authorizer_token),
            )
            .route(
                "/cgi-bin/component/api_get_authorizer_info",
                post(authorizer_info),
            )
            .route("/cgi-bin/componentloginpage", get(login_page))
            .route(
                "/wxaapi/minishop/complaintOrderDetail",
                get(complaint_detail),
            )
            .route(
                "/wxaapi/minishop/bussiRespondComplaint",
                post(|s, q, b| evidence(s, q, b, Step::Respond)),
            )
            .route(
                "/wxaapi/minishop/bussiSupplyProof",
                post(|s, q, b| evidence(s, q, b, Step::Proof)),
            )
            .route(
                "/wxaapi/minishop/bussiSupplyRefund",
                post(|s, q, b| evidence(s, q, b, Step::Refund)),
            )
            .route(
                "/wxaapi/minishop/busiAppeal",
                post(|s, q, b| evidence(s, q, b, Step::Appeal)),
            )
            .route("/cgi-bin/media/upload", post(media_upload))
            .route("/cgi-bin/media/get", get(media_get))
            .route("/wxaapi/wxamptrade/get_penalty_list", get(penalty_list))
            .route("/wxa/getillegalrecords", post(illegal_records))
            .route("/wxa/getappealrecords", post(appeal_records))
            .layer(axum::middleware::from_fn_with_state(inner.clone(), gate))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            inner,
            addr,
            http: {
                crate::install_tls_provider();
                reqwest::Client::new()
            },
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn add_mini(&self, m: SimMini) {
        lock(&self.inner.minis).insert(m.appid.clone(), m);
    }

    pub fn add_component(&self, c: SimComponent) {
        lock(&self.inner.components).insert(c.appid.clone(), c);
    }

    /// The next visit to the authorisation page grants `appid` these permission sets.
    pub fn will_authorize(&self, appid: &str, nick_name: &str, permission_sets: &[u32]) {
        *lock(&self.inner.next_authorizer) =
            Some((appid.into(), nick_name.into(), permission_sets.to_vec()));
    }

    /// Add a complaint (`complaintOrder` fields as the detail API answers them). Without an
    /// `expireTime`, one is set as the platform would for its state (see [`state_expiry`]).
    pub fn add_complaint(&self, appid: &str, mut order: Value) {
        let id = order["complaintOrderId"].to_string().replace('"', "");
        if order.get("expireTime").is_none() {
            let from = order["createTime"].as_i64().unwrap_or_else(now);
            order["expireTime"] = json!(state_expiry(
                order["status"].as_i64().unwrap_or_default(),
                from
            ));
        }
        let first = json!({"itemType": 100, "time": order["createTime"], "content": order["customerMaterial"]["content"], "mediaIdList": []});
        lock(&self.inner.complaints).insert(
            id,
            SimComplaint {
                appid: appid.into(),
                order,
                items: vec![first],
            },
        );
    }

    /// Move a complaint to another status (the platform's or the user's doing) without
    /// pushing it; its `expireTime` becomes the new state's (48 h from now in a state with a
    /// time limit, `0` otherwise), as the platform re-sets it per state.
    pub fn set_status(&self, complaint_order_id: &str, status: i64) {
        if let Some(c) = lock(&self.inner.complaints).get_mut(complaint_order_id) {
            c.order["status"] = json!(status);
            c.order["expireTime"] = json!(state_expiry(status, now()));
        }
    }

    /// Set a complaint's `expireTime` (unix seconds; `0` = none), as the detail and the push
    /// will show it.
    pub fn set_expire_time(&self, complaint_order_id: &str, expire_time: i64) {
        if let Some(c) = lock(&self.inner.complaints).get_mut(complaint_order_id) {
            c.order["expireTime"] = json!(expire_time);
        }
    }

    /// The buyer adds a message to a complaint's history at `time` (unix seconds), without
    /// a push; the status stays.
    pub fn buyer_message(&self, complaint_order_id: &str, content: &str, time: i64) {
        if let Some(c) = lock(&self.inner.complaints).get_mut(complaint_order_id) {
            c.items.push(
                json!({"itemType": 100, "time": time, "content": content, "mediaIdList": []}),
            );
        }
    }

    pub fn complaint(&self, complaint_order_id: &str) -> Option<Value> {
        lock(&self.inner.complaints)
            .get(complaint_order_id)
            .map(|c| json!({"complaintOrder": c.order, "item": c.items}))
    }

    /// Accepted writes `(appid, path, body)` whose path ends with `suffix`.
    pub fn writes_to(&self, suffix: &str) -> Vec<(String, Value)> {
        lock(&self.inner.writes)
            .iter()
            .filter(|(_, p, _)| p.ends_with(suffix))
            .map(|(a, _, b)| (a.clone(), b.clone()))
            .collect()
    }

    /// A user image the complaint can name.
    pub fn add_user_media(&self, appid: &str, bytes: Vec<u8>) -> String {
        self.add_user_media_as(appid, bytes, "image/png")
    }

    /// A user "image" the media API serves with `content_type` (what a hostile or broken
    /// platform could send).
    pub fn add_user_media_as(&self, appid: &str, bytes: Vec<u8>, content_type: &str) -> String {
        let id = format!("MEDIA_{}", rand_hex(24));
        lock(&self.inner.media).insert(
            id.clone(),
            SimMedia {
                appid: appid.into(),
                content_type: content_type.into(),
                bytes,
            },
        );
        id
    }

    /// How many media the simulator holds (buyers' and uploaded ones).
    pub fn media_count(&self) -> usize {
        lock(&self.inner.media).len()
    }

    pub fn media(&self, media_id: &str) -> Option<Vec<u8>> {
        lock(&self.inner.media)
            .get(media_id)
            .map(|m| m.bytes.clone())
    }

    pub fn set_penalties(&self, appid: &str, current_score: i64, appeal_list: Vec<Value>) {
        lock(&self.inner.penalties).insert(
            appid.into(),
            json!({"currentScore": current_score, "appealList": appeal_list}),
        );
    }

    /// Add one record to the end of a mini program's penalty list (`appealList`): fields as
    /// `get_penalty_list` answers them (`illegalOrderId`, `complaintOrderId`, `status`,
    /// `minusScore`, `illegalTime`, `updateTime`, ...). The score stays.
    pub fn add_penalty(&self, appid: &str, record: Value) {
        let mut p = lock(&self.inner.penalties);
        let entry = p
            .entry(appid.into())
            .or_insert_with(|| json!({"currentScore": 100, "appealList": []}));
        if let Some(list) = entry["appealList"].as_array_mut() {
            list.push(record);
        } else {
            entry["appealList"] = json!([record]);
        }
    }

    /// Answer the next `calls` API calls whose path contains `path_fragment` with `errcode`
    /// (`45011`: the API's per-minute quota, `45009`: its daily quota), as WeChat does.
    pub fn throttle_next(&self, path_fragment: &str, calls: u32, errcode: i64) {
        lock(&self.inner.throttle).push((path_fragment.to_string(), calls, errcode));
    }

    /// Every API call that reached the simulator, in order (`GET
    /// /wxaapi/wxamptrade/get_penalty_list?limit=100&offset=0`; the access token left out;
    /// throttled calls included).
    pub fn requests(&self) -> Vec<String> {
        lock(&self.inner.requests).clone()
    }

    /// How many calls reached a path containing `path_fragment`.
    pub fn calls_to(&self, path_fragment: &str) -> usize {
        lock(&self.inner.requests)
            .iter()
            .filter(|r| r.contains(path_fragment))
            .count()
    }

    pub fn add_illegal_record(&self, appid: &str, record: Value) {
        lock(&self.inner.illegal)
            .entry(appid.into())
            .or_default()
            .push(record);
    }

    pub fn add_appeal_record(&self, illegal_record_id: &str, record: Value) {
        lock(&self.inner.appeals)
            .entry(illegal_record_id.into())
            .or_default()
            .push(record);
    }

    /// Expire every access token issued so far (the next use answers 42001).
    pub fn expire_tokens(&self) {
        for (_, exp) in lock(&self.inner.tokens).values_mut() {
            *exp = 0;
        }
    }

    pub fn stable_token_calls(&self) -> usize {
        self.inner.stable_token_calls.load(Ordering::SeqCst)
    }

    /// `api_component_token` calls (answered or refused).
    pub fn component_token_calls(&self) -> usize {
        self.inner.component_token_calls.load(Ordering::SeqCst)
    }

    /// `api_authorizer_token` calls that succeeded.
    pub fn refresh_calls(&self) -> usize {
        self.inner.refresh_calls.load(Ordering::SeqCst)
    }

    pub fn query_auth_calls(&self) -> usize {
        self.inner.query_auth_calls.load(Ordering::SeqCst)
    }

    /// Calls refused for a bad or expired token.
    pub fn rejected_tokens(&self) -> usize {
        self.inner.rejected_tokens.load(Ordering::SeqCst)
    }

    /// The permission sets an app has granted (None: not authorised).
    pub fn authorized(&self, appid: &str) -> Option<Vec<u32>> {
        lock(&self.inner.authorizers)
            .get(appid)
            .map(|a| a.permission_sets.clone())
    }

    /// The push settings and appid in the ciphertext for an app's messages.
    fn push_target(&self, appid: &str) -> Option<(PushConfig, String)> {
        if let Some(component) = lock(&self.inner.authorizers)
            .get(appid)
            .map(|a| a.component.clone())
        {
            let c = lock(&self.inner.components).get(&component)?.clone();
            let mut p = c.messages.clone();
            p.url = p.url.replace("$APPID$", appid);
            return Some((p, c.appid));
        }
        let m = lock(&self.inner.minis).get(appid)?.clone();
        Some((m.push?, appid.to_string()))
    }

    /// Push a `complaint_callback` event for the complaint as it now is; the HTTP status.
    pub async fn push_complaint(&self, complaint_order_id: &str) -> Result<u16, String> {
        let (appid, order, items) = {
            let c = lock(&self.inner.complaints);
            let c = c.get(complaint_order_id).ok_or("no such complaint")?;
            (c.appid.clone(), c.order.clone(), c.items.clone())
        };
        let (push, cipher_appid) = self.push_target(&appid).ok_or("app has no push URL")?;
        let o = &order;
        let media: Vec<String> = o["customerMaterial"]["mediaIdList"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str().map(String::from))
            .collect();
        let info = json!({
            "appid": appid, "option_type": if items.len() > 1 { 2 } else { 1 },
            "complaint_order_id": o["complaintOrderId"], "status": o["status"],
            "create_time": o["createTime"], "expire_time": o["expireTime"], "type": o["type"],
            "order_id": o["orderId"], "out_trade_no": o["outTradeNo"],
            "phone_number": o["phoneNumber"], "open_id": o["openid"],
            "customer_material_content": o["customerMaterial"]["content"],
            "customer_material_media_id_list": media.join(","),
            "pay_time": o["payTime"], "total_cost": o["totalCost"], "product_name": o["productName"],
            "history": items.iter().map(|i| json!({"time": i["time"], "content": i["content"], "media_id_list": ""})).collect::<Vec<_>>(),
        });
        let msg = json!({"ToUserName": "gh_sim", "FromUserName": "system", "CreateTime": now(),
            "MsgType": "event", "Event": "complaint_callback", "BussiCallBackInfo": info});
        self.push(&push, &cipher_appid, &msg).await
    }

    /// Issue a new `component_verify_ticket` without pushing it (a test hands it over).
    pub fn issue_ticket(&self, component_appid: &str) -> String {
        let ticket = format!("ticket@@@{}", rand_hex(40));
        lock(&self.inner.tickets).insert(component_appid.into(), ticket.clone());
        ticket
    }

    /// Issue a new `component_verify_ticket` and push it; the HTTP status.
    pub async fn push_ticket(&self, component_appid: &str) -> Result<u16, String> {
        let ticket = self.issue_ticket(component_appid);
        let msg = json!({"AppId": component_appid, "CreateTime": now(),
            "InfoType": "component_verify_ticket", "ComponentVerifyTicket": ticket});
        self.push_event(component_appid, &msg).await
    }

    /// Authorise an app (as if its admin scanned the page) and push `authorized`.
    pub async fn push_authorized(
        &self,
        component_appid: &str,
        appid: &str,
        nick_name: &str,
        permission_sets: &[u32],
    ) -> Result<u16, String> {
        let code = self.grant(component_appid, appid, nick_name, permission_sets);
        self.push_authorization_event(component_appid, appid, "authorized", &code)
            .await
    }

    /// The app's administrator changes the permission sets: `updateauthorized` with a new code.
    pub async fn push_updateauthorized(
        &self,
        component_appid: &str,
        appid: &str,
        nick_name: &str,
        permission_sets: &[u32],
    ) -> Result<u16, String> {
        let code = self.grant(component_appid, appid, nick_name, permission_sets);
        self.push_authorization_event(component_appid, appid, "updateauthorized", &code)
            .await
    }

    async fn push_authorization_event(
        &self,
        component_appid: &str,
        appid: &str,
        kind: &str,
        code: &str,
    ) -> Result<u16, String> {
        let msg = json!({"AppId": component_appid, "CreateTime": now(), "InfoType": kind,
            "AuthorizerAppid": appid, "AuthorizationCode": code,
            "AuthorizationCodeExpiredTime": now() + 3600, "PreAuthCode": ""});
        self.push_event(component_appid, &msg).await
    }

    /// The app withdraws its authorisation: its tokens stop working; `unauthorized` is pushed.
    pub async fn push_unauthorized(
        &self,
        component_appid: &str,
        appid: &str,
    ) -> Result<u16, String> {
        lock(&self.inner.authorizers).remove(appid);
        lock(&self.inner.tokens).retain(|_, (a, _)| a != appid);
        let msg = json!({"AppId": component_appid, "CreateTime": now(),
            "InfoType": "unauthorized", "AuthorizerAppid": appid});
        self.push_event(component_appid, &msg).await
    }

    fn grant(&self, component: &str, appid: &str, nick: &str, perms: &[u32]) -> String {
        let code = format!("queryauthcode@@@{}", rand_hex(32));
        lock(&self.inner.auth_codes).insert(code.clone(), (component.into(), appid.into()));
        let refresh = format!("refreshtoken@@@{}", rand_hex(32));
        lock(&self.inner.authorizers).insert(
            appid.into(),
            Authorizer {
                component: component.into(),
                refresh,
                permission_sets: perms.to_vec(),
                nick_name: nick.into(),
            },
        );
        code
    }

    async fn push_event(&self, component_appid: &str, msg: &Value) -> Result<u16, String> {
        let c = lock(&self.inner.components)
            .get(component_appid)
            .cloned()
            .ok_or("no such component")?;
        self.push(&c.events, component_appid, msg).await
    }

    /// Post a message with these push settings; `cipher_appid` goes into the ciphertext.
    pub async fn push(
        &self,
        p: &PushConfig,
        cipher_appid: &str,
        msg: &Value,
    ) -> Result<u16, String> {
        let (query, body) = seal(p, cipher_appid, msg)?;
        let url = format!("{}?{query}", p.url);
        let ct = match p.format {
            PushFormat::Xml => "text/xml",
            PushFormat::Json => "application/json",
        };
        self.http
            .post(url)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }
}

/// The query string and body of a push (exposed for tests that tamper with them).
pub fn seal(p: &PushConfig, cipher_appid: &str, msg: &Value) -> Result<(String, String), String> {
    seal_at(p, cipher_appid, msg, &now().to_string(), &rand_hex(10))
}

/// [`seal`] with a chosen timestamp and nonce (stale pushes, replayed signed queries).
pub fn seal_at(
    p: &PushConfig,
    cipher_appid: &str,
    msg: &Value,
    ts: &str,
    nonce: &str,
) -> Result<(String, String), String> {
    let plain = match p.format {
        PushFormat::Xml => to_xml(msg),
        PushFormat::Json => msg.to_string(),
    };
    let signature = sha1_sorted(&[&p.token, ts, nonce]);
    let mut query = format!("signature={signature}&timestamp={ts}&nonce={nonce}");
    if p.mode == PushMode::Plain {
        return Ok((query, plain));
    }
    let encrypt = encrypt(&p.encoding_aes_key, cipher_appid, &plain)?;
    let msg_signature = sha1_sorted(&[&p.token, ts, nonce, &encrypt]);
    query.push_str(&format!("&encrypt_type=aes&msg_signature={msg_signature}"));
    let body = match (p.mode, p.format) {
        (PushMode::Safe, PushFormat::Xml) => format!(
            "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>",
            msg["ToUserName"].as_str().unwrap_or("gh_sim")
        ),
        (PushMode::Safe, PushFormat::Json) => {
            json!({"ToUserName": msg["ToUserName"], "Encrypt": encrypt}).to_string()
        }
        (_, PushFormat::Xml) => plain.replacen(
            "</xml>",
            &format!("<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
            1,
        ),
        (_, PushFormat::Json) => {
            let mut m = msg.clone();
            m["Encrypt"] = json!(encrypt);
            m.to_string()
        }
    };
    Ok((query, body))
}

fn sha1_sorted(parts: &[&str]) -> String {
    let mut v: Vec<&str> = parts.to_vec();
    v.sort();
    let mut h = Sha1::new();
    for p in v {
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

fn xml_value(name: &str, v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| xml_value(name, i, out)),
        Value::Object(m) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in m {
                xml_value(k, v, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::String(s) => out.push_str(&format!("<{name}><![CDATA[{s}]]></{name}>")),
        Value::Null => out.push_str(&format!("<{name}></{name}>")),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

/// A JSON object as WeChat's XML (strings in CDATA, arrays as repeated elements).
pub fn to_xml(msg: &Value) -> String {
    let mut out = String::new();
    xml_value("xml", msg, &mut out);
    out
}

/// AES-256-CBC by hand on the block cipher: key = base64(EncodingAESKey + "="), IV = key[..16],
/// PKCS#7 to 32 bytes, plaintext random(16) || len || msg || appid.
pub fn encrypt(encoding_aes_key: &str, appid: &str, msg: &str) -> Result<String, String> {
    let key = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
    .decode(format!("{encoding_aes_key}="))
    .map_err(|e| e.to_string())?;
    let cipher = aes::Aes256::new_from_slice(&key).map_err(|e| e.to_string())?;
    let mut data: Vec<u8> = (0..16).map(|_| rand::random::<u8>()).collect();
    data.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    data.extend_from_slice(msg.as_bytes());
    data.extend_from_slice(appid.as_bytes());
    let pad = 32 - data.len() % 32;
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let mut prev: [u8; 16] = key[..16].try_into().map_err(|_| "key")?;
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(16) {
        let mut block = [0u8; 16];
        for i in 0..16 {
            block[i] = chunk[i] ^ prev[i];
        }
        let mut b = aes::Block::from(block);
        cipher.encrypt_block(&mut b);
        prev = b.into();
        out.extend_from_slice(&prev);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// Every call: recorded (without its token), then answered with a quota errcode while a
/// throttling switch for its path has calls left.
async fn gate(
    State(s): State<Arc<Inner>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path().to_string();
    let mut query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .filter(|(k, _)| k != "access_token" && k != "component_access_token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    lock(&s.requests).push(format!("{} {path}?{}", req.method(), query.join("&")));
    let hit = {
        let mut rules = lock(&s.throttle);
        let hit = rules
            .iter_mut()
            .find(|(fragment, left, _)| *left > 0 && path.contains(fragment.as_str()))
            .map(|(_, left, code)| {
                *left -= 1;
                *code
            });
        rules.retain(|(_, left, _)| *left > 0);
        hit
    };
    match hit {
        Some(45009) => err(45009, "reach max api daily quota limit"),
        Some(code) => err(
            code,
            "api minute-quota reach limit, mustslower retry next minute",
        ),
        None => next.run(req).await,
    }
}

fn err(code: i64, msg: &str) -> Response {
    Json(json!({"errcode": code, "errmsg": msg})).into_response()
}

fn ok(mut v: Value) -> Response {
    v["errcode"] = json!(0);
    v["errmsg"] = json!("ok");
    Json(v).into_response()
}

type Q = Query<HashMap<String, String>>;

/// An `errcode` and `errmsg`.
type Refusal = (i64, &'static str);

impl Inner {
    /// The app an access token belongs to.
    fn app_of(&self, q: &HashMap<String, String>) -> Result<String, Refusal> {
        let t = q.get("access_token").map(String::as_str).unwrap_or("");
        match lock(&self.tokens).get(t) {
            Some((a, exp)) if *exp > now() => Ok(a.clone()),
            Some(_) => {
                self.rejected_tokens.fetch_add(1, Ordering::SeqCst);
                Err((42001, "access_token expired"))
            }
            None => {
                self.rejected_tokens.fetch_add(1, Ordering::SeqCst);
                Err((
                    40001,
                    "invalid credential, access_token is invalid or not latest",
                ))
            }
        }
    }

    fn component_of(&self, q: &HashMap<String, String>) -> Result<String, Refusal> {
        let t = q
            .get("component_access_token")
            .map(String::as_str)
            .unwrap_or("");
        match lock(&self.component_tokens).get(t) {
            Some((c, exp)) if *exp > now() => Ok(c.clone()),
            Some(_) => Err((42001, "component_access_token expired")),
            None => Err((40001, "invalid component_access_token")),
        }
    }

    /// Authorised apps need permission set 76 (trade complaints) for the complaint APIs.
    fn may_use_complaints(&self, appid: &str) -> bool {
        lock(&self.authorizers)
            .get(appid)
            .is_none_or(|a| a.permission_sets.contains(&76))
    }

    fn issue_token(&self, appid: &str) -> String {
        let t = format!("ACCESS_{}", rand_hex(32));
        lock(&self.tokens).insert(t.clone(), (appid.into(), now() + 7200));
        t
    }
}

async fn stable_token(State(s): State<Arc<Inner>>, Json(b): Json<Value>) -> Response {
    s.stable_token_calls.fetch_add(1, Ordering::SeqCst);
    let appid = b["appid"].as_str().unwrap_or_default();
    let ok_secret = lock(&s.minis).get(appid).map(|m| m.secret.as_str()) == b["secret"].as_str();
    if !ok_secret || b["grant_type"] != "client_credential" {
        return err(40013, "invalid appid or secret");
    }
    if b["force_refresh"] != true
        && let Some((t, (_, exp))) = lock(&s.tokens)
            .iter()
            .find(|(_, (a, e))| a == appid && *e > now())
    {
        return ok(json!({"access_token": t, "expires_in": exp - now()}));
    }
    let t = s.issue_token(appid);
    ok(json!({"access_token": t, "expires_in": 7200}))
}

async fn component_token(State(s): State<Arc<Inner>>, Json(b): Json<Value>) -> Response {
    s.component_token_calls.fetch_add(1, Ordering::SeqCst);
    let c = b["component_appid"].as_str().unwrap_or_default();
    let secret_ok =
        lock(&s.components).get(c).map(|x| x.secret.as_str()) == b["component_appsecret"].as_str();
    if !secret_ok {
        return err(40013, "invalid component appid or secret");
    }
    if lock(&s.tickets).get(c).map(String::as_str) != b["component_verify_ticket"].as_str() {
        return err(61006, "component ticket is invalid");
    }
    let t = format!("COMPONENT_{}", rand_hex(32));
    lock(&s.component_tokens).insert(t.clone(), (c.into(), now() + 7200));
    ok(json!({"component_access_token": t, "expires_in": 7200}))
}

async fn pre_auth_code(State(s): State<Arc<Inner>>, q: Q, Json(b): Json<Value>) -> Response {
    let c = match s.component_of(&q) {
        Ok(c) => c,
        Err((code, msg)) => return err(code, msg),
    };
    if b["component_appid"].as_str() != Some(&c) {
        return err(40013, "component_appid does not match the token");
    }
    let code = format!("preauthcode@@@{}", rand_hex(32));
    lock(&s.pre_auth_codes).insert(code.clone());
    ok(json!({"pre_auth_code": code, "expires_in": 1800}))
}

/// The authorisation page: the admin "scans" at once and is sent back with an auth code; the
/// `authorized` event is pushed at the same time (either may reach the merchant first).
async fn login_page(State(s): State<Arc<Inner>>, q: Q) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let component = get("component_appid");
    if !lock(&s.pre_auth_codes).contains(&get("pre_auth_code")) {
        return (StatusCode::BAD_REQUEST, "pre_auth_code invalid").into_response();
    }
    if get("auth_type") != "2" && get("auth_type") != "3" {
        return (
            StatusCode::BAD_REQUEST,
            "auth_type must allow mini programs",
        )
            .into_response();
    }
    let Some((appid, nick, perms)) = lock(&s.next_authorizer).take() else {
        return (
            StatusCode::BAD_REQUEST,
            "no mini program is waiting to authorise",
        )
            .into_response();
    };
    let sim = WechatSim {
        inner: s.clone(),
        addr: "127.0.0.1:0".parse().expect("addr"),
        http: reqwest::Client::new(),
    };
    let code = sim.grant(&component, &appid, &nick, &perms);
    let (c2, a2, code2) = (component.clone(), appid.clone(), code.clone());
    tokio::spawn(async move {
        let _ = sim
            .push_authorization_event(&c2, &a2, "authorized", &code2)
            .await;
    });
    let redirect = get("redirect_uri");
    let sep = if redirect.contains('?') { '&' } else { '?' };
    Redirect::to(&format!(
        "{redirect}{sep}auth_code={}&expires_in=3600",
        url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>()
    ))
    .into_response()
}

async fn query_auth(State(s): State<Arc<Inner>>, q: Q, Json(b): Json<Value>) -> Response {
    let c = match s.component_of(&q) {
        Ok(c) => c,
        Err((code, msg)) => return err(code, msg),
    };
    s.query_auth_calls.fetch_add(1, Ordering::SeqCst);
    let code = b["authorization_code"].as_str().unwrap_or_default();
    let Some((component, appid)) = lock(&s.auth_codes).get(code).cloned() else {
        return err(61010, "authorization code is invalid or expired");
    };
    if component != c {
        return err(61010, "authorization code belongs to another component");
    }
    // Every exchange issues a new refresh token; the previous one stops working.
    let refresh = format!("refreshtoken@@@{}", rand_hex(32));
    let perms = {
        let mut a = lock(&s.authorizers);
        let Some(entry) = a.get_mut(&appid) else {
            return err(61003, "component is not authorized by this account");
        };
        entry.refresh = refresh.clone();
        entry.permission_sets.clone()
    };
    let token = s.issue_token(&appid);
    ok(json!({"authorization_info": {
        "authorizer_appid": appid, "authorizer_access_token": token, "expires_in": 7200,
        "authorizer_refresh_token": refresh,
        "func_info": perms.iter().map(|p| json!({"funcscope_category": {"id": p}})).collect::<Vec<_>>(),
    }}))
}

async fn authorizer_token(State(s): State<Arc<Inner>>, q: Q, Json(b): Json<Value>) -> Response {
    let c = match s.component_of(&q) {
        Ok(c) => c,
        Err((code, msg)) => return err(code, msg),
    };
    let appid = b["authorizer_appid"].as_str().unwrap_or_default();
    let given = b["authorizer_refresh_token"].as_str().unwrap_or_default();
    let new_refresh = format!("refreshtoken@@@{}", rand_hex(32));
    {
        let mut a = lock(&s.authorizers);
        match a.get_mut(appid) {
            Some(entry) if entry.component == c && entry.refresh == given => {
                entry.refresh = new_refresh.clone()
            }
            Some(_) => return err(61023, "refresh_token is invalid"),
            None => return err(61003, "component is not authorized by this account"),
        }
    }
    s.refresh_calls.fetch_add(1, Ordering::SeqCst);
    let t = s.issue_token(appid);
    ok(
        json!({"authorizer_access_token": t, "expires_in": 7200, "authorizer_refresh_token": new_refresh}),
    )
}

async fn authorizer_info(State(s): State<Arc<Inner>>, q: Q, Json(b): Json<Value>) -> Response {
    let c = match s.component_of(&q) {
        Ok(c) => c,
        Err((code, msg)) => return err(code, msg),
    };
    let appid = b["authorizer_appid"].as_str().unwrap_or_default();
    match lock(&s.authorizers).get(appid) {
        Some(a) if a.component == c => ok(json!({
            "authorizer_info": {"nick_name": a.nick_name, "principal_name": format!("{} 有限公司", a.nick_name), "MiniProgramInfo": {}},
            "authorization_info": {"authorizer_appid": appid,
                "func_info": a.permission_sets.iter().map(|p| json!({"funcscope_category": {"id": p}})).collect::<Vec<_>>()},
        })),
        _ => err(61003, "component is not authorized by this account"),
    }
}

async fn complaint_detail(State(s): State<Arc<Inner>>, q: Q) -> Response {
    let appid = match s.app_of(&q) {
        Ok(a) => a,
        Err((code, msg)) => return err(code, msg),
    };
    if !s.may_use_complaints(&appid) {
        return err(48001, "api unauthorized");
    }
    let id = q.get("complaintOrderId").cloned().unwrap_or_default();
    match lock(&s.complaints).get(&id) {
        Some(c) if c.appid == appid => {
            ok(json!({"complaintOrder": c.order, "item": c.items, "returnBill": {}}))
        }
        _ => err(40097, "complaint order not found"),
    }
}

/// The `expireTime` the platform gives a complaint entering `status` at `from` (unix seconds):
/// 48 h in the states that wait for the merchant (201, 206; 106 / 108 unpublished, 48 h here)
/// and in those that wait for the buyer's confirmation (203 / 204: their window is a guess),
/// `0` (none) otherwise. It is the current state's expiry, not always the merchant's.
pub fn state_expiry(status: i64, from: i64) -> i64 {
    match status {
        201 | 206 | 106 | 108 | 203 | 204 => from + 48 * 3600,
        _ => 0,
    }
}

#[derive(Clone, Copy)]
enum Step {
    Respond,
    Proof,
    Refund,
    Appeal,
}

async fn evidence(
    State(s): State<Arc<Inner>>,
    q: Q,
    body: axum::body::Bytes,
    step: Step,
) -> Response {
    let appid = match s.app_of(&q) {
        Ok(a) => a,
        Err((code, msg)) => return err(code, msg),
    };
    if !s.may_use_complaints(&appid) {
        return err(48001, "api unauthorized");
    }
    let Ok(b) = serde_json::from_slice::<Value>(&body) else {
        return err(47001, "data format error");
    };
    let Some(id) = b["complaintOrderId"].as_u64() else {
        return err(40097, "complaintOrderId must be a number");
    };
    let content = b["content"].as_str().unwrap_or_default();
    let media: Vec<String> = b["mediaIdList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(String::from))
        .collect();
    if content.is_empty() && media.is_empty() {
        return err(40097, "内容或者图片不能为空");
    }
    for m in &media {
        if lock(&s.media).get(m).is_none_or(|x| x.appid != appid) {
            return err(40007, "invalid media_id");
        }
    }
    let mut complaints = lock(&s.complaints);
    let Some(c) = complaints.get_mut(&id.to_string()) else {
        return err(40097, "complaint order not found");
    };
    if c.appid != appid {
        return err(40097, "complaint order not found");
    }
    let status = c.order["status"].as_i64().unwrap_or_default();
    let (path, next, item_type) = match step {
        Step::Respond => {
            let handle = b["bussiHandle"].as_i64();
            if handle != Some(1) && handle != Some(2) {
                return err(40097, "bussiHandle must be 1 or 2");
            }
            if status != 201 {
                return err(309, "状态不对");
            }
            // 已回应,待用户确认 (203 / 204: which one follows which decision is not
            // documented; 202 is the merchant's timeout).
            (
                "bussiRespondComplaint",
                if handle == Some(1) { 203 } else { 204 },
                200 + handle.unwrap_or(0),
            )
        }
        Step::Proof => {
            if status == 201 || status >= 400 {
                return err(309, "状态不对");
            }
            ("bussiSupplyProof", status, 210)
        }
        Step::Refund => {
            if status != 206 {
                return err(309, "状态不对");
            }
            ("bussiSupplyRefund", 207, 220)
        }
        Step::Appeal => {
            if !(status == 206 || status == 312) || c.order["appealState"] == 1 {
                return err(309, "状态不对");
            }
            c.order["appealState"] = json!(1);
            ("busiAppeal", status, 230)
        }
    };
    if next != status {
        c.order["status"] = json!(next);
        c.order["expireTime"] = json!(state_expiry(next, now()));
    }
    c.items.push(
        json!({"itemType": item_type, "time": now(), "content": content, "mediaIdList": media}),
    );
    drop(complaints);
    lock(&s.writes).push((appid, format!("/wxaapi/minishop/{path}"), b));
    ok(json!({}))
}

async fn media_upload(
    State(s): State<Arc<Inner>>,
    q: Q,
    mut form: axum::extract::Multipart,
) -> Response {
    let appid = match s.app_of(&q) {
        Ok(a) => a,
        Err((code, msg)) => return err(code, msg),
    };
    if q.get("type").map(String::as_str) != Some("image") {
        return err(40004, "invalid media type");
    }
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("media") {
            let ct = field.content_type().unwrap_or("").to_string();
            let Ok(bytes) = field.bytes().await else {
                return err(41005, "media data missing");
            };
            if bytes.is_empty() || !ct.starts_with("image/") {
                return err(40005, "invalid file type");
            }
            let id = format!("MEDIA_{}", rand_hex(24));
            lock(&s.media).insert(
                id.clone(),
                SimMedia {
                    appid,
                    content_type: ct,
                    bytes: bytes.to_vec(),
                },
            );
            return Json(json!({"type": "image", "media_id": id, "created_at": now()}))
                .into_response();
        }
    }
    err(41005, "media data missing")
}

async fn media_get(State(s): State<Arc<Inner>>, q: Q) -> Response {
    let appid = match s.app_of(&q) {
        Ok(a) => a,
        Err((code, msg)) => return err(code, msg),
    };
    match lock(&s.media).get(q.get("media_id").map(String::as_str).unwrap_or("")) {
        Some(m) if m.appid == appid => {
            ([("content-type", m.content_type.clone())], m.bytes.clone()).into_response()
        }
        _ => err(40007, "invalid media_id"),
    }
}

async fn penalty_list(State(s): State<Arc<Inner>>, q: Q) -> Response {
    let appid = match s.app_of(&q) {
        Ok(a) => a,
        Err((code, msg)) => return err(code, msg),
    };
    if lock(&s.authorizers)
        .get(&appid)
        .is_some_and(|a| !a.permission_sets.contains(&151))
    {
        return err(48001, "api unauthorized");
    }
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|o| o.parse().ok()).unwrap_or(10);
    if limit == 0 || limit > 100 {
        return err(40097, "limit must be 1..100");
    }
    let p = lock(&s.penalties)
        .get(&appid)
        .cloned()
        .unwrap_or(json!({"currentScore": 100, "appealList": []}));
    let list: Vec<Value> = p["appealList"].as_array().cloned().unwrap_or_default();
    ok(
        json!({"currentScore": p["currentScore"], "totalNum": list.len(),
        "appealList": list.into_iter().skip(offset).take(limit).collect::<Vec<_>>()}),
    )
}

async fn illegal_records(State(s): State<Arc<Inner>>, q: Q, Json(b): Json<Value>) -> Response {
    let appid = match s.app_of(&q) {
        Ok(a) => a,
        Err((code, msg)) => return err(code, msg),
    };
    let start = b["start_time"].as_i64().unwrap_or(now() - 90 * 86400);
    let end = b["end_time"].as_i64().unwrap_or(now());
    let records: Vec<Value> = lock(&s.illegal)
        .get(&appid)
        .into_iter()
        .flatten()
        .filter(|r| {
            let t = r["create_time"].as_i64().unwrap_or_default();
            t >= start && t <= end
        })
        .cloned()
        .collect();
    ok(json!({"records": records}))
}

async fn appeal_records(State(s): State<Arc<Inner>>, q: Q, Json(b): Json<Value>) -> Response {
    if let Err((code, msg)) = s.app_of(&q) {
        return err(code, msg);
    }
    let id = b["illegal_record_id"].as_str().unwrap_or_default();
    let records = lock(&s.appeals).get(id).cloned().unwrap_or_default();
    ok(json!({"records": records}))
}
