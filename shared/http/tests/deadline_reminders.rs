//! Deadline reminders and escalation: the `deadlines.sweep` job's handler, as the worker's
//! registry holds it, over the embedded store with a controllable clock, its notices through
//! the inbox onto the notify queue and, for the escalation e-mail, the notifier's real fan-out
//! and a real SMTP server. A toy platform's rules give each complaint two deadlines: a first
//! reply due 24 h after it came (or at its `platform_due_at`), met once replied, and a
//! completion due after 72 h (an estimate), met once completed. (`settings.deadlines` itself:
//! `deadline_settings.rs`.)

mod common;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use desk_core::complaints::ComplaintRepo;
use desk_core::worker::{Disposition, RetryPolicy, decide};
use domain::clock::ManualClock;
use domain::complaint::{Complaint, Platform};
use domain::deadline::{Deadline, DeadlineRules, DeadlineSource, DeadlineSourceKind};
use domain::job::deadlines::{SWEEP, Sweep};
use domain::job::{JobEnvelope, queues};
use domain::notification::NotificationJob;
use domain::notification::NotificationSubject;
use serde_json::{Value, json};
use std::sync::Arc;

const TOY: Platform = Platform::new("dl_remind_toy");
const PUBLIC: &str = "https://desk.example.com/";

struct ToyRules;

impl DeadlineRules for ToyRules {
    fn deadlines(&self, c: &Complaint) -> Vec<Deadline> {
        let start = c.received_at;
        vec![
            Deadline {
                what: "first_reply".into(),
                label: "首次回复用户".into(),
                starts_at: start,
                due_at: c.platform_due_at.unwrap_or(start + Duration::hours(24)),
                source: DeadlineSource {
                    kind: DeadlineSourceKind::PlatformField,
                    detail: "expire_time".into(),
                },
                consequence: "平台介入并可能扣分".into(),
                met_at: c.replied.then_some(c.updated_at),
                counted: None,
            },
            Deadline {
                what: "completion".into(),
                label: "处理完成".into(),
                starts_at: start,
                due_at: start + Duration::hours(72),
                source: DeadlineSource {
                    kind: DeadlineSourceKind::Estimate,
                    detail: "72 小时".into(),
                },
                consequence: "投诉升级".into(),
                met_at: c.completed.then_some(c.updated_at),
                counted: None,
            },
        ]
    }
}

/// When every complaint of these tests comes in.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 1, 0, 0)
        .single()
        .expect("time")
}

fn at(hours: i64, minutes: i64) -> DateTime<Utc> {
    t0() + Duration::hours(hours) + Duration::minutes(minutes)
}

struct Env {
    h: Harness,
    clock: Arc<ManualClock>,
}

fn env() -> Env {
    domain::deadline::declare(TOY, Arc::new(ToyRules));
    let clock = Arc::new(ManualClock::new(t0()));
    let c = clock.clone();
    let h = harness_over(Some(PUBLIC), move |mut p| {
        p.clock = c;
        p
    });
    Env { h, clock }
}

impl Env {
    async fn alipay_account(&self, settings: Value) -> String {
        let mut s = json!({"app_id": "2021000000000001"});
        if let (Some(base), Some(more)) = (s.as_object_mut(), settings.as_object()) {
            base.extend(more.clone());
        }
        self.h
            .create(json!({"kind": "alipay_app", "name": "一号店", "settings": s}))
            .await
    }

    async fn complaint(&self, account_id: &str, n: u32, sub_mchid: Option<&str>) -> String {
        let id = format!("cmp_dl_{n}");
        let mut c = Complaint::new(
            id.clone(),
            TOY,
            None,
            account_id.into(),
            format!("P-{n}"),
            t0(),
        );
        c.sub_mchid = sub_mchid.map(str::to_string);
        c.complaint_amount_fen = Some(990);
        ComplaintRepo::new(&*self.h.state.ports.records)
            .save(&c, 0)
            .await
            .expect("save");
        id
    }

