//! The third-party platform path over the AWS adapters on moto server: the ticket lands in the
//! DynamoDB token cache, the `authorized` event goes through the DynamoDB + SQS inbox and the
//! worker's handler onboards the mini program (code exchange, tokens stored with
//! compare-and-set in DynamoDB), a complaint push becomes a record and a response, and six
//! workers refused the same expired token refresh it once through the DynamoDB cache. Callers
//! in two instances that miss the cache at the same moment fetch one token between them.

use aws::testing as moto;
use desk_core::worker::{CancellationToken, Disposition, RetryPolicy};
use domain::job::queues;
use sandbox::wxapi::{PushConfig, PushFormat, PushMode, SimComponent, SimMini, WechatSim};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wechat::token::{Cached, Secret, TokenCache, Tokens};

const ADMIN: &str = "moto-admin-token-0123456789";
const COMPONENT: &str = "wx9999999999999999";
const APPID: &str = "wx2222222222222222";
const AES_KEY: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj";

async fn admin(base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}/admin/v1{path}"))
        .bearer_auth(ADMIN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("admin API");
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// Take every job off the events queue and run it with the worker's handler.
async fn work(state: &desk_http::AppState) -> usize {
    let registry = desk_core::policy::registry(state, state.platforms());
    let queue = state.ports.queue.clone();
    let mut n = 0;
    loop {
        let msgs = queue
            .receive(
                queues::EVENTS,
                10,
                Duration::from_secs(60),
                Duration::from_millis(800),
            )
            .await
            .expect("receive");
        if msgs.is_empty() {
            return n;
        }
        for m in msgs {
            let d = desk_core::worker::decide(&registry, &RetryPolicy::default(), &m.body, 1).await;
            assert_eq!(d, Disposition::Done, "{}", m.body);
            queue
                .delete(queues::EVENTS, &m.receipt)
                .await
                .expect("delete");
            n += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_authorised_mini_program_on_dynamodb_and_sqs() {
    let config = moto::deployment(ADMIN).await;
    let sdk = moto::sdk_config().await;
    let state = runtime::admin::admin_state(&config, &sdk)
        .await
        .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    tokio::spawn(desk_http::server::serve_default(
        listener,
        desk_http::router::router(state.clone()),
        stop.clone(),
    ));
    let wx = WechatSim::start().await.expect("sim");
    let push = |url: String, format| PushConfig {
        token: "platformToken".into(),
        encoding_aes_key: AES_KEY.into(),
        mode: PushMode::Safe,
        format,
        url,
    };
    wx.add_component(SimComponent {
        appid: COMPONENT.into(),
        secret: "component-secret".into(),
        events: push(
            format!("{base}/callbacks/wxopen/{COMPONENT}/events"),
            PushFormat::Xml,
        ),
        messages: push(
            format!("{base}/callbacks/wxopen/{COMPONENT}/messages/$APPID$"),
            PushFormat::Xml,
        ),
    });
    let component = admin(
        &base,
        reqwest::Method::POST,
        "/accounts",
        Some(json!({"kind": "wxopen_component", "name": "Platform", "settings": {
            "component_appid": COMPONENT, "api_base_url": wx.base_url()},
            "credentials": {"secret": "component-secret", "token": "platformToken", "encoding_aes_key": AES_KEY}})),
    )
    .await;
    let component_id = component["id"].as_str().expect("id").to_string();
    assert_eq!(wx.push_ticket(COMPONENT).await, Ok(200));
    // The `authorized` event: one job, one exchange of the code.
    assert_eq!(
        wx.push_authorized(COMPONENT, APPID, "云上小程序", &[76])
            .await,
        Ok(200)
    );
    assert_eq!(work(&state).await, 1);
    assert_eq!(wx.query_auth_calls(), 1);
    let accounts = admin(&base, reqwest::Method::GET, "/accounts", None).await;
    let mini = accounts["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["settings"]["appid"] == APPID)
        .cloned()
        .expect("onboarded");
    assert_eq!(mini["settings"]["mode"], "authorised");
    assert_eq!(
        mini["settings"]["component_account_id"],
        component_id.as_str()
    );
    let id = mini["id"].as_str().expect("id");
    admin(
        &base,
        reqwest::Method::PATCH,
        &format!("/accounts/{id}"),
        Some(json!({"settings": {"auto_response": {"enabled": true, "decision": "agree", "text": "已处理"}}})),
    )
    .await;
    let now = chrono::Utc::now().timestamp();
    wx.add_complaint(
        APPID,
        json!({"complaintOrderId": 870_001, "createTime": now, "status": 201, "type": 1,
            "customerMaterial": {"content": "未发货", "mediaIdList": []}, "orderId": "42000870001",
            "outTradeNo": "T870001", "totalCost": 800, "expireTime": now + 3600}),
    );
    assert_eq!(wx.push_complaint("870001").await, Ok(200));
    assert_eq!(work(&state).await, 1);
    assert_eq!(wx.writes_to("bussiRespondComplaint").len(), 1);
    let list = admin(
        &base,
        reqwest::Method::GET,
        "/complaints?platform=wxmini",
        None,
    )
    .await;
    assert_eq!(list["items"][0]["platform_complaint_id"], "870001");
    assert_eq!(list["items"][0]["replied"], true);

    // Six workers refused the same expired token: one refresh through DynamoDB, and the
    // rotated refresh token is kept (a later refresh works).
    let c = desk_core::platforms::wechat::component_account(&state, &component_id)
        .await
        .expect("component");
    let tokens =
        desk_core::platforms::wechat::tokens(&state, Some(&wx.base_url())).expect("tokens");
    for round in 0..2 {
        let old = tokens
            .authorizer_token(&c.component, APPID, None)
            .await
            .expect("token");
        wx.expire_tokens();
        let before = wx.refresh_calls();
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let (t, comp, old) = (tokens.clone(), c.component.clone(), old.clone());
            tasks.push(tokio::spawn(async move {
                t.authorizer_token(&comp, APPID, Some(&old)).await
            }));
        }
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.expect("task").expect("token"));
        }
        got.dedup();
        assert_eq!(got.len(), 1, "round {round}");
        assert_eq!(wx.refresh_calls(), before + 1, "round {round}");
    }
    // Sealed in DynamoDB, and the callback and worker functions (which read only the
    // installation key, not the admin token) open what the admin API function wrote.
    let item = state
        .ports
        .records
        .get(
            &format!("WXTOKEN#{}", tokens.authorizer_key(&c.component, APPID)),
            "TOKEN",
        )
        .await
        .expect("dynamodb")
        .expect("cached");
    assert!(!item.data.to_string().contains("refreshtoken@@@"));
    let worker = runtime::services(&config, &aws::AwsPorts::new(&config, &sdk))
        .await
        .expect("platform state");
    let t2 = desk_core::platforms::wechat::tokens(&worker, Some(&wx.base_url())).expect("tokens");
    let before = wx.refresh_calls();
    assert!(t2.authorizer_token(&c.component, APPID, None).await.is_ok());
    assert_eq!(
        wx.refresh_calls(),
        before,
        "the cached token was read, not refreshed"
    );
    // Withdrawn with a legacy record (`authorizer:{appid}`) still there: the record is marked
    // revoked in DynamoDB, the legacy one deleted, and no call gets a token any more.
    let cache = desk_core::platforms::wechat::RecordsTokenCache::new(
        state.ports.records.clone(),
        &state.fingerprints,
    );
    let held = cache
        .load(&tokens.authorizer_key(&c.component, APPID))
        .await
        .expect("load")
        .expect("cached");
    let legacy = Tokens::legacy_authorizer_key(APPID);
    cache
        .store(&legacy, held.value, None, None)
        .await
        .expect("dynamodb")
        .expect("legacy record");
    t2.forget_authorizer(COMPONENT, APPID)
        .await
        .expect("forget");
    assert!(cache.load(&legacy).await.expect("load").is_none());
    wx.expire_tokens();
    let err = tokens
        .authorizer_token(&c.component, APPID, None)
        .await
        .expect_err("withdrawn");
    assert!(err.to_string().contains("authorised again"), "{err}");
    assert_eq!(wx.refresh_calls(), before, "nothing was refreshed");
    stop.cancel();
}

/// The DynamoDB token cache of one instance, with a gate shared by every instance: once armed
/// for `n`, the next `n` loads each read the table and then wait until all `n` have read it.
struct Gate {
    inner: desk_core::platforms::wechat::RecordsTokenCache,
    armed: Armed,
}

type Armed = Arc<Mutex<Option<(usize, Arc<tokio::sync::Barrier>)>>>;

#[async_trait::async_trait]
impl TokenCache for Gate {
    async fn load(&self, key: &str) -> Result<Option<Cached>, String> {
        let read = self.inner.load(key).await;
        let barrier = match &mut *self.armed.lock().expect("gate") {
            Some((left, b)) if *left > 0 => {
                *left -= 1;
                Some(b.clone())
            }
            _ => None,
        };
        if let Some(b) = barrier {
            b.wait().await;
        }
        read
    }

    async fn store(
        &self,
        key: &str,
        value: Value,
        expires_at: Option<i64>,
        expected: Option<u64>,
    ) -> Result<Option<u64>, String> {
        self.inner.store(key, value, expires_at, expected).await
    }

    async fn remove(&self, key: &str) -> Result<(), String> {
        self.inner.remove(key).await
    }

    fn fingerprint(&self, material: &[u8]) -> String {
        self.inner.fingerprint(material)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_in_two_instances_fetch_one_token() {
    const MINI: &str = "wx3333333333333333";
    const SECRET: &str = "mini-secret-0123456789abcdef";
    let config = moto::deployment(ADMIN).await;
    let sdk = moto::sdk_config().await;
    let wx = WechatSim::start().await.expect("sim");
    wx.add_mini(SimMini {
        appid: MINI.into(),
        secret: SECRET.into(),
        nick_name: "两个实例".into(),
        push: None,
    });
    let armed: Armed = Arc::new(Mutex::new(None));
    let arm = |n: usize| {
        *armed.lock().expect("gate") = Some((n, Arc::new(tokio::sync::Barrier::new(n))));
    };
    // Two function instances over one table: each its own state, client and cache.
    let mut instances = Vec::new();
    for _ in 0..2 {
        let state = runtime::services(&config, &aws::AwsPorts::new(&config, &sdk))
            .await
            .expect("platform state");
        let gate = Gate {
            inner: desk_core::platforms::wechat::RecordsTokenCache::new(
                state.ports.records.clone(),
                &state.fingerprints,
            ),
            armed: armed.clone(),
        };
        instances.push(Tokens::new(
            reqwest::Client::new(),
            wx.base_url().parse().expect("base"),
            Arc::new(gate),
            Arc::new(|| chrono::Utc::now().timestamp()),
        ));
    }
    let together = |rejected: Option<String>| {
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (t, rejected) = (instances[i % 2].clone(), rejected.clone());
            tasks.push(tokio::spawn(async move {
                t.stable_token(MINI, &Secret::new(SECRET), rejected.as_deref())
                    .await
            }));
        }
        tasks
    };
    arm(6);
    let mut got = Vec::new();
    for t in together(None) {
        got.push(t.await.expect("task").expect("token"));
    }
    got.dedup();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(wx.stable_token_calls(), 1, "one fetch for six misses");
    let old = got[0].clone();
    wx.expire_tokens();
    arm(6);
    let mut got = Vec::new();
    for t in together(Some(old.clone())) {
        got.push(t.await.expect("task").expect("token"));
    }
    got.dedup();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_ne!(got[0], old);
    assert_eq!(wx.stable_token_calls(), 2, "one refresh for six refusals");
}
