//! "Try it without a platform account": the real binary started with `--sandbox` keeps one
//! sandbox account per platform against the simulators in its own process. A test complaint
//! pushed per platform, through the `try-it push` command (the built binary as a subprocess)
//! and through the admin route, goes the real way: recorded, replied to automatically, refunded
//! under the sandbox's cap of 5.00 yuan (not above it), and a staff notice delivered. After a
//! restart on the same data directory the same accounts work again (their keys were kept, their
//! `api_base_url` follows the simulators' new ports). Without `--sandbox`: 404, and no sandbox
//! account.

use e2e_tests::{Server, binary};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ADMIN: &str = "e2e-admin-token-0123456789abcdef";
const PLATFORMS: [&str; 3] = ["wechatpay", "alipay", "wxmini"];
const PREFIX: &str = "沙箱 Sandbox · ";

async fn get(s: &Server, path: &str) -> (u16, Value) {
    s.admin(ADMIN, reqwest::Method::GET, path, None).await
}

/// Poll `path` (generous overall limit) until `done` holds of its answer; the answer.
async fn poll(s: &Server, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, v) = get(s, path).await;
        if status == 200 && done(&v) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{what}: last answer HTTP {status} {v}\n{}",
            s.output_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Run `complaint-desk try-it push` against the server; its output.
async fn cli_push(s: &Server, platform: &str, amount: &str) -> String {
    let args = [
        "try-it",
        "push",
        "--platform",
        platform,
        "--amount",
        amount,
        "--wait",
        "90",
        "--url",
        &s.base_url,
    ]
    .map(String::from);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary())
            .args(args)
            .env("ADMIN_TOKEN", ADMIN)
            .output()
            .expect("run try-it push")
    })
    .await
    .expect("join");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "try-it push {platform}: {text}");
    text
}

/// Our complaint id from the command's output (`complaint: /admin/v1/complaints/{id} ...`).
fn complaint_in(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("complaint: /admin/v1/complaints/"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no complaint id in: {output}"))
        .to_string()
}

/// The complaint is recorded and replied to, refunded `refunded_fen` (0: its refund was
/// skipped as above the cap), and a staff notice of it was delivered (to the sandbox bot).
async fn handled(s: &Server, id: &str, refunded_fen: u64) {
    let detail = poll(
        s,
        &format!("/complaints/{id}"),
        "the test complaint handled",
        |d| {
            let c = &d["complaint"];
            let refund_done = if refunded_fen > 0 {
                c["refunded_fen"].as_u64() == Some(refunded_fen)
            } else {
                d["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a["action"] == "refund" && a["outcome"] == "skipped")
            };
            c["replied"] == true && refund_done
        },
    )
    .await;
    assert_eq!(
        detail["complaint"]["refunded_fen"]
            .as_u64()
            .unwrap_or_default(),
        refunded_fen,
        "{detail}"
    );
    assert_eq!(detail["complaint"]["id"], id, "{detail}");
    poll(
        s,
        &format!("/deliveries?complaint={id}"),
        "a staff notice of the test complaint delivered",
        |v| {
            v["items"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d["channel"] == "bot" && d["status"] == "sent")
        },
    )
    .await;
}

/// The sandbox accounts as the admin API lists them: platform → (account id, its record).
async fn sandbox_accounts(s: &Server) -> Vec<(String, String, Value)> {
    let (status, list) = get(s, "/sandbox/accounts").await;
    assert_eq!(status, 200, "{list}");
    let mut out = Vec::new();
    for a in list["items"].as_array().expect("items") {
        let id = a["account_id"].as_str().expect("account_id").to_string();
        assert!(
            a["name"].as_str().is_some_and(|n| n.starts_with(PREFIX)),
            "{a}"
        );
        let (status, account) = get(s, &format!("/accounts/{id}")).await;
        assert_eq!(status, 200, "{account}");
        assert_eq!(account["name"], a["name"], "{account}");
        out.push((
            a["platform"].as_str().expect("platform").to_string(),
            id,
            account,
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_accounts_take_test_complaints_through_the_real_path_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let env = [("ADMIN_TOKEN", ADMIN)];
    let server = Server::start_sandbox(dir.path(), &env);

    let accounts = sandbox_accounts(&server).await;
    let platforms: Vec<&str> = accounts.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(platforms, PLATFORMS, "one per platform, in a stable order");
    let (_, all) = get(&server, "/accounts").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(3), "{all}");
    let (_, subs) = get(
        &server,
        &format!("/accounts/{}/sub-merchants", accounts[0].1),
    )
    .await;
    assert_eq!(subs["items"].as_array().map(Vec::len), Some(1), "{subs}");

    // Through the command, one per platform, under the cap: refunded.
    for platform in PLATFORMS {
        let out = cli_push(&server, platform, "1.00").await;
        assert!(out.contains("refund: succeeded"), "{out}");
        handled(&server, &complaint_in(&out), 100).await;
    }

    // Through the admin route with an agent's token, above the cap: not refunded. A viewer
    // may not push.
    let mut tokens = Vec::new();
    for role in ["agent", "viewer"] {
        let (status, t) = server
            .admin(
                ADMIN,
                reqwest::Method::POST,
                "/tokens",
                Some(json!({"name": role, "scope": {"type": "all"}, "role": role})),
            )
            .await;
        assert_eq!(status, 201, "{t}");
        tokens.push(t["token"].as_str().expect("token").to_string());
    }
    let (status, refused) = server
        .admin(
            &tokens[1],
            reqwest::Method::POST,
            "/sandbox/push",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403, "a viewer pushes nothing: {refused}");
    for (platform, id, _) in &accounts {
        let (status, pushed) = server
            .admin(
                &tokens[0],
                reqwest::Method::POST,
                "/sandbox/push",
                Some(json!({"account_id": id, "amount_fen": 2000, "text": "商品与描述不符，金额较大"})),
            )
            .await;
        assert_eq!(status, 202, "{platform}: {pushed}");
        assert_eq!(pushed["platform"], platform.as_str(), "{pushed}");
        assert_eq!(pushed["within_refund_cap"], false, "{pushed}");
        let complaint = pushed["complaint_id"].as_str().expect("complaint_id");
        handled(&server, complaint, 0).await;
        let (_, detail) = get(&server, &format!("/complaints/{complaint}")).await;
        assert_eq!(
            detail["complaint"]["description"], "商品与描述不符，金额较大",
            "{platform}: what the buyer wrote is what was pushed: {detail}"
        );
        assert_eq!(
            detail["complaint"]["complaint_amount_fen"], 2000,
            "{detail}"
        );
    }

    // Restart on the same data directory: the same accounts, the same credentials, pointed at
    // the simulators' new ports, and they work.
    let before = accounts;
    drop(server.kill());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("sandbox.json"))
            .expect("the sandbox's keys are kept")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    // This time by the environment, as a service manager would (`SANDBOX=1`).
    let server = Server::start(dir.path(), &[("ADMIN_TOKEN", ADMIN), ("SANDBOX", "1")]);
    let after = sandbox_accounts(&server).await;
    assert_eq!(after.len(), 3);
    for ((p0, id0, a0), (p1, id1, a1)) in before.iter().zip(&after) {
        assert_eq!((p0, id0), (p1, id1), "the same account, not a new one");
        assert_eq!(
            a0["credentials"], a1["credentials"],
            "{p1}: the stored credentials are the ones kept (same fingerprints)"
        );
    }
    let (_, all) = get(&server, "/accounts").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(3), "{all}");
    for platform in PLATFORMS {
        let out = cli_push(&server, platform, "2.50").await;
        handled(&server, &complaint_in(&out), 250).await;
    }
    drop(server.kill());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_sandbox_the_routes_answer_404_and_no_sandbox_account_exists() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), &[("ADMIN_TOKEN", ADMIN)]);
    let (status, body) = get(&server, "/sandbox/accounts").await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("start with --sandbox")),
        "{body}"
    );
    let (status, body) = server
        .admin(
            ADMIN,
            reqwest::Method::POST,
            "/sandbox/push",
            Some(json!({"platform": "wechatpay"})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (_, all) = get(&server, "/accounts").await;
    assert_eq!(all["items"], json!([]), "{all}");
    assert!(!dir.path().join("sandbox.json").exists());

    let base = server.base_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary())
            .args(["try-it", "push", "--url", &base])
            .env("ADMIN_TOKEN", ADMIN)
            .output()
            .expect("run try-it push")
    })
    .await
    .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("sandbox accounts are off (start with --sandbox)"),
        "{stderr}"
    );
    drop(server.kill());
}

