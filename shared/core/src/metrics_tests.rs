//! The metrics' subtle rules over the embedded record store: a missed deadline is counted
//! once (the versioned write that marks it), a met one when it is first met; complaint times
//! are measured by the services' clock.

use crate::complaints::ComplaintRepo;
use crate::deadlines::sweep::mark_missed;
use crate::metrics::*;
use crate::state::Services;
use chrono::{DateTime, Duration, Utc};
use domain::clock::ManualClock;
use domain::complaint::{Complaint, Counted, Deadline, Platform};
use std::sync::Arc;

/// A platform that declares no deadline rules: the deadlines written are the ones stored.
const TOY: Platform = Platform::new("metrics_toy");

const MISSED: [(&str, &str); 3] = [
    ("platform", "metrics_toy"),
    ("account", "acct_1"),
    ("outcome", "missed"),
];
const MET: [(&str, &str); 3] = [
    ("platform", "metrics_toy"),
    ("account", "acct_1"),
    ("outcome", "met"),
];

fn overdue_complaint(id: &str, due: DateTime<Utc>) -> (Complaint, Deadline) {
    let mut c = Complaint::new(
        id.into(),
        TOY,
        None,
        "acct_1".into(),
        "4200".into(),
        due - Duration::days(1),
    );
    let d = Deadline {
        what: "first_reply".into(),
        label: "首次回复".into(),
        starts_at: due - Duration::days(1),
        due_at: due,
        source: domain::complaint::DeadlineSource {
            kind: domain::complaint::DeadlineSourceKind::PublishedRule,
            detail: "test".into(),
        },
        consequence: String::new(),
        met_at: None,
        counted: None,
    };
    c.deadlines = vec![d.clone()];
    (c, d)
}

/// Services over a fresh embedded store whose clock stands at `now`, and the store's dir.
fn services_at(now: DateTime<Utc>) -> (Services, Arc<ManualClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let mut state = crate::test_support::embedded_services(&dir);
    let clock = Arc::new(ManualClock::new(now));
    state.ports.clock = clock.clone();
    (state, clock, dir)
}

/// Store `c` as it is (no metrics: a plain write).
async fn stored(state: &Services, c: &Complaint) -> Complaint {
    ComplaintRepo::of(&state.ports)
        .save(c, 0)
        .await
        .expect("save");
    ComplaintRepo::of(&state.ports)
        .get(&c.id)
        .await
        .expect("get")
        .expect("stored")
        .0
}

/// The staff answer `what` at the clock's now (a write through the versioned modify).
async fn answer(state: &Services, id: &str, what: &str) -> Complaint {
    let at = state.ports.clock.now();
    ComplaintRepo::of(&state.ports)
        .modify(id, |c| {
            for d in c.deadlines.iter_mut().filter(|d| d.what == what) {
                d.met_at.get_or_insert(at);
            }
        })
        .await
        .expect("answered")
}

#[tokio::test]
async fn a_missed_deadline_is_counted_once_across_sweeps_and_a_late_answer() {
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let now = Utc::now();
    let (state, _clock, _dir) = services_at(now);
    let repo = ComplaintRepo::of(&state.ports);
    let (c, d) = overdue_complaint("cmp_late", now - Duration::hours(1));
    let c = stored(&state, &c).await;
    for _ in 0..3 {
        // Each sweep lists the record as it is stored now.
        let listed = repo.get(&c.id).await.expect("get").expect("stored").0;
        mark_missed(&repo, &listed, now).await;
    }
    assert_eq!(
        counters.get(DEADLINES, &MISSED),
        1,
        "three sweeps, one miss"
    );
    let (marked, version) = repo.get(&c.id).await.expect("get").expect("stored");
    assert_eq!(marked.deadlines[0].counted, Some(Counted::Missed));
    assert_eq!(
        version, 2,
        "one write marked it; the later sweeps wrote nothing"
    );
    // Answered late: the same miss, not a second one, and no "met".
    answer(&state, &c.id, "first_reply").await;
    assert_eq!(counters.get(DEADLINES, &MISSED), 1);
    assert_eq!(counters.get(DEADLINES, &MET), 0);
    // A deadline written anew (no rules carry the count on this platform) is a new one.
    let moved = repo
        .modify(&c.id, |x| {
            x.deadlines = vec![Deadline {
                due_at: d.due_at - Duration::minutes(5),
                ..d.clone()
            }]
        })
        .await
        .expect("moved");
    mark_missed(&repo, &moved, now).await;
    assert_eq!(counters.get(DEADLINES, &MISSED), 2);
}

