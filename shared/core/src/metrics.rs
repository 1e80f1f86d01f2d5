//! The desk's metrics: the catalogue's names and a typed helper per metric, so that a call
//! site cannot misspell a name or a label. Everything goes through the `metrics` crate's
//! facade; what a process does with it is its composition root's choice (the embedded binary
//! renders Prometheus text at `GET /metrics`; the Lambda functions write CloudWatch EMF). With
//! no recorder installed every helper is a no-op.
//!
//! Names are given without a prefix: the Prometheus exporter adds `complaint_desk_`, EMF
//! writes them as they are (namespace `ComplaintDesk`). Labels are low-cardinality only:
//! `platform`, `account` (our account id) and the small fixed enums below; never a complaint
//! id, a sub-merchant id, an openid, an order number or a URL.

use domain::complaint::{Complaint, ComplaintStatus, Counted, Deadline, Platform};
use domain::job::Origin;
use domain::notification::Channel;

/// A complaint recorded for the first time: `platform`, `account`, `source`.
pub const COMPLAINTS_RECEIVED: &str = "complaints_received_total";
/// Reconciliation queued a complaint whose push never came: `platform`, `account`.
pub const RECONCILE_FOUND: &str = "reconcile_found_total";
/// Every callback request answered: `platform`, `outcome`.
pub const CALLBACKS: &str = "callbacks_total";
/// A complaint's first reply, seconds since it was made: `platform`, `account`.
pub const FIRST_RESPONSE_SECONDS: &str = "first_response_seconds";
/// A complaint reaches resolved or closed, seconds since it was made: `platform`, `account`.
pub const COMPLETION_SECONDS: &str = "completion_seconds";
/// A platform deadline passed answered or not: `platform`, `account`, `outcome`.
pub const DEADLINES: &str = "deadlines_total";
/// An automatic reply sent: `platform`, `account`.
pub const AUTOMATIC_REPLIES: &str = "automatic_replies_total";
/// An automatic refund issued: `platform`, `account`.
pub const AUTOMATIC_REFUNDS: &str = "automatic_refunds_total";
/// The automatic refunds' amount in fen: `platform`, `account`.
pub const AUTOMATIC_REFUND_FEN: &str = "automatic_refund_fen_total";
/// One staff-notice delivery attempt's result: `channel`, `outcome`.
pub const STAFF_NOTICES: &str = "staff_notices_total";
/// Every call to a platform API: `platform`, `operation`, `outcome`.
pub const PLATFORM_CALLS: &str = "platform_calls_total";
/// A job set aside as a dead letter: `queue`.
pub const DEAD_LETTERS: &str = "dead_letters_total";
/// Jobs waiting in a queue (embedded only): `queue`.
pub const QUEUE_DEPTH: &str = "queue_depth";
/// Age of a queue's oldest waiting job (embedded only): `queue`.
pub const QUEUE_OLDEST_AGE_SECONDS: &str = "queue_oldest_age_seconds";

/// The Prometheus prefix of every name (`complaint_desk_callbacks_total`).
pub const PROMETHEUS_PREFIX: &str = "complaint_desk_";
/// The CloudWatch namespace of the EMF lines.
pub const EMF_NAMESPACE: &str = "ComplaintDesk";

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Histogram,
    Gauge,
}

