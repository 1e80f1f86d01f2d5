//! The embedded default as a new user runs it: the real binary, real HTTP, a data directory,
//! SIGKILL and restart.

use base64::Engine;
use domain::job::{JobEnvelope, queues};
use domain::ports::Queue;
use e2e_tests::Server;
use reqwest::{Client, Method, StatusCode};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

struct Api {
    http: Client,
    token: String,
    /// Every response body seen (checked for secrets).
    seen: std::sync::Mutex<Vec<String>>,
}

impl Api {
    fn new(token: &str) -> Self {
        Self {
            http: Client::new(),
            token: token.to_string(),
            seen: Default::default(),
        }
    }

    async fn call(
        &self,
        s: &Server,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, s.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        self.seen.lock().expect("lock").push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn admin(
        &self,
        s: &Server,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.call(s, method, path, Some(&self.token.clone()), body)
            .await
    }

    async fn ok(&self, s: &Server, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, json) = self.admin(s, method.clone(), path, body.as_ref()).await;
        assert!(status.is_success(), "{method} {path}: {status} {json}");
        json
    }
}

fn random_text(n: usize) -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// Rows of the `records` table whose partition key starts with `prefix`, expired or not.
fn stored_rows(db: &std::path::Path, prefix: &str) -> i64 {
    rusqlite::Connection::open(db)
        .expect("open")
        .query_row(
            "SELECT COUNT(*) FROM records WHERE pk LIKE ?1 || '%'",
            [prefix],
            |r| r.get(0),
        )
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_with_no_aws_answers_healthz_and_purges_expired_records_at_start() {
    use domain::ports::{Item, RecordStore};
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let db_path = data.join("complaint-desk.db");
    {
        // What an earlier run left: an item that has expired since, and one that has not.
        embedded::create_private_dir(&data).expect("mkdir");
        let store = embedded::SqliteRecordStore::new(embedded::Db::open(&db_path).expect("db"));
        let now = chrono::Utc::now().timestamp();
        for (pk, expires) in [("TEST_EXPIRED#1", now - 60), ("TEST_LIVE#1", now + 3600)] {
            store
                .put(Item::new(pk, "META", json!({})).expiring_at(expires))
                .await
                .expect("seed");
        }
    }
    let server = Server::start(&data, &[("AWS_ACCESS_KEY_ID", ""), ("AWS_REGION", "")]);
    let res = reqwest::get(server.url("/healthz")).await.expect("healthz");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.expect("json")["status"], "ok");
    assert!(db_path.exists());
    assert!(data.join("master.key").exists());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.output_text().contains("expired records purged") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        stored_rows(&db_path, "TEST_EXPIRED#"),
        0,
        "{}",
        server.output_text()
    );
    assert_eq!(stored_rows(&db_path, "TEST_LIVE#"), 1);
    let (status, out) = server.terminate(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM ends it cleanly: {status:?}\n{out}"
    );
    assert!(out.contains("stopped"), "{out}");
}

