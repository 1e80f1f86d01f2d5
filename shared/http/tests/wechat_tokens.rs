//! WeChat access tokens in the one token cache: a cached token is used only with the
//! credentials (and API base URL) that obtained it, and callers that miss the cache at the same
//! moment obtain one token between them. Over real HTTP against the simulators, on the real
//! SQLite store.

mod common;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use common::*;
use desk_core::platforms::wechat::RecordsTokenCache;
use domain::job::queues;
use domain::notification::{Audience, NotificationSubject, NotificationSummary};
use sandbox::notify::NotifySim;
use sandbox::wxapi::{PushConfig, PushFormat, PushMode, SimComponent, WechatSim};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wechat::token::{Cached, Component, Secret, TokenCache, Tokens};

const APPID: &str = "wx5555555555555555";
const SECRET_A: &str = "tenant-a-secret-0123456789abcdef";
const SECRET_B: &str = "tenant-b-secret-0123456789abcdef";
const COMPONENT: &str = "wx9999999999999999";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
const TEMPLATE: &str = "TPL-complaint";
/// Callers released together.
const N: usize = 8;

/// The real token cache, with a gate: once armed for `n`, the next `n` loads each read the
/// store and then wait until all `n` have read it, so `n` concurrent callers all see the same
/// state (a miss, or the same refused token) before any of them acts on it.
struct Gate {
    inner: RecordsTokenCache,
    armed: Mutex<Option<(usize, Arc<tokio::sync::Barrier>)>>,
}

impl Gate {
    fn new(h: &Harness) -> Arc<Self> {
        Arc::new(Self {
            inner: RecordsTokenCache::new(h.state.ports.records.clone(), &h.state.fingerprints),
            armed: Mutex::new(None),
        })
    }

    fn arm(&self, n: usize) {
        *self.armed.lock().expect("gate") = Some((n, Arc::new(tokio::sync::Barrier::new(n))));
    }
}

#[async_trait]
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

fn tokens_at(base: &str, cache: Arc<dyn TokenCache>) -> Tokens {
    crypto::tls::install_default();
    Tokens::new(
        reqwest::Client::new(),
        base.parse().expect("base"),
        cache,
        Arc::new(|| chrono::Utc::now().timestamp()),
    )
}

/// `N` callers of `stable_token` released together; the tokens they got.
async fn stable_together(t: &Tokens, rejected: Option<&str>) -> Vec<String> {
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (t, rejected) = (t.clone(), rejected.map(String::from));
        tasks.push(tokio::spawn(async move {
            t.stable_token(APPID, &Secret::new(SECRET_A), rejected.as_deref())
                .await
        }));
    }
    let mut got = Vec::new();
    for task in tasks {
        got.push(task.await.expect("task").expect("token"));
    }
    got
}

fn sim_component(secret: &str) -> SimComponent {
    let push = PushConfig {
        token: "platformToken456".into(),
        encoding_aes_key: "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj".into(),
        mode: PushMode::Safe,
        format: PushFormat::Xml,
        url: "http://127.0.0.1:9/unused".into(),
    };
    SimComponent {
        appid: COMPONENT.into(),
        secret: secret.into(),
        events: push.clone(),
        messages: push,
    }
}

