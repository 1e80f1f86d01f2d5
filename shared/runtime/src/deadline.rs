//! How long an invocation's work may run: until Lambda's deadline for the invocation, less a
//! margin to finish (a record's follow-up: back-off, requeue or dead letter; the batch
//! response; the metrics). Work still running then is abandoned (its future dropped): the
//! same as a crash, which every job survives, but the invocation itself answers in time
//! instead of timing out with everything it had finished.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What is kept back from the deadline to finish: a record's follow-up, the response, the
/// metrics. Far more than that takes; a clock step on the host is the risk it covers.
pub const REPORT_MARGIN: Duration = Duration::from_millis(1500);

/// The time left for the work of an invocation whose deadline is `deadline_ms` (milliseconds
/// since the epoch, as Lambda's `Context::deadline`), at `now`, keeping `margin` back. `None`
/// when there is no deadline (0: not invoked by Lambda, e.g. a test); zero when it has passed.
pub fn budget(deadline_ms: u64, now: SystemTime, margin: Duration) -> Option<Duration> {
    if deadline_ms == 0 {
        return None;
    }
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    Some(
        deadline
            .duration_since(now)
            .unwrap_or_default()
            .saturating_sub(margin),
    )
}

/// The budget of an invocation with this deadline, from now, keeping [`REPORT_MARGIN`] back.
pub fn budget_now(deadline_ms: u64) -> Option<Duration> {
    budget(deadline_ms, SystemTime::now(), REPORT_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_the_time_to_the_deadline_less_the_margin() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let in_30s = 1_700_000_030_000;
        assert_eq!(
            budget(in_30s, now, REPORT_MARGIN),
            Some(Duration::from_millis(28_500))
        );
        assert_eq!(budget(0, now, REPORT_MARGIN), None, "no deadline");
        let passed = 1_699_999_999_000;
        assert_eq!(budget(passed, now, REPORT_MARGIN), Some(Duration::ZERO));
        let nearly = 1_700_000_001_000;
        assert_eq!(budget(nearly, now, REPORT_MARGIN), Some(Duration::ZERO));
    }
}
