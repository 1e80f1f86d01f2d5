//! The dashboard (`/console/dashboard`) over the in-process router, with complaint records
//! written as the core writes them (`ComplaintRepo::save`, which computes each platform's
//! deadlines by its real rules; the action log; refund records, automatic ones with the
//! automatic sequence): the counts per day and platform, the first-response median and 90th
//! percentile, the refunds, the missed deadlines with their links, the caller's scope, and
//! bad query values; the complaints' details read concurrently, and the figures kept for a
//! minute.

use super::common::console::{get, session};
use super::common::*;
use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use desk_core::complaints::{AUTO_REFUND_SEQUENCE, ComplaintRepo, RefundRecord, complaint_id};
use domain::clock::ManualClock;
use domain::complaint::{
    ActionKind, ActionLogEntry, ActionOutcome, ActionTrigger, Complaint, Platform,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Beijing wall time as an instant.
fn bj(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, m, d, h, min, 0)
        .single()
        .expect("time")
        - Duration::hours(8)
}

/// A complaint made and received at `at`, not replied to.
fn complaint(platform: Platform, account: &str, pid: &str, at: DateTime<Utc>) -> Complaint {
    let mut c = Complaint::new(
        complaint_id(platform, account, pid),
        platform,
        None,
        account.into(),
        pid.into(),
        at,
    );
    c.complained_at = Some(at);
    c.raw_status = "PENDING".into();
    c
}

/// Our first reply at `at`: the record says replied, the action log holds the reply.
async fn reply(repo: &ComplaintRepo<'_>, c: &mut Complaint, at: DateTime<Utc>, by_staff: bool) {
    c.replied = true;
    c.raw_status = "PROCESSING".into();
    c.status = domain::complaint::ComplaintStatus::Processing;
    c.updated_at = at;
    repo.log_action(&ActionLogEntry {
        complaint_id: c.id.clone(),
        action_id: format!("act-{}", c.id),
        action: ActionKind::Reply,
        trigger: if by_staff {
            ActionTrigger::Admin {
                token_id: "tok".into(),
                token_name: None,
            }
        } else {
            ActionTrigger::Policy
        },
        outcome: ActionOutcome::Succeeded,
        detail: "reply".into(),
        request_no: None,
        at,
    })
    .await
    .expect("action");
}

async fn refund(
    repo: &ComplaintRepo<'_>,
    c: &mut Complaint,
    sequence: u32,
    fen: u64,
    status: &str,
) {
    let r = RefundRecord {
        complaint_id: c.id.clone(),
        out_refund_no: format!("R{sequence}{}", &c.id[4..12]),
        sequence,
        transaction_id: Some("4200000001".into()),
        amount_fen: fen,
        refund_id: None,
        status: status.into(),
        created_at: c.updated_at,
        updated_at: c.updated_at,
    };
    repo.put_refund(&c.account_id, &r).await.expect("refund");
    if status != "CLOSED" {
        c.refunded_fen += fen;
    }
}

async fn signed_in(h: &Harness, role: &str, scope: serde_json::Value) -> String {
    let (status, token) = h
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(json!({"name": role, "role": role, "scope": scope})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    session(h, token["token"].as_str().expect("token")).await
}

/// The text of the element with this id (up to its first `<`).
fn by_id<'a>(body: &'a str, id: &str) -> &'a str {
    let at = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {body}"));
    let rest = &body[at..];
    let rest = &rest[rest.find('>').expect("tag end") + 1..];
    &rest[..rest.find('<').expect("text end")]
}

