//! The deliveries list (`GET /admin/v1/deliveries`): every token scope and status filter
//! answers from one index partition, newest first, in full pages; a page is one query that
//! reads nothing it throws away; every save of a delivery writes the keys of its current
//! status; the backfill gives deliveries of the older key shape their keys without
//! overwriting a concurrent update.

mod common;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use common::{ADMIN, Harness, harness, harness_over, provider_body};
use domain::job::{JobEnvelope, queues};
use domain::notification::{
    Audience, Channel, Delivery, DeliveryStatus, NotificationJob, NotificationSubject,
    NotificationSummary,
};
use domain::ports::{IndexKey, Item, Page, Query, RecordStore, StoreError, Write, WriteOutcome};
use domain::token::TokenScope;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const S1: &str = "1900000201";
const S2: &str = "1900000202";
const STATUSES: [DeliveryStatus; 4] = [
    DeliveryStatus::Pending,
    DeliveryStatus::Retrying,
    DeliveryStatus::Sent,
    DeliveryStatus::Failed,
];

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0)
        .single()
        .expect("time")
        + chrono::Duration::minutes(minute)
}

fn status_str(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Retrying => "retrying",
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Failed => "failed",
    }
}

fn job(audience: &Audience, subject: &NotificationSubject, n: i64) -> NotificationJob {
    NotificationJob {
        id: format!("job_{n:03}"),
        event_key: format!("event-{n}"),
        audience: audience.clone(),
        subject: subject.clone(),
        summary: NotificationSummary {
            platform: "wechatpay".into(),
            event: "new complaint".into(),
            merchant: "Shop".into(),
            reference: format!("2002{n:023}"),
            at: at(n),
            amount_fen: Some(100),
            user_text: None,
            deadline: None,
            link: None,
            extra_lines: vec![],
        },
        created_at: at(n),
        extra_recipients: None,
        only_channels: None,
    }
}

/// 48 deliveries over two accounts, their sub-merchants (and none), four statuses, and a few
/// without an audience; minute `i / 2`, so pairs share a creation time (and sort by id).
fn deliveries(a: &str, b: &str) -> Vec<Delivery> {
    (0..48)
        .map(|i| {
            let audience = match i % 6 {
                0 => Some((a, None)),
                1 => Some((a, Some(S1))),
                2 => Some((a, Some(S2))),
                3 => Some((b, None)),
                4 => Some((b, Some(S1))),
                _ => None,
            }
            .map(|(account, sub)| Audience {
                account_id: account.to_string(),
                sub_mchid: sub.map(String::from),
            });
            Delivery {
                id: format!("dlv_{:03}", (i * 7) % 48),
                job_id: format!("job_{i:03}"),
                channel: Channel::Email,
                recipients: vec!["ops@example.com".into()],
                idempotency_key: format!("event-{i}|email"),
                status: STATUSES[(i as usize / 5) % 4],
                attempts: 1,
                last_error: None,
                results: Default::default(),
                subject: Some(NotificationSubject::Complaint {
                    complaint_id: format!("cmp_{}", i % 4),
                }),
                audience,
                folded: vec![],
                created_at: at(i / 2),
                updated_at: at(i / 2),
            }
        })
        .collect()
}

/// A delivery as the version before the list keys stored it: everyone's partition and its
/// subject's only, with the notification job beside it.
fn old_shape(d: &Delivery) -> Item {
    let sort = format!(
        "{}#{}",
        d.created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        d.id
    );
    let mut data = serde_json::to_value(d).expect("json");
    let audience = d.audience.clone().unwrap_or(Audience {
        account_id: "acc_gone".into(),
        sub_mchid: None,
    });
    let subject = d.subject.clone().expect("subject");
    data["job"] = serde_json::to_value(job(&audience, &subject, 1)).expect("job");
    let NotificationSubject::Complaint { complaint_id } = &subject else {
        unreachable!("complaint subjects only")
    };
    Item::new(format!("DELIVERY#{}", d.id), "META", data)
        .with_gsi1(IndexKey::new("DELIVERIES", sort.clone()))
        .with_gsi2(IndexKey::new(format!("DELIVERIES#C#{complaint_id}"), sort))
}

#[derive(Clone, Debug)]
enum Scope {
    All,
    Account(String),
    Sub(String, String),
}

struct Desk {
    h: Harness,
    deliveries: Vec<Delivery>,
    /// Each scope and a token of it.
    scopes: Vec<(Scope, String)>,
}

