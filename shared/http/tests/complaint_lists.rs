//! Complaint and violation lists: every filter and scope answers from one index partition, in
//! order, across pages; one page reads one page of index entries; the backfill gives records
//! of the older key shape their keys without overwriting a concurrent update.

mod common;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use common::{ADMIN, harness, provider_body};
use desk_core::complaints::{ComplaintRepo, list::ComplaintFilter, list::list_keys_ready};
use domain::complaint::{Complaint, ComplaintStatus, Platform};
use domain::ports::{IndexKey, Item, Page, Query, RecordStore, StoreError, Write, WriteOutcome};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const STATUSES: [ComplaintStatus; 3] = [
    ComplaintStatus::Pending,
    ComplaintStatus::Resolved,
    ComplaintStatus::Processing,
];

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0)
        .single()
        .expect("time")
        + chrono::Duration::minutes(minute)
}

struct Desk {
    h: common::Harness,
    /// Two providers (both have sub-merchant 1900000201) and an Alipay app.
    a: String,
    b: String,
    c: String,
    complaints: Vec<Complaint>,
}

/// 36 complaints over three accounts, three sub-merchant choices and three statuses; minute
/// `i / 2`, so pairs share a receive time (and sort by id within it).
fn complaints(a: &str, b: &str, c: &str) -> Vec<Complaint> {
    (0..36)
        .map(|i| {
            let (account, platform) = match i % 3 {
                0 => (a, Platform::Wechatpay),
                1 => (b, Platform::Wechatpay),
                _ => (c, Platform::Alipay),
            };
            let mut x = Complaint::new(
                desk_core::complaints::complaint_id(platform, account, &format!("p{i}")),
                platform,
                None,
                account.to_string(),
                format!("p{i}"),
                at(i / 2),
            );
            x.sub_mchid = match (platform, i % 4) {
                (Platform::Wechatpay, 0) | (Platform::Wechatpay, 1) => Some("1900000201".into()),
                (Platform::Wechatpay, 2) => Some("1900000202".into()),
                _ => None,
            };
            x.status = STATUSES[(i / 3) as usize % 3];
            x
        })
        .collect()
}

