//! On DynamoDB (moto server), every complaint, violation and delivery list path is a Query on
//! a named index with no FilterExpression, and nothing Scans: the requests the SDK sends are
//! recorded by an interceptor. The backfill refuses to switch the lists to indexes a table
//! lacks.

use aws::testing as moto;
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::scan::ScanInput;
use chrono::{TimeZone, Utc};
use desk_core::complaints::{
    ComplaintRepo, complaint_id, list::ComplaintFilter, list::list_keys_ready,
};
use domain::complaint::{Complaint, ComplaintStatus, Platform};
use domain::notification::{
    Audience, Channel, Delivery, DeliveryStatus, NotificationJob, NotificationSubject,
    NotificationSummary,
};
use domain::ports::{IndexKey, Item, RecordStore};
use std::sync::{Arc, Mutex};

/// One request as sent: a Query (its index and whether it filters) or a Scan.
#[derive(Debug, Clone, PartialEq)]
enum Request {
    Query {
        index: Option<String>,
        filtered: bool,
    },
    Scan,
}

#[derive(Debug, Default, Clone)]
struct Recorder(Arc<Mutex<Vec<Request>>>);

impl Recorder {
    fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "request recorder"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let request = if let Some(q) = input.downcast_ref::<QueryInput>() {
            Some(Request::Query {
                index: q.index_name().map(String::from),
                filtered: q.filter_expression().is_some() || q.query_filter().is_some(),
            })
        } else {
            input.downcast_ref::<ScanInput>().map(|_| Request::Scan)
        };
        if let Some(r) = request {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(r);
        }
        Ok(())
    }
}

async fn store(indexes: usize) -> (aws::DynamoRecordStore, Recorder) {
    let sdk = moto::sdk_config().await;
    let name = format!("records-{}", uuid::Uuid::new_v4().simple());
    aws::schema::create_table_with(&aws_sdk_dynamodb::Client::new(&sdk), &name, indexes)
        .await
        .expect("table");
    let recorder = Recorder::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(recorder.clone())
            .build(),
    );
    (aws::DynamoRecordStore::new(client, name), recorder)
}

fn complaint(i: i64) -> Complaint {
    let account = if i % 2 == 0 { "acc_a" } else { "acc_b" };
    let mut c = Complaint::new(
        complaint_id(Platform::Wechatpay, account, &format!("p{i}")),
        Platform::Wechatpay,
        None,
        account.into(),
        format!("p{i}"),
        Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0)
            .single()
            .expect("time")
            + chrono::Duration::minutes(i),
    );
    c.sub_mchid = (i % 3 == 0).then(|| "1900000201".to_string());
    c.status = if i % 4 == 0 {
        ComplaintStatus::Resolved
    } else {
        ComplaintStatus::Pending
    };
    c
}

fn filters() -> Vec<ComplaintFilter> {
    let mut out = Vec::new();
    for platform in [None, Some(Platform::Wechatpay), Some(Platform::Alipay)] {
        for account in [None, Some("acc_a")] {
            for sub in [None, Some("1900000201")] {
                for status in [None, Some(ComplaintStatus::Pending)] {
                    out.push(ComplaintFilter {
                        platform,
                        account_id: account.map(String::from),
                        sub_mchid: sub.map(String::from),
                        status,
                        since: Some(
                            Utc.with_ymd_and_hms(2026, 11, 1, 8, 3, 0)
                                .single()
                                .expect("time"),
                        ),
                        until: None,
                        ..Default::default()
                    });
                }
            }
        }
    }
    out
}

