//! The automatic handling over the embedded record store, with a toy platform written here: a
//! platform that keeps its refunds in memory and records every call it was asked for.

use super::*;
use crate::state::Services;
use crate::worker::JobError;
use async_trait::async_trait;
use domain::complaint::{ActionKind, ActionLogEntry, ActionOutcome, Complaint};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const ACCOUNT: &str = "acct_toy";

fn services(dir: &tempfile::TempDir) -> Services {
    crate::test_support::embedded_services(dir)
}

/// The toy platform: what it was asked, and the refunds it holds by request number.
#[derive(Default)]
struct Toy {
    calls: Mutex<Vec<String>>,
    refunds: Mutex<HashMap<String, u64>>,
    /// The next refund is made, then the run fails before it hears back (a crash right after
    /// the refund call).
    fail_after_refund: AtomicBool,
    /// The refunds it holds were closed (the money never left).
    closed: AtomicBool,
}

impl Toy {
    fn called(&self, what: &str) {
        self.calls.lock().expect("calls").push(what.to_string());
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("calls").clone()
    }

    fn refunds(&self) -> Vec<u64> {
        self.refunds
            .lock()
            .expect("refunds")
            .values()
            .copied()
            .collect()
    }
}

/// The toy's operations on one complaint of 1000 fen, under an account with `cap`.
struct ToyOps {
    toy: Arc<Toy>,
    cap: Option<u64>,
}

#[async_trait]
impl AutoOps for ToyOps {
    type Order = ();

    async fn reply(&self, _record: &Complaint) -> Result<Option<Sent>, JobError> {
        self.toy.called("reply");
        Ok(Some(Sent::Done("replied".into())))
    }

    async fn refund_target(
        &self,
        record: &Complaint,
    ) -> Result<Result<RefundTarget<()>, NoRefund>, JobError> {
        Ok(Ok(RefundTarget {
            order: (),
            payer: ACCOUNT.into(),
            number: format!("TOY-{}", record.id),
            transaction_id: Some("T1".into()),
            per_order: false,
            total: 1000,
            cap: self.cap,
            wanted: Ok(1000),
        }))
    }

    async fn find_refund(&self, t: &RefundTarget<()>) -> Result<Found, JobError> {
        self.toy.called("find_refund");
        Ok(
            match self.toy.refunds.lock().expect("refunds").get(&t.number) {
                Some(amount) => Found::Made(Made {
                    refund_id: Some(format!("R-{}", t.number)),
                    status: if self.toy.closed.load(Ordering::SeqCst) {
                        "CLOSED".into()
                    } else {
                        "SUCCESS".into()
                    },
                    amount: Some(*amount),
                }),
                None => Found::NotFound,
            },
        )
    }

    async fn refund(
        &self,
        t: &RefundTarget<()>,
        amount: u64,
    ) -> Result<Result<Made, Refusal>, JobError> {
        self.toy.called("refund");
        self.toy
            .refunds
            .lock()
            .expect("refunds")
            .insert(t.number.clone(), amount);
        if self.toy.fail_after_refund.swap(false, Ordering::SeqCst) {
            return Err(JobError::Retryable {
                source: "the worker stopped right after the refund call".into(),
                retry_after: None,
            });
        }
        Ok(Ok(Made {
            refund_id: Some(format!("R-{}", t.number)),
            status: "SUCCESS".into(),
            amount: Some(amount),
        }))
    }

    async fn complete(
        &self,
        _record: &Complaint,
        _refunded: u64,
    ) -> Result<Option<Sent>, JobError> {
        self.toy.called("complete");
        Ok(Some(Sent::Done("completed".into())))
    }
}