/// Run `complaint-desk --sandbox` expecting it to stop by itself (generous limit); its output.
fn start_expecting_exit(dir: &std::path::Path) -> (std::process::ExitStatus, String) {
    let mut child = std::process::Command::new(binary())
        .args(["--sandbox", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("ADMIN_TOKEN", ADMIN)
        .env("RECONCILE_SECS", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn complaint-desk");
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("complaint-desk --sandbox kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    (
        status,
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_the_sandbox_did_not_make_stops_it_clearly_and_a_later_start_resumes() {
    let dir = tempfile::tempdir().expect("dir");
    let env = [("ADMIN_TOKEN", ADMIN)];
    // Someone's own Alipay app under the sandbox's app id.
    let server = Server::start(dir.path(), &env);
    let (status, theirs) = server
        .admin(
            ADMIN,
            reqwest::Method::POST,
            "/accounts",
            Some(json!({"kind": "alipay_app", "name": "Mine", "settings": {"app_id": "2021999999000001"}})),
        )
        .await;
    assert_eq!(status, 201, "{theirs}");
    drop(server.kill());

    let (status, out) = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || start_expecting_exit(&dir)
    })
    .await
    .expect("join");
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("cannot start the sandbox (--sandbox)")
            && out.contains("already used by another account"),
        "{out}"
    );

    // Their account gone, the sandbox starts, with the provider it made the first time.
    let server = Server::start(dir.path(), &env);
    let id = theirs["id"].as_str().expect("id");
    let (status, body) = server
        .admin(
            ADMIN,
            reqwest::Method::DELETE,
            &format!("/accounts/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    drop(server.kill());
    let server = Server::start_sandbox(dir.path(), &env);
    let accounts = sandbox_accounts(&server).await;
    assert_eq!(accounts.len(), 3);
    let (_, all) = get(&server, "/accounts").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(3), "{all}");
    let out = cli_push(&server, "alipay", "1.00").await;
    handled(&server, &complaint_in(&out), 100).await;
    drop(server.kill());
}