async fn desk() -> Desk {
    let h = harness();
    let a = h.create(provider_body("1900000109")).await;
    let b = h.create(provider_body("1900000110")).await;
    let c = h
        .create(json!({"kind": "alipay_app", "name": "Shop", "settings": {"app_id": "2021000000000001"}}))
        .await;
    for acc in [&a, &b] {
        for sub in ["1900000201", "1900000202"] {
            let (s, res) = h
                .admin(
                    Method::POST,
                    &format!("/admin/v1/accounts/{acc}/sub-merchants"),
                    Some(json!({"sub_mchid": sub, "name": "Shop"})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{res}");
        }
    }
    let complaints = complaints(&a, &b, &c);
    let repo = ComplaintRepo::new(&*h.state.ports.records);
    for x in &complaints {
        repo.save(x, 0).await.expect("save");
    }
    let p = desk_core::reindex::run(&*h.state.ports.records, 7)
        .await
        .expect("backfill");
    assert!(p.done);
    Desk {
        h,
        a,
        b,
        c,
        complaints,
    }
}

#[derive(Clone, Debug)]
enum Scope {
    All,
    Account(String),
    Sub(String, String),
}

/// What a list must answer: the complaints the filter and the scope select, newest first.
fn expected(d: &Desk, f: &ComplaintFilter, scope: &Scope) -> Vec<String> {
    let mut f = f.clone();
    match scope {
        Scope::All => {}
        Scope::Account(a) => {
            if f.account_id.get_or_insert_with(|| a.clone()) != a {
                return vec![];
            }
        }
        Scope::Sub(a, s) => {
            if f.account_id.get_or_insert_with(|| a.clone()) != a
                || f.sub_mchid.get_or_insert_with(|| s.clone()) != s
            {
                return vec![];
            }
        }
    }
    let mut hits: Vec<&Complaint> = d
        .complaints
        .iter()
        .filter(|c| {
            f.platform.is_none_or(|p| c.platform == p)
                && f.account_id.as_deref().is_none_or(|a| c.account_id == a)
                && f.sub_mchid
                    .as_deref()
                    .is_none_or(|s| c.sub_mchid.as_deref() == Some(s))
                && f.status.is_none_or(|s| c.status == s)
                && f.since.is_none_or(|t| c.received_at >= t)
                && f.until.is_none_or(|t| c.received_at <= t)
        })
        .collect();
    hits.sort_by(|x, y| (y.received_at, &y.id).cmp(&(x.received_at, &x.id)));
    hits.into_iter().map(|c| c.id.clone()).collect()
}

fn filters(d: &Desk) -> Vec<ComplaintFilter> {
    let mut out = Vec::new();
    for platform in [
        None,
        Some(Platform::Wechatpay),
        Some(Platform::Alipay),
        Some(Platform::Wxmini),
    ] {
        for account in [None, Some(&d.a), Some(&d.b), Some(&d.c)] {
            for sub in [None, Some("1900000201"), Some("1900000202")] {
                for status in [
                    None,
                    Some(ComplaintStatus::Pending),
                    Some(ComplaintStatus::Resolved),
                    Some(ComplaintStatus::Closed),
                ] {
                    out.push(ComplaintFilter {
                        platform,
                        account_id: account.cloned(),
                        sub_mchid: sub.map(String::from),
                        status,
                        since: None,
                        until: None,
                        ..Default::default()
                    });
                }
            }
        }
    }
    // Time ranges, alone and with filters.
    for (since, until) in [
        (Some(at(3)), None),
        (None, Some(at(9))),
        (Some(at(4)), Some(at(12))),
    ] {
        out.push(ComplaintFilter {
            since,
            until,
            ..Default::default()
        });
        out.push(ComplaintFilter {
            since,
            until,
            account_id: Some(d.a.clone()),
            status: Some(ComplaintStatus::Pending),
            ..Default::default()
        });
        out.push(ComplaintFilter {
            since,
            until,
            sub_mchid: Some("1900000201".into()),
            ..Default::default()
        });
    }
    out
}

fn query_string(f: &ComplaintFilter, limit: u32, cursor: Option<&str>) -> String {
    let mut q = vec![format!("limit={limit}")];
    if let Some(p) = f.platform {
        q.push(format!("platform={}", p.as_str()));
    }
    if let Some(a) = &f.account_id {
        q.push(format!("account={a}"));
    }
    if let Some(s) = &f.sub_mchid {
        q.push(format!("sub_mchid={s}"));
    }
    if let Some(s) = f.status {
        q.push(format!("status={}", s.as_str()));
    }
    let t = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if let Some(s) = f.since {
        q.push(format!("since={}", t(s)));
    }
    if let Some(u) = f.until {
        q.push(format!("until={}", t(u)));
    }
    if let Some(c) = cursor {
        q.push(format!("cursor={c}"));
    }
    format!("/admin/v1/complaints?{}", q.join("&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_and_scope_lists_its_complaints_newest_first_across_pages() {
    let d = desk().await;
    let scopes = [
        (Scope::All, ADMIN.to_string()),
        (
            Scope::Account(d.a.clone()),
            d.h.token(json!({"type": "account", "account_id": d.a}))
                .await,
        ),
        (
            Scope::Sub(d.b.clone(), "1900000201".into()),
            d.h.token(
                json!({"type": "sub_merchant", "account_id": d.b, "sub_mchid": "1900000201"}),
            )
            .await,
        ),
    ];
    let mut non_empty = 0;
    for f in filters(&d) {
        for (scope, token) in &scopes {
            let want = expected(&d, &f, scope);
            let mut got = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..40 {
                let (s, page) =
                    d.h.call(
                        Method::GET,
                        &query_string(&f, 4, cursor.as_deref()),
                        Some(token),
                        None,
                    )
                    .await;
                assert_eq!(s, StatusCode::OK, "{f:?} {scope:?}: {page}");
                let items = page["items"].as_array().expect("items");
                assert!(items.len() <= 4);
                got.extend(
                    items
                        .iter()
                        .map(|c| c["id"].as_str().expect("id").to_string()),
                );
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
            assert_eq!(got, want, "{f:?} {scope:?}");
            non_empty += usize::from(!want.is_empty());
        }
    }
    assert!(non_empty > 100, "the cases select something: {non_empty}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_or_foreign_cursors_are_refused() {
    let d = desk().await;
    let (_, page) =
        d.h.admin(
            Method::GET,
            &format!("/admin/v1/complaints?limit=2&account={}", d.a),
            None,
        )
        .await;
    let cursor = page["next_cursor"].as_str().expect("cursor").to_string();
    for path in [
        // Another partition (another account, a status filter) with this cursor.
        format!(
            "/admin/v1/complaints?limit=2&account={}&cursor={cursor}",
            d.b
        ),
        format!(
            "/admin/v1/complaints?limit=2&account={}&status=pending&cursor={cursor}",
            d.a
        ),
        // Altered.
        format!(
            "/admin/v1/complaints?limit=2&account={}&cursor={cursor}x",
            d.a
        ),
        format!(
            "/admin/v1/complaints?limit=2&account={}&cursor=AAAA{cursor}",
            d.a
        ),
    ] {
        let (s, body) = d.h.admin(Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
}

/// Counts what a list reads.
struct Counting {
    inner: Arc<dyn RecordStore>,
    queries: AtomicUsize,
    entries: AtomicUsize,
    largest_limit: AtomicUsize,
}

impl Counting {
    fn new(inner: Arc<dyn RecordStore>) -> Self {
        Self {
            inner,
            queries: AtomicUsize::new(0),
            entries: AtomicUsize::new(0),
            largest_limit: AtomicUsize::new(0),
        }
    }

    fn take(&self) -> (usize, usize, usize) {
        (
            self.queries.swap(0, Ordering::SeqCst),
            self.entries.swap(0, Ordering::SeqCst),
            self.largest_limit.swap(0, Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl RecordStore for Counting {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn create(&self, item: Item) -> Result<Item, StoreError> {
        self.inner.create(item).await
    }
    async fn update(&self, item: Item, v: u64) -> Result<Item, StoreError> {
        self.inner.update(item, v).await
    }
    async fn put(&self, item: Item) -> Result<Item, StoreError> {
        self.inner.put(item).await
    }
    async fn delete(&self, pk: &str, sk: &str, v: Option<u64>) -> Result<bool, StoreError> {
        self.inner.delete(pk, sk, v).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.inner.transact(writes).await
    }
    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        let page = self.inner.query(q).await?;
        self.queries.fetch_add(1, Ordering::SeqCst);
        self.entries.fetch_add(page.items.len(), Ordering::SeqCst);
        self.largest_limit
            .fetch_max(q.limit as usize, Ordering::SeqCst);
        Ok(page)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn probe_write(&self) -> Result<(), StoreError> {
        self.inner.probe_write().await
    }
    fn last_write(&self) -> Option<WriteOutcome> {
        self.inner.last_write()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_page_reads_one_page_of_one_partition() {
    let d = desk().await;
    let store = Counting::new(d.h.state.ports.records.clone());
    let repo = ComplaintRepo::new(&store);
    for f in filters(&d) {
        let (items, _) = repo.list(&f, |_| true, 3, None).await.expect("list");
        let (queries, entries, limit) = store.take();
        let want = expected(&d, &f, &Scope::All);
        assert_eq!(items.len(), want.len().min(3), "{f:?}");
        // A platform that contradicts the account (or sub-merchants) is answered at once.
        let contradiction = f.platform.is_some_and(|p| {
            (f.account_id.as_deref() == Some(d.c.as_str()) && p != Platform::Alipay)
                || ((f.account_id.as_deref() == Some(d.a.as_str())
                    || f.account_id.as_deref() == Some(d.b.as_str())
                    || f.sub_mchid.is_some())
                    && p != Platform::Wechatpay)
        });
        if contradiction {
            assert_eq!((queries, entries), (0, 0), "{f:?}");
            assert!(want.is_empty());
        } else {
            assert_eq!(queries, 1, "one query: {f:?}");
            assert_eq!(limit, 3, "of one page: {f:?}");
            assert_eq!(entries, items.len(), "nothing read and thrown away: {f:?}");
        }
    }
    // Violations: one query on the account's (sub-merchant's) partition.
    for sub in [None, Some("1900000201")] {
        repo.list_violations(&d.a, sub, |_| true, 5, None)
            .await
            .expect("violations");
        let (queries, _, limit) = store.take();
        assert_eq!((queries, limit), (1, 5));
    }
}

/// The key shape complaints had before the list indexes: account and global partitions only.
fn old_shape(c: &Complaint) -> Item {
    let sort = format!(
        "{}#{}",
        c.received_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        c.id
    );
    Item::new(
        format!("COMPLAINT#{}", c.id),
        "META",
        serde_json::to_value(c).expect("json"),
    )
    .with_gsi1(IndexKey::new(
        format!("COMPLAINTS#{}", c.account_id),
        sort.clone(),
    ))
    .with_gsi2(IndexKey::new("COMPLAINTS", sort))
}

/// Runs `interfere` once, just before the first write of `pk` goes to the store (a
/// concurrent writer getting in between the backfill's read and its write).
struct Interfering {
    inner: Arc<dyn RecordStore>,
    pk: String,
    interfere: tokio::sync::Mutex<Option<Complaint>>,
}

#[async_trait]
impl RecordStore for Interfering {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn create(&self, item: Item) -> Result<Item, StoreError> {
        self.inner.create(item).await
    }
    async fn update(&self, item: Item, v: u64) -> Result<Item, StoreError> {
        if item.pk == self.pk
            && let Some(changed) = self.interfere.lock().await.take()
        {
            ComplaintRepo::new(&*self.inner)
                .save(&changed, v)
                .await
                .expect("concurrent update");
        }
        self.inner.update(item, v).await
    }
    async fn put(&self, item: Item) -> Result<Item, StoreError> {
        self.inner.put(item).await
    }
    async fn delete(&self, pk: &str, sk: &str, v: Option<u64>) -> Result<bool, StoreError> {
        self.inner.delete(pk, sk, v).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        for w in &writes {
            if let Write::Update {
                item,
                expected_version,
            } = w
                && item.pk == self.pk
                && let Some(changed) = self.interfere.lock().await.take()
            {
                ComplaintRepo::new(&*self.inner)
                    .save(&changed, *expected_version)
                    .await
                    .expect("concurrent update");
            }
        }
        self.inner.transact(writes).await
    }
    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        self.inner.query(q).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn probe_write(&self) -> Result<(), StoreError> {
        self.inner.probe_write().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_keys_records_of_the_old_shape_resumably_without_overwriting_updates() {
    let h = harness();
    let a = h.create(provider_body("1900000109")).await;
    let b = h.create(provider_body("1900000110")).await;
    let c = h
        .create(json!({"kind": "alipay_app", "name": "Shop", "settings": {"app_id": "2021000000000001"}}))
        .await;
    let all = complaints(&a, &b, &c);
    let records = h.state.ports.records.clone();
    for x in &all {
        records.create(old_shape(x)).await.expect("old record");
    }
    let d = Desk {
        h,
        a,
        b,
        c,
        complaints: all.clone(),
    };
    let pending = ComplaintFilter {
        status: Some(ComplaintStatus::Pending),
        ..Default::default()
    };
    // Before the backfill: lists are right (the older filtered way).
    assert!(!list_keys_ready(&*records).await.expect("marker"));
    let repo = ComplaintRepo::new(&*records);
    let (before, _) = repo
        .list(&pending, |_| true, 100, None)
        .await
        .expect("list");
    let ids = |v: &[Complaint]| v.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&before), expected(&d, &pending, &Scope::All));

    // One step of 10, then a stop: the marker holds the position, lists still the older way.
    let mut p = desk_core::reindex::Progress::default();
    desk_core::reindex::step(&*records, 10, &mut p)
        .await
        .expect("step");
    assert_eq!((p.examined, p.rewritten, p.done), (10, 10, false));
    assert!(!list_keys_ready(&*records).await.expect("marker"));

    // The rest, with a concurrent update of a complaint not keyed yet between the backfill's
    // read and its write: the update stays, with its own keys.
    let target = all
        .iter()
        .find(|x| x.received_at > at(10) && x.status == ComplaintStatus::Pending)
        .expect("a pending complaint the first step did not reach")
        .clone();
    let mut changed = target.clone();
    changed.status = ComplaintStatus::Closed;
    changed.description = Some("closed meanwhile".into());
    let interfering = Interfering {
        inner: records.clone(),
        pk: format!("COMPLAINT#{}", target.id),
        interfere: tokio::sync::Mutex::new(Some(changed.clone())),
    };
    let rest = desk_core::reindex::run(&interfering, 10)
        .await
        .expect("backfill");
    assert!(rest.done);
    assert_eq!(rest.examined, 26);
    assert!(
        interfering.interfere.lock().await.is_none(),
        "the update happened"
    );
    let (stored, version) = repo.get(&target.id).await.expect("get").expect("kept");
    // (Saved with the deadlines its platform's rules give it, if any.)
    domain::deadline::refresh(&mut changed);
    assert_eq!(stored, changed, "the concurrent update was not overwritten");
    assert_eq!(version, 2);

    // Every complaint has the keys this version gives it; documents are as they were but for
    // their deadlines, re-computed.
    let mut now = all.clone();
    for x in now.iter_mut() {
        if x.id == changed.id {
            *x = changed.clone();
        }
        domain::deadline::refresh(x);
    }
    for x in &now {
        let item = records
            .get(&format!("COMPLAINT#{}", x.id), "META")
            .await
            .expect("get")
            .expect("present");
        let want = ComplaintRepo::complaint_item(x).expect("item");
        assert_eq!(item.indexes, want.indexes, "{}", x.id);
        assert_eq!(item.data, want.data, "{}", x.id);
    }
    assert!(list_keys_ready(&*records).await.expect("marker"));
    let d = Desk {
        complaints: now,
        ..d
    };
    for f in filters(&d) {
        let (got, _) = repo.list(&f, |_| true, 100, None).await.expect("list");
        assert_eq!(ids(&got), expected(&d, &f, &Scope::All), "{f:?}");
    }
    // Again: nothing to do.
    let again = desk_core::reindex::run(&*records, 10).await.expect("again");
    assert_eq!((again.examined, again.rewritten, again.done), (0, 0, true));
}

// ---------------------------------------------------------------------------------------------
// Deadline lists: `overdue`, `due_before`, `sort=deadline`
// ---------------------------------------------------------------------------------------------

/// A platform of this test whose deadline rules the test controls: a complaint's
/// `platform_due_at` is when its reply is due (met once replied) and completion is due two
/// hours later (met once completed). Its account kind has sub-merchants.
const DUE_TOY: Platform = Platform::new("due_toy");
const DUE_TOY_PROVIDER: domain::account::AccountKind =
    domain::account::AccountKind::new("due_toy_provider");

struct DueToy;

fn due_toy_settings(
    value: serde_json::Value,
) -> Result<domain::account::AccountSettings, desk_core::Error> {
    domain::account::AccountSettings::from_parts(DUE_TOY_PROVIDER, value)
        .map_err(|m| desk_core::Error::field("settings", m))
}

fn due_toy_credentials(
    _: desk_core::accounts::CredentialsChange<'_>,
) -> Result<
    (
        domain::account::Credentials,
        domain::account::CredentialsStatus,
    ),
    desk_core::Error,
> {
    Err(desk_core::Error::field("credentials", "none"))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct DueToySettings {
    shop: String,
}

impl desk_core::platform::Platform for DueToy {
    fn name(&self) -> Platform {
        DUE_TOY
    }

    fn register_jobs(
        &self,
        _: &mut desk_core::worker::JobRegistry,
        _: &desk_core::state::Services,
    ) {
    }

    fn account_kinds(&self) -> Vec<desk_core::accounts::AccountKindSpec> {
        vec![desk_core::accounts::AccountKindSpec {
            facts: domain::account::AccountKindFacts {
                kind: DUE_TOY_PROVIDER,
                platform: DUE_TOY,
                has_complaints: true,
                callback_family: "due_toy",
                platform_id_field: "shop",
                has_sub_merchants: true,
                budget_by_account_id: false,
            },
            settings_schema: desk_core::schema::SchemaOf::of::<DueToySettings>(),
            settings_rules: None,
            settings: due_toy_settings,
            check_settings: |_| Ok(()),
            credentials: due_toy_credentials,
            credentials_schema: None,
            empty_credentials: |_| domain::account::CredentialsStatus {
                complete: true,
                ..Default::default()
            },
            guarded: &[],
            check_references: None,
            refresh_violations: None,
        }]
    }

    fn deadlines(&self, c: &Complaint) -> Vec<domain::deadline::Deadline> {
        use domain::deadline::{Deadline, DeadlineSource, DeadlineSourceKind};
        let Some(due) = c.platform_due_at else {
            return vec![];
        };
        let mk = |what: &str, due_at: DateTime<Utc>, met: bool| Deadline {
            what: what.into(),
            label: what.into(),
            starts_at: c.received_at,
            due_at,
            source: DeadlineSource {
                kind: DeadlineSourceKind::PlatformField,
                detail: "platform_due_at".into(),
            },
            consequence: String::new(),
            met_at: met.then_some(c.updated_at),
            counted: None,
        };
        vec![
            mk("reply", due, c.replied),
            mk("complete", due + chrono::Duration::hours(2), c.completed),
        ]
    }
}

/// The time the deadline tests start at ("now").
fn t0() -> DateTime<Utc> {
    at(0) + chrono::Duration::hours(30)
}

struct DueDesk {
    h: common::Harness,
    clock: Arc<domain::clock::ManualClock>,
    /// Two toy providers (both have sub-merchant 1900000201) and an Alipay app.
    a: String,
    b: String,
    c: String,
    ids: Vec<String>,
}

/// The harness with a clock the test moves and the toy platform registered beside the
/// built-in ones.
fn due_harness() -> (common::Harness, Arc<domain::clock::ManualClock>) {
    let clock = Arc::new(domain::clock::ManualClock::new(t0()));
    let c = clock.clone();
    let mut h = common::harness_over(None, move |p| desk_core::Ports { clock: c, ..p });
    let mut platforms = desk_core::platforms::builtin();
    platforms.register(Arc::new(DueToy));
    h.state.callbacks.platforms = Arc::new(platforms);
    h.router = desk_http::router::router(h.state.clone());
    (h, clock)
}

/// 40 complaints: toy ones due at times around `t0` (some on the same time, some with a
/// reply or everything met, some with nothing due) and Alipay ones with whatever deadlines
/// Alipay's rules give them.
fn due_complaints(a: &str, b: &str, c: &str) -> Vec<Complaint> {
    (0..40)
        .map(|i| {
            let (account, platform) = match i % 5 {
                0 | 2 => (a, DUE_TOY),
                1 | 3 => (b, DUE_TOY),
                _ => (c, Platform::Alipay),
            };
            let mut x = Complaint::new(
                desk_core::complaints::complaint_id(platform, account, &format!("d{i}")),
                platform,
                None,
                account.to_string(),
                format!("d{i}"),
                at(i / 2),
            );
            if platform == DUE_TOY {
                x.sub_mchid = match i % 3 {
                    0 => Some("1900000201".into()),
                    1 => Some("1900000202".into()),
                    _ => None,
                };
                // Hours from t0: -8 ..= +14, pairs sharing one; every seventh has none.
                x.platform_due_at =
                    (i % 7 != 6).then(|| t0() + chrono::Duration::hours((i / 2 * 5) % 23 - 8));
                x.replied = i % 4 == 1;
                x.completed = i % 8 == 1;
            }
            x.status = STATUSES[(i / 3) as usize % 3];
            x
        })
        .collect()
}

async fn due_desk() -> DueDesk {
    let (h, clock) = due_harness();
    let mut accounts = Vec::new();
    for shop in ["toy-a", "toy-b"] {
        let id = h
            .create(json!({"kind": "due_toy_provider", "name": "Shop", "settings": {"shop": shop}}))
            .await;
        for sub in ["1900000201", "1900000202"] {
            let (s, res) = h
                .admin(
                    Method::POST,
                    &format!("/admin/v1/accounts/{id}/sub-merchants"),
                    Some(json!({"sub_mchid": sub, "name": "Shop"})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{res}");
        }
        accounts.push(id);
    }
    let c = h
        .create(json!({"kind": "alipay_app", "name": "Shop", "settings": {"app_id": "2021000000000002"}}))
        .await;
    let (a, b) = (accounts[0].clone(), accounts[1].clone());
    let repo = ComplaintRepo::new(&*h.state.ports.records);
    let all = due_complaints(&a, &b, &c);
    for x in &all {
        repo.save(x, 0).await.expect("save");
    }
    let p = desk_core::reindex::run(&*h.state.ports.records, 7)
        .await
        .expect("backfill");
    assert!(p.done);
    DueDesk {
        h,
        clock,
        a,
        b,
        c,
        ids: all.into_iter().map(|x| x.id).collect(),
    }
}

/// The complaints as stored (with the deadlines the rules gave them).
async fn stored(d: &DueDesk) -> Vec<Complaint> {
    let repo = ComplaintRepo::new(&*d.h.state.ports.records);
    let mut out = Vec::new();
    for id in &d.ids {
        out.push(repo.get(id).await.expect("get").expect("stored").0);
    }
    out
}

/// The deadline query of a case, as the admin API takes it.
#[derive(Debug, Clone, Default)]
struct DueQuery {
    overdue: Option<bool>,
    due_before: Option<DateTime<Utc>>,
    /// Ask for `sort=deadline` explicitly.
    sort: bool,
}

/// What a deadline list must answer, by brute force over the stored complaints: the filter
/// and scope select, `now` decides what is overdue; earliest due first (then by id), then the
/// ones with nothing due, oldest first.
fn due_expected(
    all: &[Complaint],
    kinds: &[(String, Platform)],
    f: &ComplaintFilter,
    q: &DueQuery,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut f = f.clone();
    match scope {
        Scope::All => {}
        Scope::Account(a) => {
            if f.account_id.get_or_insert_with(|| a.clone()) != a {
                return vec![];
            }
        }
        Scope::Sub(a, s) => {
            if f.account_id.get_or_insert_with(|| a.clone()) != a
                || f.sub_mchid.get_or_insert_with(|| s.clone()) != s
            {
                return vec![];
            }
        }
    }
    // A platform named with an account must be the account's.
    if let (Some(p), Some(a)) = (f.platform, &f.account_id)
        && !kinds.iter().any(|(k, kp)| k == a && *kp == p)
    {
        return vec![];
    }
    let mut hits: Vec<&Complaint> = all
        .iter()
        .filter(|c| {
            let due = c.next_due_at;
            f.platform.is_none_or(|p| c.platform == p)
                && f.account_id.as_deref().is_none_or(|a| c.account_id == a)
                && f.sub_mchid
                    .as_deref()
                    .is_none_or(|s| c.sub_mchid.as_deref() == Some(s))
                && f.status.is_none_or(|s| c.status == s)
                && f.since.is_none_or(|t| c.received_at >= t)
                && f.until.is_none_or(|t| c.received_at <= t)
                && match q.overdue {
                    Some(true) => due.is_some_and(|d| d < now),
                    Some(false) => due.is_none_or(|d| d >= now),
                    None => true,
                }
                && q.due_before.is_none_or(|t| due.is_some_and(|d| d <= t))
        })
        .collect();
    hits.sort_by(|x, y| {
        let key = |c: &Complaint| match c.next_due_at {
            Some(d) => (0, d, c.id.clone()),
            None => (1, c.received_at, c.id.clone()),
        };
        key(x).cmp(&key(y))
    });
    hits.into_iter().map(|c| c.id.clone()).collect()
}

fn due_query_string(f: &ComplaintFilter, q: &DueQuery, limit: u32, cursor: Option<&str>) -> String {
    let mut s = query_string(f, limit, cursor);
    let t = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if let Some(o) = q.overdue {
        s.push_str(&format!("&overdue={o}"));
    }
    if let Some(b) = q.due_before {
        // The offset form too (`+08:00`), url-encoded.
        s.push_str(&format!("&due_before={}", t(b).replace("Z", "%2B00:00")));
    }
    if q.sort {
        s.push_str("&sort=deadline");
    }
    s
}

fn due_queries() -> Vec<DueQuery> {
    let h = |n: i64| Some(t0() + chrono::Duration::hours(n));
    vec![
        DueQuery {
            sort: true,
            ..Default::default()
        },
        DueQuery {
            overdue: Some(true),
            ..Default::default()
        },
        DueQuery {
            overdue: Some(false),
            sort: true,
            ..Default::default()
        },
        DueQuery {
            due_before: h(3),
            ..Default::default()
        },
        DueQuery {
            due_before: h(-3),
            sort: true,
            ..Default::default()
        },
        DueQuery {
            overdue: Some(true),
            due_before: h(-4),
            ..Default::default()
        },
        DueQuery {
            overdue: Some(false),
            due_before: h(5),
            ..Default::default()
        },
    ]
}

fn due_filters(d: &DueDesk) -> Vec<ComplaintFilter> {
    let mut out = Vec::new();
    for platform in [None, Some(DUE_TOY), Some(Platform::Alipay)] {
        for account in [None, Some(&d.a), Some(&d.c)] {
            for sub in [None, Some("1900000201")] {
                out.push(ComplaintFilter {
                    platform,
                    account_id: account.cloned(),
                    sub_mchid: sub.map(String::from),
                    ..Default::default()
                });
            }
        }
    }
    // The filters without a deadline partition of their own, applied to the page read.
    out.push(ComplaintFilter {
        status: Some(ComplaintStatus::Pending),
        ..Default::default()
    });
    out.push(ComplaintFilter {
        account_id: Some(d.b.clone()),
        status: Some(ComplaintStatus::Resolved),
        since: Some(at(4)),
        ..Default::default()
    });
    out.push(ComplaintFilter {
        sub_mchid: Some("1900000201".into()),
        until: Some(at(12)),
        ..Default::default()
    });
    out
}

/// Every page of a list through the admin API; the ids in order.
async fn all_pages(d: &DueDesk, path: impl Fn(Option<&str>) -> String, token: &str) -> Vec<String> {
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..60 {
        let (s, page) =
            d.h.call(Method::GET, &path(cursor.as_deref()), Some(token), None)
                .await;
        assert_eq!(s, StatusCode::OK, "{}: {page}", path(cursor.as_deref()));
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 3);
        got.extend(
            items
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return got,
        }
    }
    panic!("the list never ended: {}", path(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_deadline_filter_and_scope_lists_by_deadline_across_pages_at_any_time() {
    let d = due_desk().await;
    let all = stored(&d).await;
    assert!(
        all.iter().filter(|c| c.next_due_at.is_some()).count() > 15
            && all.iter().filter(|c| c.next_due_at.is_none()).count() > 5,
        "the data has complaints due and complaints with nothing due"
    );
    let kinds = vec![
        (d.a.clone(), DUE_TOY),
        (d.b.clone(), DUE_TOY),
        (d.c.clone(), Platform::Alipay),
    ];
    let scopes = [
        (Scope::All, ADMIN.to_string()),
        (
            Scope::Account(d.a.clone()),
            d.h.token(json!({"type": "account", "account_id": d.a}))
                .await,
        ),
        (
            Scope::Sub(d.b.clone(), "1900000201".into()),
            d.h.token(
                json!({"type": "sub_merchant", "account_id": d.b, "sub_mchid": "1900000201"}),
            )
            .await,
        ),
    ];
    let mut non_empty = 0;
    // At t0, then later: what is overdue follows the clock, without a write.
    for now in [t0(), t0() + chrono::Duration::hours(5)] {
        d.clock.set(now);
        for f in due_filters(&d) {
            for q in due_queries() {
                for (scope, token) in &scopes {
                    let want = due_expected(&all, &kinds, &f, &q, scope, now);
                    let got = all_pages(&d, |c| due_query_string(&f, &q, 3, c), token).await;
                    assert_eq!(got, want, "{f:?} {q:?} {scope:?} at {now}");
                    non_empty += usize::from(!want.is_empty());
                }
            }
        }
    }
    assert!(non_empty > 150, "the cases select something: {non_empty}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_page_is_one_query_of_one_page_and_reads_nothing_it_throws_away() {
    let d = due_desk().await;
    let all = stored(&d).await;
    let kinds = vec![
        (d.a.clone(), DUE_TOY),
        (d.b.clone(), DUE_TOY),
        (d.c.clone(), Platform::Alipay),
    ];
    let store = Counting::new(d.h.state.ports.records.clone());
    let repo = ComplaintRepo::new(&store);
    for f in due_filters(&d) {
        for q in due_queries() {
            let mut filter = f.clone();
            filter.due_before = q.due_before;
            match q.overdue {
                Some(true) => filter.overdue_at = Some(t0()),
                Some(false) => filter.not_overdue_at = Some(t0()),
                None => {}
            }
            if q.sort {
                filter.sort = desk_core::complaints::list::ListSort::Deadline;
            }
            let (items, _) = repo.list(&filter, |_| true, 3, None).await.expect("list");
            let (queries, entries, limit) = store.take();
            let want = due_expected(&all, &kinds, &f, &q, &Scope::All, t0());
            let ids: Vec<String> = items.iter().map(|c| c.id.clone()).collect();
            let contradiction = f.platform.is_some_and(|p| {
                f.account_id
                    .as_ref()
                    .is_some_and(|a| !kinds.iter().any(|(k, kp)| k == a && *kp == p))
                    || (f.sub_mchid.is_some() && p != DUE_TOY)
            });
            if contradiction {
                assert_eq!((queries, entries), (0, 0), "{f:?} {q:?}");
                assert!(want.is_empty());
                continue;
            }
            assert_eq!(
                (queries, limit),
                (1, 3),
                "one query of one page: {f:?} {q:?}"
            );
            if f.status.is_none() && f.since.is_none() && f.until.is_none() {
                assert_eq!(ids, want[..want.len().min(3)], "{f:?} {q:?}");
                assert_eq!(
                    entries,
                    items.len(),
                    "nothing read and thrown away: {f:?} {q:?}"
                );
            } else {
                // Status and received time are applied to the page read: what it keeps is a
                // prefix of the answer.
                assert_eq!(ids, want[..ids.len()], "{f:?} {q:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_parameters_are_checked_and_cursors_stay_in_their_list() {
    let d = due_desk().await;
    for (path, field) in [
        ("/admin/v1/complaints?overdue=yes", "overdue"),
        ("/admin/v1/complaints?due_before=tomorrow", "due_before"),
        ("/admin/v1/complaints?sort=soonest", "sort"),
        // An empty order is no order of the document's (as an empty status is no status).
        ("/admin/v1/complaints?sort=", "sort"),
        ("/admin/v1/complaints?overdue=true&sort=received", "sort"),
        (
            "/admin/v1/complaints?due_before=2026-11-02T00:00:00Z&sort=received",
            "sort",
        ),
    ] {
        let (s, body) = d.h.admin(Method::GET, path, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body.to_string().contains(field), "{path}: {body}");
    }
    // A cursor of one kind of list given to another: a clear 400, never another list's page.
    let first = |path: &str| {
        let path = path.to_string();
        let h = &d.h;
        async move {
            let (s, page) = h.admin(Method::GET, &path, None).await;
            assert_eq!(s, StatusCode::OK, "{path}: {page}");
            page["next_cursor"].as_str().expect("a cursor").to_string()
        }
    };
    let received = first(&format!("/admin/v1/complaints?limit=2&account={}", d.a)).await;
    let by_deadline = first(&format!(
        "/admin/v1/complaints?limit=2&account={}&sort=deadline",
        d.a
    ))
    .await;
    let overdue = first("/admin/v1/complaints?limit=2&overdue=true").await;
    for path in [
        format!(
            "/admin/v1/complaints?limit=2&account={}&sort=deadline&cursor={received}",
            d.a
        ),
        format!(
            "/admin/v1/complaints?limit=2&account={}&cursor={by_deadline}",
            d.a
        ),
        format!(
            "/admin/v1/complaints?limit=2&account={}&sort=deadline&cursor={by_deadline}",
            d.b
        ),
        format!(
            "/admin/v1/complaints?limit=2&overdue=true&account={}&cursor={overdue}",
            d.a
        ),
        // The overdue list's last position (due at t0 - 8 h) is not in the range of "due
        // before t0 - 9 h".
        format!(
            "/admin/v1/complaints?limit=2&due_before={}&cursor={overdue}",
            (t0() - chrono::Duration::hours(9)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    ] {
        let (s, body) = d.h.admin(Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
    // The overdue list's cursor continues the list it came from.
    let (s, _) =
        d.h.admin(
            Method::GET,
            &format!("/admin/v1/complaints?limit=2&overdue=true&cursor={overdue}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // "Not overdue" read page by page while time passes: the next page continues after the
    // first (whose last complaint may be overdue by now), it is not refused.
    let (s, page) =
        d.h.admin(
            Method::GET,
            "/admin/v1/complaints?limit=2&overdue=false",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let last_due = page["items"][1]["next_due_at"].clone();
    let cursor = page["next_cursor"].as_str().expect("a cursor").to_string();
    d.clock.advance(chrono::Duration::days(60));
    let (s, next) =
        d.h.admin(
            Method::GET,
            &format!("/admin/v1/complaints?limit=2&overdue=false&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{next}");
    let items = next["items"].as_array().expect("items");
    assert!(!items.is_empty(), "{next}");
    for c in items {
        let due = &c["next_due_at"];
        assert!(
            due.is_null() || due.as_str() >= last_due.as_str(),
            "{due} listed after {last_due}"
        );
    }
}

/// A toy complaint stored the way versions before deadlines stored it: no deadlines, no
/// `next_due_at`, only the keys of the received-order lists of version 1.
fn stored_before_deadlines(c: &Complaint) -> Item {
    let mut item = ComplaintRepo::complaint_item(c).expect("item");
    let mut data = serde_json::to_value(c).expect("json");
    if let Some(o) = data.as_object_mut() {
        o.remove("deadlines");
        o.remove("next_due_at");
        o.remove("platform_due_at");
        o.insert("deadline".into(), serde_json::Value::Null);
    }
    item.data = data;
    for n in 10..domain::ports::SECONDARY_INDEXES {
        item.indexes[n] = None;
    }
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_gives_complaints_stored_before_deadlines_theirs_and_keeps_the_received_lists_meanwhile()
 {
    let (h, _clock) = due_harness();
    let a = h
        .create(
            json!({"kind": "due_toy_provider", "name": "Shop", "settings": {"shop": "toy-old"}}),
        )
        .await;
    let records = h.state.ports.records.clone();
    // The lists of version 1 were ready.
    records
        .put(Item::new(
            desk_core::complaints::list::MARKER_PK,
            desk_core::complaints::list::MARKER_SK,
            json!({"version": 1, "done": true}),
        ))
        .await
        .expect("marker of version 1");
    let mut old = Vec::new();
    for i in 0..12 {
        let mut x = Complaint::new(
            desk_core::complaints::complaint_id(DUE_TOY, &a, &format!("old{i}")),
            DUE_TOY,
            None,
            a.clone(),
            format!("old{i}"),
            at(i),
        );
        // Due an hour before now (overdue), or in a day; the platform's field was stored.
        x.platform_due_at = Some(t0() + chrono::Duration::hours(if i % 2 == 0 { -1 } else { 24 }));
        let mut item = stored_before_deadlines(&x);
        item.data["platform_due_at"] = json!(x.platform_due_at);
        records.create(item).await.expect("old record");
        old.push(x);
    }
    let overdue_path = format!("/admin/v1/complaints?overdue=true&account={a}&limit=50");
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| c["id"].as_str().expect("id").to_string())
            .collect()
    };
    // Before: nothing is known to be due.
    let (s, page) = h.admin(Method::GET, &overdue_path, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(ids(&page).is_empty(), "{page}");

    // One step: version 2 is under way, the received-order lists keep their indexes, the
    // deadline lists take the older way.
    let mut p = desk_core::reindex::Progress::default();
    desk_core::reindex::step(&*records, 5, &mut p)
        .await
        .expect("step");
    assert_eq!((p.examined, p.rewritten), (5, 5));
    assert_eq!(
        desk_core::complaints::list::list_keys_version(&*records)
            .await
            .expect("marker"),
        1
    );
    let received = ComplaintFilter {
        account_id: Some(a.clone()),
        ..Default::default()
    };
    let by_deadline = ComplaintFilter {
        overdue_at: Some(t0()),
        ..received.clone()
    };
    assert!(
        desk_core::complaints::list::indexed(&*records, &received)
            .await
            .expect("ready")
    );
    assert!(
        !desk_core::complaints::list::indexed(&*records, &by_deadline)
            .await
            .expect("ready")
    );

    let rest = desk_core::reindex::run(&*records, 5)
        .await
        .expect("backfill");
    assert!(rest.done);
    assert_eq!(rest.rewritten, 7);
    assert!(list_keys_ready(&*records).await.expect("marker"));
    // After: each has its deadlines, and the overdue ones are listed, earliest first.
    let repo = ComplaintRepo::new(&*records);
    for x in &old {
        let (c, version) = repo.get(&x.id).await.expect("get").expect("kept");
        assert_eq!(c.deadlines.len(), 2, "{}", x.id);
        assert_eq!(c.next_due_at, x.platform_due_at, "{}", x.id);
        assert_eq!(c.deadline, c.next_due_at);
        assert_eq!(version, 2, "re-saved once, compare-and-set");
    }
    let (s, page) = h.admin(Method::GET, &overdue_path, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let mut want: Vec<String> = old
        .iter()
        .filter(|x| x.platform_due_at < Some(t0()))
        .map(|x| x.id.clone())
        .collect();
    want.sort();
    assert_eq!(ids(&page), want, "due at one time: by id");
    assert_eq!(want.len(), 6);
}
