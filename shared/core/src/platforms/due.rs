//! What every platform's deadline rules (`<platform>/deadlines.rs`) do the same way.
//!
//! A platform's rule looks at the stored complaint (its state, its platform fields, and the
//! deadlines stored by the previous write) and says, for each deadline its state knows of,
//! where it stands ([`Standing`]). Then [`settle`] applies the three rules all platforms share:
//!
//! - **Met** (the state moved on because the merchant acted: replied, uploaded evidence,
//!   finished): the deadline stays, with `met_at` = the write that first saw it met
//!   ([`domain::deadline::refresh`] keeps the earliest). A deadline once met stays met even
//!   when a later state no longer mentions it.
//! - **Missed** (the state moved on because time ran out: mini program 202 / 208, RiskGO
//!   `OVERDUE`): the platform's rule keeps the deadline as it was, **unmet**, so it shows as
//!   overdue (`next_due_at` in the past) and the deadline sweep escalates it.
//! - **Finished** (the complaint is resolved or closed): nothing is due any more. Deadlines
//!   met stay; those not met are dropped (`met_at` says the merchant did it, which is never
//!   written for something the merchant did not do), so a finished complaint never stays in
//!   the overdue list. The same holds for a deadline the state no longer asks for (the
//!   platform took the complaint over, the buyer withdrew): it is no longer due.

use chrono::{DateTime, Utc};
use domain::complaint::{Complaint, ComplaintStatus};
use domain::deadline::{Deadline, DeadlineSource, DeadlineSourceKind};

/// Where a deadline stands in the complaint's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// The state waits for it (its time may have passed: then it is overdue).
    Open,
    /// The merchant did it.
    Met,
}

/// One deadline as a platform's rule describes it.
pub(crate) struct Due {
    pub what: &'static str,
    pub label: &'static str,
    pub consequence: &'static str,
    pub kind: DeadlineSourceKind,
    pub detail: String,
    pub starts_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

impl Due {
    /// The deadline, standing as said in complaint `c` (met: at this write, `updated_at`).
    pub fn stands(self, c: &Complaint, standing: Standing) -> Deadline {
        Deadline {
            what: self.what.into(),
            label: self.label.into(),
            starts_at: self.starts_at,
            due_at: self.due_at,
            source: DeadlineSource {
                kind: self.kind,
                detail: self.detail,
            },
            consequence: self.consequence.into(),
            met_at: (standing == Standing::Met).then_some(c.updated_at),
            counted: None,
        }
    }
}

/// The deadline `what` as the previous write stored it, if it was not met (a rule keeps it
/// unchanged when time ran out and the platform's field moved on).
#[cfg_attr(not(feature = "wechatpay"), allow(dead_code))]
pub(crate) fn stored_unmet(c: &Complaint, what: &str) -> Option<Deadline> {
    c.deadlines
        .iter()
        .find(|d| d.what == what && !d.is_met())
        .cloned()
}

/// The deadline `what` as the previous write stored it, now met by this write.
#[cfg_attr(not(feature = "wechatpay"), allow(dead_code))]
pub(crate) fn stored_now_met(c: &Complaint, what: &str) -> Option<Deadline> {
    stored_unmet(c, what).map(|mut d| {
        d.met_at = Some(c.updated_at);
        d
    })
}

/// Complete what a platform's rule found: deadlines met earlier that it no longer mentions
/// are kept; once the complaint is resolved or closed only met deadlines remain.
pub(crate) fn settle(c: &Complaint, mut found: Vec<Deadline>) -> Vec<Deadline> {
    for old in c.deadlines.iter().filter(|d| d.is_met()) {
        if !found.iter().any(|d| d.what == old.what) {
            found.push(old.clone());
        }
    }
    if matches!(
        c.status,
        ComplaintStatus::Resolved | ComplaintStatus::Closed
    ) {
        found.retain(Deadline::is_met);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use domain::complaint::Platform;

    fn complaint() -> Complaint {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 20, 0, 0, 0)
            .single()
            .expect("time");
        Complaint::new(
            "c".into(),
            Platform::new("due-toy"),
            None,
            "a".into(),
            "p".into(),
            t,
        )
    }

    fn due(what: &'static str, c: &Complaint) -> Due {
        Due {
            what,
            label: "x",
            consequence: "y",
            kind: DeadlineSourceKind::Estimate,
            detail: "z".into(),
            starts_at: c.received_at,
            due_at: c.received_at + chrono::Duration::hours(1),
        }
    }

    #[test]
    fn a_met_deadline_stays_met_when_the_state_no_longer_mentions_it() {
        let mut c = complaint();
        c.deadlines = vec![due("a", &c).stands(&c, Standing::Met)];
        let found = settle(&c, vec![due("b", &c).stands(&c, Standing::Open)]);
        let whats: Vec<_> = found.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(whats, ["b", "a"]);
        assert!(found[1].is_met());
    }

    #[test]
    fn a_finished_complaint_keeps_only_what_was_met() {
        for status in [ComplaintStatus::Resolved, ComplaintStatus::Closed] {
            let mut c = complaint();
            c.status = status;
            c.deadlines = vec![due("a", &c).stands(&c, Standing::Met)];
            let found = settle(&c, vec![due("b", &c).stands(&c, Standing::Open)]);
            assert_eq!(found.len(), 1, "{status:?}");
            assert_eq!(found[0].what, "a");
        }
        let c = complaint();
        assert_eq!(
            settle(&c, vec![due("b", &c).stands(&c, Standing::Open)]).len(),
            1,
            "an open complaint keeps what is due"
        );
    }
}
