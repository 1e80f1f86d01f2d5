//! The `scheduler` binary as Lambda runs it: `lambda_runtime` polls a Runtime API (served here
//! on loopback), gets an EventBridge scheduled event (`events/schedule/`), and answers; the
//! records and the queue are DynamoDB and SQS on moto server. The binary is started with a
//! secret prefix under which nothing exists: it must need no secret. `SCHEDULED_JOBS` chooses
//! its jobs, as each of the template's scheduler functions sets it.

use aws::testing as moto;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use desk_core::repo::AccountRepo;
use desk_core::schedule::job_id;
use domain::account::{Account, AccountKind, AccountKindFacts};
use domain::job::deadlines::{SWEEP, Sweep};
use domain::job::reconcile::{PASS, Pass};
use domain::job::{JobEnvelope, queues};
use domain::ports::Queue;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// What the function answered for an invocation.
#[derive(Debug)]
enum Outcome {
    Response(Value),
    Error(Value),
    InitError(Value),
}

#[derive(Clone)]
struct RuntimeApi {
    /// The one event to hand out (taken by the first `next`).
    event: Arc<Mutex<Option<String>>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

async fn next(State(api): State<RuntimeApi>) -> (HeaderMap, String) {
    let event = api.event.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(event) = event else {
        // One invocation only: the next poll waits until the test ends the process.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let mut headers = HeaderMap::new();
    let deadline = (chrono::Utc::now() + chrono::Duration::seconds(60)).timestamp_millis();
    let pairs = [
        ("lambda-runtime-aws-request-id", REQUEST_ID.to_string()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:scheduler".to_string(),
        ),
        ("content-type", "application/json".to_string()),
    ];
    for (name, value) in pairs {
        headers.insert(name, HeaderValue::from_str(&value).expect("header value"));
    }
    (headers, event)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()))
}

async fn respond(State(api): State<RuntimeApi>, Path(id): Path<String>, body: String) {
    assert_eq!(id, REQUEST_ID);
    let _ = api.outcomes.send(Outcome::Response(json_of(&body)));
}

async fn error(State(api): State<RuntimeApi>, Path(id): Path<String>, body: String) {
    assert_eq!(id, REQUEST_ID);
    let _ = api.outcomes.send(Outcome::Error(json_of(&body)));
}

async fn init_error(State(api): State<RuntimeApi>, body: String) {
    let _ = api.outcomes.send(Outcome::InitError(json_of(&body)));
}

/// Serve the Runtime API on a loopback port with one event; its address and the outcomes.
async fn runtime_api(event: String) -> (String, mpsc::UnboundedReceiver<Outcome>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let api = RuntimeApi {
        event: Arc::new(Mutex::new(Some(event))),
        outcomes: tx,
    };
    let router = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(respond),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr.to_string(), rx)
}

/// Kills the function's process when the test ends, however it ends.
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the real binary as Lambda would, against `config`'s resources on moto, with
/// `SCHEDULED_JOBS` set to `jobs` (None: unset); its standard error is the test's.
fn start(config: &aws::AwsConfig, runtime_api: &str, jobs: Option<&str>) -> Function {
    start_with(config, runtime_api, jobs, Stdio::inherit())
}

fn start_with(
    config: &aws::AwsConfig,
    runtime_api: &str,
    jobs: Option<&str>,
    stderr: Stdio,
) -> Function {
    let queue = |name: &str| config.queues.get(name).expect("queue urls").clone();
    let (events, notify) = (queue(queues::EVENTS), queue(queues::NOTIFY));
    let mut child = Command::new(env!("CARGO_BIN_EXE_scheduler"));
    let child = child
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "scheduler")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ENDPOINT_URL", moto::endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("TABLE_NAME", &config.table)
        .env("EVENTS_QUEUE_URL", &events.url)
        .env("EVENTS_DLQ_URL", &events.dlq_url)
        .env("NOTIFY_QUEUE_URL", &notify.url)
        .env("NOTIFY_DLQ_URL", &notify.dlq_url)
        .env("BLOB_BUCKET", &config.bucket)
        // Nothing exists under this prefix: reading any secret at start would fail.
        .env("SECRET_PREFIX", "no-secrets-here/")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let child = match jobs {
        Some(jobs) => child.env("SCHEDULED_JOBS", jobs),
        None => child,
    }
    .spawn()
    .expect("start the scheduler binary");
    Function(child)
}

fn account(id: &str, kind: &str, settings: Value, enabled: bool) -> Account {
    serde_json::from_value(json!({
        "id": id, "name": id, "enabled": enabled, "kind": kind, "settings": settings,
        "credentials": {"complete": false, "fields": {}},
        "created_at": "2026-11-26T00:00:00Z", "updated_at": "2026-11-26T00:00:00Z",
    }))
    .unwrap_or_else(|e| panic!("account {id}: {e}"))
}