async fn accounts(h: &Harness) -> (String, String) {
    let a = h.create(provider_body("1900000109")).await;
    let b = h.create(provider_body("1900000110")).await;
    for acc in [&a, &b] {
        for sub in [S1, S2] {
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
    (a, b)
}

async fn scopes(h: &Harness, a: &str, b: &str) -> Vec<(Scope, String)> {
    let mut out = vec![(Scope::All, ADMIN.to_string())];
    for acc in [a, b] {
        out.push((
            Scope::Account(acc.to_string()),
            h.token(json!({"type": "account", "account_id": acc})).await,
        ));
        for sub in [S1, S2] {
            out.push((
                Scope::Sub(acc.to_string(), sub.to_string()),
                h.token(json!({"type": "sub_merchant", "account_id": acc, "sub_mchid": sub}))
                    .await,
            ));
        }
    }
    out
}

/// Deliveries stored in the older shape, then backfilled (as an upgraded desk has them).
async fn desk_over(h: Harness) -> Desk {
    let (a, b) = accounts(&h).await;
    let all = deliveries(&a, &b);
    for d in &all {
        h.state
            .ports
            .records
            .create(old_shape(d))
            .await
            .expect("old delivery");
    }
    let p = desk_core::reindex::run(&*h.state.ports.records, 7)
        .await
        .expect("backfill");
    assert!(p.done);
    assert_eq!((p.deliveries_examined, p.deliveries_rewritten), (48, 48));
    let scopes = scopes(&h, &a, &b).await;
    Desk {
        h,
        deliveries: all,
        scopes,
    }
}

/// What a list must answer: the deliveries the scope covers in the status, newest first.
/// Deliveries without an audience: scope `all` only.
fn expected(all: &[Delivery], scope: &Scope, status: Option<DeliveryStatus>) -> Vec<String> {
    let mut hits: Vec<&Delivery> = all
        .iter()
        .filter(|d| {
            status.is_none_or(|s| d.status == s)
                && match (scope, &d.audience) {
                    (Scope::All, _) => true,
                    (_, None) => false,
                    (Scope::Account(a), Some(x)) => &x.account_id == a,
                    (Scope::Sub(a, s), Some(x)) => {
                        &x.account_id == a && x.sub_mchid.as_deref() == Some(s.as_str())
                    }
                }
        })
        .collect();
    hits.sort_by(|x, y| (y.created_at, &y.id).cmp(&(x.created_at, &x.id)));
    hits.into_iter().map(|d| d.id.clone()).collect()
}

fn path(status: Option<DeliveryStatus>, limit: u32, cursor: Option<&str>) -> String {
    let mut q = vec![format!("limit={limit}")];
    if let Some(s) = status {
        q.push(format!("status={}", status_str(s)));
    }
    if let Some(c) = cursor {
        q.push(format!("cursor={c}"));
    }
    format!("/admin/v1/deliveries?{}", q.join("&"))
}

/// Page through a list; every page but the last is full.
async fn pages(
    h: &Harness,
    token: &str,
    status: Option<DeliveryStatus>,
    limit: u32,
) -> Vec<String> {
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..60 {
        let (s, page) = h
            .call(
                Method::GET,
                &path(status, limit, cursor.as_deref()),
                Some(token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let items = page["items"].as_array().expect("items");
        let next = page["next_cursor"].as_str().map(String::from);
        assert!(
            items.len() == limit as usize || next.is_none(),
            "a short page with a cursor ({status:?}): {page}"
        );
        got.extend(
            items
                .iter()
                .map(|d| d["id"].as_str().expect("id").to_string()),
        );
        match next {
            Some(c) => cursor = Some(c),
            None => return got,
        }
    }
    panic!("too many pages");
}

fn status_filters() -> Vec<Option<DeliveryStatus>> {
    std::iter::once(None)
        .chain(STATUSES.into_iter().map(Some))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scope_and_status_lists_its_deliveries_newest_first_in_full_pages() {
    let d = desk_over(harness()).await;
    let mut non_empty = 0;
    for status in status_filters() {
        for (scope, token) in &d.scopes {
            let want = expected(&d.deliveries, scope, status);
            let got = pages(&d.h, token, status, 3).await;
            assert_eq!(got, want, "{scope:?} {status:?}");
            non_empty += usize::from(!want.is_empty());
        }
    }
    assert!(non_empty >= 30, "the cases select something: {non_empty}");
    // Deliveries without an audience are in scope `all`'s lists only.
    let orphans: Vec<String> = d
        .deliveries
        .iter()
        .filter(|x| x.audience.is_none())
        .map(|x| x.id.clone())
        .collect();
    assert!(!orphans.is_empty());
    let everyone = pages(&d.h, ADMIN, None, 50).await;
    assert!(orphans.iter().all(|o| everyone.contains(o)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_or_altered_cursor_is_refused() {
    let d = desk_over(harness()).await;
    let account = &d.scopes[1].1;
    let (_, page) =
        d.h.call(Method::GET, &path(None, 2, None), Some(account), None)
            .await;
    let cursor = page["next_cursor"].as_str().expect("cursor").to_string();
    for (token, status, c) in [
        (ADMIN, None, cursor.clone()),
        (account.as_str(), Some(DeliveryStatus::Sent), cursor.clone()),
        (account.as_str(), None, format!("{cursor}x")),
    ] {
        let (s, body) =
            d.h.call(Method::GET, &path(status, 2, Some(&c)), Some(token), None)
                .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    }
}

/// Counts the queries a list makes and the index entries they read.
struct Counting {
    inner: Arc<dyn RecordStore>,
    queries: AtomicUsize,
    entries: AtomicUsize,
    largest_limit: AtomicUsize,
}

impl Counting {
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
async fn a_list_page_is_one_query_that_reads_only_what_it_answers() {
    let counting: Arc<std::sync::OnceLock<Arc<Counting>>> = Arc::default();
    let slot = counting.clone();
    let h = harness_over(None, move |mut p| {
        let c = Arc::new(Counting {
            inner: p.records.clone(),
            queries: AtomicUsize::new(0),
            entries: AtomicUsize::new(0),
            largest_limit: AtomicUsize::new(0),
        });
        let _ = slot.set(c.clone());
        p.records = c;
        p
    });
    let d = desk_over(h).await;
    let store = counting.get().expect("counting store");
    for status in status_filters() {
        for (scope, token) in &d.scopes {
            let want = expected(&d.deliveries, scope, status);
            let mut cursor: Option<String> = None;
            let mut seen = 0;
            loop {
                store.take();
                let (s, page) =
                    d.h.call(
                        Method::GET,
                        &path(status, 4, cursor.as_deref()),
                        Some(token),
                        None,
                    )
                    .await;
                assert_eq!(s, StatusCode::OK, "{page}");
                let items = page["items"].as_array().expect("items").len();
                let (queries, entries, limit) = store.take();
                assert_eq!(queries, 1, "one query per page: {scope:?} {status:?}");
                assert_eq!(limit, 4, "of one page: {scope:?} {status:?}");
                assert_eq!(
                    entries, items,
                    "nothing read and thrown away: {scope:?} {status:?}"
                );
                seen += items;
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
            assert_eq!(seen, want.len(), "{scope:?} {status:?}");
        }
    }
}

/// Runs `interfere` once, just before the first update of `pk` reaches the store (a notifier
/// getting in between the backfill's read and its write).
struct Interfering {
    inner: Arc<dyn RecordStore>,
    pk: String,
    interfere: tokio::sync::Mutex<Option<Value>>,
}

impl Interfering {
    /// What the notifier writes: the new status with the keys of this version.
    async fn notifier_writes(&self, item: &Item, changed: Value, version: u64) {
        let d: Delivery = serde_json::from_value(changed.clone()).expect("delivery");
        let mut now = Item::new(&item.pk, &item.sk, changed);
        now.indexes = desk_core::deliveries::delivery_indexes(&d);
        self.inner
            .update(now, version)
            .await
            .expect("concurrent update");
    }
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
            self.notifier_writes(&item, changed, v).await;
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
                self.notifier_writes(item, changed, *expected_version).await;
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

async fn list_ids(
    records: &dyn RecordStore,
    scope: &Scope,
    status: Option<DeliveryStatus>,
) -> Vec<String> {
    let scope = match scope {
        Scope::All => TokenScope::All,
        Scope::Account(a) => TokenScope::Account {
            account_id: a.clone(),
        },
        Scope::Sub(a, s) => TokenScope::SubMerchant {
            account_id: a.clone(),
            sub_mchid: s.clone(),
        },
    };
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let (items, next) =
            desk_core::deliveries::list_deliveries(records, &scope, status, 100, cursor)
                .await
                .expect("list");
        out.extend(items.into_iter().map(|d| d.id));
        match next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_keys_deliveries_of_the_old_shape_resumably_without_overwriting_updates() {
    let h = harness();
    let (a, b) = accounts(&h).await;
    let all = deliveries(&a, &b);
    let records = h.state.ports.records.clone();
    for d in &all {
        records.create(old_shape(d)).await.expect("old delivery");
    }
    let scopes = [
        Scope::All,
        Scope::Account(a.clone()),
        Scope::Sub(a.clone(), S1.into()),
        Scope::Sub(b.clone(), S2.into()),
    ];
    // Before the backfill: the lists are right (the older way, filtered after).
    assert!(
        !desk_core::deliveries::delivery_keys_ready(&*records)
            .await
            .expect("marker")
    );
    for scope in &scopes {
        for status in status_filters() {
            assert_eq!(
                list_ids(&*records, scope, status).await,
                expected(&all, scope, status),
                "{scope:?} {status:?}"
            );
        }
    }

    // The complaints' step (nothing to do), then one step of 10 deliveries and a stop: the
    // marker holds the position, the lists still take the older way.
    let mut p = desk_core::reindex::Progress::default();
    desk_core::reindex::step(&*records, 10, &mut p)
        .await
        .expect("step");
    assert_eq!((p.examined, p.deliveries_examined, p.done), (0, 0, false));
    desk_core::reindex::step(&*records, 10, &mut p)
        .await
        .expect("step");
    assert_eq!(
        (p.deliveries_examined, p.deliveries_rewritten, p.done),
        (10, 10, false)
    );
    assert!(
        !desk_core::deliveries::delivery_keys_ready(&*records)
            .await
            .expect("marker")
    );

    // The rest, with the notifier sending a delivery the backfill has not keyed yet between
    // the backfill's read and its write: the new status stays, with its own keys.
    let target = all
        .iter()
        .find(|d| d.created_at > at(5) && d.status == DeliveryStatus::Pending)
        .expect("a pending delivery the first step did not reach")
        .clone();
    let stored = records
        .get(&format!("DELIVERY#{}", target.id), "META")
        .await
        .expect("get")
        .expect("present");
    let mut changed = target.clone();
    changed.status = DeliveryStatus::Sent;
    changed.attempts = 2;
    let mut changed_data = serde_json::to_value(&changed).expect("json");
    changed_data["job"] = stored.data["job"].clone();
    let interfering = Interfering {
        inner: records.clone(),
        pk: format!("DELIVERY#{}", target.id),
        interfere: tokio::sync::Mutex::new(Some(changed_data.clone())),
    };
    let rest = desk_core::reindex::run(&interfering, 10)
        .await
        .expect("backfill");
    assert!(rest.done);
    assert_eq!(rest.deliveries_examined, 38);
    assert!(
        interfering.interfere.lock().await.is_none(),
        "the update happened"
    );
    let now_stored = records
        .get(&format!("DELIVERY#{}", target.id), "META")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        now_stored.data, changed_data,
        "the concurrent update was not overwritten"
    );
    assert_eq!(now_stored.version, 2);

    // Every delivery has the keys this version gives it; documents are as they were.
    let mut now = all.clone();
    for d in now.iter_mut() {
        if d.id == changed.id {
            *d = changed.clone();
        }
    }
    for d in &now {
        let item = records
            .get(&format!("DELIVERY#{}", d.id), "META")
            .await
            .expect("get")
            .expect("present");
        assert_eq!(
            item.indexes,
            desk_core::deliveries::delivery_indexes(d),
            "{}",
            d.id
        );
        let want = if d.id == changed.id {
            changed_data.clone()
        } else {
            old_shape(d).data
        };
        assert_eq!(item.data, want, "{}", d.id);
    }
    assert!(
        desk_core::deliveries::delivery_keys_ready(&*records)
            .await
            .expect("marker")
    );
    for scope in &scopes {
        for status in status_filters() {
            assert_eq!(
                list_ids(&*records, scope, status).await,
                expected(&now, scope, status),
                "{scope:?} {status:?}"
            );
        }
    }
    // Again: nothing to do.
    let again = desk_core::reindex::run(&*records, 10).await.expect("again");
    assert_eq!(
        (
            again.deliveries_examined,
            again.deliveries_rewritten,
            again.done
        ),
        (0, 0, true)
    );
}

/// Run the job with its registered handler.
async fn run_job(registry: &desk_core::worker::JobRegistry, job: &JobEnvelope) {
    let handler = registry.get(&job.job_type).expect("handler");
    handler.handle(job).await.expect("job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_save_of_a_delivery_writes_the_keys_of_its_current_status() {
    let sim = sandbox::notify::NotifySim::start()
        .await
        .expect("simulator");
    let h = harness();
    let (a, b) = accounts(&h).await;
    // Lists are ready on a desk that starts empty.
    assert!(
        desk_core::reindex::run(&*h.state.ports.records, 10)
            .await
            .expect("backfill")
            .done
    );
    // Three bots for the account's staff: one the simulator knows (sent), one it refuses
    // (failed), one nobody listens for (retrying); one known bot for a sub-merchant's staff.
    let down = format!(
        "http://127.0.0.1:{}/wecom/send?key=down",
        common::free_port()
    );
    let bot = |id: &str, url: &str| json!({"id": id, "kind": "wecom", "webhook_url": url});
    let (s, body) = h
        .admin(
            Method::PUT,
            &format!("/admin/v1/accounts/{a}/notifications"),
            Some(json!({"bots": [
                bot("ok", &sim.add_bot("wecom", "tok-ok", None)),
                bot("refused", &format!("http://{}/wecom/send?key=unknown", sim.addr)),
                bot("down", &down),
            ]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = h
        .admin(
            Method::PUT,
            &format!("/admin/v1/accounts/{a}/sub-merchants/{S1}/notifications"),
            Some(json!({"bots": [bot("sub-ok", &sim.add_bot("wecom", "tok-sub", None))]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let scopes = scopes(&h, &a, &b).await;

    let subject = NotificationSubject::Complaint {
        complaint_id: "cmp_1".into(),
    };
    let registry = desk_core::policy::registry(&h.state, h.state.platforms());
    for (n, sub) in [(1, None), (2, Some(S1))] {
        let audience = Audience {
            account_id: a.clone(),
            sub_mchid: sub.map(String::from),
        };
        let envelope = domain::job::notify::STAFF
            .envelope(&job(&audience, &subject, n), Utc::now())
            .expect("job");
        run_job(&registry, &envelope).await;
    }
    // Four pending deliveries: three of the account's staff, one of the sub-merchant's.
    let listed = |status: Option<DeliveryStatus>| {
        let h = &h;
        let scopes = &scopes;
        async move {
            let mut out = Vec::new();
            for (scope, token) in scopes {
                let mut ids = pages(h, token, status, 2).await;
                ids.sort();
                out.push((scope.clone(), ids));
            }
            out
        }
    };
    let all_ids = |h: &Harness| {
        let records = h.state.ports.records.clone();
        async move {
            let page = records
                .query(&Query::partition(domain::ports::Index::Gsi1, "DELIVERIES").limit(100))
                .await
                .expect("query");
            page.items
                .into_iter()
                .map(|i| serde_json::from_value::<Delivery>(i.data).expect("delivery"))
                .collect::<Vec<_>>()
        }
    };
    let pending = all_ids(&h).await;
    assert_eq!(pending.len(), 4);
    assert!(pending.iter().all(|d| d.status == DeliveryStatus::Pending));
    let check = |now: Vec<Delivery>| {
        let listed = &listed;
        async move {
            for status in status_filters() {
                let got = listed(status).await;
                for (scope, ids) in got {
                    let mut want = expected(&now, &scope, status);
                    want.sort();
                    assert_eq!(ids, want, "{scope:?} {status:?}");
                }
            }
        }
    };
    check(pending.clone()).await;

    // Each delivery sent once: its record moves to the partitions of its new status.
    for envelope in h.queued_jobs(queues::NOTIFY).await {
        run_job(&registry, &envelope).await;
    }
    let now = all_ids(&h).await;
    let status_of = |bot: &str| {
        now.iter()
            .find(|d| d.recipients == vec![bot.to_string()])
            .map(|d| d.status)
            .expect("delivery")
    };
    assert_eq!(status_of("ok"), DeliveryStatus::Sent);
    assert_eq!(status_of("sub-ok"), DeliveryStatus::Sent);
    assert_eq!(status_of("refused"), DeliveryStatus::Failed);
    assert_eq!(status_of("down"), DeliveryStatus::Retrying);
    check(now).await;
}