#[tokio::test]
async fn a_deadline_answered_months_after_it_was_missed_is_not_counted_again() {
    // The mark lives on the record, not in an expiring item: an answer 61 days late (past any
    // retention of a separate mark) still finds the miss counted.
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let now = Utc::now();
    let (state, clock, _dir) = services_at(now);
    let repo = ComplaintRepo::of(&state.ports);
    let (c, _) = overdue_complaint("cmp_months", now - Duration::hours(1));
    let c = stored(&state, &c).await;
    mark_missed(&repo, &c, now).await;
    assert_eq!(counters.get(DEADLINES, &MISSED), 1);
    clock.advance(Duration::days(61));
    let answered = answer(&state, &c.id, "first_reply").await;
    assert!(answered.deadlines[0].is_met_late());
    assert_eq!(counters.get(DEADLINES, &MISSED), 1, "counted once");
    assert_eq!(counters.get(DEADLINES, &MET), 0);
}

#[tokio::test]
async fn sweeps_racing_a_late_answer_count_each_miss_exactly_once() {
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let now = Utc::now();
    let (state, _clock, _dir) = services_at(now);
    let repo = ComplaintRepo::of(&state.ports);
    const N: usize = 20;
    for n in 0..N {
        let (c, _) = overdue_complaint(&format!("cmp_race_{n}"), now - Duration::hours(1));
        let c = stored(&state, &c).await;
        // Two sweeps that listed the record before either wrote, and the staff's late answer,
        // all at once: each reads, changes and writes with compare-and-set.
        let (a, b, answered) = tokio::join!(
            mark_missed(&repo, &c, now),
            mark_missed(&repo, &c, now),
            answer(&state, &c.id, "first_reply"),
        );
        assert!(answered.deadlines[0].is_met());
        let _ = (a, b);
    }
    assert_eq!(counters.get(DEADLINES, &MISSED), N as u64);
    assert_eq!(counters.get(DEADLINES, &MET), 0);
}

#[tokio::test]
async fn a_deadline_met_in_time_is_counted_when_it_is_first_met() {
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let now = Utc::now();
    let (c, d) = overdue_complaint("cmp_in_time", now + Duration::hours(1));
    let before = Complaint {
        deadlines: vec![d.clone()],
        ..c.clone()
    };
    let mut after = Complaint {
        deadlines: vec![Deadline {
            met_at: Some(now),
            ..d.clone()
        }],
        ..c.clone()
    };
    let first = count_deadlines(Some(&before), &mut after, now);
    complaint_written(Some(&before), &after, now, &first);
    assert_eq!(after.deadlines[0].counted, Some(Counted::Met));
    let mut again = after.clone();
    let second = count_deadlines(Some(&after), &mut again, now);
    complaint_written(Some(&after), &again, now, &second);
    assert_eq!(counters.get(DEADLINES, &MET), 1);
    assert_eq!(counters.get(DEADLINES, &MISSED), 0);
}

#[tokio::test]
async fn a_deadline_due_the_moment_it_starts_is_never_counted() {
    // WeChat Pay's immediate service: due when the complaint is made. Counting it would call
    // every such complaint missed, however fast it is answered.
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let now = Utc::now();
    let (state, clock, _dir) = services_at(now);
    let repo = ComplaintRepo::of(&state.ports);
    let (mut c, mut d) = overdue_complaint("cmp_asap", now - Duration::hours(1));
    d.what = "immediate_service".into();
    d.starts_at = d.due_at;
    c.deadlines = vec![d.clone()];
    let c = stored(&state, &c).await;
    assert!(
        mark_missed(&repo, &c, now).await.is_none(),
        "nothing to mark"
    );
    clock.advance(Duration::minutes(1));
    answer(&state, &c.id, "immediate_service").await;
    assert_eq!(counters.get(DEADLINES, &MISSED), 0);
    assert_eq!(counters.get(DEADLINES, &MET), 0);
}