/// Two accounts with complaints (one disabled) and a third-party platform, which has none.
async fn three_accounts(config: &aws::AwsConfig, sdk: &aws_config::SdkConfig) {
    // The facts the repository needs to write these kinds (their callback families). This
    // test links no platform, so the binary it runs is built as in production: without them.
    for (kind, family, field, has_complaints) in [
        ("alipay_app", "alipay", "app_id", true),
        ("wechatpay_merchant", "wechatpay", "mchid", true),
        ("wxopen_component", "wxopen", "component_appid", false),
    ] {
        AccountKind::declare(AccountKindFacts {
            kind: AccountKind::new(kind),
            platform: domain::complaint::Platform::new("scheduler_test"),
            has_complaints,
            callback_family: family,
            platform_id_field: field,
            has_sub_merchants: false,
            budget_by_account_id: false,
        });
    }
    let records =
        aws::DynamoRecordStore::new(aws_sdk_dynamodb::Client::new(sdk), config.table.clone());
    let repo = AccountRepo::new(&records);
    for a in [
        account(
            "acc_alipay",
            "alipay_app",
            json!({"app_id": "2021000000000001"}),
            true,
        ),
        account(
            "acc_wechatpay",
            "wechatpay_merchant",
            json!({"mchid": "1900000001", "appid": "wx2222222222222222",
                "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"}),
            false,
        ),
        account(
            "acc_component",
            "wxopen_component",
            json!({"component_appid": "wx1111111111111111"}),
            true,
        ),
    ] {
        repo.create(&a).await.expect("create account");
    }
}

fn scheduled_event() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/schedule/scheduled-event.json");
    std::fs::read_to_string(path).expect("fixture")
}

/// The slot the fixture's event names (its `time`).
fn fixture_slot() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-26T20:05:00Z")
        .expect("time")
        .to_utc()
}

/// The deployment's queues as the test reads them.
fn events_queue(config: &aws::AwsConfig, sdk: &aws_config::SdkConfig) -> aws::SqsQueue {
    aws::SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        config.queues.clone(),
        Arc::new(aws::DynamoRecordStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table.clone(),
        )),
        5,
    )
}

async fn outcome(rx: &mut mpsc::UnboundedReceiver<Outcome>) -> Outcome {
    let outcome = tokio::time::timeout(Duration::from_secs(120), rx.recv())
        .await
        .expect("the function answered the invocation")
        .expect("an outcome");
    if let Outcome::InitError(body) = &outcome {
        panic!("the function did not start: {body}");
    }
    outcome
}

