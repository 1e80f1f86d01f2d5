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
    assert_eq!(stored, changed, "the concurrent update was not overwritten");
    assert_eq!(version, 2);

    // Every complaint has the keys this version gives it; documents are as they were.
    let mut now = all.clone();
    for x in now.iter_mut() {
        if x.id == changed.id {
            *x = changed.clone();
        }
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