/// Every metric: name, kind and labels (the catalogue, for exporters and documentation).
pub const CATALOGUE: &[(&str, Kind, &[&str])] = &[
    (
        COMPLAINTS_RECEIVED,
        Kind::Counter,
        &["platform", "account", "source"],
    ),
    (RECONCILE_FOUND, Kind::Counter, &["platform", "account"]),
    (CALLBACKS, Kind::Counter, &["platform", "outcome"]),
    (
        FIRST_RESPONSE_SECONDS,
        Kind::Histogram,
        &["platform", "account"],
    ),
    (
        COMPLETION_SECONDS,
        Kind::Histogram,
        &["platform", "account"],
    ),
    (
        DEADLINES,
        Kind::Counter,
        &["platform", "account", "outcome"],
    ),
    (AUTOMATIC_REPLIES, Kind::Counter, &["platform", "account"]),
    (AUTOMATIC_REFUNDS, Kind::Counter, &["platform", "account"]),
    (
        AUTOMATIC_REFUND_FEN,
        Kind::Counter,
        &["platform", "account"],
    ),
    (STAFF_NOTICES, Kind::Counter, &["channel", "outcome"]),
    (
        PLATFORM_CALLS,
        Kind::Counter,
        &["platform", "operation", "outcome"],
    ),
    (DEAD_LETTERS, Kind::Counter, &["queue"]),
    (QUEUE_DEPTH, Kind::Gauge, &["queue"]),
    (QUEUE_OLDEST_AGE_SECONDS, Kind::Gauge, &["queue"]),
];

/// The CloudWatch unit of a metric: `Seconds` for the `_seconds` ones, `Count` otherwise.
pub fn unit(name: &str) -> &'static str {
    if name.ends_with("_seconds") {
        "Seconds"
    } else {
        "Count"
    }
}

/// Histogram buckets for complaint times (seconds): a minute to a week.
pub const COMPLAINT_TIME_BUCKETS: &[f64] = &[
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0, 86400.0, 172800.0,
    259200.0, 604800.0,
];

macro_rules! label_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
    };
}

label_enum!(
    /// How a complaint first came to us.
    Source {
        Push => "push",
        Reconcile => "reconcile",
    }
);

label_enum!(
    /// How a callback request was answered.
    CallbackOutcome {
        /// Queued.
        Accepted => "accepted",
        /// A bad, missing or probe signature, a stale timestamp, or plaintext where
        /// encryption is required.
        BadSignature => "bad_signature",
        /// No account of that platform id.
        UnknownAccount => "unknown_account",
        /// Queued for a disabled account (acknowledged, no automatic action).
        Disabled => "disabled",
        /// A malformed, undecryptable or too large body, or a path that names nothing.
        BadRequest => "bad_request",
        /// Seen before: acknowledged, nothing more done.
        Duplicate => "duplicate",
        /// We could not take it (store or queue unavailable, keys missing).
        Error => "error",
    }
);

impl CallbackOutcome {
    /// A notification queued for an account that is enabled or not.
    pub fn queued(enabled: bool) -> Self {
        if enabled {
            CallbackOutcome::Accepted
        } else {
            CallbackOutcome::Disabled
        }
    }

    /// The outcome an answer's status says when its handler says no more: 2xx accepted, 401
    /// or 403 a bad signature, 404 an unknown account, other 4xx a bad request, 5xx an error.
    pub fn from_status(status: u16) -> Self {
        match status {
            200..=299 => CallbackOutcome::Accepted,
            401 | 403 => CallbackOutcome::BadSignature,
            404 => CallbackOutcome::UnknownAccount,
            400..=499 => CallbackOutcome::BadRequest,
            _ => CallbackOutcome::Error,
        }
    }
}

label_enum!(
    /// Whether a platform deadline was met.
    DeadlineOutcome {
        Met => "met",
        Missed => "missed",
    }
);

label_enum!(
    /// One staff-notice delivery attempt's result.
    NoticeOutcome {
        Sent => "sent",
        /// Failed; it will be tried again.
        Failed => "failed",
        /// Failed for good (a permanent error, or the retry deadline passed).
        GaveUp => "gave_up",
    }
);

label_enum!(
    /// How a platform call ended.
    CallOutcome {
        Ok => "ok",
        /// The platform said "too many requests" (WeChat Pay 429 / `FREQUENCY_LIMITED`,
        /// Alipay `*-call-limited`, WeChat 45009/45011).
        RateLimited => "rate_limited",
        Error => "error",
        /// No answer in time.
        Timeout => "timeout",
    }
);

/// The `channel` label of a staff-notice channel.
pub fn channel_label(c: Channel) -> &'static str {
    match c {
        Channel::Email => "email",
        Channel::OaTemplate => "oa",
        Channel::Sms => "sms",
        Channel::Bot => "bot",
    }
}