/// A data directory an older version left readable by others (0755) is narrowed to 0700 at
/// start, and the log says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_data_directory_readable_by_others_is_narrowed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = Server::start(&data, &[]);
    let mode = std::fs::metadata(&data).expect("meta").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700, "{mode:o}");
    let out = server.kill();
    assert!(out.contains("narrowed to 0700"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_survives_sigkill_and_no_secret_is_ever_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let admin_token = format!("admin-{}", random_text(40));
    let env = [("ADMIN_TOKEN", admin_token.as_str()), ("RUST_LOG", "trace")];

    let mut rng = rand::thread_rng();
    let merchant_key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("keygen");
    let platform_key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("keygen");
    let private_pem = merchant_key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("pem")
        .to_string();
    let platform_public_pem = platform_key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let apiv3 = random_text(32);
    let secrets: Vec<String> = vec![
        private_pem.clone(),
        apiv3.clone(),
        format!("AUTH{}", random_text(12)),
        format!("oa{}", random_text(30)),
        format!("sms{}", random_text(29)),
        format!(
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={}",
            random_text(24)
        ),
        format!(
            "https://oapi.dingtalk.com/robot/send?access_token={}",
            random_text(40)
        ),
        format!("SEC{}", random_text(40)),
        format!("sub{}", random_text(20)),
        format!("bad{}", random_text(29)),
        admin_token.clone(),
    ];
    let [
        _,
        _,
        auth_code,
        oa_secret,
        sms_key,
        wecom_url,
        ding_url,
        ding_secret,
        sub_code,
        bad_apiv3,
        _,
    ] = <[String; 11]>::try_from(secrets.clone()).expect("eleven");

    let server = Server::start(&data, &env);
    let api = Api::new(&admin_token);
    let provider = api
        .ok(
            &server,
            Method::POST,
            "/admin/v1/accounts",
            Some(json!({
                "kind": "wechatpay_provider",
                "name": "服务商 A",
                "settings": {
                    "mchid": "1900000109", "appid": "wx2c2769f8efd9abc2",
                    "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
                    "reply_text": "您好，已收到。", "default_reply_text": "您好，我们会尽快处理。",
                    "default_auto_refund": true, "refund_cap_fen": 10000
                },
                "credentials": {
                    "private_key": private_pem, "apiv3_key": apiv3,
                    "wechatpay_public_key": platform_public_pem,
                    "wechatpay_public_key_id": "PUB_KEY_ID_0114232134912410000000000000"
                }
            })),
        )
        .await;
    let id = provider["id"].as_str().expect("id").to_string();
    assert_eq!(provider["credentials"]["complete"], true, "{provider}");
    for (sub, name) in [("1900000201", "门店一"), ("1900000202", "门店二")] {
        api.ok(&server, Method::POST, &format!("/admin/v1/accounts/{id}/sub-merchants"),
            Some(json!({"sub_mchid": sub, "name": name, "reply_text": "亲，已收到", "auto_refund": sub == "1900000201"}))).await;
    }
    api.ok(&server, Method::PUT, &format!("/admin/v1/accounts/{id}/notifications"), Some(json!({
        "email": {"host": "smtp.163.com", "port": 465, "tls": "implicit", "sender": "ops@163.com",
                  "recipients": ["boss@example.com"], "auth_code": auth_code},
        "oa_template": {"appid": "wx1234567890abcdef", "template_id": "TPL", "openids": ["oOPEN1"], "secret": oa_secret},
        "sms": {"secret_id": "AKIDtest", "sdk_app_id": "1400000000", "sign_name": "投诉台", "template_id": "1",
                "phone_numbers": ["+8613800000000"], "secret_key": sms_key},
        "bots": [{"id": "wecom", "kind": "wecom", "webhook_url": wecom_url},
                 {"id": "ding", "kind": "dingtalk", "webhook_url": ding_url, "signing_secret": ding_secret}]
    }))).await;
    api.ok(&server, Method::PUT, &format!("/admin/v1/accounts/{id}/sub-merchants/1900000202/notifications"), Some(json!({
        "email": {"host": "smtp.163.com", "port": 465, "tls": "implicit", "sender": "shop2@163.com",
                  "recipients": ["shop2@example.com"], "auth_code": sub_code}
    }))).await;
    // A refused secret is not echoed or logged either.
    let (status, res) = api
        .admin(
            &server,
            Method::PUT,
            &format!("/admin/v1/accounts/{id}/credentials"),
            Some(&json!({"apiv3_key": format!("{bad_apiv3}-too-long")})),
        )
        .await;
    assert_eq!(
        (status, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("apiv3_key"))
    );

    let paths = [
        format!("/admin/v1/accounts/{id}"),
        format!("/admin/v1/accounts/{id}/sub-merchants"),
        format!("/admin/v1/accounts/{id}/notifications"),
        format!("/admin/v1/accounts/{id}/sub-merchants/1900000202/notifications"),
    ];
    let mut before = Vec::new();
    for p in &paths {
        before.push(api.ok(&server, Method::GET, p, None).await);
    }
    // SIGKILL right after the last 2xx.
    let out1 = server.kill();

    let server = Server::start(&data, &env);
    for (p, b) in paths.iter().zip(&before) {
        let after = api.ok(&server, Method::GET, p, None).await;
        assert_eq!(&after, b, "{p} changed across SIGKILL and restart");
    }
    let notifications = &before[2];
    assert_eq!(notifications["bots"].as_array().map(Vec::len), Some(2));
    assert_eq!(notifications["sms"]["secret_key"]["set"], true);
    assert_eq!(before[1]["items"].as_array().map(Vec::len), Some(2));
    let out2 = server.kill();

    // Everything printed and every response, grepped for each secret and its base64.
    let everything = format!(
        "{out1}\n{out2}\n{}",
        api.seen.lock().expect("lock").join("\n")
    );
    assert!(everything.contains("TRACE"), "trace logging was on");
    let logged = format!("{out1}\n{out2}")
        .matches("request finished")
        .count();
    assert!(logged >= 12, "every request was logged ({logged} lines)");
    let mut needles: Vec<String> = Vec::new();
    for s in &secrets {
        needles.push(s.clone());
        needles.push(base64::engine::general_purpose::STANDARD.encode(s));
        needles.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s));
        // PEM bodies: each base64 line on its own.
        needles.extend(
            s.lines()
                .filter(|l| l.len() >= 40 && !l.starts_with("-----"))
                .map(String::from),
        );
    }
    let hits: Vec<&String> = needles
        .iter()
        .filter(|n| everything.contains(n.as_str()))
        .collect();
    assert!(
        hits.is_empty(),
        "{} secret value(s) appeared in output or responses",
        hits.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_bad_input_over_real_http() {
    let dir = tempfile::tempdir().expect("temp dir");
    let admin = format!("admin-{}", random_text(30));
    let server = Server::start(&dir.path().join("data"), &[("ADMIN_TOKEN", admin.as_str())]);
    let api = Api::new(&admin);
    let (s, _) = api
        .call(&server, Method::GET, "/admin/v1/accounts", None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = api
        .call(
            &server,
            Method::GET,
            "/admin/v1/accounts",
            Some("wrong-token"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let mk = |mchid: &str| {
        json!({"kind": "wechatpay_provider", "name": "P", "settings": {
        "mchid": mchid, "appid": "wx2c2769f8efd9abc2", "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"}})
    };
    let a = api
        .ok(
            &server,
            Method::POST,
            "/admin/v1/accounts",
            Some(mk("1900000109")),
        )
        .await;
    let b = api
        .ok(
            &server,
            Method::POST,
            "/admin/v1/accounts",
            Some(mk("1900000110")),
        )
        .await;
    let t = api
        .ok(
            &server,
            Method::POST,
            "/admin/v1/tokens",
            Some(json!({"name": "a only", "scope": {"type": "account", "account_id": a["id"]}})),
        )
        .await;
    let scoped = t["token"].as_str().expect("token");
    let (s, _) = api
        .call(
            &server,
            Method::GET,
            &format!("/admin/v1/accounts/{}", b["id"].as_str().expect("id")),
            Some(scoped),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            &server,
            Method::GET,
            &format!("/admin/v1/accounts/{}", a["id"].as_str().expect("id")),
            Some(scoped),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let res = reqwest::Client::new()
        .post(server.url("/admin/v1/accounts"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"kind\": \"alipay_app\", ")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_json");
    for (body, field) in [
        (json!({"kind": "alipay_app", "name": "x"}), "settings"),
        (
            json!({"kind": "paypal", "name": "x", "settings": {}}),
            "kind",
        ),
        (
            json!({"kind": "wxmini_app", "name": "x", "settings": {"appid": "wx2c2769f8efd9abc2", "mode": "auto"}}),
            "settings.mode",
        ),
    ] {
        let (s, res) = api
            .admin(&server, Method::POST, "/admin/v1/accounts", Some(&body))
            .await;
        assert_eq!(
            (s, res["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body} → {res}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_admin_token_is_printed_once_and_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let out = server.output_text();
    let token = out
        .lines()
        .find_map(|l| l.split("stored): ").nth(1))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| panic!("no admin token printed:\n{out}"));
    let api = Api::new(&token);
    let (s, _) = api
        .admin(&server, Method::GET, "/admin/v1/accounts", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    server.kill();
    let server = Server::start(&data, &[]);
    let (s, _) = api
        .admin(&server, Method::GET, "/admin/v1/accounts", None)
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the generated token still works after a restart"
    );
    let out = server.kill();
    assert!(
        !out.contains(&token),
        "the token is printed only on first start"
    );
    assert!(!out.contains("Admin token"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_job_on_the_queue_is_dead_lettered_and_replayable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let admin = format!("admin-{}", random_text(30));
    let server = Server::start(&data, &[("ADMIN_TOKEN", admin.as_str())]);
    // A job written by a newer version of the software, put on the queue from outside the
    // process (the same database file, as another process would).
    let db = embedded::Db::open(data.join("complaint-desk.db")).expect("open db");
    let queue = embedded::SqliteQueue::new(db, embedded::QueueSettings::default());
    let fixture = e2e_tests::workspace_root().join("events/jobs/unknown-job-type.json");
    let body = std::fs::read_to_string(fixture).expect("fixture");
    let job: JobEnvelope = serde_json::from_str(&body).expect("a job envelope");
    queue
        .send(queues::EVENTS, &body, Duration::ZERO)
        .await
        .expect("send");
    let api = Api::new(&admin);
    let find = || async {
        let start = Instant::now();
        loop {
            let page = api
                .ok(&server, Method::GET, "/admin/v1/dead-letters", None)
                .await;
            if let Some(d) = page["items"]
                .as_array()
                .and_then(|i| i.iter().find(|d| d["job_id"] == job.id.as_str()))
            {
                return d.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "not dead-lettered: {page}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let first = find().await;
    assert_eq!(first["reason"], "unknown job type \"future.job_type\"");
    assert_eq!(first["payload"]["note"], job.payload["note"]);
    let id = first["id"].as_str().expect("id").to_string();
    let (s, _) = api
        .admin(
            &server,
            Method::POST,
            &format!("/admin/v1/dead-letters/{id}/replay"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    // Replayed: processed again (still unknown to this version), so dead-lettered again later.
    let start = Instant::now();
    loop {
        let again = find().await;
        if again["dead_lettered_at"] != first["dead_lettered_at"] {
            assert_eq!(again["reason"], first["reason"]);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "replay did not put it back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The in-process schedule: with a one-second period, a deadline sweep for a new account is
/// queued and a worker takes it. Observed in the worker's log: every line of a job carries its
/// type, id and account (JSON logs), whatever the job's handler then does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_queues_a_deadline_sweep_per_account_for_the_workers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let admin = format!("admin-{}", random_text(30));
    let server = Server::start(
        &data,
        &[
            ("ADMIN_TOKEN", admin.as_str()),
            ("DEADLINE_SWEEP_SECS", "1"),
            ("LOG_FORMAT", "json"),
        ],
    );
    let api = Api::new(&admin);
    let created = api
        .ok(
            &server,
            Method::POST,
            "/admin/v1/accounts",
            Some(json!({"kind": "alipay_app", "name": "Shop",
                "settings": {"app_id": "2021000000000001"}})),
        )
        .await;
    let id = created["id"].as_str().expect("account id").to_string();
    let start = Instant::now();
    let job = loop {
        let lines = server.output_text();
        let found = lines
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| {
                l["span"]["name"] == "job"
                    && l["span"]["job_type"] == "deadlines.sweep"
                    && l["span"]["account_id"] == id.as_str()
            });
        if let Some(line) = found {
            break line;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no deadline sweep for {id} reached a worker:\n{lines}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let job_id = job["span"]["job_id"].as_str().unwrap_or_default();
    assert!(
        job_id.starts_with(&format!("deadlines.sweep:{id}:")),
        "the job id names the account and the slot: {job}"
    );
    let out = server.kill();
    assert!(
        out.contains("scheduled jobs enqueued"),
        "the schedule logs what it enqueued:\n{out}"
    );
}

/// The in-process reconciliation schedule: with a one-second period (and the deadline sweeps
/// off), the binary queues a reconciliation pass for an Alipay account (its API the simulator)
/// under the id of its (account, slot), a worker runs it, the pass lists the platform's
/// complaints, and the account's health shows the pass complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_queues_a_reconciliation_pass_per_account_for_the_workers() {
    use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim, SimApp};
    const APP_ID: &str = "2021000000000001";
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("simulator");
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    sim.add_app(SimApp {
        app_id: APP_ID.into(),
        public_key: key.to_public_key(),
        app_cert_sn: None,
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let admin = format!("admin-{}", random_text(30));
    let server = Server::start(
        &data,
        &[
            ("ADMIN_TOKEN", admin.as_str()),
            ("RECONCILE_SECS", "1"),
            ("DEADLINE_SWEEP_SECS", "0"),
            ("LOG_FORMAT", "json"),
        ],
    );
    let api = Api::new(&admin);
    let created = api
        .ok(
            &server,
            Method::POST,
            "/admin/v1/accounts",
            Some(json!({"kind": "alipay_app", "name": "Shop",
                "settings": {"app_id": APP_ID, "api_base_url": sim.gateway_url()},
                "credentials": {"mode": "public_key",
                    "app_private_key": key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
                    "alipay_public_key": sim.keys().alipay_public_key_pem()}})),
        )
        .await;
    let id = created["id"].as_str().expect("account id").to_string();

    let health_path = format!("/admin/v1/accounts/{id}/health");
    let start = Instant::now();
    let last = loop {
        let health = api.ok(&server, Method::GET, &health_path, None).await;
        if !health["last_reconciliation"].is_null() {
            break health["last_reconciliation"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no reconciliation pass finished for {id}: {health}\n{}",
            server.output_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(last["outcome"], "complete", "{last}");
    assert!(
        !sim.calls("alipay.merchant.tradecomplain.batchquery")
            .is_empty(),
        "the pass listed the platform's complaints"
    );

    // The job the schedule queued: a worker ran it under the id of its (account, slot).
    let lines = server.output_text();
    let job_ids: Vec<String> = lines
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["span"]["name"] == "job" && l["span"]["job_type"] == "reconcile.pass")
        .filter_map(|l| l["span"]["job_id"].as_str().map(String::from))
        .collect();
    assert!(
        job_ids
            .iter()
            .any(|j| j.starts_with(&format!("reconcile.pass:{id}:"))),
        "no scheduled pass of {id} ran in a worker: {job_ids:?}\n{lines}"
    );
    let out = server.kill();
    assert!(
        out.contains("--deadline-sweep-secs 0: no deadline sweeps"),
        "the sweeps are off, and the log says so at start:\n{out}"
    );
}