/// One run of the toy complaint's job (as a push would start it).
async fn run(
    state: &Services,
    toy: &Arc<Toy>,
    cap: Option<u64>,
    job: &str,
) -> Result<(), JobError> {
    let now = state.ports.clock.now();
    // Any platform's name will do: the toy stands in for it.
    let platform = domain::complaint::Platform::Wxmini;
    let shown = Shown {
        new: Complaint::new(
            "cmp_toy".into(),
            platform,
            None,
            ACCOUNT.into(),
            "TOY-1".into(),
            now,
        ),
        fill: Box::new(|c: &mut Complaint| {
            c.complaint_amount_fen = Some(1000);
        }),
        history: Box::new(|_: &Complaint| Vec::new()),
        now,
    };
    let ops = ToyOps {
        toy: toy.clone(),
        cap,
    };
    handle(
        state,
        job,
        Snapshot {
            shown,
            notice: None,
            ops: Some(ops),
        },
    )
    .await
}

async fn actions(state: &Services) -> Vec<ActionLogEntry> {
    crate::complaints::ComplaintRepo::of(&state.ports)
        .detail("cmp_toy")
        .await
        .expect("detail")
        .expect("the record")
        .actions
}

fn of(actions: &[ActionLogEntry], kind: ActionKind) -> Vec<ActionOutcome> {
    actions
        .iter()
        .filter(|a| a.action == kind)
        .map(|a| a.outcome)
        .collect()
}

async fn record(state: &Services) -> Complaint {
    crate::complaints::ComplaintRepo::of(&state.ports)
        .get("cmp_toy")
        .await
        .expect("get")
        .expect("the record")
        .0
}

#[tokio::test]
async fn replies_refunds_under_the_cap_and_completes_exactly_once() {
    let dir = tempfile::tempdir().expect("dir");
    let state = services(&dir);
    let toy = Arc::new(Toy::default());
    run(&state, &toy, Some(1000), "job-1")
        .await
        .expect("first run");
    assert_eq!(toy.calls(), ["reply", "find_refund", "refund", "complete"]);
    // The same push again: everything is already done, nothing is asked.
    run(&state, &toy, Some(1000), "job-2")
        .await
        .expect("second run");
    assert_eq!(toy.calls(), ["reply", "find_refund", "refund", "complete"]);
    assert_eq!(toy.refunds(), [1000]);
    let log = actions(&state).await;
    assert_eq!(of(&log, ActionKind::Reply), [ActionOutcome::Succeeded]);
    assert_eq!(of(&log, ActionKind::Refund), [ActionOutcome::Succeeded]);
    assert_eq!(of(&log, ActionKind::Complete), [ActionOutcome::Succeeded]);
    let c = record(&state).await;
    assert!(c.replied && c.completed, "{c:?}");
    assert_eq!(c.refunded_fen, 1000);
}

#[tokio::test]
async fn a_run_failing_right_after_the_refund_is_retried_without_refunding_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let state = services(&dir);
    let toy = Arc::new(Toy::default());
    toy.fail_after_refund.store(true, Ordering::SeqCst);
    let failed = run(&state, &toy, None, "job-1").await;
    assert!(
        matches!(failed, Err(JobError::Retryable { .. })),
        "{failed:?}"
    );
    assert_eq!(toy.calls(), ["reply", "find_refund", "refund"]);
    // The retry finds the refund by its number, does not ask again, and completes.
    run(&state, &toy, None, "job-1").await.expect("retry");
    assert_eq!(
        toy.calls(),
        ["reply", "find_refund", "refund", "find_refund", "complete"]
    );
    assert_eq!(toy.refunds(), [1000]);
    let log = actions(&state).await;
    assert_eq!(of(&log, ActionKind::Refund), [ActionOutcome::AlreadyDone]);
    assert_eq!(of(&log, ActionKind::Complete), [ActionOutcome::Succeeded]);
    let c = record(&state).await;
    assert!(c.completed, "{c:?}");
    assert_eq!(c.refunded_fen, 1000);
}

