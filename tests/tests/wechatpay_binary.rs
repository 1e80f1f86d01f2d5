//! The real `complaint-desk` binary with the WeChat Pay simulator: a crash injected between
//! the refund and the completion (the process aborts), then a restart: the refund is found by
//! its number and not asked for again, and the complaint is completed. And the demo command,
//! the metrics a complaint moves (`GET /metrics`), and the post-deployment smoke check
//! (`scripts/smoke`) against the binary.

use e2e_tests::prometheus::{self, Sample};
use e2e_tests::wechatpay::{APIV3, PROVIDER, SUB, SimProvider};
use e2e_tests::{Server, binary, workspace_root};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use sandbox::wechatpay::KeyMode;
use serde_json::{Value, json};
use std::time::Duration;

const ADMIN: &str = "e2e-admin-token-0123456789abcdef";

async fn admin(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    s.admin(ADMIN, method, path, body).await
}

/// A provider pointed at the simulator, with a sub-merchant that auto-replies and refunds.
async fn provider(server: &Server) -> SimProvider {
    let p = SimProvider::create(server, ADMIN, "Crash test provider").await;
    p.add_sub(
        server,
        ADMIN,
        json!({"name": "门店", "reply_text": "您好，已为您退款。", "auto_refund": true}),
    )
    .await;
    p
}

// Multi-threaded: the simulator must keep answering while this thread waits for the exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_refund_and_complete_never_refunds_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let env = [
        ("ADMIN_TOKEN", ADMIN),
        ("JOB_VISIBILITY_SECS", "2"),
        ("COMPLAINT_DESK_FAULT", "after_refund"),
    ];
    let mut server = Server::start(dir.path(), &env);
    let p = provider(&server).await;
    let (sim, key) = (&p.sim, &p.key);
    let complaint_id = "200201820261122080000000009";
    sim.add_complaint_for(
        PROVIDER,
        json!({"complaint_id": complaint_id, "complaint_time": chrono::Utc::now().to_rfc3339(),
               "complaint_detail": "未收到商品", "complaint_state": "PENDING", "complainted_mchid": SUB,
               "complaint_order_info": [{"transaction_id": "4200000000202611220000000009", "out_trade_no": "T9", "amount": 2500}],
               "problem_type": "OTHERS", "need_immediate_service": false}),
    );
    p.push_new(&server, complaint_id).await;

    // The worker asks for the refund, then the process aborts before completing.
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| !s.success()),
        "the fault point was not reached: {}",
        server.output_text()
    );
    assert!(server.output_text().contains("fault injection: aborting"));
    assert_eq!(sim.refunds().len(), 1);
    assert!(sim.writes_to("/complete").is_empty());
    let first_run = server.output_text();
    drop(server);

    // Restart without the fault: the job comes back after its visibility timeout.
    let server = Server::start(dir.path(), &env[..2]);
    let mut completed = false;
    for _ in 0..100 {
        if sim.writes_to("/complete").len() == 1 {
            completed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        completed,
        "not completed after the restart: {}",
        server.output_text()
    );
    assert_eq!(sim.refunds().len(), 1, "one refund on the platform");
    assert_eq!(
        sim.writes_to("/v3/refund/domestic/refunds").len(),
        1,
        "the refund was not even asked for again"
    );
    assert_eq!(sim.writes_to("/response").len(), 1, "one reply");
    let (_, list) = admin(&server, reqwest::Method::GET, "/complaints", None).await;
    let cid = list["items"][0]["id"].as_str().expect("complaint");
    let (_, d) = admin(
        &server,
        reqwest::Method::GET,
        &format!("/complaints/{cid}"),
        None,
    )
    .await;
    let refund_log: Vec<&Value> = d["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["action"] == "refund")
        .collect();
    assert_eq!(refund_log.len(), 1, "{refund_log:?}");
    assert_eq!(refund_log[0]["outcome"], "already_done");
    assert_eq!(d["complaint"]["completed"], true);
    assert_eq!(d["complaint"]["refunded_fen"], 2500);

    // Neither run logged a secret: the API v3 key, any line of the private key.
    let pem = key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string();
    let logs = format!("{first_run}\n{}", server.output_text());
    assert!(!logs.contains(APIV3));
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!logs.contains(line), "a private key line was logged");
    }
}