/// A complaint recorded for the first time.
pub fn complaint_received(platform: Platform, account: &str, source: Source) {
    ::metrics::counter!(COMPLAINTS_RECEIVED, "platform" => platform.as_str(), "account" => account.to_string(), "source" => source.as_str()).increment(1);
}

/// Reconciliation queued a complaint whose push never came.
pub fn reconcile_found(platform: Platform, account: &str) {
    ::metrics::counter!(RECONCILE_FOUND, "platform" => platform.as_str(), "account" => account.to_string()).increment(1);
}

/// A callback request answered.
pub fn callback(platform: Platform, outcome: CallbackOutcome) {
    ::metrics::counter!(CALLBACKS, "platform" => platform.as_str(), "outcome" => outcome.as_str())
        .increment(1);
}

/// Seconds from when the complaint was made (the platform's time, else when we first saw
/// it) to `at`; never negative.
fn age(c: &Complaint, at: chrono::DateTime<chrono::Utc>) -> f64 {
    let made = c.complained_at.unwrap_or(c.received_at);
    ((at - made).num_milliseconds().max(0) as f64) / 1000.0
}

/// A complaint's first reply (automatic or staff), at `at`.
pub fn first_response(c: &Complaint, at: chrono::DateTime<chrono::Utc>) {
    ::metrics::histogram!(FIRST_RESPONSE_SECONDS, "platform" => c.platform.as_str(), "account" => c.account_id.clone()).record(age(c, at));
}

/// A complaint reached resolved or closed, at `at`.
pub fn completion(c: &Complaint, at: chrono::DateTime<chrono::Utc>) {
    ::metrics::histogram!(COMPLETION_SECONDS, "platform" => c.platform.as_str(), "account" => c.account_id.clone()).record(age(c, at));
}

/// A platform deadline passed answered (met) or not (missed).
pub fn deadline(platform: Platform, account: &str, outcome: DeadlineOutcome) {
    ::metrics::counter!(DEADLINES, "platform" => platform.as_str(), "account" => account.to_string(), "outcome" => outcome.as_str()).increment(1);
}

/// An automatic reply sent.
pub fn automatic_reply(platform: Platform, account: &str) {
    ::metrics::counter!(AUTOMATIC_REPLIES, "platform" => platform.as_str(), "account" => account.to_string()).increment(1);
}

/// An automatic refund issued, of `fen`.
pub fn automatic_refund(platform: Platform, account: &str, fen: u64) {
    let labels = [
        ("platform", platform.as_str().to_string()),
        ("account", account.to_string()),
    ];
    ::metrics::counter!(AUTOMATIC_REFUNDS, &labels).increment(1);
    ::metrics::counter!(AUTOMATIC_REFUND_FEN, &labels).increment(fen);
}

/// One staff-notice delivery attempt's result.
pub fn staff_notice(channel: Channel, outcome: NoticeOutcome) {
    ::metrics::counter!(STAFF_NOTICES, "channel" => channel_label(channel), "outcome" => outcome.as_str()).increment(1);
}

/// A call to a platform API: `operation` is the API's fixed name (never an id or a URL).
pub fn platform_call(platform: Platform, operation: &str, outcome: CallOutcome) {
    ::metrics::counter!(PLATFORM_CALLS, "platform" => platform.as_str(), "operation" => operation.to_string(), "outcome" => outcome.as_str()).increment(1);
}