/// The cells of the values table's row of `day`.
fn day_row(body: &str, day: &str) -> String {
    let at = body
        .find(&format!("<tr data-day=\"{day}\">"))
        .unwrap_or_else(|| panic!("no row {day}"));
    let row = &body[at..];
    row[..row.find("</tr>").expect("row end")]
        .split("<td>")
        .skip(1)
        .map(|c| c.trim_end_matches("</td>"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `<tr>` of the first-response table whose row header is `label`.
fn response_row(body: &str, label: &str) -> String {
    let table = &body[body.find("id=\"response-times\"").expect("response table")..];
    let at = table
        .find(&format!("<th scope=\"row\">{label}</th>"))
        .unwrap_or_else(|| panic!("no response row {label}"));
    let row = &table[at..];
    row[..row.find("</tr>").expect("row end")].to_string()
}

#[tokio::test]
async fn dashboard_counts_days_response_times_refunds_and_missed_deadlines_within_scope() {
    let clock = Arc::new(ManualClock::new(bj(11, 27, 12, 0)));
    let c = clock.clone();
    let h = harness_over(None, move |p| desk_core::Ports { clock: c, ..p });
    let a = h.create(provider_body("1900000109")).await;
    let b = "acc_other";
    let repo = ComplaintRepo::new(&*h.state.ports.records);
    let (wx, ali, mini) = (Platform::Wechatpay, Platform::Alipay, Platform::Wxmini);

    // Account a (WeChat Pay): answered in 5 minutes by the policy with an automatic refund of
    // 12.50 yuan; answered in 3 hours by staff who refunded 5.00 yuan (and a refund the
    // platform closed, not counted); never answered, its two deadlines missed.
    let mut w1 = complaint(wx, &a, "W1", bj(11, 25, 10, 0));
    reply(&repo, &mut w1, bj(11, 25, 10, 5), false).await;
    refund(&repo, &mut w1, AUTO_REFUND_SEQUENCE, 1250, "SUCCESS").await;
    let mut w2 = complaint(wx, &a, "W2", bj(11, 26, 9, 0));
    reply(&repo, &mut w2, bj(11, 26, 12, 0), true).await;
    refund(&repo, &mut w2, 1, 500, "SUCCESS").await;
    refund(&repo, &mut w2, 2, 9900, "CLOSED").await;
    // A claim whose platform call never got an answer (no refund id): not money refunded.
    refund(&repo, &mut w2, 3, 700, "PROCESSING").await;
    let w3 = complaint(wx, &a, "W3", bj(11, 20, 9, 0));
    // Answered in the platform's back office (no reply of ours in the log) 10 hours after its
    // first-reply deadline, and not completed by the completion deadline.
    let mut w4 = complaint(wx, &a, "W4", bj(11, 22, 9, 0));
    w4.replied = true;
    w4.raw_status = "PROCESSING".into();
    w4.status = domain::complaint::ComplaintStatus::Processing;
    w4.updated_at = bj(11, 24, 10, 0);
    // Account b: an Alipay complaint answered in an hour, a mini program's not yet, and one
    // received before the last 30 days.
    let mut a1 = complaint(ali, b, "A1", bj(11, 26, 15, 0));
    reply(&repo, &mut a1, bj(11, 26, 16, 0), true).await;
    // Before 08:00 Beijing time: still the day before in UTC, counted on the Beijing day.
    let m1 = complaint(mini, b, "M1", bj(11, 27, 7, 30));
    let old = complaint(wx, b, "OLD", bj(10, 1, 9, 0));
    for c in [&w1, &w2, &w3, &w4, &a1, &m1, &old] {
        repo.save(c, 0).await.expect("save");
    }

    let viewer = signed_in(&h, "viewer", json!({"type": "all"})).await;
    let page = get(&h, "/console/dashboard", &viewer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("id=\"nav-dashboard\""), "linked from the nav");
    assert!(
        body.contains("2026-10-29 至 2026-11-27"),
        "30 days by default"
    );
    assert_eq!(by_id(body, "received-total"), "6");
    // Columns: alipay, wechatpay, wxmini, total.
    assert_eq!(day_row(body, "2026-11-26"), "2026-11-26 1 1 0 2");
    assert_eq!(day_row(body, "2026-11-20"), "2026-11-20 0 1 0 1");
    assert_eq!(day_row(body, "2026-11-27"), "2026-11-27 0 0 1 1");
    assert_eq!(day_row(body, "2026-11-21"), "2026-11-21 0 0 0 0");
    assert_eq!(
        body.matches("<rect class=\"bar\"").count(),
        6,
        "one bar part per day and platform"
    );
    // First response: 5 min, 1 h, 3 h: median 1 h, 90 % 3 h; WeChat Pay alone 5 min and 3 h.
    let all = response_row(body, "全部平台");
    assert!(
        all.contains("<td>3</td>") && all.contains("1小时0分") && all.contains("3小时0分"),
        "{all}"
    );
    let wechat = response_row(body, "微信支付");
    assert!(
        wechat.contains("<td class=\"median\">5分钟</td>")
            && wechat.contains("<td class=\"p90\">3小时0分</td>"),
        "{wechat}"
    );
    assert!(response_row(body, "支付宝").contains("<td class=\"median\">1小时0分</td>"));
    assert!(by_id(body, "awaiting-reply").contains("还没有回复"));
    assert!(body.contains("还没有回复的未结投诉：<b>2</b>"), "W3 and M1");
    assert!(body.contains("不计入上表）：<b>1</b>"), "W4");
    // Refunds: automatic 1 (12.50), staff 1 (5.00), the closed one left out.
    let refunds = &body[body.find("id=\"refund-totals\"").expect("refunds")..];
    let refunds = &refunds[..refunds.find("</table>").expect("end")];
    for expected in [
        "自动退款</th><td class=\"count\">1</td><td class=\"yuan\">¥12.50</td>",
        "客服手动退款</th><td class=\"count\">1</td><td class=\"yuan\">¥5.00</td>",
        "合计</th><td class=\"count\">2</td><td class=\"yuan\">¥17.50</td>",
    ] {
        assert!(refunds.contains(expected), "{expected} in {refunds}");
    }
    // W3's first reply and completion deadlines passed unmet; W4's first reply came late and
    // its completion never; nothing else is missed.
    assert_eq!(by_id(body, "missed-deadlines"), "4");
    assert_eq!(by_id(body, "missed-complaints"), "2");
    assert!(body.contains(&format!("href=\"/console/complaints/{}\"", w3.id)));
    assert!(
        body.contains("首次回复：截止 2026-11-22 00:00，仍未完成"),
        "{body}"
    );
    assert!(body.contains(&format!("href=\"/console/complaints/{}\"", w4.id)));
    assert!(
        body.contains("首次回复：截止 2026-11-24 00:00，晚了 10小时0分"),
        "{body}"
    );
    // "Late" is from when the desk saw the reply, and the page says so.
    assert!(
        by_id(body, "met-time").contains("按本系统发现期限已满足的时间计算"),
        "{body}"
    );
    assert!(
        body.contains("处理完成：截止 2026-11-26 00:00，仍未完成"),
        "{body}"
    );
    assert!(!body.contains(&format!("/console/complaints/{}\"", w1.id)));

    // 7 days leave W3 out; 90 days take the October complaint in; English words.
    let week = get(&h, "/console/dashboard?days=7&lang=en", &viewer).await;
    assert_eq!(by_id(&week.body, "received-total"), "5");
    assert!(week.body.contains("2026-11-21 to 2026-11-27"));
    assert!(
        week.body.contains("<td class=\"median\">5 min</td>"),
        "{}",
        week.body
    );
    let quarter = get(&h, "/console/dashboard?days=90", &viewer).await;
    assert_eq!(by_id(&quarter.body, "received-total"), "7");
    let only_b = get(&h, "/console/dashboard?account=acc_other", &viewer).await;
    assert_eq!(by_id(&only_b.body, "received-total"), "2");

    // A viewer of account a sees a's numbers only, whatever account it names.
    let scoped = signed_in(&h, "viewer", json!({"type": "account", "account_id": a})).await;
    let mine = get(&h, "/console/dashboard", &scoped).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!(by_id(&mine.body, "received-total"), "4");
    assert!(
        !mine.body.contains("支付宝") && !mine.body.contains("acc_other"),
        "{}",
        mine.body
    );
    assert!(mine.body.contains("¥17.50"));
    let other = get(&h, "/console/dashboard?account=acc_other", &scoped).await;
    assert_eq!(by_id(&other.body, "received-total"), "0");
    assert!(other.body.contains("id=\"no-complaints\""));

    // Bad values answer the console's error page and read nothing.
    for (query, words) in [
        ("days=45", "7、30 或 90"),
        ("days=abc", "网址中的参数不正确"),
        ("days=-7", "网址中的参数不正确"),
        ("account=a%2F..%2Fb", "账户编号不对"),
        ("days=7&days=30", "网址中的参数不正确"),
    ] {
        let bad = get(&h, &format!("/console/dashboard?{query}"), &viewer).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{query}: {}", bad.body);
        assert!(bad.body.contains(words), "{query}: {}", bad.body);
    }
}

/// The record store with every query taking [`SlowQueries::DELAY`], counting the queries and
/// the most in flight at once.
struct SlowQueries {
    inner: Arc<dyn domain::ports::RecordStore>,
    queries: AtomicUsize,
    in_flight: AtomicUsize,
    most: AtomicUsize,
}

impl SlowQueries {
    const DELAY: std::time::Duration = std::time::Duration::from_millis(20);
}

#[async_trait::async_trait]
impl domain::ports::RecordStore for SlowQueries {
    async fn get(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<domain::ports::Item>, domain::ports::StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn create(
        &self,
        item: domain::ports::Item,
    ) -> Result<domain::ports::Item, domain::ports::StoreError> {
        self.inner.create(item).await
    }
    async fn update(
        &self,
        item: domain::ports::Item,
        expected_version: u64,
    ) -> Result<domain::ports::Item, domain::ports::StoreError> {
        self.inner.update(item, expected_version).await
    }
    async fn put(
        &self,
        item: domain::ports::Item,
    ) -> Result<domain::ports::Item, domain::ports::StoreError> {
        self.inner.put(item).await
    }
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        expected_version: Option<u64>,
    ) -> Result<bool, domain::ports::StoreError> {
        self.inner.delete(pk, sk, expected_version).await
    }
    async fn transact(
        &self,
        writes: Vec<domain::ports::Write>,
    ) -> Result<(), domain::ports::StoreError> {
        self.inner.transact(writes).await
    }
    async fn query(
        &self,
        query: &domain::ports::Query,
    ) -> Result<domain::ports::Page, domain::ports::StoreError> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Self::DELAY).await;
        let page = self.inner.query(query).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        page
    }
    async fn ping(&self) -> Result<(), domain::ports::StoreError> {
        self.inner.ping().await
    }
    async fn probe_write(&self) -> Result<(), domain::ports::StoreError> {
        self.inner.probe_write().await
    }
    fn last_write(&self) -> Option<domain::ports::WriteOutcome> {
        self.inner.last_write()
    }
}

/// Forty complaints replied to: their action logs are read at most
/// [`desk_core::dashboard::DETAIL_CONCURRENCY`] at once, not one after another. The figures
/// are then shown again for a minute per (scope, account, range) without a read, the page
/// saying how old they are; a minute later they are computed again. Another scope has its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_reads_details_concurrently_and_keeps_its_figures_for_a_minute() {
    let clock = Arc::new(ManualClock::new(bj(11, 27, 12, 0)));
    let c = clock.clone();
    let slow = Arc::new(std::sync::OnceLock::<Arc<SlowQueries>>::new());
    let s = slow.clone();
    let h = harness_over(None, move |p| {
        let records = Arc::new(SlowQueries {
            inner: p.records.clone(),
            queries: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        });
        let _ = s.set(records.clone());
        desk_core::Ports {
            clock: c,
            records,
            ..p
        }
    });
    let slow = slow.get().expect("the slow store").clone();
    let a = h.create(provider_body("1900000109")).await;
    let repo = ComplaintRepo::new(&*h.state.ports.records);
    for n in 0..40 {
        let at = bj(11, 26, 9, 0) + Duration::minutes(n);
        let mut c = complaint(Platform::Wechatpay, &a, &format!("W{n}"), at);
        reply(&repo, &mut c, at + Duration::minutes(5), false).await;
        repo.save(&c, 0).await.expect("save");
    }
    let viewer = signed_in(&h, "viewer", json!({"type": "all"})).await;

    slow.most.store(0, Ordering::SeqCst);
    let page = get(&h, "/console/dashboard?lang=en", &viewer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(by_id(&page.body, "received-total"), "40");
    let most = slow.most.load(Ordering::SeqCst);
    assert!(
        (2..=desk_core::dashboard::DETAIL_CONCURRENCY).contains(&most),
        "{most} queries at once"
    );
    assert!(
        by_id(&page.body, "computed-at").contains("computed 0 seconds ago"),
        "{}",
        page.body
    );

    // 30 s later, with a new complaint: the same figures, no query, their age said.
    let late = complaint(Platform::Wechatpay, &a, "NEW", bj(11, 27, 11, 0));
    repo.save(&late, 0).await.expect("save");
    clock.advance(Duration::seconds(30));
    let before = slow.queries.load(Ordering::SeqCst);
    let again = get(&h, "/console/dashboard?lang=en", &viewer).await;
    assert_eq!(by_id(&again.body, "received-total"), "40");
    assert!(by_id(&again.body, "computed-at").contains("computed 30 seconds ago"));
    let reads = slow.queries.load(Ordering::SeqCst) - before;
    // The account filter's list is read for every page; the figures were not.
    assert!(reads <= 1, "{reads} queries for a cached dashboard");
    // Another scope computes its own.
    let scoped = signed_in(&h, "viewer", json!({"type": "account", "account_id": a})).await;
    let mine = get(&h, "/console/dashboard?lang=en", &scoped).await;
    assert_eq!(by_id(&mine.body, "received-total"), "41");

    // A minute after they were computed: computed again.
    clock.advance(Duration::seconds(30));
    let fresh = get(&h, "/console/dashboard?lang=en", &viewer).await;
    assert_eq!(by_id(&fresh.body, "received-total"), "41");
    assert!(by_id(&fresh.body, "computed-at").contains("computed 0 seconds ago"));
}
