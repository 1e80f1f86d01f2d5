//! The daily digest and the trade-score snapshots, end to end over the embedded store with a
//! manual clock: a toy platform (declared here) gives its complaints deadlines; the daily pass
//! queues the digest; the notifier delivers it to a real SMTP server, the template-message and
//! bot simulators, and not by SMS although SMS is configured; a mini program's score is read
//! through the WeChat simulator and its history served by the admin API.

mod common;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use desk_core::accounts::{AccountKindSpec, CredentialsChange};
use desk_core::complaints::{ComplaintRepo, RefundRecord};
use desk_core::deadlines::daily::{DailyOutcome, daily_pass};
use desk_core::platform::Platform;
use desk_core::repo::AccountRepo;
use desk_core::state::Services;
use desk_core::worker::{CancellationToken, JobRegistry};
use domain::account::{
    Account, AccountKind, AccountKindFacts, AccountSettings, Credentials, CredentialsStatus,
};
use domain::clock::ManualClock;
use domain::complaint::{
    ActionKind, ActionLogEntry, ActionOutcome, ActionTrigger, Complaint, ComplaintStatus,
};
use domain::deadline::{Deadline, DeadlineSource, DeadlineSourceKind};
use domain::job::queues;
use domain::notification::{Channel, NotificationSubject};
use sandbox::notify::NotifySim;
use sandbox::wxapi::{SimMini, WechatSim};
use serde_json::{Value, json};
use std::sync::Arc;

const TOY: domain::complaint::Platform = domain::complaint::Platform::new("digest-toy");
const TOY_SHOP: AccountKind = AccountKind::new("digest_shop");

const OA_APPID: &str = "wx1234567890abcdef";
const OA_SECRET: &str = "oa-secret-0123456789abcdef01234567";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
const SMS_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
const SMS_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

/// The toy's deadlines: a reply within 24 h of receipt (met once replied) and completion
/// within 72 h (met once completed, an estimate); a complaint waiting for the platform has
/// none.
struct Toy;

impl Platform for Toy {
    fn name(&self) -> domain::complaint::Platform {
        TOY
    }

    fn register_jobs(&self, _jobs: &mut JobRegistry, _services: &Services) {}

    fn account_kinds(&self) -> Vec<AccountKindSpec> {
        vec![AccountKindSpec {
            facts: AccountKindFacts {
                kind: TOY_SHOP,
                platform: TOY,
                has_complaints: true,
                callback_family: "digest-toy",
                platform_id_field: "shop",
                has_sub_merchants: false,
                budget_by_account_id: false,
            },
            settings_schema: desk_core::schema::SchemaOf::of::<Value>(),
            settings_rules: None,
            settings: |v| {
                AccountSettings::from_parts(TOY_SHOP, v)
                    .map_err(|m| desk_core::Error::field("settings", m))
            },
            check_settings: |_| Ok(()),
            credentials: no_credentials,
            credentials_schema: None,
            empty_credentials: |_| CredentialsStatus {
                complete: true,
                ..CredentialsStatus::default()
            },
            guarded: &[],
            check_references: None,
            refresh_violations: None,
        }]
    }

    fn deadlines(&self, c: &Complaint) -> Vec<Deadline> {
        if c.status == ComplaintStatus::AwaitingPlatform {
            return vec![];
        }
        let mk = |what: &str, label: &str, hours: i64, met: bool, kind| Deadline {
            what: what.into(),
            label: label.into(),
            starts_at: c.received_at,
            due_at: c.received_at + Duration::hours(hours),
            source: DeadlineSource {
                kind,
                detail: "toy".into(),
            },
            consequence: "toy".into(),
            met_at: met.then_some(c.updated_at),
            counted: None,
        };
        vec![
            mk(
                "reply",
                "首次回复",
                24,
                c.replied,
                DeadlineSourceKind::PublishedRule,
            ),
            mk(
                "finish",
                "处理完成",
                72,
                c.completed,
                DeadlineSourceKind::Estimate,
            ),
        ]
    }
}

fn no_credentials(
    _: CredentialsChange<'_>,
) -> Result<(Credentials, CredentialsStatus), desk_core::Error> {
    Err(desk_core::Error::field("credentials", "none"))
}

/// Beijing wall time as an instant.
fn bj(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("time")
        - Duration::hours(8)
}