/// Every message on the events queue (deleted as read).
async fn drain(queue: &aws::SqsQueue) -> Vec<JobEnvelope> {
    let mut jobs = Vec::new();
    loop {
        let got = queue
            .receive(queues::EVENTS, 10, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("receive");
        if got.is_empty() {
            return jobs;
        }
        for m in got {
            jobs.push(serde_json::from_str(&m.body).expect("a job envelope"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_event_enqueues_one_sweep_per_account_with_complaints() {
    let config = moto::deployment("unused-admin-token-0123456789").await;
    let sdk = moto::sdk_config().await;
    three_accounts(&config, &sdk).await;
    let (api, mut outcomes) = runtime_api(scheduled_event()).await;
    let _function = start(&config, &api, Some(SWEEP.name()));

    match outcome(&mut outcomes).await {
        Outcome::Response(tally) => assert_eq!(
            tally,
            json!({"accounts": 3, "skipped": 1, "enqueued": 2, "failed": 0})
        ),
        other => panic!("the invocation failed: {other:?}"),
    }
    let slot = fixture_slot();
    let mut got: Vec<(String, Option<String>, Sweep)> = drain(&events_queue(&config, &sdk))
        .await
        .iter()
        .map(|e| {
            let sweep = SWEEP.payload(e).expect("a deadline sweep");
            (e.id.clone(), e.account_id.clone(), sweep)
        })
        .collect();
    got.sort_by(|a, b| a.2.account_id.cmp(&b.2.account_id));
    let expected = |id: &str| {
        (
            job_id(SWEEP.name(), id, slot),
            Some(id.to_string()),
            Sweep {
                account_id: id.to_string(),
                scheduled_at: slot,
            },
        )
    };
    assert_eq!(
        got,
        vec![expected("acc_alipay"), expected("acc_wechatpay")],
        "one sweep per account with complaints, disabled included; none for the component"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_enqueues_fail_the_invocation_so_eventbridge_retries() {
    let mut config = moto::deployment("unused-admin-token-0123456789").await;
    let sdk = moto::sdk_config().await;
    three_accounts(&config, &sdk).await;
    if let Some(events) = config.queues.get_mut(queues::EVENTS) {
        // A queue that does not exist: every send fails.
        events.url = format!("{}-deleted", events.url);
    }
    let (api, mut outcomes) = runtime_api(scheduled_event()).await;
    let _function = start(&config, &api, Some(SWEEP.name()));
    match outcome(&mut outcomes).await {
        Outcome::Error(body) => {
            let message = body["errorMessage"].as_str().unwrap_or_default();
            assert!(
                message.contains("2 of 2 scheduled jobs could not be enqueued"),
                "{body}"
            );
        }
        other => panic!("expected a failed invocation: {other:?}"),
    }
}

/// The reconciliation schedule's function (`SCHEDULED_JOBS=reconcile.pass`): one new pass per
/// account with complaints, disabled included, none for the component, each with the id of
/// its (account, slot), and no deadline sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciliation_function_enqueues_one_pass_per_account_with_complaints() {
    let config = moto::deployment("unused-admin-token-0123456789").await;
    let sdk = moto::sdk_config().await;
    three_accounts(&config, &sdk).await;
    let (api, mut outcomes) = runtime_api(scheduled_event()).await;
    let _function = start(&config, &api, Some(PASS.name()));

    match outcome(&mut outcomes).await {
        Outcome::Response(tally) => assert_eq!(
            tally,
            json!({"accounts": 3, "skipped": 1, "enqueued": 2, "failed": 0})
        ),
        other => panic!("the invocation failed: {other:?}"),
    }
    let slot = fixture_slot();
    let mut got: Vec<(String, Option<String>, Pass)> = drain(&events_queue(&config, &sdk))
        .await
        .iter()
        .map(|e| {
            let pass = PASS
                .payload(e)
                .unwrap_or_else(|err| panic!("only reconciliation passes: {e:?}: {err}"));
            (e.id.clone(), e.account_id.clone(), pass)
        })
        .collect();
    got.sort_by(|a, b| a.2.account_id.cmp(&b.2.account_id));
    let expected = |id: &str| {
        (
            job_id(PASS.name(), id, slot),
            Some(id.to_string()),
            Pass {
                account_id: id.to_string(),
                scheduled_at: slot,
                resume: None,
            },
        )
    };
    assert_eq!(
        got,
        vec![expected("acc_alipay"), expected("acc_wechatpay")],
        "one new pass per account with complaints, disabled included; none for the component"
    );
}

/// Without `SCHEDULED_JOBS` (an invocation by hand of a function deployed without it) an
/// event enqueues every scheduled job for every account with complaints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_scheduled_jobs_an_event_enqueues_every_kind() {
    let config = moto::deployment("unused-admin-token-0123456789").await;
    let sdk = moto::sdk_config().await;
    three_accounts(&config, &sdk).await;
    let (api, mut outcomes) = runtime_api(scheduled_event()).await;
    let _function = start(&config, &api, None);

    match outcome(&mut outcomes).await {
        Outcome::Response(tally) => assert_eq!(
            tally,
            json!({"accounts": 3, "skipped": 1, "enqueued": 4, "failed": 0})
        ),
        other => panic!("the invocation failed: {other:?}"),
    }
    let mut got: Vec<String> = drain(&events_queue(&config, &sdk))
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    got.sort();
    let slot = fixture_slot();
    assert_eq!(
        got,
        vec![
            job_id(SWEEP.name(), "acc_alipay", slot),
            job_id(SWEEP.name(), "acc_wechatpay", slot),
            job_id(PASS.name(), "acc_alipay", slot),
            job_id(PASS.name(), "acc_wechatpay", slot),
        ]
    );
}

/// A misspelt `SCHEDULED_JOBS` stops the function at start, saying which name and what is
/// known, before it takes an event: never a function that quietly enqueues nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_scheduled_job_stops_the_function_before_its_first_event() {
    let config = moto::deployment("unused-admin-token-0123456789").await;
    let (api, _outcomes) = runtime_api(scheduled_event()).await;
    let mut function = start_with(
        &config,
        &api,
        Some("deadlines.sweep,reconcile"),
        Stdio::piped(),
    );
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = function.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the function still runs with an unknown job"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success(), "{status:?}");
    let mut stderr = String::new();
    if let Some(mut pipe) = function.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("stderr");
    }
    assert!(
        stderr.contains(r#"SCHEDULED_JOBS names \"reconcile\", which is no scheduled job (known: deadlines.sweep, reconcile.pass)"#),
        "the log says which name and what is known:\n{stderr}"
    );
}
