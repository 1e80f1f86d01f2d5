//! The inbox's status lists and counts beyond one page, over the real router and the embedded
//! store with a clock the test holds: a toy platform (declared here) whose complaints are due
//! when the test says; more than 200 complaints of mixed status and deadlines. Each quick
//! filter's count is exact (or "200+" past the cap); a status lists its complaints on its
//! first page in deadline order however far down the deadline list they lie; the deadline
//! views list and count what they should; the next link continues without repeats; and a page
//! that read its bound without finding a row says more may follow, never "no complaints
//! match".

mod common;

use common::console::{self, get};

use axum::http::StatusCode;
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{ADMIN, Harness};
use desk_core::accounts::{AccountKindSpec, CredentialsChange};
use desk_core::complaints::ComplaintRepo;
use desk_core::platform::Platform;
use desk_core::state::Services;
use desk_core::worker::JobRegistry;
use domain::account::CredentialsStatus;
use domain::account::{AccountKind, AccountKindFacts, AccountSettings, Credentials};
use domain::clock::ManualClock;
use domain::complaint::{Complaint, ComplaintStatus};
use domain::deadline::{Deadline, DeadlineSource, DeadlineSourceKind};
use serde_json::{Value, json};
use std::sync::Arc;

const TOY: domain::complaint::Platform = domain::complaint::Platform::new("inbox-toy");
const TOY_SHOP: AccountKind = AccountKind::new("inbox_toy_shop");

/// The toy's one deadline: a reply due at the complaint's `platform_due_at` (none without it).
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
                callback_family: "inbox-toy",
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
        c.platform_due_at
            .map(|due_at| Deadline {
                what: "reply".into(),
                label: "reply".into(),
                starts_at: c.received_at,
                due_at,
                source: DeadlineSource {
                    kind: DeadlineSourceKind::PlatformField,
                    detail: "platform_due_at".into(),
                },
                consequence: String::new(),
                met_at: None,
                counted: None,
            })
            .into_iter()
            .collect()
    }
}

fn no_credentials(
    _: CredentialsChange<'_>,
) -> Result<(Credentials, CredentialsStatus), desk_core::Error> {
    Err(desk_core::Error::field("credentials", "none"))
}

/// "Now" for every test here (the clock does not move).
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, 1, 2, 0, 0)
        .single()
        .expect("time")
}

/// The router with the toy registered beside the built-in platforms, its clock at `t0`, and
/// one toy account.
async fn desk() -> (Harness, String) {
    let clock = Arc::new(ManualClock::new(t0()));
    let mut h = common::harness_over(None, move |p| desk_core::Ports { clock, ..p });
    let mut platforms = desk_core::platforms::builtin();
    platforms.register(Arc::new(Toy));
    h.state.callbacks.platforms = Arc::new(platforms);
    h.router = desk_http::router::router(h.state.clone());
    let account = h
        .create(json!({"kind": "inbox_toy_shop", "name": "Shop", "settings": {"shop": "s1"}}))
        .await;
    (h, account)
}

/// A toy complaint: `n` orders its id, received an hour before now, due `due` from now.
fn toy(account: &str, n: usize, status: ComplaintStatus, due: Option<Duration>) -> Complaint {
    let reference = format!("c{n:05}");
    let mut c = Complaint::new(
        desk_core::complaints::complaint_id(TOY, account, &reference),
        TOY,
        None,
        account.to_string(),
        reference,
        t0() - Duration::hours(1) + Duration::seconds(n as i64),
    );
    c.status = status;
    c.platform_due_at = due.map(|d| t0() + d);
    c
}

/// Store the complaints (with the deadlines the toy gives them) and the list keys' marker.
async fn store(h: &Harness, complaints: &[Complaint]) {
    let records = h.state.ports.records.clone();
    let mut tasks = Vec::new();
    for chunk in complaints.chunks(64) {
        let records = records.clone();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            let repo = ComplaintRepo::new(&*records);
            for c in &chunk {
                repo.save(c, 0).await.expect("save");
            }
        }));
    }
    for t in tasks {
        t.await.expect("saved");
    }
    let p = desk_core::reindex::run(&*h.state.ports.records, 500)
        .await
        .expect("backfill");
    assert!(p.done);
}

/// The stored complaints in the inbox's order: by next deadline, then the ones with nothing
/// due, oldest first.
async fn by_deadline(h: &Harness, ids: &[String]) -> Vec<Complaint> {
    let repo = ComplaintRepo::new(&*h.state.ports.records);
    let mut out = Vec::new();
    for id in ids {
        out.push(repo.get(id).await.expect("get").expect("stored").0);
    }
    out.sort_by(|a, b| {
        let key = |c: &Complaint| match c.next_due_at {
            Some(t) => (0, t, c.id.clone()),
            None => (1, c.received_at, c.id.clone()),
        };
        key(a).cmp(&key(b))
    });
    out
}

