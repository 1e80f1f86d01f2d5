//! Which message pushes are believed, over real HTTP: the third-party platform's endpoints take
//! only encrypted pushes signed over the ciphertext; a manual mini program takes plaintext only
//! when it opted in (`allow_plaintext`), then only within the timestamp window and never a
//! signed query replayed with another body. Pushes are sealed by the WeChat simulator's own
//! code (a plaintext one signed with the real Token: what anyone who saw one signed URL in a
//! proxy log could post).

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use domain::job::queues;
use sandbox::wxapi::{PushConfig, PushFormat, PushMode, seal, seal_at};
use serde_json::{Value, json};

const APPID: &str = "wx1111111111111111";
const AUTH_APPID: &str = "wx2222222222222222";
const COMPONENT: &str = "wx9999999999999999";
const TOKEN: &str = "miniToken123";
const COMPONENT_TOKEN: &str = "platformToken456";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const COMPONENT_AES_KEY: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj";

struct Env {
    h: Harness,
    base: String,
    http: reqwest::Client,
    _stop: StopOnDrop,
}

struct StopOnDrop(desk_core::worker::CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

async fn env_with(configure: impl FnOnce(&mut desk_http::AppState)) -> Env {
    let (h, base, stop) = served(configure).await;
    Env {
        h,
        base,
        http: reqwest::Client::new(),
        _stop: StopOnDrop(stop),
    }
}

async fn env() -> Env {
    env_with(|_| {}).await
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn push(token: &str, key: &str, mode: PushMode, format: PushFormat) -> PushConfig {
    PushConfig {
        token: token.into(),
        encoding_aes_key: key.into(),
        mode,
        format,
        url: String::new(),
    }
}

fn complaint_msg(appid: &str, id: u64, status: u32) -> Value {
    json!({"ToUserName": "gh_x", "FromUserName": "system", "CreateTime": 1_700_000_000,
        "MsgType": "event", "Event": "complaint_callback",
        "BussiCallBackInfo": {"appid": appid, "complaint_order_id": id, "status": status}})
}

impl Env {
    async fn post(&self, path_and_query: &str, body: String) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{path_and_query}", self.base))
            .header("content-type", "text/xml")
            .body(body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }

    async fn manual(&self, allow_plaintext: Option<bool>, with_key: bool) -> String {
        let mut settings = json!({"appid": APPID, "mode": "manual"});
        if let Some(a) = allow_plaintext {
            settings["allow_plaintext"] = json!(a);
        }
        let mut credentials = json!({"secret": "mini-secret-0123456789abcdef", "token": TOKEN});
        if with_key {
            credentials["encoding_aes_key"] = json!(AES_KEY);
        }
        self.h
            .create(
                json!({"kind": "wxmini_app", "name": "Mini", "settings": settings,
                "credentials": credentials}),
            )
            .await
    }

    /// Our third-party platform and a mini program authorised to it; their account ids.
    async fn component_and_authorised(&self) -> (String, String) {
        let component = self
            .h
            .create(json!({"kind": "wxopen_component", "name": "Our platform",
                "settings": {"component_appid": COMPONENT},
                "credentials": {"secret": "component-secret-0123456789",
                    "token": COMPONENT_TOKEN, "encoding_aes_key": COMPONENT_AES_KEY}}))
            .await;
        let mini = self
            .h
            .create(json!({"kind": "wxmini_app", "name": "Authorised",
                "settings": {"appid": AUTH_APPID, "mode": "authorised",
                    "component_account_id": component}}))
            .await;
        (component, mini)
    }

    async fn account(&self, id: &str) -> Value {
        let (s, a) = self
            .h
            .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{a}");
        a
    }

    async fn ticket_kept(&self) -> bool {
        self.h
            .state
            .ports
            .records
            .get(&format!("WXTOKEN#ticket:{COMPONENT}"), "TOKEN")
            .await
            .expect("records")
            .is_some()
    }

    async fn jobs(&self) -> Vec<domain::job::JobEnvelope> {
        self.h.queued_jobs(queues::EVENTS).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_plaintext_events_on_the_third_party_endpoints_are_refused_and_change_nothing() {
    let e = env().await;
    let (_, mini) = e.component_and_authorised().await;
    let plain_xml = push(
        COMPONENT_TOKEN,
        COMPONENT_AES_KEY,
        PushMode::Plain,
        PushFormat::Xml,
    );
    let events = format!("/callbacks/wxopen/{COMPONENT}/events");
    let t = now();
    // A forged `unauthorized` (it disabled the mini program before), a forged ticket, a forged
    // complaint: each correctly signed with the platform's Token, none encrypted.
    let unauthorized = json!({"AppId": COMPONENT, "CreateTime": t, "InfoType": "unauthorized",
        "AuthorizerAppid": AUTH_APPID});
    let ticket = json!({"AppId": COMPONENT, "CreateTime": t,
        "InfoType": "component_verify_ticket", "ComponentVerifyTicket": "ticket@@@forged"});
    for msg in [&unauthorized, &ticket] {
        for format in [PushFormat::Xml, PushFormat::Json] {
            let cfg = PushConfig {
                format,
                ..plain_xml.clone()
            };
            let (q, body) = seal(&cfg, COMPONENT, msg).expect("seal");
            assert_eq!(
                e.post(&format!("{events}?{q}"), body).await,
                (401, "fail".into()),
                "{msg} {format:?}"
            );
        }
    }
    let messages = format!("/callbacks/wxopen/{COMPONENT}/messages/{AUTH_APPID}");
    let (q, body) = seal(
        &plain_xml,
        COMPONENT,
        &complaint_msg(AUTH_APPID, 900_001, 201),
    )
    .expect("seal");
    assert_eq!(
        e.post(&format!("{messages}?{q}"), body).await,
        (401, "fail".into())
    );
    // Compatible-mode look-alike without `encrypt_type=aes`: plaintext fields are never read.
    let compat = push(
        COMPONENT_TOKEN,
        COMPONENT_AES_KEY,
        PushMode::Compatible,
        PushFormat::Xml,
    );
    let (q, body) = seal(&compat, COMPONENT, &unauthorized).expect("seal");
    let without_aes: String = q
        .split('&')
        .filter(|p| !p.starts_with("encrypt_type="))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(
        e.post(&format!("{events}?{without_aes}"), body).await,
        (401, "fail".into())
    );
    // Nothing changed: the mini program is enabled, no ticket was kept, nothing was queued.
    let a = e.account(&mini).await;
    assert_eq!(a["enabled"], true, "{a}");
    assert_eq!(a["settings"]["authorization"], Value::Null);
    assert!(!e.ticket_kept().await, "a forged ticket is not kept");
    assert!(e.jobs().await.is_empty(), "nothing queued");
    // The genuine, encrypted ticket is kept (the endpoint works).
    let safe = push(
        COMPONENT_TOKEN,
        COMPONENT_AES_KEY,
        PushMode::Safe,
        PushFormat::Xml,
    );
    let (q, body) = seal(&safe, COMPONENT, &ticket).expect("seal");
    assert_eq!(
        e.post(&format!("{events}?{q}"), body).await,
        (200, "success".into())
    );
    assert!(e.ticket_kept().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_mini_program_refuses_plaintext_unless_it_opted_in() {
    let e = env().await;
    let id = e.manual(None, true).await;
    assert_eq!(e.account(&id).await["settings"]["allow_plaintext"], false);
    let path = format!("/callbacks/wxmini/{APPID}");
    for format in [PushFormat::Xml, PushFormat::Json] {
        let cfg = push(TOKEN, AES_KEY, PushMode::Plain, format);
        let (q, body) = seal(&cfg, APPID, &complaint_msg(APPID, 910_001, 201)).expect("seal");
        assert_eq!(
            e.post(&format!("{path}?{q}"), body).await,
            (401, "fail".into())
        );
    }
    assert!(e.jobs().await.is_empty(), "nothing queued");
    // Without an EncodingAESKey the opt-in is required just the same.
    let e = env().await;
    e.manual(Some(false), false).await;
    let cfg = push(TOKEN, AES_KEY, PushMode::Plain, PushFormat::Xml);
    let (q, body) = seal(&cfg, APPID, &complaint_msg(APPID, 910_002, 201)).expect("seal");
    assert_eq!(
        e.post(&format!("{path}?{q}"), body).await,
        (401, "fail".into())
    );
    assert!(e.jobs().await.is_empty(), "nothing queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opted_in_plaintext_is_checked_for_freshness_and_replays() {
    let e = env().await;
    e.manual(Some(true), false).await;
    let path = format!("/callbacks/wxmini/{APPID}");
    let cfg = push(TOKEN, AES_KEY, PushMode::Plain, PushFormat::Xml);
    let msg = complaint_msg(APPID, 920_001, 201);
    // Stale either way: 401.
    for ts in [now() - 16 * 60, now() + 16 * 60] {
        let (q, body) = seal_at(&cfg, APPID, &msg, &ts.to_string(), "stale1").expect("seal");
        assert_eq!(
            e.post(&format!("{path}?{q}"), body).await,
            (401, "fail".into()),
            "timestamp {ts}"
        );
    }
    // Fresh: accepted; the same delivery again (WeChat's redelivery): success, queued once.
    let (q, body) = seal_at(&cfg, APPID, &msg, &now().to_string(), "n1").expect("seal");
    let url = format!("{path}?{q}");
    assert_eq!(e.post(&url, body.clone()).await, (200, "success".into()));
    assert_eq!(e.post(&url, body.clone()).await, (200, "success".into()));
    // The same signed query with another body: a forgery, 401.
    let other = seal_at(
        &cfg,
        APPID,
        &complaint_msg(APPID, 920_002, 201),
        "0",
        "unused",
    )
    .expect("seal")
    .1;
    assert_eq!(e.post(&url, other).await, (401, "fail".into()));
    // Two other bodies on one fresh signed query at once: at most one is believed.
    let (q2, _) = seal_at(&cfg, APPID, &msg, &now().to_string(), "n2").expect("seal");
    let url2 = format!("{path}?{q2}");
    let body_a = seal_at(&cfg, APPID, &complaint_msg(APPID, 920_003, 201), "0", "x")
        .expect("seal")
        .1;
    let body_b = seal_at(&cfg, APPID, &complaint_msg(APPID, 920_004, 201), "0", "x")
        .expect("seal")
        .1;
    let (a, b) = tokio::join!(e.post(&url2, body_a), e.post(&url2, body_b));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "{a:?} {b:?}");
    let jobs = e.jobs().await;
    let mut ids: Vec<String> = jobs
        .iter()
        .map(|j| {
            j.payload["complaint_order_id"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    ids.sort();
    let winner = if a.0 == 200 { "920003" } else { "920004" };
    assert_eq!(ids, vec!["920001".to_string(), winner.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plaintext_window_is_configurable() {
    let e = env_with(|s| s.callbacks.plaintext_push_window_secs = 60).await;
    e.manual(Some(true), true).await;
    let path = format!("/callbacks/wxmini/{APPID}");
    let cfg = push(TOKEN, AES_KEY, PushMode::Plain, PushFormat::Json);
    let msg = complaint_msg(APPID, 930_001, 201);
    let (q, body) = seal_at(&cfg, APPID, &msg, &(now() - 5 * 60).to_string(), "w1").expect("seal");
    assert_eq!(
        e.post(&format!("{path}?{q}"), body).await,
        (401, "fail".into()),
        "five minutes old is outside a one-minute window"
    );
    // Encrypted pushes have no window (WeChat retries hours later).
    let safe = push(TOKEN, AES_KEY, PushMode::Safe, PushFormat::Json);
    let (q, body) =
        seal_at(&safe, APPID, &msg, &(now() - 6 * 3600).to_string(), "w2").expect("seal");
    assert_eq!(
        e.post(&format!("{path}?{q}"), body).await,
        (200, "success".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_manual_mini_program_may_allow_plaintext() {
    let e = env().await;
    let (component, _) = e.component_and_authorised().await;
    let (s, body) =
        e.h.admin(
            Method::POST,
            "/admin/v1/accounts",
            Some(json!({"kind": "wxmini_app", "name": "x", "settings": {
                "appid": "wx3333333333333333", "mode": "authorised",
                "component_account_id": component, "allow_plaintext": true}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "settings.allow_plaintext", "{body}");
    let (s, body) =
        e.h.admin(
            Method::POST,
            "/admin/v1/accounts",
            Some(json!({"kind": "wxmini_app", "name": "x", "settings": {
                "appid": "wx3333333333333333", "mode": "manual", "allow_plaintext": "yes"}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "settings.allow_plaintext", "{body}");
}

/// One thread, the router called in-process: the local recorder sees what the route counts.
#[tokio::test]
async fn a_disabled_mini_programs_push_is_acknowledged_and_counted_disabled() {
    let counted = common::metrics::Counted::default();
    let _local = ::metrics::set_default_local_recorder(&counted);
    let h = harness();
    let id = h
        .create(json!({"kind": "wxmini_app", "name": "Mini",
            "settings": {"appid": APPID, "mode": "manual"},
            "credentials": {"secret": "mini-secret-0123456789abcdef", "token": TOKEN,
                "encoding_aes_key": AES_KEY}}))
        .await;
    let cfg = push(TOKEN, AES_KEY, PushMode::Safe, PushFormat::Xml);
    let deliver = |n: u64| {
        let (q, body) = seal(&cfg, APPID, &complaint_msg(APPID, n, 201)).expect("seal");
        let h = &h;
        async move {
            let (s, b) = h
                .raw(
                    Method::POST,
                    &format!("/callbacks/wxmini/{APPID}?{q}"),
                    None,
                    Some(body),
                    "text/xml",
                )
                .await;
            (s.as_u16(), String::from_utf8_lossy(&b).into_owned())
        }
    };
    let outcome =
        |o: &'static str| counted.get("callbacks_total", &[("platform", "wxmini"), ("outcome", o)]);
    assert_eq!(deliver(920_001).await, (200, "success".into()));
    assert_eq!((outcome("accepted"), outcome("disabled")), (1, 0));
    let (s, b) = h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Acknowledged as before (WeChat would retry anything else) and queued for the worker to
    // record, but counted apart, as WeChat Pay's and Alipay's are.
    assert_eq!(deliver(920_002).await, (200, "success".into()));
    assert_eq!((outcome("accepted"), outcome("disabled")), (1, 1));
    assert_eq!(h.queued_jobs(queues::EVENTS).await.len(), 2);
}