/// Have the platform clients tell [`platform_call`] of every call they make (once per
/// process; later calls change nothing). A request that was never sent (refused before it
/// left: bad input, no token) is not counted.
pub fn observe_platform_calls() {
    #[cfg(feature = "wechatpay")]
    wechatpay::observe::set_call_observer(|operation, result| {
        use wechatpay::PlatformError as E;
        let outcome = match result {
            Ok(()) => CallOutcome::Ok,
            Err(E::Invalid(_)) => return,
            Err(e) if e.is_throttled() => CallOutcome::RateLimited,
            Err(E::Transport(e)) if e.is_timeout() => CallOutcome::Timeout,
            Err(_) => CallOutcome::Error,
        };
        platform_call(Platform::Wechatpay, operation, outcome);
    });
    #[cfg(feature = "alipay")]
    alipay::client::set_call_observer(|method, result| {
        use alipay::client::AlipayError as E;
        let outcome = match result {
            Ok(()) => CallOutcome::Ok,
            Err(E::Sign(_)) => return,
            Err(e) if e.is_throttled() => CallOutcome::RateLimited,
            Err(_) => CallOutcome::Error,
        };
        platform_call(Platform::Alipay, method, outcome);
    });
    #[cfg(feature = "wechat")]
    wechat::observe::set_call_observer(|operation, result| {
        use wechat::error::WechatError as E;
        let outcome = match result {
            Ok(()) => CallOutcome::Ok,
            Err(E::Invalid(_) | E::Cache(_) | E::NotReady(_)) => return,
            Err(e) if e.is_throttled() => CallOutcome::RateLimited,
            Err(_) => CallOutcome::Error,
        };
        platform_call(Platform::Wxmini, operation, outcome);
    });
}

/// A job set aside on queue `queue` (`events`, `notify`).
pub fn dead_letter(queue: &str) {
    ::metrics::counter!(DEAD_LETTERS, "queue" => queue.to_string()).increment(1);
}

/// A queue's depth and the age of its oldest waiting job (seconds; 0 when empty).
pub fn queue_gauges(queue: &str, depth: u64, oldest_age_seconds: f64) {
    ::metrics::gauge!(QUEUE_DEPTH, "queue" => queue.to_string()).set(depth as f64);
    ::metrics::gauge!(QUEUE_OLDEST_AGE_SECONDS, "queue" => queue.to_string())
        .set(oldest_age_seconds);
}

/// Whether `deadlines_total` counts `d`: a deadline that leaves time to meet it. One due the
/// moment it starts ("as soon as possible": WeChat Pay's immediate service, an estimate due
/// when the complaint is made) can only be missed, and would page the operator for every
/// such complaint however fast it is answered; its reminders and escalation still run.
pub fn measurable(d: &Deadline) -> bool {
    d.due_at > d.starts_at
}

/// How long after its due time an unmet deadline found so is still counted missed (the window
/// of the deadline sweep's escalations too): older ones were missed before we could see them
/// (a first start, a long stop, a record that got its deadlines late).
pub const MISSED_WITHIN: chrono::Duration = chrono::Duration::days(7);

/// Whether a write that finds deadline `d` unmet at `now` counts it missed: one the metrics
/// count, not counted yet, due before `now` and not more than [`MISSED_WITHIN`] before.
pub fn newly_missed(d: &Deadline, now: chrono::DateTime<chrono::Utc>) -> bool {
    d.counted.is_none() && d.is_overdue(now) && now - d.due_at <= MISSED_WITHIN && measurable(d)
}