#[test]
fn the_demo_shows_a_complaint_end_to_end() {
    let out = std::process::Command::new(binary())
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .expect("run the demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "HTTP 204",
        "reply: succeeded",
        "refund: succeeded",
        "complete: succeeded",
        "notification job for the provider's staff",
        "notification job for sub-merchant 1900000201's staff",
        "1 reply",
        "1 refund (1999 fen",
        "1 completion; the complaint is now \"PROCESSED\"",
        "Alipay pushed alipay.merchant.tradecomplain.changed",
        "\"success\"",
        "alipay refund: succeeded",
        "The Alipay simulator saw 1 reply, 1 refund (12.50 yuan), 1 finishing feedback.",
        "complaint_callback to",
        "HTTP 200 (msg_signature verified",
        "wxmini reply: succeeded (responded: agree to settle",
        "wxmini refund: succeeded (refund of 3900 fen",
        "The WeChat simulator saw 1 response; the WeChat Pay simulator 1 refund for DEMO-MINI-1",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_go_out_and_leave_no_secret_in_the_logs() {
    let dir = tempfile::tempdir().expect("dir");
    let ns = sandbox::notify::NotifySim::start()
        .await
        .expect("notify sim");
    let (oa_secret, sms_key) = (
        "oa-secret-LEAKCHECK-0123456789abcd",
        "sms-key-LEAKCHECK-0123456789abcd",
    );
    ns.add_oa_app("wx1234567890abcdef", oa_secret, "TPL");
    ns.add_sms_key("AKIDLEAKCHECK", sms_key);
    let wecom = ns.add_bot("wecom", "wecomLEAKCHECKtoken", None);
    let ding = ns.add_bot("dingtalk", "dingLEAKCHECKtoken", Some("SECdingLEAKCHECK"));
    let server = Server::start(
        dir.path(),
        &[
            ("ADMIN_TOKEN", ADMIN),
            ("SMS_FOLD_SECS", "1"),
            ("RUST_LOG", "debug"),
        ],
    );
    let p = provider(&server).await;
    let (sim, id) = (&p.sim, p.account_id.clone());
    let (s, b) = admin(
        &server,
        reqwest::Method::PUT,
        &format!("/accounts/{id}/sub-merchants/{SUB}/notifications"),
        Some(json!({
            "oa_template": {"appid": "wx1234567890abcdef", "template_id": "TPL", "openids": ["oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"],
                            "field_mapping": {"thing1": "merchant"}, "api_base_url": ns.base_url(), "secret": oa_secret},
            "sms": {"secret_id": "AKIDLEAKCHECK", "sdk_app_id": "1400006666", "sign_name": "投诉台", "template_id": "1",
                    "phone_numbers": ["+8613711112222"], "api_base_url": ns.sms_url(), "secret_key": sms_key},
            "bots": [{"id": "w", "kind": "wecom", "webhook_url": wecom},
                     {"id": "d", "kind": "dingtalk", "webhook_url": ding, "signing_secret": "SECdingLEAKCHECK"}]
        })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let complaint_id = "200201820261122080000000077";
    sim.add_complaint_for(
        PROVIDER,
        json!({"complaint_id": complaint_id, "complaint_time": chrono::Utc::now().to_rfc3339(),
               "complaint_detail": "未收到商品", "complaint_state": "PENDING", "complainted_mchid": SUB,
               "complaint_order_info": [{"transaction_id": "4200000000202611220000000077", "out_trade_no": "T77", "amount": 300}],
               "problem_type": "OTHERS", "need_immediate_service": false}),
    );
    let push = sim.notification(
        APIV3,
        "COMPLAINT.CREATE",
        "complaint",
        &json!({"complaint_id": complaint_id, "action_type": "CREATE_COMPLAINT"}),
        KeyMode::PublicKey,
        0,
    );
    assert_eq!(
        push.post(&server.url(&format!("/callbacks/wechatpay/{PROVIDER}/complaints")))
            .await,
        Ok(204)
    );
    let mut done = false;
    for _ in 0..100 {
        if ns.template_messages().len() == 1
            && ns.sms_sent().len() == 1
            && ns.bot_messages().len() == 2
        {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        done,
        "the sub-merchant's staff were not told: {}",
        server.output_text()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = server.output_text();
    assert!(logs.contains("delivery"), "the deliveries are logged");
    for secret in [
        oa_secret,
        sms_key,
        "LEAKCHECKtoken",
        "SECdingLEAKCHECK",
        APIV3,
        ADMIN,
        "access_token=TOKEN",
    ] {
        assert!(!logs.contains(secret), "{secret} was logged");
    }
}

/// `NO_WORKERS`: the callback is acknowledged and queued, and no job runs (the simulator is
/// never asked for the complaint); after a restart without it, the queued job runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_workers_queues_callbacks_and_a_restart_runs_them() {
    let dir = tempfile::tempdir().expect("dir");
    let env = [("ADMIN_TOKEN", ADMIN), ("NO_WORKERS", "true")];
    let server = Server::start(dir.path(), &env);
    let p = provider(&server).await;
    let sim = &p.sim;
    let complaint_id = "200201820261126080000000010";
    sim.add_complaint_for(
        PROVIDER,
        json!({"complaint_id": complaint_id, "complaint_time": chrono::Utc::now().to_rfc3339(),
               "complaint_detail": "未收到商品", "complaint_state": "PENDING", "complainted_mchid": SUB,
               "complaint_order_info": [{"transaction_id": "4200000000202611260000000010", "out_trade_no": "T10", "amount": 1200}],
               "problem_type": "OTHERS", "need_immediate_service": false}),
    );
    let push = sim.notification(
        APIV3,
        "COMPLAINT.CREATE",
        "complaint",
        &json!({"complaint_id": complaint_id, "action_type": "CREATE_COMPLAINT"}),
        KeyMode::PublicKey,
        0,
    );
    let url = server.url(&format!("/callbacks/wechatpay/{PROVIDER}/complaints"));
    assert_eq!(push.post(&url).await, Ok(204));
    // With workers the job is taken within milliseconds; give it a full second to show none
    // runs: the queued job is still unreceived, and no complaint was recorded.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let db = rusqlite::Connection::open_with_flags(
        dir.path().join("complaint-desk.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the database read-only");
    let (jobs, received): (i64, i64) = db
        .query_row(
            "SELECT count(*), coalesce(sum(receive_count), 0) FROM queue_messages WHERE queue = 'events'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("queue");
    drop(db);
    assert_eq!((jobs, received), (1, 0), "{}", server.output_text());
    let (_, list) = admin(&server, reqwest::Method::GET, "/complaints", None).await;
    assert_eq!(list["items"], json!([]), "{list}");
    assert!(server.output_text().contains("--no-workers"));
    drop(server);

    // Without the flag the queued job runs: reply, refund, completion.
    let server = Server::start(dir.path(), &env[..1]);
    let mut completed = false;
    for _ in 0..200 {
        if sim.writes_to("/complete").len() == 1 {
            completed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        completed,
        "not completed after the restart: {}",
        server.output_text()
    );
    assert_eq!(sim.refunds().len(), 1);
}

/// `GET /metrics` with `token`: the status and the samples (none unless 200).
async fn scrape(s: &Server, token: Option<&str>) -> (u16, Vec<Sample>) {
    let mut req = reqwest::Client::new().get(s.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("scrape");
    let status = res.status().as_u16();
    if status == 200 {
        assert_eq!(
            res.headers()["content-type"],
            "text/plain; version=0.0.4",
            "Prometheus's text format"
        );
        return (status, prometheus::parse(&res.text().await.expect("text")));
    }
    let body: Value = res.json().await.expect("the admin API's error format");
    assert!(body["error"]["code"].is_string(), "{body}");
    (status, vec![])
}

/// One complaint through the real binary and the simulator (push accepted, detail read,
/// automatic reply and refund, completion, the staff's bot told) moves each series it should,
/// by what it should, under the platform and the account; refused callbacks are counted by
/// why; only tokens of scope `all` read the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_a_complaint_from_its_push_to_the_staff_notice() {
    let dir = tempfile::tempdir().expect("dir");
    let ns = sandbox::notify::NotifySim::start()
        .await
        .expect("notify sim");
    let wecom = ns.add_bot("wecom", "metricsbot", None);
    let server = Server::start(dir.path(), &[("ADMIN_TOKEN", ADMIN)]);
    let p = provider(&server).await;
    let (sim, id) = (&p.sim, p.account_id.clone());
    let (s, b) = admin(
        &server,
        reqwest::Method::PUT,
        &format!("/accounts/{id}/sub-merchants/{SUB}/notifications"),
        Some(json!({"bots": [{"id": "w", "kind": "wecom", "webhook_url": wecom}]})),
    )
    .await;
    assert_eq!(s, 200, "{b}");

    // Who may read them: no token 401, a scoped token 403, a viewer of scope all 200.
    assert_eq!(scrape(&server, None).await.0, 401);
    let token = |role: &str, scope: Value| json!({"name": format!("metrics {role}"), "role": role, "scope": scope});
    let (s, scoped) = admin(
        &server,
        reqwest::Method::POST,
        "/tokens",
        Some(token(
            "admin",
            json!({"type": "account", "account_id": id.clone()}),
        )),
    )
    .await;
    assert_eq!(s, 201, "{scoped}");
    let scoped = scoped["token"].as_str().expect("token");
    assert_eq!(scrape(&server, Some(scoped)).await.0, 403);
    let (s, viewer) = admin(
        &server,
        reqwest::Method::POST,
        "/tokens",
        Some(token("viewer", json!({"type": "all"}))),
    )
    .await;
    assert_eq!(s, 201, "{viewer}");
    let viewer = viewer["token"].as_str().expect("token").to_string();
    let (s, before) = scrape(&server, Some(&viewer)).await;
    assert_eq!(s, 200);
    for queue in ["events", "notify"] {
        for gauge in [
            "complaint_desk_queue_depth",
            "complaint_desk_queue_oldest_age_seconds",
        ] {
            assert!(
                before
                    .iter()
                    .any(|x| x.name == gauge
                        && x.labels.get("queue").map(String::as_str) == Some(queue)),
                "{gauge}{{queue={queue}}} is missing"
            );
        }
    }

    let complaint_id = "200201820261127080000000042";
    sim.add_complaint_for(
        PROVIDER,
        json!({"complaint_id": complaint_id, "complaint_time": chrono::Utc::now().to_rfc3339(),
               "complaint_detail": "未收到商品", "complaint_state": "PENDING", "complainted_mchid": SUB,
               "complaint_order_info": [{"transaction_id": "4200000000202611270000000042", "out_trade_no": "T42", "amount": 1800}],
               "problem_type": "OTHERS", "need_immediate_service": false}),
    );
    let push = p.create_push(complaint_id);
    let url = server.url(&format!("/callbacks/wechatpay/{PROVIDER}/complaints"));
    assert_eq!(push.post(&url).await, Ok(204));
    // Refused and repeated callbacks, each counted by why.
    assert_eq!(push.post(&url).await, Ok(204), "the same push again");
    let mut probe = push.clone();
    probe.set_header("Wechatpay-Signature", "WECHATPAY/SIGNTEST/abc".into());
    assert_eq!(probe.post(&url).await, Ok(401));
    let unknown = server.url("/callbacks/wechatpay/1999999999/complaints");
    assert_eq!(push.post(&unknown).await, Ok(404));

    let mut done = false;
    for _ in 0..200 {
        if sim.writes_to("/complete").len() == 1 && !ns.bot_messages().is_empty() {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "not completed and told: {}", server.output_text());
    // The last writes (the record after completion, the delivery's outcome) land just after.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, after) = scrape(&server, Some(&viewer)).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        let name = format!("complaint_desk_{name}");
        prometheus::value(&after, &name, labels) - prometheus::value(&before, &name, labels)
    };
    let wp = ("platform", "wechatpay");
    let account = ("account", id.as_str());
    for (outcome, n) in [
        ("accepted", 1.0),
        ("duplicate", 1.0),
        ("bad_signature", 1.0),
        ("unknown_account", 1.0),
    ] {
        assert_eq!(
            moved("callbacks_total", &[wp, ("outcome", outcome)]),
            n,
            "callbacks {outcome}"
        );
    }
    assert_eq!(
        moved(
            "complaints_received_total",
            &[wp, account, ("source", "push")]
        ),
        1.0
    );
    assert_eq!(moved("automatic_replies_total", &[wp, account]), 1.0);
    assert_eq!(moved("automatic_refunds_total", &[wp, account]), 1.0);
    assert_eq!(moved("automatic_refund_fen_total", &[wp, account]), 1800.0);
    assert_eq!(moved("first_response_seconds_count", &[wp, account]), 1.0);
    assert_eq!(moved("completion_seconds_count", &[wp, account]), 1.0);
    assert!(
        moved("deadlines_total", &[wp, account, ("outcome", "met")]) >= 1.0,
        "the first reply's deadline was met"
    );
    assert_eq!(
        moved("deadlines_total", &[wp, account, ("outcome", "missed")]),
        0.0
    );
    for (operation, n) in [("reply", 1.0), ("refund", 1.0), ("complete", 1.0)] {
        assert_eq!(
            moved(
                "platform_calls_total",
                &[wp, ("operation", operation), ("outcome", "ok")]
            ),
            n,
            "{operation}"
        );
    }
    assert!(
        moved(
            "platform_calls_total",
            &[wp, ("operation", "complaint_detail"), ("outcome", "ok")]
        ) >= 1.0
    );
    assert_eq!(
        moved(
            "staff_notices_total",
            &[("channel", "bot"), ("outcome", "sent")]
        ),
        ns.bot_messages().len() as f64
    );
    // Never a complaint id, an order or a sub-merchant in a label.
    for s in &after {
        for v in s.labels.values() {
            for private in [complaint_id, "T42", SUB] {
                assert!(!v.contains(private), "{s:?}");
            }
        }
    }
}

/// Run `scripts/smoke URL -` with `token` on stdin: (success, stdout and stderr).
async fn smoke(server: &Server, token: &str) -> (bool, String) {
    let (code, out) = smoke_with(server, token, &[], None).await;
    (code == Some(0), out)
}

/// `scripts/smoke [ARGS] URL -`, with `path_first` (a directory) before `PATH`: (exit code,
/// stdout and stderr).
async fn smoke_with(
    server: &Server,
    token: &str,
    args: &[&str],
    path_first: Option<&std::path::Path>,
) -> (Option<i32>, String) {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new("bash");
    if let Some(dir) = path_first {
        let path = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{}:{path}", dir.display()));
    }
    let mut child = command
        .arg(workspace_root().join("scripts/smoke"))
        .args(args)
        .args([server.base_url.as_str(), "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run scripts/smoke");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{token}\n").as_bytes())
        .await
        .expect("token");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("scripts/smoke finished within a minute")
        .expect("scripts/smoke output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_check_passes_against_the_binary_and_fails_on_a_wrong_token() {
    let dir = tempfile::tempdir().expect("dir");
    // No workers: a job the probe had queued would stay in the queue table to be seen.
    let env = [("ADMIN_TOKEN", ADMIN), ("NO_WORKERS", "true")];
    let server = Server::start(dir.path(), &env);
    let _p = provider(&server).await;

    let (passed, out) = smoke(&server, ADMIN).await;
    assert!(passed, "{out}\nserver:\n{}", server.output_text());
    assert!(out.contains("ok   GET /healthz: 200"), "{out}");
    assert!(
        out.contains("ok   GET /admin/v1/accounts with the token: 200, 1 account(s)"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "ok   WeChat Pay probe signature for merchant {PROVIDER}: refused, 401"
        )),
        "the probe reached the provider's signature check: {out}"
    );
    assert!(!out.contains(ADMIN), "the token was printed: {out}");
    let db = rusqlite::Connection::open_with_flags(
        dir.path().join("complaint-desk.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the database read-only");
    let queued: i64 = db
        .query_row("SELECT count(*) FROM queue_messages", [], |r| r.get(0))
        .expect("queue");
    assert_eq!(queued, 0, "the probe queued a job");

    // A check that fails makes the whole run fail, and says which.
    let (passed, out) = smoke(&server, "not-the-admin-token-0123456789").await;
    assert!(!passed, "{out}");
    assert!(
        out.contains("FAIL GET /admin/v1/accounts with the token: 401"),
        "{out}"
    );
    assert!(out.contains("smoke check: 1 check(s) failed"), "{out}");

    // With --aws: the same server (its setup is the slow part), the stack through a stand-in
    // for the aws CLI.
    alarm_subscriptions_warn_when_pending_and_fail_when_none(&server).await;
}

/// An `aws` CLI stand-in for `scripts/smoke --aws`: it answers the four calls the script makes
/// with what AWS answers (shapes from the CLI's JSON output), the alarm topic's subscriptions
/// from `subscriptions.json` next to it. moto cannot serve this: its subscriptions are never
/// pending confirmation.
fn fake_aws_cli(dir: &std::path::Path, subscriptions: &str) {
    use std::os::unix::fs::PermissionsExt;
    let topic = "arn:aws:sns:ap-east-1:123456789012:desk-AlarmTopic-1";
    let stack = serde_json::json!({"Stacks": [{"StackName": "desk", "StackStatus": "UPDATE_COMPLETE",
        "Outputs": [{"OutputKey": "AlarmTopicArn", "OutputValue": topic}]}]});
    let resources = serde_json::json!({"StackResources": [{"ResourceType": "AWS::SQS::Queue",
        "PhysicalResourceId": "https://sqs.ap-east-1.amazonaws.com/123456789012/desk-Events-1"}]});
    std::fs::write(dir.join("stack.json"), stack.to_string()).expect("stack");
    std::fs::write(dir.join("resources.json"), resources.to_string()).expect("resources");
    std::fs::write(dir.join("subscriptions.json"), subscriptions).expect("subscriptions");
    let script = format!(
        r#"#!/usr/bin/env bash
here=$(dirname "$0")
case "$1 $2" in
  "cloudformation describe-stacks") cat "$here/stack.json" ;;
  "cloudformation describe-stack-resources") cat "$here/resources.json" ;;
  "sns list-subscriptions-by-topic")
    [ "$4" = "{topic}" ] || {{ echo "unexpected topic $4" >&2; exit 254; }}
    cat "$here/subscriptions.json" ;;
  "sqs get-queue-url") echo '{{"QueueUrl": "https://sqs/desk-Events-1"}}' ;;
  *) echo "unexpected: $*" >&2; exit 254 ;;
esac
"#
    );
    let aws = dir.join("aws");
    std::fs::write(&aws, script).expect("fake aws");
    std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// `scripts/smoke --aws`: an alarm topic whose only subscription is pending confirmation is a
/// warning and the run passes (a first deployment must not hold production back until someone
/// clicks the e-mail); one confirmed is fine; none at all (deleted ones do not count) fails, as
/// does an answer the script cannot read, each with the summary and exit code 1.
async fn alarm_subscriptions_warn_when_pending_and_fail_when_none(server: &Server) {
    let bin = tempfile::tempdir().expect("bin");
    let aws = ["--aws", "desk"];
    let topic = "arn:aws:sns:ap-east-1:123456789012:desk-AlarmTopic-1";
    let subscription = |arn: &str| {
        serde_json::json!({"SubscriptionArn": arn, "Owner": "123456789012", "Protocol": "email",
            "Endpoint": "ops@example.com", "TopicArn": topic})
    };

    // Only pending (as after a first deployment, before the e-mail's link is followed): a
    // warning that says so, and the run passes.
    let pending = serde_json::json!({"Subscriptions": [subscription("PendingConfirmation")]});
    fake_aws_cli(bin.path(), &pending.to_string());
    let (code, out) = smoke_with(server, ADMIN, &aws, Some(bin.path())).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "WARN alarm topic {topic}: 1 subscription(s) pending confirmation, none confirmed"
        )),
        "{out}"
    );
    assert!(out.contains("ok   queue desk-Events-1: exists"), "{out}");
    assert!(
        out.contains("smoke check: every check passed, 1 warning(s)"),
        "{out}"
    );
    assert!(!out.contains(ADMIN), "the token was printed: {out}");

    // One confirmed: no warning.
    let confirmed = serde_json::json!({"Subscriptions": [
        subscription(&format!("{topic}:0f1e2d3c-0000-4000-8000-000000000001")),
        subscription("PendingConfirmation")]});
    fake_aws_cli(bin.path(), &confirmed.to_string());
    let (code, out) = smoke_with(server, ADMIN, &aws, Some(bin.path())).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ok   alarm topic: 1 confirmed subscription(s), 1 pending"),
        "{out}"
    );
    assert!(!out.contains("WARN"), "{out}");

    // A deleted subscription ("Deleted" for an ARN) is neither confirmed nor pending.
    let deleted_and_pending = serde_json::json!({"Subscriptions": [
        subscription("Deleted"), subscription("PendingConfirmation")]});
    fake_aws_cli(bin.path(), &deleted_and_pending.to_string());
    let (code, out) = smoke_with(server, ADMIN, &aws, Some(bin.path())).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "WARN alarm topic {topic}: 1 subscription(s) pending confirmation"
        )),
        "{out}"
    );

    // None at all (none, only deleted ones, or no list): nobody will ever hear an alarm, and
    // the run fails with its summary.
    let deleted = serde_json::json!({"Subscriptions": [subscription("Deleted")]});
    for answer in [
        r#"{"Subscriptions": []}"#.to_string(),
        deleted.to_string(),
        r#"{"Subscriptions": null}"#.to_string(),
    ] {
        fake_aws_cli(bin.path(), &answer);
        let (code, out) = smoke_with(server, ADMIN, &aws, Some(bin.path())).await;
        assert_eq!(code, Some(1), "{answer}: {out}");
        assert!(
            out.contains(&format!("FAIL alarm topic {topic}: no subscription")),
            "{answer}: {out}"
        );
        assert!(
            out.contains("smoke check: 1 check(s) failed"),
            "{answer}: {out}"
        );
    }

    // An answer jq cannot read is a failure of the check, with the summary (not jq's exit).
    fake_aws_cli(bin.path(), "<html>Service Unavailable</html>");
    let (code, out) = smoke_with(server, ADMIN, &aws, Some(bin.path())).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "FAIL alarm topic {topic}: unexpected answer from list-subscriptions-by-topic"
        )),
        "{out}"
    );
    assert!(out.contains("ok   queue desk-Events-1: exists"), "{out}");
    assert!(out.contains("smoke check: 1 check(s) failed"), "{out}");
}
