//! The metrics' subtle rules over the embedded record store: a missed deadline is counted
//! once, a met one when it is first met.

use crate::metrics::*;
use domain::complaint::{Complaint, Deadline, Platform};

fn overdue_complaint(due: chrono::DateTime<chrono::Utc>) -> (Complaint, Deadline) {
    let c = Complaint::new(
        "cmp_late".into(),
        Platform::Wechatpay,
        None,
        "acct_1".into(),
        "4200".into(),
        due - chrono::Duration::days(1),
    );
    let d = Deadline {
        what: "first_reply".into(),
        label: "首次回复".into(),
        starts_at: due - chrono::Duration::days(1),
        due_at: due,
        source: domain::complaint::DeadlineSource {
            kind: domain::complaint::DeadlineSourceKind::PublishedRule,
            detail: "test".into(),
        },
        consequence: String::new(),
        met_at: None,
    };
    (c, d)
}

#[tokio::test]
async fn a_missed_deadline_is_counted_once_across_sweeps_and_a_late_answer() {
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let dir = tempfile::tempdir().expect("dir");
    let state = crate::test_support::embedded_services(&dir);
    let records = &*state.ports.records;
    let now = chrono::Utc::now();
    let (c, d) = overdue_complaint(now - chrono::Duration::hours(1));
    let missed = [
        ("platform", "wechatpay"),
        ("account", "acct_1"),
        ("outcome", "missed"),
    ];
    for _ in 0..3 {
        deadline_missed(records, &c, &d, now).await;
    }
    assert_eq!(
        counters.get(DEADLINES, &missed),
        1,
        "three sweeps, one miss"
    );
    // Answered late: the same miss, not a second one, and no "met".
    let mut answered = c.clone();
    answered.deadlines = vec![Deadline {
        met_at: Some(now),
        ..d.clone()
    }];
    let before = Complaint {
        deadlines: vec![d.clone()],
        ..c.clone()
    };
    complaint_written(records, Some(&before), &answered, now).await;
    assert_eq!(counters.get(DEADLINES, &missed), 1);
    let met = [missed[0], missed[1], ("outcome", "met")];
    assert_eq!(counters.get(DEADLINES, &met), 0);
    // A deadline that moved is a new one.
    let moved = Deadline {
        due_at: d.due_at - chrono::Duration::minutes(5),
        ..d.clone()
    };
    deadline_missed(records, &c, &moved, now).await;
    assert_eq!(counters.get(DEADLINES, &missed), 2);
}

#[tokio::test]
async fn a_deadline_met_in_time_is_counted_when_it_is_first_met() {
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let dir = tempfile::tempdir().expect("dir");
    let state = crate::test_support::embedded_services(&dir);
    let records = &*state.ports.records;
    let now = chrono::Utc::now();
    let (c, d) = overdue_complaint(now + chrono::Duration::hours(1));
    let before = Complaint {
        deadlines: vec![d.clone()],
        ..c.clone()
    };
    let after = Complaint {
        deadlines: vec![Deadline {
            met_at: Some(now),
            ..d.clone()
        }],
        ..c.clone()
    };
    complaint_written(records, Some(&before), &after, now).await;
    complaint_written(records, Some(&after), &after, now).await;
    let met = [
        ("platform", "wechatpay"),
        ("account", "acct_1"),
        ("outcome", "met"),
    ];
    assert_eq!(counters.get(DEADLINES, &met), 1);
}

#[tokio::test]
async fn a_deadline_due_the_moment_it_starts_is_never_counted() {
    // WeChat Pay's immediate service: due when the complaint is made. Counting it would call
    // every such complaint missed, however fast it is answered.
    let counters = crate::test_support::Counters::default();
    let _local = ::metrics::set_default_local_recorder(&counters);
    let dir = tempfile::tempdir().expect("dir");
    let state = crate::test_support::embedded_services(&dir);
    let records = &*state.ports.records;
    let now = chrono::Utc::now();
    let (c, mut d) = overdue_complaint(now - chrono::Duration::hours(1));
    d.what = "immediate_service".into();
    d.starts_at = d.due_at;
    deadline_missed(records, &c, &d, now).await;
    let mut answered = c.clone();
    answered.deadlines = vec![Deadline {
        met_at: Some(d.due_at + chrono::Duration::minutes(1)),
        ..d.clone()
    }];
    let before = Complaint {
        deadlines: vec![d.clone()],
        ..c.clone()
    };
    complaint_written(records, Some(&before), &answered, now).await;
    for outcome in ["missed", "met"] {
        let key = [
            ("platform", "wechatpay"),
            ("account", "acct_1"),
            ("outcome", outcome),
        ];
        assert_eq!(counters.get(DEADLINES, &key), 0, "{outcome}");
    }
}
