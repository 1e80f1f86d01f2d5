//! `kill -9` under load: the real `complaint-desk` binary takes signed WeChat Pay complaint
//! callbacks from 8 concurrent senders and is killed while they are still sending. After a
//! restart, every callback that was acknowledged (204) is there exactly once (its inbox record
//! and one queued job), nothing unacknowledged is there twice, and redelivering the
//! acknowledged ones queues nothing new. This is what group commit must not break: a caller
//! is answered only after the commit that holds its write is durable.

use e2e_tests::Server;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use sandbox::wechatpay::{KeyMode, Notification, PlatformKeys, WechatPaySim};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const ADMIN: &str = "e2e-admin-token-0123456789abcdef";
const PROVIDER: &str = "1900000109";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const SENDERS: usize = 8;
/// Signed before the server starts; the server is killed once `KILL_AFTER` were acknowledged,
/// with the rest still being sent.
const PREPARED: usize = 800;
const KILL_AFTER: usize = 500;

/// A provider account whose platform address refuses connections: the worker's jobs fail and
/// are retried later, so every queued job stays in `queue_messages` where the test counts it.
async fn provider(server: &Server, sim: &WechatPaySim, key: &rsa::RsaPrivateKey) {
    let (s, account) = server
        .admin(
            ADMIN,
            reqwest::Method::POST,
            "/accounts",
            Some(json!({
                "kind": "wechatpay_provider", "name": "Load test provider",
                "settings": {"mchid": PROVIDER, "appid": "wx2c2769f8efd9abc2",
                             "merchant_serial_no": SERIAL, "api_base_url": "http://127.0.0.1:9"},
                "credentials": {"private_key": key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
                                "apiv3_key": APIV3, "wechatpay_public_key": sim.keys().public_key_pem(),
                                "wechatpay_public_key_id": sim.keys().pub_key_id},
            })),
        )
        .await;
    assert_eq!(s, 201, "{account}");
}

/// Signed complaint notifications, each with its own notification id, made on every core.
fn prepare(sim: &WechatPaySim, n: usize) -> Vec<(String, Notification)> {
    let threads = std::thread::available_parallelism().map_or(2, |p| p.get());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| {
                            let complaint_id = format!("2002018202611260{i:011}");
                            let push = sim.notification(
                                APIV3,
                                "COMPLAINT.CREATE",
                                "complaint",
                                &json!({"complaint_id": complaint_id, "action_type": "CREATE_COMPLAINT"}),
                                KeyMode::PublicKey,
                                0,
                            );
                            let body: Value = serde_json::from_str(&push.body).expect("json body");
                            let id = body["id"].as_str().expect("notification id").to_string();
                            (id, push)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    })
}

/// For each notification id: (inbox records, queued jobs on "events"), read from the database
/// file itself (read-only, beside the running server).
fn stored(data_dir: &std::path::Path, ids: &[&str]) -> BTreeMap<String, (i64, i64)> {
    let conn = rusqlite::Connection::open_with_flags(
        data_dir.join("complaint-desk.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the database read-only");
    let mut inbox = conn
        .prepare("SELECT count(*) FROM records WHERE pk = ?1 AND sk = 'META'")
        .expect("prepare");
    let mut jobs = conn
        .prepare(
            // The job carries the notification id (ids are random: no false match).
            "SELECT count(*) FROM queue_messages WHERE queue = 'events' AND instr(body, ?1) > 0",
        )
        .expect("prepare");
    ids.iter()
        .map(|id| {
            let key = format!("INBOX#wechatpay:{PROVIDER}:{id}");
            let r: i64 = inbox.query_row([key], |r| r.get(0)).expect("inbox count");
            let j: i64 = jobs.query_row([id], |r| r.get(0)).expect("job count");
            (id.to_string(), (r, j))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_callback_survives_kill_9_exactly_once() {
    let dir = tempfile::tempdir().expect("dir");
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    let env = [("ADMIN_TOKEN", ADMIN), ("JOB_VISIBILITY_SECS", "60")];
    let server = Server::start(dir.path(), &env);
    provider(&server, &sim, &key).await;
    let pushes = Arc::new(prepare(&sim, PREPARED));
    let url = server.url(&format!("/callbacks/wechatpay/{PROVIDER}/complaints"));

    // 8 senders share the prepared pushes; each answer is noted per push.
    let next = Arc::new(AtomicUsize::new(0));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..SENDERS {
        let (pushes, next, acked_count, enough, url) = (
            pushes.clone(),
            next.clone(),
            acked_count.clone(),
            enough.clone(),
            url.clone(),
        );
        senders.spawn(async move {
            let mut answers = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((id, push)) = pushes.get(i) else {
                    break;
                };
                let answer = push.post(&url).await;
                if answer == Ok(204) && acked_count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER
                {
                    enough.notify_one();
                }
                let stop = answer.is_err();
                answers.push((id.clone(), answer));
                if stop {
                    // The server is gone.
                    break;
                }
            }
            answers
        });
    }
    enough.notified().await;
    let before = server.kill();
    let mut acked = BTreeSet::new();
    let mut sent = BTreeSet::new();
    while let Some(answers) = senders.join_next().await {
        for (id, answer) in answers.expect("sender") {
            if answer == Ok(204) {
                acked.insert(id.clone());
            } else if let Ok(status) = answer {
                panic!("a valid callback was refused with {status}:\n{before}");
            }
            sent.insert(id);
        }
    }
    eprintln!(
        "{} callbacks acknowledged, {} sent before the kill, {} prepared",
        acked.len(),
        sent.len(),
        PREPARED
    );
    assert!(acked.len() >= KILL_AFTER, "{} acknowledged", acked.len());
    assert!(
        sent.len() < PREPARED || acked.len() < PREPARED,
        "the kill came after every callback was answered: it proves nothing"
    );

    let server = Server::start(dir.path(), &env);
    let all: Vec<&str> = pushes.iter().map(|(id, _)| id.as_str()).collect();
    let found = stored(dir.path(), &all);
    for id in &acked {
        assert_eq!(
            found[id],
            (1, 1),
            "acknowledged {id}: (inbox records, queued jobs) after the crash"
        );
    }
    for (id, (records, jobs)) in &found {
        assert!(
            *records <= 1 && *records == *jobs,
            "{id}: {records} inbox records, {jobs} jobs (recorded and queued together, once)"
        );
        assert!(
            *records == 0 || sent.contains(id),
            "{id} was never sent but is stored"
        );
    }

    // The platform redelivers what it saw acknowledged: answered again, queued no more.
    for (id, push) in pushes.iter().filter(|(id, _)| acked.contains(id)) {
        assert_eq!(
            push.post(&url_of(&server)).await,
            Ok(204),
            "redelivery of {id}"
        );
    }
    let again = stored(dir.path(), &all);
    assert_eq!(again, found, "redelivery queued something new");
    drop(server);
}

fn url_of(server: &Server) -> String {
    server.url(&format!("/callbacks/wechatpay/{PROVIDER}/complaints"))
}