struct Env {
    h: Harness,
    clock: Arc<ManualClock>,
    ns: NotifySim,
    sink: SmtpSink,
    _sink_dir: tempfile::TempDir,
    stop: CancellationToken,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn env(start: DateTime<Utc>) -> Env {
    let clock = Arc::new(ManualClock::new(start));
    let c = clock.clone();
    let mut h = harness_over(None, move |p| desk_core::Ports { clock: c, ..p });
    h.state = h
        .state
        .clone()
        .with_platforms(desk_core::platforms::builtin().with(Toy));
    h.state.notifier = desk_core::state::NotifierSettings {
        sms_fold: std::time::Duration::from_secs(1),
        base_backoff: std::time::Duration::from_millis(300),
        deadline: Duration::hours(6),
    };
    h.router = desk_http::router::router(h.state.clone());
    let stop = CancellationToken::new();
    spawn_worker(&h, queues::NOTIFY, &stop);
    let ns = NotifySim::start().await.expect("notify sim");
    ns.add_oa_app(OA_APPID, OA_SECRET, "TPL-digest");
    ns.add_sms_key(SMS_ID, SMS_KEY);
    let sink_dir = tempfile::tempdir().expect("dir");
    let sink =
        SmtpSink::start_with_relay(sink_dir.path(), free_port(), free_port(), Some(free_port()));
    Env {
        h,
        clock,
        ns,
        sink,
        _sink_dir: sink_dir,
        stop,
    }
}

impl Env {
    /// Every channel for the account's staff: e-mail, template message, SMS and a bot.
    async fn staff_everywhere(&self, account_id: &str) {
        let wecom = self.ns.add_bot("wecom", "wecom-token", None);
        let (s, b) = self
            .h
            .admin(
                Method::PUT,
                &format!("/admin/v1/accounts/{account_id}/notifications"),
                Some(json!({
                    "email": {"host": "127.0.0.1", "port": self.sink.relay_port, "tls": "none",
                              "sender": SMTP_USER, "recipients": ["owner@example.com"]},
                    "oa_template": {"appid": OA_APPID, "template_id": "TPL-digest", "openids": [OPENID],
                                    "field_mapping": {"thing1": "merchant", "character_string2": "complaint_id",
                                                      "time3": "time", "thing4": "user_text"},
                                    "api_base_url": self.ns.base_url(), "secret": OA_SECRET},
                    "sms": {"secret_id": SMS_ID, "sdk_app_id": "1400006666", "sign_name": "投诉台",
                            "template_id": "449739", "phone_numbers": ["+8613711112222"],
                            "api_base_url": self.ns.sms_url(), "secret_key": SMS_KEY},
                    "bots": [{"id": "wecom", "kind": "wecom", "webhook_url": wecom}]
                })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }

    async fn account(&self, id: &str) -> Account {
        AccountRepo::new(&*self.h.state.ports.records)
            .get(id)
            .await
            .expect("read")
            .expect("account")
            .0
    }

    async fn pass(&self, id: &str) -> DailyOutcome {
        let account = self.account(id).await;
        daily_pass(
            &self.h.state,
            self.h.state.platforms(),
            &account,
            self.clock.now_for_test(),
        )
        .await
        .expect("daily pass")
    }

    /// Wait until the simulators and the SMTP server received `n` digests each.
    async fn delivered(&self, n: usize) {
        for _ in 0..150 {
            if self.sink.messages().len() >= n
                && self.ns.template_messages().len() >= n
                && self.ns.bot_messages().len() >= n
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "digest not delivered: {} mails, {} templates, {} bot messages",
            self.sink.messages().len(),
            self.ns.template_messages().len(),
            self.ns.bot_messages().len()
        );
    }
}

trait Now {
    fn now_for_test(&self) -> DateTime<Utc>;
}

impl Now for ManualClock {
    fn now_for_test(&self) -> DateTime<Utc> {
        domain::clock::Clock::now(self)
    }
}

/// A toy complaint as the platform's worker would store it.
fn complaint(
    account_id: &str,
    reference: &str,
    received: DateTime<Utc>,
    status: ComplaintStatus,
    amount_fen: u64,
) -> Complaint {
    let mut c = Complaint::new(
        format!("cmp_{reference}"),
        TOY,
        None,
        account_id.into(),
        reference.into(),
        received,
    );
    c.status = status;
    c.raw_status = status.as_str().into();
    c.complaint_amount_fen = Some(amount_fen);
    c
}

fn logged(c: &Complaint, action: ActionKind, at: DateTime<Utc>) -> ActionLogEntry {
    ActionLogEntry {
        complaint_id: c.id.clone(),
        action_id: format!("{:?}-{}", action, c.id),
        action,
        trigger: ActionTrigger::Policy,
        outcome: ActionOutcome::Succeeded,
        detail: String::new(),
        request_no: None,
        at,
    }
}

/// The digest's lines as the bot got them (`> **label**: value`), in order.
fn bot_lines(m: &Value) -> Vec<String> {
    m["markdown"]["content"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn position(lines: &[String], reference: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(reference))
        .unwrap_or_else(|| panic!("{reference} is not in the digest: {lines:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_lists_open_complaints_by_deadline_with_yesterdays_numbers_once_a_day() {
    // Today is 2026-11-27 (Beijing); yesterday 2026-11-26.
    let e = env(bj(2026, 11, 27, 8, 59)).await;
    let shop =
        e.h.create(
            json!({"kind": "digest_shop", "name": "摘要小店", "settings": {"shop": "S1",
            "deadlines": {"digest": {"enabled": true, "local_time": "09:00"}}}}),
        )
        .await;
    e.staff_everywhere(&shop).await;
    let repo = ComplaintRepo::new(&*e.h.state.ports.records);
    // G: reply was due 11-25 09:30, missed the day before yesterday.
    let g = complaint(
        &shop,
        "G-OLDEST",
        bj(2026, 11, 24, 9, 30),
        ComplaintStatus::Pending,
        100,
    );
    // A: reply was due yesterday 10:00 and missed.
    let a = complaint(
        &shop,
        "A-MISSED",
        bj(2026, 11, 25, 10, 0),
        ComplaintStatus::Pending,
        200,
    );
    // B: received yesterday evening, reply due today 20:00.
    let b = complaint(
        &shop,
        "B-TODAY",
        bj(2026, 11, 26, 20, 0),
        ComplaintStatus::Pending,
        300,
    );
    // C: received yesterday, answered yesterday 13:00; completion due 11-29 12:00.
    let mut c = complaint(
        &shop,
        "C-ANSWERED",
        bj(2026, 11, 26, 12, 0),
        ComplaintStatus::Processing,
        400,
    );
    c.replied = true;
    c.updated_at = bj(2026, 11, 26, 13, 0);
    // D: completed yesterday 15:00 after a refund of 9.90 at 14:00: not open.
    let mut d = complaint(
        &shop,
        "D-DONE",
        bj(2026, 11, 24, 9, 0),
        ComplaintStatus::Resolved,
        990,
    );
    d.replied = true;
    d.completed = true;
    d.refunded_fen = 990;
    d.updated_at = bj(2026, 11, 26, 15, 0);
    // E: received yesterday, waiting for the platform: nothing due.
    let ee = complaint(
        &shop,
        "E-NOTHING-DUE",
        bj(2026, 11, 26, 22, 0),
        ComplaintStatus::AwaitingPlatform,
        500,
    );
    // F: received this morning, reply due tomorrow 08:00.
    let f = complaint(
        &shop,
        "F-NEW",
        bj(2026, 11, 27, 8, 0),
        ComplaintStatus::Pending,
        600,
    );
    // H: reply was due yesterday 18:00, given this morning: missed, though met now.
    let mut hh = complaint(
        &shop,
        "H-LATE",
        bj(2026, 11, 25, 18, 0),
        ComplaintStatus::Processing,
        700,
    );
    hh.replied = true;
    hh.updated_at = bj(2026, 11, 27, 8, 0);
    // I: reply was due yesterday 12:00 and given at 11:00: met in time.
    let mut i = complaint(
        &shop,
        "I-IN-TIME",
        bj(2026, 11, 25, 12, 0),
        ComplaintStatus::Processing,
        800,
    );
    i.replied = true;
    i.updated_at = bj(2026, 11, 26, 11, 0);
    // Another account's complaint of yesterday is not in this digest.
    let other = complaint(
        "acc_other",
        "X-OTHER",
        bj(2026, 11, 26, 10, 0),
        ComplaintStatus::Pending,
        900,
    );
    for x in [&g, &a, &b, &c, &d, &ee, &f, &hh, &i, &other] {
        repo.save(x, 0).await.expect("save");
    }
    repo.log_action(&logged(&c, ActionKind::Reply, bj(2026, 11, 26, 13, 0)))
        .await
        .expect("log");
    repo.log_action(&logged(&hh, ActionKind::Reply, bj(2026, 11, 27, 8, 0)))
        .await
        .expect("log");
    repo.log_action(&logged(&i, ActionKind::Reply, bj(2026, 11, 26, 11, 0)))
        .await
        .expect("log");
    repo.log_action(&logged(&d, ActionKind::Reply, bj(2026, 11, 25, 11, 0)))
        .await
        .expect("log");
    // D's second reply, yesterday: not a first reply.
    let mut again = logged(&d, ActionKind::Reply, bj(2026, 11, 26, 14, 30));
    again.action_id.push_str("-again");
    repo.log_action(&again).await.expect("log");
    repo.log_action(&logged(&d, ActionKind::Complete, bj(2026, 11, 26, 15, 0)))
        .await
        .expect("log");
    let refund = |no: &str, status: &str| RefundRecord {
        complaint_id: d.id.clone(),
        out_refund_no: no.into(),
        sequence: 1,
        transaction_id: None,
        amount_fen: 990,
        refund_id: None,
        status: status.into(),
        created_at: bj(2026, 11, 26, 14, 0),
        updated_at: bj(2026, 11, 26, 14, 0),
    };
    repo.put_refund(&shop, &refund("R1", "SUCCESS"))
        .await
        .expect("refund");
    // A closed (refused) refund is not counted.
    repo.put_refund(&shop, &refund("R2", "CLOSED"))
        .await
        .expect("refund");

    // Not before the configured time.
    assert!(matches!(e.pass(&shop).await, DailyOutcome::NotYet { .. }));
    e.clock.set(bj(2026, 11, 27, 9, 5));
    assert_eq!(e.pass(&shop).await, DailyOutcome::Sent { queued: 1 });
    e.delivered(1).await;

    // The bot's copy: yesterday's numbers, then the open complaints in deadline order.
    let bots = e.ns.bot_messages();
    assert_eq!(bots.len(), 1);
    let lines = bot_lines(&bots[0].1);
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(has("**昨日新收（2026-11-26）**: 3"), "B, C, E: {lines:#?}");
    assert!(
        has("**昨日首次回复**: 2"),
        "C and I (not H, answered today; not D, answered before): {lines:#?}"
    );
    assert!(has("**昨日完结**: 1"), "D: {lines:#?}");
    assert!(
        has("**昨日退款**: 1 笔，9.90 元"),
        "D's, not the closed one: {lines:#?}"
    );
    assert!(
        has("**昨日错过期限**: 2"),
        "A's and H's replies (not I's): {lines:#?}"
    );
    assert!(has("**未结投诉**: 8 件，其中逾期 2 件"), "{lines:#?}");
    assert!(!has("X-OTHER"), "another account's complaint: {lines:#?}");
    let order: Vec<usize> = [
        "G-OLDEST",
        "A-MISSED",
        "B-TODAY",
        "F-NEW",
        "I-IN-TIME",
        "H-LATE",
        "C-ANSWERED",
        "E-NOTHING-DUE",
    ]
    .iter()
    .map(|r| position(&lines, r))
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "overdue first, then by due time, then nothing due: {lines:#?}"
    );
    assert!(!has("D-DONE"), "a resolved complaint is not listed");
    let g_line = &lines[position(&lines, "G-OLDEST")];
    assert!(
        g_line.contains("已逾期：首次回复，截止 11-25 09:30") && g_line.contains("1.00 元"),
        "{g_line}"
    );
    let c_line = &lines[position(&lines, "C-ANSWERED")];
    assert!(
        c_line.contains("待办：处理完成，截止 11-29 12:00（估计期限，未经平台确认）"),
        "{c_line}"
    );
    assert!(lines[position(&lines, "E-NOTHING-DUE")].contains("无待办期限"));

    // The template message: the short count and the day, the link carrying the rest.
    let tpl = &e.ns.template_messages()[0];
    assert_eq!(tpl["touser"], OPENID);
    assert_eq!(tpl["data"]["character_string2"]["value"], "2026-11-27");
    assert_eq!(tpl["data"]["thing4"]["value"], "未结8 逾期2 昨日新3");
    // The e-mail went to the SMTP server; no SMS although SMS is configured.
    let mails = e.sink.messages();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("X-Envelope-To: owner@example.com"),
        "{}",
        mails[0]
    );
    assert!(e.ns.sms_sent().is_empty(), "a digest is never sent by SMS");
    // The fan-out planned no SMS delivery at all (the bot's, planned last, arrived).
    let planned = desk_core::deliveries::deliveries_of(
        &*e.h.state.ports.records,
        &NotificationSubject::Digest {
            account_id: shop.clone(),
            sub_mchid: None,
            day: "2026-11-27".into(),
        },
    )
    .await
    .expect("deliveries");
    let mut channels: Vec<Channel> = planned.iter().map(|d| d.channel).collect();
    channels.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        channels,
        [Channel::Bot, Channel::Email, Channel::OaTemplate]
    );

    // A second sweep the same day sends nothing.
    e.clock.set(bj(2026, 11, 27, 18, 0));
    assert_eq!(e.pass(&shop).await, DailyOutcome::AlreadySent);
    // The next day, not before 09:00, then once more.
    e.clock.set(bj(2026, 11, 28, 8, 30));
    assert!(matches!(e.pass(&shop).await, DailyOutcome::NotYet { .. }));
    e.clock.set(bj(2026, 11, 28, 9, 0));
    assert_eq!(e.pass(&shop).await, DailyOutcome::Sent { queued: 1 });
    e.delivered(2).await;
    let lines = bot_lines(&e.ns.bot_messages()[1].1);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("**昨日新收（2026-11-27）**: 1")),
        "F was received on the 27th: {lines:#?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(e.sink.messages().len(), 2, "one mail per day");
    assert!(e.ns.sms_sent().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_queued_before_a_crash_is_not_sent_twice_and_a_disabled_account_gets_none() {
    let e = env(bj(2026, 11, 27, 9, 30)).await;
    let shop =
        e.h.create(json!({"kind": "digest_shop", "name": "小店", "settings": {"shop": "S2"}}))
            .await;
    e.staff_everywhere(&shop).await;
    // A pass that queued the notice and crashed before its day's record: the next sweep
    // reads again, finds the notice queued, and queues nothing more.
    assert_eq!(e.pass(&shop).await, DailyOutcome::Sent { queued: 1 });
    e.h.state
        .ports
        .records
        .delete(&format!("DAILY#{shop}"), "DIGEST#2026-11-27", None)
        .await
        .expect("delete");
    e.clock.set(bj(2026, 11, 27, 9, 45));
    assert_eq!(e.pass(&shop).await, DailyOutcome::Sent { queued: 0 });
    e.delivered(1).await;

    // Disabled: no digest (its staff are not told), the next day either.
    let (s, b) =
        e.h.admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{shop}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    e.clock.set(bj(2026, 11, 28, 10, 0));
    assert_eq!(e.pass(&shop).await, DailyOutcome::Disabled);
    // Switched off in the settings: none either.
    let off =
        e.h.create(
            json!({"kind": "digest_shop", "name": "关", "settings": {"shop": "S3",
            "deadlines": {"digest": {"enabled": false}}}}),
        )
        .await;
    e.staff_everywhere(&off).await;
    assert_eq!(e.pass(&off).await, DailyOutcome::DigestOff);
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(e.sink.messages().len(), 1, "only the first day's digest");
    assert_eq!(e.ns.bot_messages().len(), 1);
}

/// A provider's sub-merchants with staff of their own get a digest of their own complaints,
/// unless their own settings turn it off; the provider's staff get theirs whatever the
/// sub-merchants say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_merchants_with_staff_of_their_own_get_their_own_digest_unless_they_turn_it_off() {
    let e = env(bj(2026, 11, 27, 9, 30)).await;
    let provider = e.h.create(provider_body("1900000301")).await;
    e.staff_everywhere(&provider).await;
    for (sub, own) in [
        ("1900000311", json!({})),
        (
            "1900000312",
            json!({"deadlines": {"digest": {"enabled": false}}}),
        ),
        ("1900000313", json!({})),
    ] {
        let mut body = json!({"sub_mchid": sub, "name": format!("门店{sub}")});
        if let (Some(b), Some(o)) = (body.as_object_mut(), own.as_object()) {
            b.extend(o.clone());
        }
        let (s, b) =
            e.h.admin(
                Method::POST,
                &format!("/admin/v1/accounts/{provider}/sub-merchants"),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        // 1900000313 has no staff of its own: its complaints are in the provider's digest.
        if sub == "1900000313" {
            continue;
        }
        let (s, b) = e
            .h
            .admin(
                Method::PUT,
                &format!("/admin/v1/accounts/{provider}/sub-merchants/{sub}/notifications"),
                Some(json!({"email": {"host": "127.0.0.1", "port": e.sink.relay_port, "tls": "none",
                                      "sender": SMTP_USER, "recipients": [format!("{sub}@example.com")]}})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    assert_eq!(
        e.pass(&provider).await,
        DailyOutcome::Sent { queued: 2 },
        "the provider's staff and 1900000311's; not 1900000312 (turned off) nor 1900000313 (no staff)"
    );
}

const APPID: &str = "wxdigest0000000001";
const SECRET: &str = "mini-secret-0123456789abcdef0123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_pass_snapshots_a_mini_programs_score_once_a_day_and_serves_its_history() {
    let e = env(bj(2026, 11, 27, 9, 10)).await;
    let wx = WechatSim::start().await.expect("wechat sim");
    wx.add_mini(SimMini {
        appid: APPID.into(),
        secret: SECRET.into(),
        nick_name: "小程序".into(),
        push: None,
    });
    wx.set_penalties(
        APPID,
        92,
        vec![json!({"illegalOrderId": "IL1", "minusScore": 8})],
    );
    let mini = e
        .h
        .create(json!({"kind": "wxmini_app", "name": "Mini", "settings": {
            "appid": APPID, "mode": "manual", "api_base_url": wx.base_url()},
            "credentials": {"secret": SECRET, "token": "miniToken123", "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}}))
        .await;
    // A mini program WeChat does not know: its score read fails, its digest still goes out.
    let unknown = e
        .h
        .create(json!({"kind": "wxmini_app", "name": "Gone", "settings": {
            "appid": "wxdigest0000000002", "mode": "manual", "api_base_url": wx.base_url()},
            "credentials": {"secret": SECRET, "token": "miniToken123", "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}}))
        .await;
    e.staff_everywhere(&unknown).await;

    assert_eq!(e.pass(&mini).await, DailyOutcome::Sent { queued: 1 });
    assert_eq!(e.pass(&unknown).await, DailyOutcome::Sent { queued: 1 });
    e.delivered(1).await;
    // Once a day: the score changes later today, the snapshot stays.
    wx.set_penalties(APPID, 80, vec![]);
    assert_eq!(e.pass(&mini).await, DailyOutcome::AlreadySent);
    e.clock.set(bj(2026, 11, 28, 9, 10));
    e.pass(&mini).await;

    let h = &e.h;
    let history = |query: &str| {
        let path = format!("/admin/v1/accounts/{mini}/trade-score/history{query}");
        async move { h.admin(Method::GET, &path, None).await }
    };
    let (s, h) = history("?from=2026-11-01&to=2026-11-30").await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let items = h["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{h}");
    assert_eq!(items[0]["day"], "2026-11-27");
    assert_eq!(items[0]["score"], 92);
    assert_eq!(items[0]["penalties"], 1);
    assert_eq!(items[1]["day"], "2026-11-28");
    assert_eq!(items[1]["score"], 80);
    // The default range ends today.
    let (s, h) = history("").await;
    assert_eq!(s, StatusCode::OK, "{h}");
    assert_eq!(h["to"], "2026-11-28");
    assert_eq!(h["from"], "2026-10-30");
    assert_eq!(h["items"].as_array().map(Vec::len), Some(2));
    let (s, h) = history("?from=2026-11-28&to=2026-11-28").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["items"].as_array().map(Vec::len), Some(1), "{h}");
    // Clear 400s.
    for (query, field) in [
        ("?from=27.11.2026", "from"),
        ("?to=tomorrow", "to"),
        ("?from=2026-11-28&to=2026-11-01", "from"),
        ("?from=2024-01-01&to=2026-11-28", "from"),
    ] {
        let (s, b) = history(query).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {b}");
        assert!(b.to_string().contains(field), "{query}: {b}");
    }
    // Only mini programs have it.
    let shop =
        e.h.create(json!({"kind": "digest_shop", "name": "小店", "settings": {"shop": "S9"}}))
            .await;
    let (s, _) =
        e.h.admin(
            Method::GET,
            &format!("/admin/v1/accounts/{shop}/trade-score/history"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}
