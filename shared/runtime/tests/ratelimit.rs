//! The platform-call rate limiter against both record stores: the embedded SQLite store and
//! the DynamoDB adapter on moto server. Time is a manual clock, so window logic is checked
//! without waiting or timing anything.

use chrono::{TimeZone, Utc};
use desk_core::ratelimit::{Decision, Operation, RateLimiter, SLOT, WINDOW};
use domain::clock::ManualClock;
use domain::complaint::Platform;
use domain::ports::RecordStore;
use std::sync::Arc;
use std::time::Duration;

use aws::testing as moto;

/// A small budget keeps the tests short; the real table uses the same code.
const FIVE: Operation = Operation::new(Platform::Wechatpay, "test-op", Some(5));

/// A manual clock 2 s into the current slot. It starts at the real time because the stores
/// expire records (TTL) by their own clock.
fn clock() -> Arc<ManualClock> {
    let slot = SLOT.as_secs() as i64;
    let now = Utc::now().timestamp();
    let start = Utc
        .timestamp_opt(now.div_euclid(slot) * slot + 2, 0)
        .single()
        .expect("time");
    Arc::new(ManualClock::new(start))
}

fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

async fn sqlite() -> (Arc<dyn RecordStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = embedded::Db::open(dir.path().join("desk.db")).expect("db");
    (Arc::new(embedded::SqliteRecordStore::new(db)), dir)
}

async fn dynamo() -> Arc<dyn RecordStore> {
    let cfg = moto::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&cfg);
    let name = format!("records-{}", uuid::Uuid::new_v4().simple());
    aws::schema::create_table(&client, &name)
        .await
        .expect("create table");
    Arc::new(aws::DynamoRecordStore::new(client, name))
}

async fn granted(l: &RateLimiter, op: Operation, merchant: &str) -> bool {
    match l.check(op, merchant).await.expect("check") {
        Decision::Granted => true,
        Decision::Denied { .. } => false,
    }
}

/// N calls pass; the next one in the window is refused with the time until the first call
/// leaves it; then, and not a moment before, one call passes again.
async fn budget_holds_over_any_window(store: Arc<dyn RecordStore>) {
    let clock = clock();
    let l = RateLimiter::new(store.clone(), clock.clone());
    // Three calls now, two 20 s later: the budget of five is used up.
    for _ in 0..3 {
        assert!(granted(&l, FIVE, "m1").await);
    }
    clock.advance(secs(20));
    for _ in 0..2 {
        assert!(granted(&l, FIVE, "m1").await);
    }
    let Decision::Denied { retry_after } = l.check(FIVE, "m1").await.expect("check") else {
        panic!("the sixth call in the window must be refused");
    };
    // The first three were counted in the slot starting 2 s before them: they leave the
    // window 60 s after that slot ends, i.e. 43 s from now (one slot more careful than exact).
    let first_leaves = WINDOW + SLOT - Duration::from_secs(2) - Duration::from_secs(20);
    assert_eq!(retry_after, first_leaves);
    // Other merchants and other operations have their own budgets.
    assert!(granted(&l, FIVE, "m2").await);
    let other = Operation::new(Platform::Wechatpay, "other-op", Some(5));
    assert!(granted(&l, other, "m1").await);
    // Just before the first calls leave the window: still refused.
    clock.advance(chrono::Duration::from_std(first_leaves).expect("duration") - secs(1));
    assert!(!granted(&l, FIVE, "m1").await);
    // When they have left, three calls are free again, and no more.
    clock.advance(secs(1));
    for _ in 0..3 {
        assert!(granted(&l, FIVE, "m1").await);
    }
    assert!(!granted(&l, FIVE, "m1").await);

    // Unlimited operations never touch the store.
    let free = Operation::new(Platform::Wechatpay, "free-op", None);
    for _ in 0..20 {
        assert!(granted(&l, free, "m1").await);
    }
    let (pk, sk) = RateLimiter::key(free, "m1");
    assert!(store.get(&pk, &sk).await.expect("get").is_none());

    // The counter expires after its newest slot left the window, so counters do not pile up.
    let (pk, sk) = RateLimiter::key(FIVE, "m1");
    let item = store.get(&pk, &sk).await.expect("get").expect("counter");
    let expires = item.expires_at.expect("a counter has a TTL");
    let now = clock.now_for_test();
    assert!(expires > now.timestamp() + 60, "{expires} vs {now}");
    assert!(expires <= now.timestamp() + 60 + 3 * SLOT.as_secs() as i64);
    // After it expired (even if the store has not swept it yet) the budget is whole again.
    clock.set(Utc.timestamp_opt(expires + 1, 0).single().expect("time"));
    for _ in 0..5 {
        assert!(granted(&l, FIVE, "m1").await);
    }
    assert!(!granted(&l, FIVE, "m1").await);
}