/// The deadlines a write of a complaint record counts (`deadlines_total`), decided before the
/// write is saved, with `counted` set on those it counts so that the next write knows
/// ([`domain::complaint::Deadline::counted`]; [`complaint_written`] counts them once the write
/// succeeded). The write is versioned, so of two writers racing for one deadline only the one
/// that succeeded counts it. Counted, among the deadlines the metrics count ([`measurable`]):
///
/// - a deadline this write marked missed (the deadline sweep's, before it was counted);
/// - a deadline this write finds met that the record before did not have met (`what`): met
///   in time, or late (missed); never one already counted (see [`domain::deadline::carried`]);
/// - a deadline of the record before that this write dropped (the complaint was finished or its
///   state no longer asks for it) while it was [`newly_missed`]: missed.
///
/// A record created (`before` is None) already replied or with deadlines met says nothing of
/// when that happened: nothing of it is counted.
pub fn count_deadlines(
    before: Option<&Complaint>,
    after: &mut Complaint,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<DeadlineOutcome> {
    let Some(before) = before else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in after.deadlines.iter_mut().filter(|d| measurable(d)) {
        let old = before.deadlines.iter().find(|b| b.what == d.what);
        match d.counted {
            Some(c) if old.is_none_or(|b| b.counted.is_none()) => out.push(outcome(c)),
            Some(_) => {}
            None if d.is_met() && !old.is_some_and(Deadline::is_met) => {
                let c = if d.is_met_late() {
                    Counted::Missed
                } else {
                    Counted::Met
                };
                d.counted = Some(c);
                out.push(outcome(c));
            }
            None => {}
        }
    }
    let dropped = before
        .deadlines
        .iter()
        .filter(|b| newly_missed(b, now) && !after.deadlines.iter().any(|d| d.what == b.what));
    out.extend(dropped.map(|_| DeadlineOutcome::Missed));
    out
}

fn outcome(c: Counted) -> DeadlineOutcome {
    match c {
        Counted::Met => DeadlineOutcome::Met,
        Counted::Missed => DeadlineOutcome::Missed,
    }
}

/// What a write of a complaint record changed that the metrics count, once it succeeded: a
/// complaint recorded for the first time (`before` is None), its first reply, its completion
/// (resolved or closed), and the deadlines [`count_deadlines`] found. A record created already
/// replied or completed says nothing of when that happened, so only its arrival is counted.
pub fn complaint_written(
    before: Option<&Complaint>,
    after: &Complaint,
    now: chrono::DateTime<chrono::Utc>,
    deadlines: &[DeadlineOutcome],
) {
    let Some(before) = before else {
        complaint_received(after.platform, &after.account_id, current_source());
        return;
    };
    if !before.replied && after.replied {
        first_response(after, now);
    }
    let finished = |c: &Complaint| {
        matches!(
            c.status,
            ComplaintStatus::Resolved | ComplaintStatus::Closed
        )
    };
    if !finished(before) && finished(after) {
        completion(after, now);
    }
    for o in deadlines {
        deadline(after.platform, &after.account_id, *o);
    }
}

tokio::task_local! {
    /// The origin of the job a worker is running (see [`in_job`]).
    static JOB_ORIGIN: Option<Origin>;
}

/// Run a job's handler knowing where the job came from, so that a complaint it records for
/// the first time is counted under the right [`Source`].
pub async fn in_job<F: std::future::Future>(origin: Option<Origin>, f: F) -> F::Output {
    JOB_ORIGIN.scope(origin, f).await
}

/// Where the running job came from: reconciliation, or (any other job) a push.
pub fn current_source() -> Source {
    match JOB_ORIGIN.try_with(|o| *o) {
        Ok(Some(Origin::Reconcile)) => Source::Reconcile,
        _ => Source::Push,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_in_the_catalogue_once_and_units_follow_the_suffix() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|(n, _, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        assert_eq!(unit(FIRST_RESPONSE_SECONDS), "Seconds");
        assert_eq!(unit(QUEUE_OLDEST_AGE_SECONDS), "Seconds");
        assert_eq!(unit(AUTOMATIC_REFUND_FEN), "Count");
    }

    #[test]
    fn a_callback_answer_without_a_word_from_its_handler_is_read_from_its_status() {
        assert_eq!(CallbackOutcome::from_status(204), CallbackOutcome::Accepted);
        assert_eq!(
            CallbackOutcome::from_status(401),
            CallbackOutcome::BadSignature
        );
        assert_eq!(
            CallbackOutcome::from_status(404),
            CallbackOutcome::UnknownAccount
        );
        assert_eq!(
            CallbackOutcome::from_status(413),
            CallbackOutcome::BadRequest
        );
        assert_eq!(CallbackOutcome::from_status(503), CallbackOutcome::Error);
    }

    #[tokio::test]
    async fn a_job_from_reconciliation_counts_its_complaints_as_found_by_it() {
        assert_eq!(current_source(), Source::Push);
        let inner = in_job(Some(Origin::Reconcile), async { current_source() }).await;
        assert_eq!(inner, Source::Reconcile);
        let push = in_job(Some(Origin::Push), async { current_source() }).await;
        assert_eq!(push, Source::Push);
    }
}