/// Every request a list sent was an unfiltered Query on a named index.
fn assert_index_queries(requests: &[Request], what: &str) {
    for r in requests {
        match r {
            Request::Query {
                index: Some(_),
                filtered: false,
            } => {}
            other => panic!("{what}: {other:?} in {requests:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_path_is_an_unfiltered_query_on_a_named_index() {
    let (store, recorder) = store(domain::ports::SECONDARY_INDEXES).await;
    let repo = ComplaintRepo::new(&store);
    for i in 0..12 {
        repo.save(&complaint(i), 0).await.expect("save");
    }
    // Before the backfill (the older list) and after it (one partition per filter).
    for ready in [false, true] {
        if ready {
            let p = desk_core::reindex::run(&store, 5).await.expect("backfill");
            assert_eq!(p.examined, 12);
            assert!(list_keys_ready(&store).await.expect("marker"));
            let backfill = recorder.take();
            assert!(!backfill.contains(&Request::Scan), "{backfill:?}");
        }
        recorder.take();
        for f in filters() {
            let mut cursor = None;
            let mut pages = 0;
            loop {
                let (_, next) = repo
                    .list(&f, |_| true, 2, cursor.take())
                    .await
                    .expect("list");
                pages += 1;
                let requests = recorder.take();
                assert_index_queries(&requests, &format!("{f:?} (ready: {ready})"));
                if ready {
                    assert!(
                        requests.len() <= 1,
                        "one query per page: {f:?} {requests:?}"
                    );
                }
                match next {
                    Some(c) if pages < 20 => cursor = Some(c),
                    _ => break,
                }
            }
        }
        for sub in [None, Some("1900000201")] {
            repo.list_violations("acc_a", sub, |_| true, 5, None)
                .await
                .expect("violations");
            let requests = recorder.take();
            assert_eq!(requests.len(), 1);
            assert_index_queries(&requests, "violations");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_on_a_table_without_the_list_indexes_keeps_the_older_lists() {
    let (store, _) = store(2).await;
    let repo = ComplaintRepo::new(&store);
    for i in 0..6 {
        repo.save(&complaint(i), 0).await.expect("save");
    }
    let err = desk_core::reindex::run(&store, 5)
        .await
        .expect_err("gsi3 is missing");
    assert!(
        matches!(err, desk_core::reindex::ReindexError::IndexMissing { .. }),
        "{err:?}"
    );
    assert!(!list_keys_ready(&store).await.expect("marker"));
    // The lists still answer (the older way).
    let f = ComplaintFilter {
        status: Some(ComplaintStatus::Resolved),
        ..Default::default()
    };
    let (items, _) = repo.list(&f, |_| true, 10, None).await.expect("list");
    let want: Vec<String> = (0..6)
        .rev()
        .map(complaint)
        .filter(|c| c.status == ComplaintStatus::Resolved)
        .map(|c| c.id)
        .collect();
    assert_eq!(items.into_iter().map(|c| c.id).collect::<Vec<_>>(), want);
}

/// A delivery of one of two accounts (with a sub-merchant or not), in one of four statuses.
fn delivery(i: i64) -> Delivery {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 1, 8, 0, 0)
        .single()
        .expect("time")
        + chrono::Duration::minutes(i);
    Delivery {
        id: format!("dlv_{i:03}"),
        job_id: format!("job_{i:03}"),
        channel: Channel::Email,
        recipients: vec!["ops@example.com".into()],
        idempotency_key: format!("event-{i}|email"),
        status: [
            DeliveryStatus::Pending,
            DeliveryStatus::Retrying,
            DeliveryStatus::Sent,
            DeliveryStatus::Failed,
        ][(i % 4) as usize],
        attempts: 1,
        last_error: None,
        results: Default::default(),
        subject: Some(NotificationSubject::Complaint {
            complaint_id: format!("cmp_{i}"),
        }),
        audience: Some(Audience {
            account_id: if i % 2 == 0 { "acc_a" } else { "acc_b" }.into(),
            sub_mchid: (i % 3 == 0).then(|| "1900000201".to_string()),
        }),
        folded: vec![],
        created_at: at,
        updated_at: at,
    }
}

/// A delivery as the version before the delivery list keys stored it (everyone's partition
/// and its subject's), with its notification job beside it.
fn old_delivery(d: &Delivery) -> Item {
    let sort = format!(
        "{}#{}",
        d.created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        d.id
    );
    let audience = d.audience.clone().expect("audience");
    let mut data = serde_json::to_value(d).expect("json");
    data["job"] = serde_json::to_value(NotificationJob {
        id: d.job_id.clone(),
        event_key: d.idempotency_key.clone(),
        audience,
        subject: d.subject.clone().expect("subject"),
        summary: NotificationSummary {
            platform: "wechatpay".into(),
            event: "new complaint".into(),
            merchant: "Shop".into(),
            reference: "ref".into(),
            at: d.created_at,
            amount_fen: None,
            user_text: None,
            deadline: None,
            link: None,
            extra_lines: vec![],
        },
        created_at: d.created_at,
        extra_recipients: None,
        only_channels: None,
    })
    .expect("job");
    Item::new(format!("DELIVERY#{}", d.id), "META", data)
        .with_gsi1(IndexKey::new("DELIVERIES", sort.clone()))
        .with_gsi2(IndexKey::new(format!("DELIVERIES#C#cmp_{}", d.id), sort))
}

/// The token scope of (account, sub-merchant): `all` when no account.
fn scope_of(account: Option<&str>, sub: Option<&str>) -> domain::token::TokenScope {
    use domain::token::TokenScope;
    match (account, sub) {
        (None, _) => TokenScope::All,
        (Some(a), None) => TokenScope::Account {
            account_id: a.into(),
        },
        (Some(a), Some(s)) => TokenScope::SubMerchant {
            account_id: a.into(),
            sub_mchid: s.into(),
        },
    }
}

/// (account, sub-merchant) of each token scope, and the statuses the list offers.
fn delivery_lists() -> Vec<(
    Option<&'static str>,
    Option<&'static str>,
    Option<DeliveryStatus>,
)> {
    let mut out = Vec::new();
    for (account, sub) in [
        (None, None),
        (Some("acc_a"), None),
        (Some("acc_a"), Some("1900000201")),
        (Some("acc_b"), Some("1900000201")),
    ] {
        for status in [
            None,
            Some(DeliveryStatus::Pending),
            Some(DeliveryStatus::Failed),
        ] {
            out.push((account, sub, status));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_list_path_is_an_unfiltered_query_on_a_named_index() {
    let (store, recorder) = store(domain::ports::SECONDARY_INDEXES).await;
    let all: Vec<Delivery> = (0..14).map(delivery).collect();
    for d in &all {
        store.create(old_delivery(d)).await.expect("old delivery");
    }
    // Before the backfill (the older list) and after it (one partition per scope and status).
    for ready in [false, true] {
        if ready {
            let p = desk_core::reindex::run(&store, 5).await.expect("backfill");
            assert_eq!((p.deliveries_examined, p.deliveries_rewritten), (14, 14));
            assert!(
                desk_core::deliveries::delivery_keys_ready(&store)
                    .await
                    .expect("marker")
            );
            let backfill = recorder.take();
            assert!(!backfill.contains(&Request::Scan), "{backfill:?}");
        }
        recorder.take();
        for (account, sub, status) in delivery_lists() {
            let what = format!("{account:?} {sub:?} {status:?} (ready: {ready})");
            let mut cursor = None;
            let mut got = Vec::new();
            for _ in 0..20 {
                let (items, next) = desk_core::deliveries::list_deliveries(
                    &store,
                    &scope_of(account, sub),
                    status,
                    2,
                    cursor.take(),
                )
                .await
                .expect("list");
                let requests = recorder.take();
                assert_index_queries(&requests, &what);
                assert_eq!(requests.len(), 1, "one query per page: {what} {requests:?}");
                if ready {
                    assert!(items.len() == 2 || next.is_none(), "a full page: {what}");
                }
                got.extend(items.into_iter().map(|d| d.id));
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            let want: Vec<String> = all
                .iter()
                .rev()
                .filter(|d| {
                    let a = d.audience.as_ref().expect("audience");
                    status.is_none_or(|s| d.status == s)
                        && account.is_none_or(|x| a.account_id == x)
                        && sub.is_none_or(|x| a.sub_mchid.as_deref() == Some(x))
                })
                .map(|d| d.id.clone())
                .collect();
            assert_eq!(got, want, "{what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_backfill_on_a_table_without_the_list_indexes_keeps_the_older_list() {
    let (store, _) = store(2).await;
    // The complaints' backfill is done; the deliveries' indexes are missing.
    store
        .put(Item::new(
            desk_core::complaints::list::MARKER_PK,
            desk_core::complaints::list::MARKER_SK,
            serde_json::json!({"version": desk_core::complaints::list::LIST_KEYS_VERSION, "done": true}),
        ))
        .await
        .expect("complaint marker");
    let all: Vec<Delivery> = (0..6).map(delivery).collect();
    for d in &all {
        store.create(old_delivery(d)).await.expect("old delivery");
    }
    let err = desk_core::reindex::run(&store, 5)
        .await
        .expect_err("gsi3 is missing");
    assert!(
        matches!(
            err,
            desk_core::reindex::ReindexError::IndexMissing {
                index: domain::ports::Index::Gsi3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        !desk_core::deliveries::delivery_keys_ready(&store)
            .await
            .expect("marker")
    );
    let (items, _) = desk_core::deliveries::list_deliveries(
        &store,
        &scope_of(Some("acc_a"), None),
        None,
        10,
        None,
    )
    .await
    .expect("list");
    let want: Vec<String> = all
        .iter()
        .rev()
        .filter(|d| d.audience.as_ref().is_some_and(|a| a.account_id == "acc_a"))
        .map(|d| d.id.clone())
        .collect();
    assert_eq!(items.into_iter().map(|d| d.id).collect::<Vec<_>>(), want);
}

/// A platform of this test whose deadline rules it declares: a complaint is due at its
/// `platform_due_at` (nothing due without one, or once replied).
const DUE_TOY: Platform = Platform::new("due_toy_moto");

struct DueAtField;

impl domain::deadline::DeadlineRules for DueAtField {
    fn deadlines(&self, c: &Complaint) -> Vec<domain::deadline::Deadline> {
        c.platform_due_at
            .map(|due| domain::deadline::Deadline {
                what: "reply".into(),
                label: "reply".into(),
                starts_at: c.received_at,
                due_at: due,
                source: domain::deadline::DeadlineSource {
                    kind: domain::deadline::DeadlineSourceKind::Estimate,
                    detail: "test".into(),
                },
                consequence: String::new(),
                met_at: c.replied.then_some(c.updated_at),
                counted: None,
            })
            .into_iter()
            .collect()
    }
}

/// (account, sub-merchant, platform) of a list.
type Scope = (Option<&'static str>, Option<&'static str>, Option<Platform>);

/// What a deadline filter keeps, by brute force.
type Keep = Box<dyn Fn(&Complaint) -> bool>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_deadline_query_is_one_unfiltered_query_on_its_deadline_index() {
    use desk_core::complaints::list::ListSort;
    domain::deadline::declare(DUE_TOY, Arc::new(DueAtField));
    let (store, recorder) = store(domain::ports::SECONDARY_INDEXES).await;
    let repo = ComplaintRepo::new(&store);
    let now = Utc
        .with_ymd_and_hms(2026, 11, 2, 8, 0, 0)
        .single()
        .expect("time");
    let mut all = Vec::new();
    for i in 0..14i64 {
        let mut c = complaint(i);
        c.id = complaint_id(DUE_TOY, &c.account_id, &format!("d{i}"));
        c.platform = DUE_TOY;
        c.platform_due_at = (i % 5 != 4).then(|| now + chrono::Duration::hours(i % 7 - 3));
        c.replied = i % 6 == 1;
        repo.save(&c, 0).await.expect("save");
        all.push(repo.get(&c.id).await.expect("get").expect("stored").0);
    }
    desk_core::reindex::run(&store, 5).await.expect("backfill");
    assert!(list_keys_ready(&store).await.expect("marker"));
    recorder.take();
    // (account, sub-merchant, platform) and the index of that scope.
    let scopes: [(Scope, &str); 5] = [
        ((None, None, None), "gsi11"),
        ((Some("acc_a"), None, None), "gsi12"),
        ((None, None, Some(DUE_TOY)), "gsi13"),
        ((Some("acc_a"), Some("1900000201"), None), "gsi14"),
        ((None, Some("1900000201"), None), "gsi15"),
    ];
    let due = |c: &Complaint| c.next_due_at;
    for ((account, sub, platform), gsi) in scopes {
        let variants: Vec<(ComplaintFilter, Keep)> = vec![
            (
                ComplaintFilter {
                    sort: ListSort::Deadline,
                    ..Default::default()
                },
                Box::new(|_| true),
            ),
            (
                ComplaintFilter {
                    overdue_at: Some(now),
                    ..Default::default()
                },
                Box::new(move |c| due(c).is_some_and(|d| d < now)),
            ),
            (
                ComplaintFilter {
                    not_overdue_at: Some(now),
                    ..Default::default()
                },
                Box::new(move |c| due(c).is_none_or(|d| d >= now)),
            ),
            (
                ComplaintFilter {
                    due_before: Some(now + chrono::Duration::hours(1)),
                    overdue_at: Some(now),
                    ..Default::default()
                },
                Box::new(move |c| due(c).is_some_and(|d| d < now)),
            ),
            (
                ComplaintFilter {
                    due_before: Some(now + chrono::Duration::hours(1)),
                    not_overdue_at: Some(now),
                    ..Default::default()
                },
                Box::new(move |c| {
                    due(c).is_some_and(|d| d >= now && d <= now + chrono::Duration::hours(1))
                }),
            ),
        ];
        for (deadline, keep) in variants {
            let f = ComplaintFilter {
                account_id: account.map(String::from),
                sub_mchid: sub.map(String::from),
                platform,
                ..deadline
            };
            let mut got = Vec::new();
            let mut cursor = None;
            for _ in 0..20 {
                let (items, next) = repo
                    .list(&f, |_| true, 2, cursor.take())
                    .await
                    .expect("list");
                let requests = recorder.take();
                assert_eq!(
                    requests,
                    [Request::Query {
                        index: Some(gsi.to_string()),
                        filtered: false,
                    }],
                    "exactly one Query on {gsi}: {f:?}"
                );
                got.extend(items.into_iter().map(|c| c.id));
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            let mut want: Vec<&Complaint> = all
                .iter()
                .filter(|c| {
                    account.is_none_or(|a| c.account_id == a)
                        && sub.is_none_or(|s| c.sub_mchid.as_deref() == Some(s))
                        && keep(c)
                })
                .collect();
            want.sort_by_key(|c| match c.next_due_at {
                Some(d) => (0, d, c.id.clone()),
                None => (1, c.received_at, c.id.clone()),
            });
            let want: Vec<String> = want.into_iter().map(|c| c.id.clone()).collect();
            assert_eq!(got, want, "{f:?}");
        }
    }
}

/// A stack that has the indexes of version 1 only (`ListIndexes=8`): the backfill re-saves
/// every complaint but refuses to declare the deadline lists ready while gsi11 is missing;
/// meanwhile the received-order lists keep their indexes and the deadline lists take the
/// older way (index queries still, never a Scan).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_on_a_table_without_the_deadline_indexes_keeps_the_received_lists_indexed() {
    use desk_core::complaints::list::{ListSort, MARKER_PK, MARKER_SK, list_keys_version};
    let (store, recorder) = store(10).await;
    store
        .put(Item::new(
            MARKER_PK,
            MARKER_SK,
            serde_json::json!({"version": 1, "done": true}),
        ))
        .await
        .expect("marker of version 1");
    let repo = ComplaintRepo::new(&store);
    for i in 0..6 {
        repo.save(&complaint(i), 0).await.expect("save");
    }
    let err = desk_core::reindex::run(&store, 5)
        .await
        .expect_err("gsi11 is missing");
    assert!(
        matches!(
            err,
            desk_core::reindex::ReindexError::IndexMissing {
                index: domain::ports::Index::Gsi11,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(list_keys_version(&store).await.expect("marker"), 1);
    recorder.take();
    let pending = ComplaintFilter {
        status: Some(ComplaintStatus::Pending),
        ..Default::default()
    };
    repo.list(&pending, |_| true, 2, None).await.expect("list");
    assert_eq!(
        recorder.take(),
        [Request::Query {
            index: Some("gsi3".into()),
            filtered: false,
        }]
    );
    let by_deadline = ComplaintFilter {
        sort: ListSort::Deadline,
        ..Default::default()
    };
    let (items, _) = repo
        .list(&by_deadline, |_| true, 10, None)
        .await
        .expect("list");
    assert_eq!(items.len(), 6, "the older way: every complaint");
    let requests = recorder.take();
    assert_index_queries(&requests, "the older deadline list");
    assert!(
        requests
            .iter()
            .all(|r| matches!(r, Request::Query { index: Some(i), .. } if i == "gsi2")),
        "{requests:?}"
    );
}