// ---- the console as a browser sees it (an administrator's session, in English)

/// An administrator's session cookie, with English pages.
async fn session(h: &Harness) -> String {
    format!("{}; desk_lang=en", console::session(h, ADMIN).await)
}

fn unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
}

/// One page of the inbox: the complaint ids it lists, in order, and its next link.
struct Inbox {
    ids: Vec<String>,
    next: Option<String>,
    body: String,
}

async fn inbox(h: &Harness, cookie: &str, path: &str) -> Inbox {
    let page = get(h, path, cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    let marker = "href=\"/console/complaints/";
    let ids = page
        .body
        .match_indices(marker)
        .map(|(at, _)| {
            let rest = &page.body[at + marker.len()..];
            rest[..rest.find('"').expect("end")].to_string()
        })
        .collect();
    let next = page.body.find("\" id=\"next-page\"").map(|end| {
        let start = page.body[..end].rfind("href=\"").expect("href") + 6;
        unescape(&page.body[start..end])
    });
    Inbox {
        ids,
        next,
        body: page.body,
    }
}

/// Every page of a list from `path` on, following the next links (at most `max` pages).
async fn every_page(h: &Harness, cookie: &str, path: &str, max: usize) -> Vec<Inbox> {
    let mut pages = vec![inbox(h, cookie, path).await];
    while let Some(next) = pages.last().and_then(|p| p.next.clone()) {
        assert!(pages.len() < max, "{path}: more than {max} pages");
        pages.push(inbox(h, cookie, &next).await);
    }
    pages
}

/// The count of the quick filter labelled `label`.
fn chip(body: &str, label: &str) -> String {
    let at = body
        .find(&format!("{label} <b>"))
        .unwrap_or_else(|| panic!("a chip {label:?}: {body}"))
        + label.len()
        + 4;
    body[at..at + body[at..].find("</b>").expect("end")].to_string()
}

const NO_MATCH: &str = "No complaints match.";

/// 263 complaints: 4 `awaiting_platform` overdue, 250 `processing` due within four and a half
/// hours, 3 `pending` due in 30 to 32 hours, one `pending` and 5 `resolved` with nothing due.
/// Read by deadline, the pending ones come after 254 others.
fn mixed(account: &str) -> Vec<Complaint> {
    let mut out = Vec::new();
    let mut add = |status, due: Option<Duration>| {
        let n = out.len();
        out.push(toy(account, n, status, due));
    };
    for i in 0..4 {
        add(
            ComplaintStatus::AwaitingPlatform,
            Some(Duration::hours(-4) + Duration::minutes(i)),
        );
    }
    for i in 0..250 {
        // In reverse of their ids, so the deadline order is not the order received.
        add(
            ComplaintStatus::Processing,
            Some(Duration::hours(1) + Duration::minutes(250 - i)),
        );
    }
    for i in 0..3 {
        add(
            ComplaintStatus::Pending,
            Some(Duration::hours(32) - Duration::hours(i)),
        );
    }
    add(ComplaintStatus::Pending, None);
    for _ in 0..5 {
        add(ComplaintStatus::Resolved, None);
    }
    out
}

fn ids_of(cs: &[Complaint]) -> Vec<String> {
    cs.iter().map(|c| c.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chip_counts_exactly_up_to_its_cap() {
    let (h, account) = desk().await;
    let all = mixed(&account);
    store(&h, &all).await;
    let cookie = session(&h).await;
    for path in ["/console/", &format!("/console/?account={account}")] {
        let page = inbox(&h, &cookie, path).await;
        for (label, want) in [
            ("Overdue", "4"),
            ("Due within 24 h", "200+"),
            ("Pending", "4"),
            ("Processing", "200+"),
            ("Awaiting platform", "4"),
        ] {
            assert_eq!(chip(&page.body, label), want, "{path}: {label}");
        }
    }
    // Another account's inbox counts nothing of these.
    let other = h
        .create(json!({"kind": "inbox_toy_shop", "name": "Other", "settings": {"shop": "s2"}}))
        .await;
    let page = inbox(&h, &cookie, &format!("/console/?account={other}")).await;
    for label in ["Overdue", "Due within 24 h", "Pending", "Processing"] {
        assert_eq!(chip(&page.body, label), "0", "{label}");
    }
    assert!(page.body.contains(NO_MATCH), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_lists_its_complaints_on_the_first_page_in_deadline_order() {
    let (h, account) = desk().await;
    let all = mixed(&account);
    store(&h, &all).await;
    let ordered = by_deadline(&h, &ids_of(&all)).await;
    let of = |s: ComplaintStatus| {
        ordered
            .iter()
            .filter(|c| c.status == s)
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()
    };
    let cookie = session(&h).await;

    let pending = inbox(&h, &cookie, "/console/?status=pending").await;
    assert_eq!(
        pending.ids,
        of(ComplaintStatus::Pending),
        "{}",
        pending.body
    );
    assert_eq!(pending.ids.len(), 4);
    assert_eq!(pending.next, None, "the list ended: no next page");
    assert!(!pending.body.contains(NO_MATCH));

    // Within an account, and with the platform named, the same.
    let scoped = inbox(
        &h,
        &cookie,
        &format!("/console/?account={account}&platform=inbox-toy&status=pending"),
    )
    .await;
    assert_eq!(scoped.ids, of(ComplaintStatus::Pending));

    // 250 processing ones over five full pages, in deadline order, each once.
    let pages = every_page(&h, &cookie, "/console/?status=processing", 10).await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.ids.len()).collect();
    assert_eq!(sizes[..5], [50, 50, 50, 50, 50], "{sizes:?}");
    assert!(sizes[5..].iter().all(|n| *n == 0), "{sizes:?}");
    // A page after the last full one says there are no more, not that nothing matches.
    for p in &pages[5..] {
        assert!(p.body.contains("id=\"no-more\""), "{}", p.body);
        assert!(!p.body.contains(NO_MATCH), "{}", p.body);
    }
    let listed: Vec<String> = pages.iter().flat_map(|p| p.ids.clone()).collect();
    assert_eq!(listed, of(ComplaintStatus::Processing));

    let resolved = inbox(&h, &cookie, "/console/?status=resolved").await;
    assert_eq!(resolved.ids, of(ComplaintStatus::Resolved));
    // A status nothing has: the list ends, so "no complaints match".
    let closed = inbox(&h, &cookie, "/console/?status=closed").await;
    assert!(closed.ids.is_empty());
    assert_eq!(closed.next, None);
    assert!(closed.body.contains(NO_MATCH), "{}", closed.body);
    // A status the desk does not know is refused, as the admin API refuses it.
    let page = get(&h, "/console/?status=open", &cookie).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_views_list_and_page_what_they_count() {
    let (h, account) = desk().await;
    let all = mixed(&account);
    store(&h, &all).await;
    let ordered = by_deadline(&h, &ids_of(&all)).await;
    let cookie = session(&h).await;
    let now = t0();

    let overdue = every_page(&h, &cookie, "/console/?due=overdue", 3).await;
    let want: Vec<String> = ordered
        .iter()
        .filter(|c| c.next_due_at.is_some_and(|d| d < now))
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(want.len(), 4);
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].ids, want);

    let soon = every_page(&h, &cookie, "/console/?due=soon", 10).await;
    let want: Vec<String> = ordered
        .iter()
        .filter(|c| desk_core::console_links::due_soon(now, c.next_due_at))
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(want.len(), 250);
    let listed: Vec<String> = soon.iter().flat_map(|p| p.ids.clone()).collect();
    assert_eq!(listed, want, "every page in order, none twice");
    assert_eq!(soon[0].ids.len(), 50);
    assert_eq!(soon[1].ids, want[50..100], "the next link continues");

    // Pending ones are due later than a day: none is due soon, and the list ends.
    let none = inbox(&h, &cookie, "/console/?status=pending&due=soon").await;
    assert!(none.ids.is_empty());
    assert_eq!(none.next, None);
    assert!(none.body.contains(NO_MATCH), "{}", none.body);
    let late = inbox(
        &h,
        &cookie,
        "/console/?status=awaiting_platform&due=overdue",
    )
    .await;
    assert_eq!(late.ids, overdue[0].ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_read_its_bound_without_a_row_says_more_may_follow() {
    let (h, account) = desk().await;
    let bound = desk_http::console::inbox::READ_BOUND as usize;
    // More processing ones than a page reads (one a minute from now on), then one pending
    // due after all of them.
    let mut all: Vec<Complaint> = (0..bound + 30)
        .map(|n| {
            toy(
                &account,
                n,
                ComplaintStatus::Processing,
                Some(Duration::minutes(n as i64)),
            )
        })
        .collect();
    all.push(toy(
        &account,
        bound + 30,
        ComplaintStatus::Pending,
        Some(Duration::hours(40)),
    ));
    let pending_id = all[bound + 30].id.clone();
    store(&h, &all).await;
    let cookie = session(&h).await;

    let first = inbox(&h, &cookie, "/console/?status=pending").await;
    assert!(first.ids.is_empty());
    assert!(!first.body.contains(NO_MATCH), "{}", first.body);
    assert!(
        first.body.contains(&format!(
            "None in the first {bound} read by deadline; more may follow."
        )),
        "{}",
        first.body
    );
    let next = first.next.expect("a next link");
    let second = inbox(&h, &cookie, &next).await;
    assert_eq!(second.ids, vec![pending_id]);
    assert_eq!(second.next, None);
    // The chip knew all along.
    assert_eq!(chip(&first.body, "Pending"), "1");
}
