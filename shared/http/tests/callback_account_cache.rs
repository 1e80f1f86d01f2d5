//! What a callback costs in port calls, and the account cache that makes it cheap: counted over
//! the embedded adapters (the AWS form is counted on moto server in the admin-api crate).
//! Every account change made through the admin API reaches the next callback at once.

mod common;

use axum::http::{Method, StatusCode};
use common::counting::{CallLog, counted};
use common::*;
use desk_core::account_cache::AccountCache;
use domain::job::queues;
use sandbox::wechatpay::{KeyMode, Notification, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::json;
use std::sync::Arc;

const MCHID: &str = "1900000109";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const APIV3_NEW: &str = "ABCDEFGHIJ0123456789abcdefghij02";
const PATH: &str = "/callbacks/wechatpay/1900000109/complaints";

async fn simulator() -> WechatPaySim {
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    sim.add_merchant(SimMerchant {
        mchid: MCHID.into(),
        serial_no: SERIAL.into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    sim
}

fn account_body(sim: &WechatPaySim) -> serde_json::Value {
    let mut body = provider_body(MCHID);
    body["settings"]["api_base_url"] = json!(sim.base_url());
    body["credentials"] = json!({"private_key": private_pem(rsa_key()), "apiv3_key": APIV3,
        "wechatpay_public_key": sim.keys().public_key_pem(),
        "wechatpay_public_key_id": sim.keys().pub_key_id});
    body
}

fn push(sim: &WechatPaySim, apiv3: &str, n: u32) -> Notification {
    sim.notification(
        apiv3,
        "COMPLAINT.CREATE",
        "complaint",
        &json!({"complaint_id": format!("20020182026112608000000{n:04}"), "action_type": "CREATE_COMPLAINT"}),
        KeyMode::PublicKey,
        0,
    )
}

async fn deliver(h: &Harness, n: &Notification) -> StatusCode {
    h.post_with_headers(PATH, &n.headers, n.body.clone())
        .await
        .0
}

#[tokio::test]
async fn a_callback_reads_its_account_once_then_only_the_inbox() {
    let log = CallLog::default();
    let h = harness_over(None, |p| counted(p, &log));
    let sim = simulator().await;
    let id = h.create(account_body(&sim)).await;
    log.take();

    // First callback: one read of the account (the platform id's record carries it), the
    // credentials once (the WeChat Pay client is built), one durable accept.
    let first = push(&sim, APIV3, 1);
    assert_eq!(deliver(&h, &first).await, StatusCode::NO_CONTENT);
    assert_eq!(
        log.take(),
        [
            "records.get PLATFORM".to_string(),
            format!("secrets.get accounts/{id}/credentials"),
            "inbox.accept events".to_string(),
        ]
    );
    // A second one for the same account: the account and client are cached.
    let second = push(&sim, APIV3, 2);
    assert_eq!(deliver(&h, &second).await, StatusCode::NO_CONTENT);
    assert_eq!(log.take(), ["inbox.accept events"]);
    // A duplicate: the same, and nothing more is queued.
    assert_eq!(deliver(&h, &second).await, StatusCode::NO_CONTENT);
    assert_eq!(log.take(), ["inbox.accept events"]);
    assert_eq!(h.queued_jobs(queues::EVENTS).await.len(), 2);
}

#[tokio::test]
async fn an_account_created_after_a_callback_for_its_id_is_found_at_once() {
    let h = harness();
    let sim = simulator().await;
    assert_eq!(
        deliver(&h, &push(&sim, APIV3, 1)).await,
        StatusCode::NOT_FOUND
    );
    h.create(account_body(&sim)).await;
    assert_eq!(
        deliver(&h, &push(&sim, APIV3, 2)).await,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_deleted_account_gets_no_more_callbacks() {
    let h = harness();
    let sim = simulator().await;
    let id = h.create(account_body(&sim)).await;
    assert_eq!(
        deliver(&h, &push(&sim, APIV3, 1)).await,
        StatusCode::NO_CONTENT
    );
    let (s, _) = h
        .admin(Method::DELETE, &format!("/admin/v1/accounts/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        deliver(&h, &push(&sim, APIV3, 2)).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_new_api_v3_key_decrypts_the_next_callback() {
    let h = harness();
    let sim = simulator().await;
    let id = h.create(account_body(&sim)).await;
    assert_eq!(
        deliver(&h, &push(&sim, APIV3, 1)).await,
        StatusCode::NO_CONTENT
    );
    let (s, b) = h
        .admin(
            Method::PUT,
            &format!("/admin/v1/accounts/{id}/credentials"),
            Some(json!({"apiv3_key": APIV3_NEW})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        deliver(&h, &push(&sim, APIV3_NEW, 2)).await,
        StatusCode::NO_CONTENT
    );
    // The old key no longer decrypts.
    assert_eq!(
        deliver(&h, &push(&sim, APIV3, 3)).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn disabling_an_account_reaches_the_callback_lookup_at_once() {
    let h = harness();
    let sim = simulator().await;
    let id = h.create(account_body(&sim)).await;
    let lookup = || {
        h.state
            .accounts
            .find(&*h.state.ports.records, "wechatpay", MCHID)
    };
    assert!(lookup().await.expect("lookup").expect("account").enabled);
    for enabled in [false, true, false] {
        let (s, b) = h
            .admin(
                Method::PATCH,
                &format!("/admin/v1/accounts/{id}"),
                Some(json!({"enabled": enabled})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            lookup().await.expect("lookup").expect("account").enabled,
            enabled
        );
    }
    // Disabled accounts' callbacks are still acknowledged (and queued for the worker, which
    // checks the account itself).
    assert_eq!(
        deliver(&h, &push(&sim, APIV3, 1)).await,
        StatusCode::NO_CONTENT
    );
}

/// The WeChat Pay client the callback path would use now.
async fn client_of(h: &Harness) -> Arc<wechatpay::Client> {
    let account = h
        .state
        .accounts
        .find(&*h.state.ports.records, "wechatpay", MCHID)
        .await
        .expect("lookup")
        .expect("account");
    desk_core::platforms::wechatpay::Clients::of(&h.state)
        .get(&account, &*h.state.ports.secrets)
        .await
        .expect("client")
}

#[tokio::test]
async fn a_wechatpay_client_is_rebuilt_when_what_it_was_built_from_changes() {
    let h = harness();
    let sim = simulator().await;
    let other = simulator().await;
    let id = h.create(account_body(&sim)).await;
    let first = client_of(&h).await;
    assert!(Arc::ptr_eq(&first, &client_of(&h).await));
    // Another API host (scope all): the old client would send the keys' signatures there.
    let (s, b) = h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{id}"),
            Some(json!({"settings": {"api_base_url": other.base_url()}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let second = client_of(&h).await;
    assert!(
        !Arc::ptr_eq(&first, &second),
        "client built for the old host"
    );
    // Unrelated changes keep it.
    let (s, _) = h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{id}"),
            Some(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(Arc::ptr_eq(&second, &client_of(&h).await));
}

#[tokio::test]
async fn a_cache_that_keeps_nothing_reads_the_store_every_time() {
    let log = CallLog::default();
    let mut h = harness_over(None, |p| counted(p, &log));
    h.state.accounts = Arc::new(AccountCache::new(std::time::Duration::ZERO, 0));
    h.router = desk_http::router::router(h.state.clone());
    let sim = simulator().await;
    h.create(account_body(&sim)).await;
    for n in 1..=2 {
        log.take();
        assert_eq!(
            deliver(&h, &push(&sim, APIV3, n)).await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(log.take()[0], "records.get PLATFORM");
    }
}

#[tokio::test]
async fn a_mini_program_push_reads_its_token_once_and_an_opt_out_of_plaintext_is_seen_at_once() {
    use sandbox::wxapi::{PushConfig, PushFormat, PushMode, seal};
    const APPID: &str = "wx1111111111111111";
    const TOKEN: &str = "miniToken123";
    const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let log = CallLog::default();
    let h = harness_over(None, |p| counted(p, &log));
    let id = h
        .create(json!({"kind": "wxmini_app", "name": "Mini",
            "settings": {"appid": APPID, "mode": "manual", "allow_plaintext": true},
            "credentials": {"secret": "mini-secret-0123456789", "token": TOKEN,
                "encoding_aes_key": AES_KEY}}))
        .await;
    let cfg = |mode| PushConfig {
        token: TOKEN.into(),
        encoding_aes_key: AES_KEY.into(),
        mode,
        format: PushFormat::Xml,
        url: String::new(),
    };
    let msg = |n: u64| {
        json!({"ToUserName": "gh_x", "FromUserName": "system", "CreateTime": 1_700_000_000,
            "MsgType": "event", "Event": "complaint_callback",
            "BussiCallBackInfo": {"appid": APPID, "complaint_order_id": n, "status": 201}})
    };
    let post = |mode, n| {
        let (q, body) = seal(&cfg(mode), APPID, &msg(n)).expect("seal");
        let h = &h;
        async move {
            h.raw(
                Method::POST,
                &format!("/callbacks/wxmini/{APPID}?{q}"),
                None,
                Some(body),
                "text/xml",
            )
            .await
            .0
        }
    };
    log.take();
    assert_eq!(post(PushMode::Safe, 920_001).await, StatusCode::OK);
    assert_eq!(
        log.take(),
        [
            "records.get PLATFORM".to_string(),
            format!("secrets.get accounts/{id}/credentials"),
            "inbox.accept events".to_string(),
        ]
    );
    assert_eq!(post(PushMode::Safe, 920_002).await, StatusCode::OK);
    assert_eq!(log.take(), ["inbox.accept events"]);
    assert_eq!(post(PushMode::Plain, 920_003).await, StatusCode::OK);
    let (s, b) = h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{id}"),
            Some(json!({"settings": {"allow_plaintext": false}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        post(PushMode::Plain, 920_004).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post(PushMode::Safe, 920_005).await, StatusCode::OK);
}

#[tokio::test]
async fn an_account_whose_lookup_record_has_no_copy_is_still_found() {
    // Lookup records written before they carried the account: found with a second read.
    let h = harness();
    let sim = simulator().await;
    let id = h.create(account_body(&sim)).await;
    let records = &*h.state.ports.records;
    records
        .put(domain::ports::Item::new(
            format!("PLATFORM#wechatpay#{MCHID}"),
            "ACCOUNT",
            json!({"account_id": id}),
        ))
        .await
        .expect("put");
    let found = desk_core::repo::AccountRepo::new(records)
        .find_by_platform_id("wechatpay", MCHID)
        .await
        .expect("lookup")
        .expect("account");
    assert_eq!(found.id, id);
    assert_eq!(
        deliver(&h, &push(&sim, APIV3, 1)).await,
        StatusCode::NO_CONTENT
    );
}
