//! On DynamoDB (moto server), every complaint and violation list path is a Query on a named
//! index with no FilterExpression, and nothing Scans: the requests the SDK sends are recorded
//! by an interceptor. The backfill refuses to switch the lists to indexes a table lacks.

use app::complaints::{ComplaintFilter, ComplaintRepo, complaint_id, list::list_keys_ready};
use aws::testing as moto;
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::scan::ScanInput;
use chrono::{TimeZone, Utc};
use domain::complaint::{Complaint, ComplaintStatus, Platform};
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
            let p = app::reindex::run(&store, 5).await.expect("backfill");
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
    let err = app::reindex::run(&store, 5)
        .await
        .expect_err("gsi3 is missing");
    assert!(
        matches!(err, app::reindex::ReindexError::IndexMissing { .. }),
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