fn component(secret: &str) -> Component {
    Component {
        appid: COMPONENT.into(),
        secret: Secret::new(secret),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_for_one_key_fetch_one_token() {
    let h = harness();
    let ns = NotifySim::start().await.expect("notify sim");
    ns.add_oa_app(APPID, SECRET_A, TEMPLATE);
    let gate = Gate::new(&h);
    let t = tokens_at(&ns.base_url(), gate.clone());

    // Nothing cached: N callers miss at once, one of them fetches.
    gate.arm(N);
    let mut got = stable_together(&t, None).await;
    got.dedup();
    assert_eq!(got.len(), 1, "everyone uses the one token: {got:?}");
    assert_eq!(ns.token_calls(), 1, "one stable_token call for {N} misses");

    // WeChat refuses the cached token to N callers at once: one forced refresh.
    let old = got[0].clone();
    ns.expire_tokens();
    gate.arm(N);
    let mut got = stable_together(&t, Some(&old)).await;
    got.dedup();
    assert_eq!(got.len(), 1, "everyone uses the one new token: {got:?}");
    assert_ne!(got[0], old);
    assert_eq!(ns.token_calls(), 2, "one refresh for {N} refusals");

    // The same for a third-party platform's component_access_token.
    let wx = WechatSim::start().await.expect("wechat sim");
    wx.add_component(sim_component(SECRET_A));
    let tw = tokens_at(&wx.base_url(), gate.clone());
    tw.put_ticket(COMPONENT, &wx.issue_ticket(COMPONENT))
        .await
        .expect("ticket");
    gate.arm(N);
    let mut tasks = Vec::new();
    for _ in 0..N {
        let tw = tw.clone();
        tasks.push(tokio::spawn(async move {
            tw.component_token(&component(SECRET_A), None).await
        }));
    }
    let mut got = Vec::new();
    for task in tasks {
        got.push(task.await.expect("task").expect("component token"));
    }
    got.dedup();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        wx.component_token_calls(),
        1,
        "one api_component_token call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_tokens_are_kept_per_secret_and_api_base() {
    let h = harness();
    let cache: Arc<dyn TokenCache> = Arc::new(RecordsTokenCache::new(
        h.state.ports.records.clone(),
        &h.state.fingerprints,
    ));
    // Two tenants name the same component appid: the first on one API base with its secret,
    // the second with another secret on an API base of its own.
    let (wx1, wx2) = (
        WechatSim::start().await.expect("sim"),
        WechatSim::start().await.expect("sim"),
    );
    wx1.add_component(sim_component(SECRET_A));
    wx2.add_component(sim_component(SECRET_B));
    let (t1, t2) = (
        tokens_at(&wx1.base_url(), cache.clone()),
        tokens_at(&wx2.base_url(), cache.clone()),
    );
    t1.put_ticket(COMPONENT, &wx1.issue_ticket(COMPONENT))
        .await
        .expect("ticket");
    let first = t1
        .component_token(&component(SECRET_A), None)
        .await
        .expect("first tenant's token");
    t2.put_ticket(COMPONENT, &wx2.issue_ticket(COMPONENT))
        .await
        .expect("ticket");
    let second = t2
        .component_token(&component(SECRET_B), None)
        .await
        .expect("second tenant's token");
    assert_ne!(second, first, "the second tenant got the first one's token");
    assert_eq!(
        wx2.component_token_calls(),
        1,
        "fetched with its own secret"
    );
    // A wrong secret on the first tenant's API base gets no token either: WeChat refuses it.
    t1.put_ticket(COMPONENT, &wx1.issue_ticket(COMPONENT))
        .await
        .expect("ticket");
    let refused = t1
        .component_token(&component("not-the-secret"), None)
        .await
        .expect_err("a cached token is not handed to another secret");
    assert_eq!(refused.code(), Some(40013), "{refused}");
    // Each tenant still has its own token cached.
    let calls = (wx1.component_token_calls(), wx2.component_token_calls());
    assert_eq!(
        t1.component_token(&component(SECRET_A), None).await.ok(),
        Some(first)
    );
    assert_eq!(
        t2.component_token(&component(SECRET_B), None).await.ok(),
        Some(second)
    );
    assert_eq!(
        (wx1.component_token_calls(), wx2.component_token_calls()),
        calls
    );
}

/// Put an official-account template channel on an account.
async fn oa_notices(h: &Harness, account_id: &str, ns: &NotifySim, secret: &str) {
    let (s, b) = h
        .admin(
            Method::PUT,
            &format!("/admin/v1/accounts/{account_id}/notifications"),
            Some(json!({
                "oa_template": {"appid": APPID, "template_id": TEMPLATE, "openids": [OPENID],
                                "field_mapping": {"thing1": "merchant", "character_string2": "complaint_id"},
                                "api_base_url": ns.base_url(), "secret": secret}
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// Queue a notice for an account's staff.
async fn notice(h: &Harness, account_id: &str, reference: &str) {
    let now = chrono::Utc::now();
    desk_core::notices::send(
        &h.state.ports,
        desk_core::notices::Notice {
            owner_pk: format!("COMPLAINT#{reference}"),
            event_key: format!("test:{reference}"),
            subject: NotificationSubject::Complaint {
                complaint_id: reference.into(),
            },
            summary: NotificationSummary {
                platform: "wechatpay".into(),
                event: "new complaint".into(),
                merchant: "门店".into(),
                reference: reference.into(),
                at: now,
                amount_fen: None,
                user_text: None,
                deadline: None,
                link: None,
                extra_lines: vec![],
            },
            audiences: &[Audience {
                account_id: account_id.into(),
                sub_mchid: None,
            }],
            now,
            record_only_when_queued: false,
            extra_recipients: None,
            only_channels: None,
        },
    )
    .await
    .expect("notice queued");
}

async fn until(what: &str, ok: impl Fn() -> bool) {
    for _ in 0..100 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_naming_another_tenants_appid_never_gets_its_token() {
    let (h, _base, stop) = served(|s| {
        s.notifier = desk_core::state::NotifierSettings {
            sms_fold: Duration::from_secs(1),
            base_backoff: Duration::from_millis(200),
            deadline: chrono::Duration::hours(1),
        };
    })
    .await;
    spawn_worker(&h, queues::NOTIFY, &stop);
    // Tenant A's official account, and tenant B naming the same appid with a secret and an
    // API base of its own (which records every token it is sent).
    let (ns_a, ns_b) = (
        NotifySim::start().await.expect("sim"),
        NotifySim::start().await.expect("sim"),
    );
    ns_a.add_oa_app(APPID, SECRET_A, TEMPLATE);
    ns_b.add_oa_app(APPID, SECRET_B, TEMPLATE);
    let a = h.create(provider_body("1900000301")).await;
    let b = h.create(provider_body("1900000302")).await;
    oa_notices(&h, &a, &ns_a, SECRET_A).await;
    oa_notices(&h, &b, &ns_b, SECRET_B).await;

    notice(&h, &a, "200201820261126000000000001").await;
    until("tenant A's notice", || ns_a.template_messages().len() == 1).await;
    notice(&h, &b, "200201820261126000000000002").await;
    until("tenant B's notice", || ns_b.template_messages().len() == 1).await;
    notice(&h, &a, "200201820261126000000000003").await;
    until("tenant A's second notice", || {
        ns_a.template_messages().len() == 2
    })
    .await;

    let leaked: Vec<String> = ns_b
        .received_tokens()
        .into_iter()
        .filter(|t| ns_a.issued_tokens().contains(t))
        .collect();
    assert!(leaked.is_empty(), "tenant B was sent A's token");
    assert!(
        ns_a.received_tokens()
            .iter()
            .all(|t| !ns_b.issued_tokens().contains(t)),
        "tenant A was sent B's token"
    );
    assert_eq!(ns_b.token_calls(), 1, "B fetched its own token once");
    assert_eq!(ns_a.token_calls(), 1, "A's token stayed cached for A");
    stop.cancel();
}