#[tokio::test]
async fn complaint_times_are_measured_by_the_services_clock() {
    // The services' clock stands two hours after the complaint was made (a test clock, or a
    // replay): the first response and the completion take two hours, whatever the wall clock.
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let made = Utc::now() - Duration::days(30);
    let (state, _clock, _dir) = services_at(made + Duration::hours(2));
    let (mut c, _) = overdue_complaint("cmp_timed", made + Duration::days(1));
    c.complained_at = Some(made);
    let c = stored(&state, &c).await;
    ComplaintRepo::of(&state.ports)
        .modify(&c.id, |x| {
            x.replied = true;
            x.status = domain::complaint::ComplaintStatus::Resolved;
        })
        .await
        .expect("answered");
    let labels = [("platform", "metrics_toy"), ("account", "acct_1")];
    for name in [FIRST_RESPONSE_SECONDS, COMPLETION_SECONDS] {
        assert_eq!(counters.histogram(name, &labels), vec![7200.0], "{name}");
    }
}

/// A platform whose rules give one `respond` deadline, due at the platform's time
/// (`platform_due_at`, re-read on every write as the mini program's `expireTime` is), met
/// once the complaint is replied to (at its `updated_at`).
const MOVING: Platform = Platform::new("metrics_moving_toy");

struct Moving;

impl domain::deadline::DeadlineRules for Moving {
    fn deadlines(&self, c: &Complaint) -> Vec<Deadline> {
        let Some(due) = c.platform_due_at else {
            return Vec::new();
        };
        vec![Deadline {
            what: "respond".into(),
            label: "回应投诉".into(),
            starts_at: due - Duration::hours(48),
            due_at: due,
            source: domain::complaint::DeadlineSource {
                kind: domain::complaint::DeadlineSourceKind::PlatformField,
                detail: "test".into(),
            },
            consequence: String::new(),
            met_at: c.replied.then_some(c.updated_at),
            counted: None,
        }]
    }
}

fn moving_labels(outcome: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("platform", "metrics_moving_toy"),
        ("account", "acct_1"),
        ("outcome", outcome),
    ]
}

/// A complaint of [`MOVING`] due at `due`, stored.
async fn moving_complaint(state: &Services, id: &str, due: DateTime<Utc>) -> Complaint {
    domain::deadline::declare(MOVING, Arc::new(Moving));
    let mut c = Complaint::new(
        id.into(),
        MOVING,
        None,
        "acct_1".into(),
        "4200".into(),
        due - Duration::days(2),
    );
    c.platform_due_at = Some(due);
    stored(state, &c).await
}

/// A write that re-reads the platform's time as `due`.
async fn platform_time(state: &Services, id: &str, due: DateTime<Utc>) -> Complaint {
    ComplaintRepo::of(&state.ports)
        .modify(id, |c| c.platform_due_at = Some(due))
        .await
        .expect("written")
}

/// Replied to (or not: opened again) at the clock's now.
async fn replied(state: &Services, id: &str, replied: bool) -> Complaint {
    let at = state.ports.clock.now();
    ComplaintRepo::of(&state.ports)
        .modify(id, |c| {
            c.replied = replied;
            c.updated_at = at;
        })
        .await
        .expect("written")
}

#[tokio::test]
async fn a_met_deadline_whose_platform_time_moves_is_counted_met_once() {
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let now = Utc::now();
    let (state, _clock, _dir) = services_at(now);
    let c = moving_complaint(&state, "cmp_moves_met", now + Duration::hours(10)).await;
    replied(&state, &c.id, true).await;
    assert_eq!(counters.get(DEADLINES, &moving_labels("met")), 1);
    // Later writes read the platform's time again: later, then before our reply.
    platform_time(&state, &c.id, now + Duration::hours(30)).await;
    let moved = platform_time(&state, &c.id, now - Duration::hours(1)).await;
    assert!(moved.deadlines[0].is_met_late(), "now due before our reply");
    assert_eq!(counters.get(DEADLINES, &moving_labels("met")), 1);
    assert_eq!(counters.get(DEADLINES, &moving_labels("missed")), 0);
    assert_eq!(moved.deadlines[0].counted, Some(Counted::Met));
}

#[tokio::test]
async fn a_missed_deadline_is_counted_again_only_when_it_is_extended() {
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let now = Utc::now();
    let (state, clock, _dir) = services_at(now);
    let repo = ComplaintRepo::of(&state.ports);
    let due = now - Duration::hours(1);
    let c = moving_complaint(&state, "cmp_moves_missed", due).await;
    mark_missed(&repo, &c, now).await.expect("marked");
    // The platform's time, read again, is 20 seconds off: the same deadline.
    let shifted = platform_time(&state, &c.id, due + Duration::seconds(20)).await;
    assert_eq!(shifted.deadlines[0].counted, Some(Counted::Missed));
    assert!(mark_missed(&repo, &shifted, now).await.is_none());
    assert_eq!(counters.get(DEADLINES, &moving_labels("missed")), 1);
    // Extended by a day, and missed again: a second miss.
    let extended = platform_time(&state, &c.id, now + Duration::days(1)).await;
    assert_eq!(extended.deadlines[0].counted, None);
    clock.advance(Duration::days(2));
    mark_missed(&repo, &extended, state.ports.clock.now())
        .await
        .expect("marked again");
    assert_eq!(counters.get(DEADLINES, &moving_labels("missed")), 2);
}