#[tokio::test]
async fn an_amount_over_the_cap_is_skipped_without_a_refund_call() {
    let dir = tempfile::tempdir().expect("dir");
    let state = services(&dir);
    let toy = Arc::new(Toy::default());
    let done = run(&state, &toy, Some(999), "job-1").await;
    assert!(done.is_ok(), "a skipped refund is no failure: {done:?}");
    assert_eq!(
        toy.calls(),
        ["reply", "find_refund"],
        "no refund, no completion"
    );
    assert!(toy.refunds().is_empty());
    let log = actions(&state).await;
    let refund: Vec<_> = log
        .iter()
        .filter(|a| a.action == ActionKind::Refund)
        .collect();
    assert_eq!(refund.len(), 1, "{log:?}");
    assert_eq!(refund[0].outcome, ActionOutcome::Skipped);
    assert!(
        refund[0].detail.contains("1000 fen") && refund[0].detail.contains("cap of 999"),
        "{}",
        refund[0].detail
    );
    assert!(!record(&state).await.completed);
}

#[tokio::test]
async fn a_refund_the_platform_closed_is_not_asked_again_and_the_complaint_is_left_to_staff() {
    let dir = tempfile::tempdir().expect("dir");
    let state = services(&dir);
    let toy = Arc::new(Toy::default());
    // The refund was asked for, the run stopped before hearing back, and the platform then
    // closed the refund.
    toy.fail_after_refund.store(true, Ordering::SeqCst);
    assert!(run(&state, &toy, None, "job-1").await.is_err());
    toy.closed.store(true, Ordering::SeqCst);
    for job in ["job-1", "job-2"] {
        run(&state, &toy, None, job)
            .await
            .expect("a closed refund is no failure");
    }
    assert_eq!(
        toy.calls(),
        ["reply", "find_refund", "refund", "find_refund"],
        "found closed once, then known from our record: no refund asked again, no completion"
    );
    let log = actions(&state).await;
    assert_eq!(
        of(&log, ActionKind::Refund),
        [ActionOutcome::Skipped, ActionOutcome::Skipped]
    );
    assert!(of(&log, ActionKind::Complete).is_empty(), "{log:?}");
    let c = record(&state).await;
    assert!(!c.completed, "{c:?}");
    assert_eq!(c.refunded_fen, 0, "a closed refund does not count");
}

#[tokio::test]
async fn an_automatic_reply_and_refund_are_counted_once_however_often_the_push_comes() {
    let counters = crate::test_support::Counters::default();
    let _local = metrics::set_default_local_recorder(&counters);
    let dir = tempfile::tempdir().expect("dir");
    let state = services(&dir);
    let toy = Arc::new(Toy::default());
    run(&state, &toy, None, "job-1").await.expect("first run");
    run(&state, &toy, None, "job-2")
        .await
        .expect("the push again");
    let labels = [("platform", "wxmini"), ("account", ACCOUNT)];
    use crate::metrics as m;
    assert_eq!(counters.get(m::AUTOMATIC_REPLIES, &labels), 1);
    assert_eq!(counters.get(m::AUTOMATIC_REFUNDS, &labels), 1);
    assert_eq!(counters.get(m::AUTOMATIC_REFUND_FEN, &labels), 1000);
    let received = [labels[0], labels[1], ("source", "push")];
    assert_eq!(counters.get(m::COMPLAINTS_RECEIVED, &received), 1);
}

#[tokio::test]
async fn a_refund_found_made_by_a_retry_is_not_counted_again() {
    let counters = crate::test_support::Counters::default();
    let _local = metrics::set_default_local_recorder(&counters);
    let dir = tempfile::tempdir().expect("dir");
    let state = services(&dir);
    let toy = Arc::new(Toy::default());
    toy.fail_after_refund.store(true, Ordering::SeqCst);
    assert!(run(&state, &toy, None, "job-1").await.is_err());
    run(&state, &toy, None, "job-1").await.expect("retry");
    assert_eq!(toy.refunds(), [1000]);
    // The run that asked never heard back; the retry found it made: neither counts it (the
    // counter never says more refunds than were made).
    let labels = [("platform", "wxmini"), ("account", ACCOUNT)];
    assert_eq!(counters.get(crate::metrics::AUTOMATIC_REFUNDS, &labels), 0);
    assert_eq!(
        counters.get(crate::metrics::AUTOMATIC_REFUND_FEN, &labels),
        0
    );
}