    async fn answer(&self, id: &str) {
        let now = domain::clock::Clock::now(&*self.clock);
        ComplaintRepo::new(&*self.h.state.ports.records)
            .modify(id, |c| {
                c.replied = true;
                c.updated_at = now;
            })
            .await
            .expect("modify");
    }

    /// Run the account's sweep at `now` through the worker's registry.
    async fn sweep_at(&self, account_id: &str, now: DateTime<Utc>) {
        self.clock.set(now);
        let registry = desk_core::policy::registry(&self.h.state, self.h.state.platforms());
        let handler = registry
            .get(SWEEP.name())
            .expect("the sweep is registered for every build");
        let job = SWEEP
            .envelope(
                &Sweep {
                    account_id: account_id.into(),
                    scheduled_at: now,
                },
                now,
            )
            .expect("envelope")
            .for_account(account_id, None);
        handler.handle(&job).await.expect("sweep");
    }

    /// The staff notices queued since the last call (taken off the notify queue).
    async fn notices(&self) -> Vec<NotificationJob> {
        let q = &self.h.state.ports.queue;
        let mut out = Vec::new();
        loop {
            let msgs = q
                .receive(
                    queues::NOTIFY,
                    10,
                    std::time::Duration::from_secs(60),
                    std::time::Duration::ZERO,
                )
                .await
                .expect("receive");
            if msgs.is_empty() {
                return out;
            }
            for m in msgs {
                let env: JobEnvelope = serde_json::from_str(&m.body).expect("job");
                q.delete(queues::NOTIFY, &m.receipt).await.expect("delete");
                let job = domain::job::notify::STAFF
                    .payload(&env)
                    .expect("a staff notice");
                // The same sweep sends the daily digest once its time has come (tested in
                // deadline_digest.rs); these tests are about reminders and escalations.
                if !matches!(job.subject, NotificationSubject::Digest { .. }) {
                    out.push(job);
                }
            }
        }
    }

    /// The staff notices waiting, left on the queue.
    async fn peek(&self) -> Vec<NotificationJob> {
        let msgs = self
            .h
            .state
            .ports
            .queue
            .receive(
                queues::NOTIFY,
                10,
                std::time::Duration::ZERO,
                std::time::Duration::ZERO,
            )
            .await
            .expect("receive");
        msgs.iter()
            .map(|m| {
                let env: JobEnvelope = serde_json::from_str(&m.body).expect("job");
                domain::job::notify::STAFF
                    .payload(&env)
                    .expect("a staff notice")
            })
            .collect()
    }

    /// Run every job on the notify queue through the worker's registry (the notifier's
    /// fan-out, then each delivery) until none is left.
    async fn deliver_all(&self) {
        let registry = desk_core::policy::registry(&self.h.state, self.h.state.platforms());
        let q = &self.h.state.ports.queue;
        loop {
            let msgs = q
                .receive(
                    queues::NOTIFY,
                    10,
                    std::time::Duration::from_secs(60),
                    std::time::Duration::ZERO,
                )
                .await
                .expect("receive");
            if msgs.is_empty() {
                return;
            }
            for m in msgs {
                let d = decide(&registry, &RetryPolicy::default(), &m.body, m.receive_count).await;
                assert_eq!(d, Disposition::Done, "{}", m.body);
                q.delete(queues::NOTIFY, &m.receipt).await.expect("delete");
            }
        }
    }
}