#[tokio::test]
async fn a_deadline_met_then_opened_again_is_never_counted_missed() {
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let now = Utc::now();
    let (state, _clock, _dir) = services_at(now);
    let repo = ComplaintRepo::of(&state.ports);
    let c = moving_complaint(&state, "cmp_reopened", now + Duration::hours(1)).await;
    replied(&state, &c.id, true).await;
    let reopened = replied(&state, &c.id, false).await;
    assert!(!reopened.deadlines[0].is_met(), "open again");
    assert!(
        mark_missed(&repo, &reopened, now + Duration::hours(2))
            .await
            .is_none()
    );
    replied(&state, &c.id, true).await;
    assert_eq!(counters.get(DEADLINES, &moving_labels("met")), 1);
    assert_eq!(counters.get(DEADLINES, &moving_labels("missed")), 0);
}

#[tokio::test]
async fn a_deadline_dropped_after_it_passed_unmarked_is_counted_missed_once() {
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let now = Utc::now();
    let (state, _clock, _dir) = services_at(now);
    let repo = ComplaintRepo::of(&state.ports);
    let finish = |c: &mut Complaint| {
        c.status = domain::complaint::ComplaintStatus::Closed;
        c.deadlines.clear();
    };
    let (past, _) = overdue_complaint("cmp_dropped", now - Duration::hours(1));
    let past = stored(&state, &past).await;
    let (ahead, _) = overdue_complaint("cmp_dropped_in_time", now + Duration::hours(1));
    let ahead = stored(&state, &ahead).await;
    // Passed eight days ago: missed before we could see it (as the sweep would not count it).
    let (old, _) = overdue_complaint("cmp_dropped_long_ago", now - Duration::days(8));
    let old = stored(&state, &old).await;
    repo.modify(&past.id, finish).await.expect("closed");
    repo.modify(&ahead.id, finish).await.expect("closed");
    repo.modify(&old.id, finish).await.expect("closed");
    repo.modify(&past.id, |c| c.description = Some("again".into()))
        .await
        .expect("written again");
    assert_eq!(
        counters.get(DEADLINES, &MISSED),
        1,
        "only the one that passed within the window"
    );
    assert_eq!(counters.get(DEADLINES, &MET), 0);
}

#[tokio::test]
async fn a_sweep_that_finds_the_deadline_met_meanwhile_writes_nothing() {
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let now = Utc::now();
    let (state, _clock, _dir) = services_at(now);
    let repo = ComplaintRepo::of(&state.ports);
    let (c, _) = overdue_complaint("cmp_lost_race", now - Duration::hours(1));
    let listed = stored(&state, &c).await;
    answer(&state, &c.id, "first_reply").await;
    assert!(mark_missed(&repo, &listed, now).await.is_none());
    let (_, version) = repo.get(&c.id).await.expect("get").expect("stored");
    assert_eq!(version, 2, "created, answered; the sweep wrote nothing");
    assert_eq!(counters.get(DEADLINES, &MISSED), 1, "the late answer");
}

#[tokio::test]
async fn only_deadlines_the_metrics_counted_carry_a_count() {
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let now = Utc::now();
    let (state, _clock, _dir) = services_at(now);
    // Created already met late (nothing says when), and one due the moment it starts.
    let (mut c, mut d) = overdue_complaint("cmp_created_met", now - Duration::hours(1));
    d.met_at = Some(now);
    let mut asap = d.clone();
    asap.what = "immediate_service".into();
    asap.starts_at = asap.due_at;
    c.deadlines = vec![d, asap];
    let c = stored(&state, &c).await;
    let written = ComplaintRepo::of(&state.ports)
        .modify(&c.id, |x| x.description = Some("again".into()))
        .await
        .expect("written");
    assert!(written.deadlines.iter().all(|d| d.counted.is_none()));
    assert_eq!(counters.get(DEADLINES, &MISSED), 0);
}