/// Two limiters (two workers, two Lambda instances) over one store share one budget, even
/// when they race for the last calls.
async fn instances_share_the_budget(store: Arc<dyn RecordStore>) {
    let clock = clock();
    let a = RateLimiter::new(store.clone(), clock.clone());
    let b = RateLimiter::new(store.clone(), clock.clone());
    let budget = Operation::new(Platform::Alipay, "shared-op", Some(12));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..30 {
        let l = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move { l.check(budget, "app-1").await.expect("check") });
    }
    let mut grants = 0;
    while let Some(d) = tasks.join_next().await {
        if d.expect("task") == Decision::Granted {
            grants += 1;
        }
    }
    assert_eq!(grants, 12, "exactly the budget, across both instances");
    assert!(!granted(&a, budget, "app-1").await);
    assert!(!granted(&b, budget, "app-1").await);
}

/// Over budget, `acquire` does not spin or wait past its bound: it says how long to wait,
/// which a job turns into a deferral.
async fn acquire_defers_beyond_its_bound(store: Arc<dyn RecordStore>) {
    let clock = clock();
    let l = RateLimiter::new(store, clock.clone()).with_max_wait(Duration::ZERO);
    for _ in 0..5 {
        l.acquire(FIVE, "m3").await.expect("within budget");
    }
    let e = l.acquire(FIVE, "m3").await.expect_err("over budget");
    let job: desk_core::worker::JobError = e.into();
    match job {
        desk_core::worker::JobError::Deferred { retry_after, .. } => {
            assert!(retry_after > Duration::from_secs(60), "{retry_after:?}");
            assert!(retry_after < WINDOW + 2 * SLOT, "{retry_after:?}");
        }
        other => panic!("expected a deferral, got {other:?}"),
    }
}

/// Read the manual clock through the port (the limiter's view of now).
trait NowForTest {
    fn now_for_test(&self) -> chrono::DateTime<Utc>;
}

impl NowForTest for ManualClock {
    fn now_for_test(&self) -> chrono::DateTime<Utc> {
        domain::ports::Clock::now(self)
    }
}

#[tokio::test]
async fn sqlite_budget_holds_over_any_window() {
    let (store, _dir) = sqlite().await;
    budget_holds_over_any_window(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_instances_share_the_budget() {
    let (store, _dir) = sqlite().await;
    instances_share_the_budget(store).await;
}

#[tokio::test]
async fn sqlite_acquire_defers_beyond_its_bound() {
    let (store, _dir) = sqlite().await;
    acquire_defers_beyond_its_bound(store).await;
}

#[tokio::test]
async fn dynamodb_budget_holds_over_any_window() {
    budget_holds_over_any_window(dynamo().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_instances_share_the_budget() {
    instances_share_the_budget(dynamo().await).await;
}

#[tokio::test]
async fn dynamodb_acquire_defers_beyond_its_bound() {
    acquire_defers_beyond_its_bound(dynamo().await).await;
}