/// `(deadline, threshold)` of each notice's event key, with its audience's sub-merchant.
fn keys(jobs: &[NotificationJob]) -> Vec<(String, Option<String>)> {
    let mut v: Vec<_> = jobs
        .iter()
        .map(|j| {
            let parts: Vec<&str> = j.event_key.split(':').collect();
            (
                format!("{}:{}", parts[2], parts[4]),
                j.audience.sub_mchid.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

fn line<'a>(job: &'a NotificationJob, label: &str) -> &'a str {
    job.summary
        .extra_lines
        .iter()
        .find(|l| l.label == label)
        .map(|l| l.value.as_str())
        .unwrap_or_else(|| panic!("no line {label}: {:?}", job.summary.extra_lines))
}

fn one(k: &str) -> Vec<(String, Option<String>)> {
    vec![(k.to_string(), None)]
}

#[tokio::test]
async fn each_threshold_fires_once_and_stops_when_the_complaint_is_answered() {
    let e = env();
    let account = e.alipay_account(json!({})).await;
    let id = e.complaint(&account, 1, None).await;

    e.sweep_at(&account, at(11, 59)).await;
    assert!(e.notices().await.is_empty(), "no threshold passed yet");

    e.sweep_at(&account, at(12, 0)).await;
    let first = e.notices().await;
    assert_eq!(keys(&first), one("first_reply:p50"));
    let n = &first[0];
    assert_eq!(n.audience.account_id, account);
    assert_eq!(n.summary.event, "处理期限提醒");
    assert_eq!(n.summary.reference, "P-1");
    assert_eq!(n.summary.deadline, Some(at(24, 0)));
    assert_eq!(
        n.summary.link.as_deref(),
        Some(format!("{PUBLIC}console/complaints/{id}").as_str())
    );
    assert_eq!(line(n, "待办"), "首次回复用户");
    assert_eq!(
        line(n, "截止（北京时间）"),
        "2026-03-21 09:00（还剩 12 小时）",
        "Beijing time and how long from now"
    );
    assert_eq!(line(n, "期限来源"), "平台字段：expire_time");
    assert_eq!(line(n, "逾期后果"), "平台介入并可能扣分");
    assert_eq!(line(n, "提醒"), "期限已过去 50%");

    e.sweep_at(&account, at(12, 0)).await;
    e.sweep_at(&account, at(15, 0)).await;
    assert!(e.notices().await.is_empty(), "50 % is sent once");

    e.sweep_at(&account, at(19, 12)).await;
    assert_eq!(keys(&e.notices().await), one("first_reply:p80"));
    e.sweep_at(&account, at(21, 0)).await;
    assert!(e.notices().await.is_empty(), "80 % is sent once");
    e.sweep_at(&account, at(22, 0)).await;
    assert_eq!(keys(&e.notices().await), one("first_reply:m120"));
    e.sweep_at(&account, at(22, 30)).await;
    assert!(e.notices().await.is_empty(), "2 h before is sent once");

    // Answered: the first reply is met; nothing more of it, ever (no escalation either),
    // while the completion's own thresholds still come.
    e.answer(&id).await;
    e.sweep_at(&account, at(23, 0)).await;
    e.sweep_at(&account, at(25, 0)).await;
    assert!(
        e.notices().await.is_empty(),
        "a met deadline is not reminded"
    );
    e.sweep_at(&account, at(36, 0)).await;
    let completion = e.notices().await;
    assert_eq!(keys(&completion), one("completion:p50"));
    assert_eq!(
        line(&completion[0], "期限来源"),
        "预估（平台未公布）：72 小时",
        "an estimate says it is unconfirmed"
    );
}

#[tokio::test]
async fn downtime_sends_only_the_latest_threshold() {
    let e = env();
    let account = e.alipay_account(json!({})).await;
    e.complaint(&account, 2, None).await;
    // The first sweep after a long pause: 50 % and 80 % have both passed.
    e.sweep_at(&account, at(20, 0)).await;
    assert_eq!(keys(&e.notices().await), one("first_reply:p80"));
    // Down again past the 2 h mark and the due time: only the escalation.
    e.sweep_at(&account, at(24, 30)).await;
    assert_eq!(keys(&e.notices().await), one("first_reply:missed"));
    // A due time that moves (the platform set a new one) is a new deadline.
    ComplaintRepo::new(&*e.h.state.ports.records)
        .modify("cmp_dl_2", |c| c.platform_due_at = Some(at(48, 0)))
        .await
        .expect("modify");
    e.sweep_at(&account, at(46, 0)).await;
    assert_eq!(
        keys(&e.notices().await),
        vec![
            ("completion:p50".to_string(), None),
            ("first_reply:m120".to_string(), None)
        ]
    );
}

#[tokio::test]
async fn escalation_after_a_deadline_passes_reaches_the_extra_list_once_by_email() {
    let e = env();
    let account = e
        .alipay_account(
            json!({"deadlines": {"escalation_recipients": {"emails": ["boss@example.com"]}}}),
        )
        .await;
    let sink_dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let sink = SmtpSink::start(sink_dir.path(), port, free_port());
    let (s, b) =
        e.h.admin(
            Method::PUT,
            &format!("/admin/v1/accounts/{account}/notifications"),
            Some(
                json!({"email": {"host": "127.0.0.1", "port": port, "tls": "implicit",
                "sender": SMTP_USER, "recipients": ["staff@example.com"],
                "auth_code": SMTP_PASSWORD, "tls_root_pem": sink.ca_pem}}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    e.complaint(&account, 3, None).await;

    e.sweep_at(&account, at(24, 0)).await;
    let before = e.notices().await;
    assert_eq!(
        keys(&before),
        one("first_reply:m120"),
        "due now: not missed yet"
    );
    assert_eq!(
        before[0].extra_recipients, None,
        "a reminder goes to the staff alone"
    );

    e.sweep_at(&account, at(24, 1)).await;
    let jobs = e.peek().await;
    assert_eq!(keys(&jobs), one("first_reply:missed"));
    let job = &jobs[0];
    assert_eq!(job.summary.event, "处理期限已过");
    assert_eq!(
        line(job, "截止（北京时间）"),
        "2026-03-21 09:00（已逾期 1 分钟）"
    );
    assert_eq!(
        job.extra_recipients
            .as_ref()
            .map(|r| r.emails.clone())
            .unwrap_or_default(),
        vec!["boss@example.com".to_string()]
    );
    e.deliver_all().await;
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "one e-mail to the staff and the extra list");
    let mail = &mails[0];
    for to in ["staff@example.com", "boss@example.com"] {
        assert!(mail.contains(to), "{to} not among the recipients: {mail}");
    }
    assert!(
        mail.contains("cmp_dl_3"),
        "the link to the complaint: {mail}"
    );
    // The complaint's detail shows those staff contacts in full to an admin only.
    let (s, b) =
        e.h.admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(json!({"name": "v", "scope": {"type": "all"}, "role": "viewer"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let viewer = b["token"].as_str().expect("token").to_string();
    let (s, b) =
        e.h.call(
            Method::GET,
            "/admin/v1/complaints/cmp_dl_3",
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let shown = b.to_string();
    for contact in ["boss@example.com", "staff@example.com"] {
        assert!(
            !shown.contains(contact),
            "{contact} shown to a viewer: {shown}"
        );
    }
    assert!(shown.contains("b***@example.com"), "{shown}");
    let (s, b) =
        e.h.admin(Method::GET, "/admin/v1/complaints/cmp_dl_3", None)
            .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b.to_string().contains("boss@example.com"), "{b}");

    e.sweep_at(&account, at(24, 30)).await;
    e.sweep_at(&account, at(30, 0)).await;
    assert!(e.notices().await.is_empty(), "escalated once");
}

#[tokio::test]
async fn a_sub_merchants_reminders_reach_both_staffs_and_its_escalation_the_provider_even_when_it_is_disabled()
 {
    let e = env();
    let provider = e.h.create(provider_body("1900000109")).await;
    // The provider's extra list is for its own complaints.
    let (s, b) = e
        .h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{provider}"),
            Some(json!({"settings": {"deadlines": {"escalation_recipients": {"phones": ["+8613800000000"]}}}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{provider}/sub-merchants"),
            Some(json!({"sub_mchid": "1900000999", "name": "门店一"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    e.complaint(&provider, 4, Some("1900000999")).await;

    e.sweep_at(&provider, at(12, 0)).await;
    let reminders = e.notices().await;
    assert_eq!(
        keys(&reminders),
        vec![
            ("first_reply:p50".to_string(), None),
            (
                "first_reply:p50".to_string(),
                Some("1900000999".to_string())
            ),
        ],
        "the provider's staff and the sub-merchant's"
    );
    assert!(reminders.iter().all(|j| j.summary.merchant == "门店一"));

    let (s, b) =
        e.h.admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{provider}/sub-merchants/1900000999"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    e.sweep_at(&provider, at(19, 12)).await;
    assert_eq!(
        keys(&e.notices().await),
        one("first_reply:p80"),
        "a disabled sub-merchant's staff hear nothing; its provider does"
    );
    e.sweep_at(&provider, at(25, 0)).await;
    let escalated = e.notices().await;
    assert_eq!(keys(&escalated), one("first_reply:missed"));
    assert_eq!(escalated[0].audience.account_id, provider);
    assert_eq!(
        escalated[0].extra_recipients, None,
        "the provider's own extra list is not for its sub-merchants' complaints"
    );
}

#[tokio::test]
async fn a_sub_merchant_that_turns_its_reminders_off_silences_only_its_own_staff() {
    let e = env();
    let provider = e.h.create(provider_body("1900000110")).await;
    let (s, b) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{provider}/sub-merchants"),
            Some(json!({"sub_mchid": "1900000998", "name": "门店二"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) =
        e.h.admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{provider}/sub-merchants/1900000998"),
            Some(json!({"deadlines": {"reminders": false, "escalate": false}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    e.complaint(&provider, 6, Some("1900000998")).await;

    e.sweep_at(&provider, at(12, 0)).await;
    assert_eq!(
        keys(&e.notices().await),
        one("first_reply:p50"),
        "the provider's staff follow the provider's settings; the sub-merchant's hear nothing"
    );
    e.sweep_at(&provider, at(25, 0)).await;
    let escalated = e.notices().await;
    assert_eq!(keys(&escalated), one("first_reply:missed"));
    assert_eq!(
        escalated[0].audience.sub_mchid, None,
        "to the provider's staff"
    );
}

#[tokio::test]
async fn a_disabled_account_and_settings_turned_off_send_nothing() {
    let e = env();
    let disabled = e.alipay_account(json!({})).await;
    let (s, _) =
        e.h.admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{disabled}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    e.complaint(&disabled, 5, None).await;
    let quiet =
        e.h.create(
            json!({"kind": "wechatpay_merchant", "name": "静音", "settings": {
            "mchid": "1900000777", "appid": "wx2c2769f8efd9abc2",
            "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            "deadlines": {"reminders": false, "escalate": false}}}),
        )
        .await;
    e.complaint(&quiet, 6, None).await;
    // A sub-merchant that turns reminders off for its own staff, the provider's on.
    let provider = e.h.create(provider_body("1900000110")).await;
    let (s, b) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{provider}/sub-merchants"),
            Some(json!({"sub_mchid": "1900000888", "name": "门店二",
                        "deadlines": {"reminders": false}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    e.complaint(&provider, 7, Some("1900000888")).await;

    for now in [at(12, 0), at(23, 0), at(25, 0)] {
        for a in [&disabled, &quiet] {
            e.sweep_at(a, now).await;
        }
        e.sweep_at(&provider, now).await;
    }
    assert_eq!(
        keys(&e.notices().await),
        vec![
            ("first_reply:m120".to_string(), None),
            ("first_reply:missed".to_string(), None),
            (
                "first_reply:missed".to_string(),
                Some("1900000888".to_string())
            ),
            ("first_reply:p50".to_string(), None),
        ],
        "nothing from the disabled or the quiet account; the provider's staff follow the provider's settings; the sub-merchant's staff only the escalation (its settings keep escalate on)"
    );
    // A sweep of an account that is gone does nothing.
    e.sweep_at("acc_gone", at(26, 0)).await;
    assert!(e.notices().await.is_empty());
}
