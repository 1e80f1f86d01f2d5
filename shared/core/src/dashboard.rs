//! The staff dashboard's numbers over a range of Beijing days, from the complaint records (the
//! console also runs on AWS, where there is no Prometheus to ask): complaints received per day
//! and platform, the first-response time (median and 90th percentile), refunds (automatic and
//! by staff), and the deadlines missed.
//!
//! The caller lists the complaints received in the range (the list partition's time range, in
//! the caller's scope: the console reads them through the admin API's own list, at most a
//! bounded number) and hands them here, newest first. What the complaint record alone tells is
//! counted from it: the day and platform, whether it has been replied to, its deadlines (a
//! deadline due before now that was not met by its time is missed, met late included). The
//! rest comes from each complaint's own partition, at most [`DETAIL_READS`] queries per call:
//! the action log of a complaint replied to (its first successful reply is its first response;
//! a complaint replied to outside the desk, in the platform's back office, has none and is
//! counted apart), and the refunds of a complaint with money refunded (a refund counts once the
//! platform took it: `SUCCESS`, or a refund id and not closed — a claim whose call never got an
//! answer is not money refunded; sequence [`crate::complaints::AUTO_REFUND_SEQUENCE`] is the
//! automatic one, any other was asked for by staff). Past the bound the newest complaints'
//! details are used and [`Summary::details_capped`] says so. The reads run
//! [`DETAIL_CONCURRENCY`] at a time (a thousand one after another take seconds on DynamoDB).
//!
//! A deadline's `met_at` is when the desk first saw it met (a push or a reconciliation pass
//! that found the reply), not a time the platform reports: a reply made in the platform's back
//! office counts from when the desk noticed it. The console says so next to the missed
//! deadlines.

use crate::complaints::{AUTO_REFUND_SEQUENCE, ComplaintRepo, counts_against_order};
use crate::repo::RepoError;
use chrono::{DateTime, NaiveDate, Utc};
use domain::complaint::{ActionKind, ActionOutcome, Complaint, ComplaintStatus, Platform};
use domain::ports::RecordStore;
use futures_util::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;

/// Queries of complaints' own partitions (action logs, refunds) one summary makes at most.
pub const DETAIL_READS: usize = 1000;
/// Of those, how many run at once.
pub const DETAIL_CONCURRENCY: usize = 16;
/// Complaints with a missed deadline listed one by one (the rest are counted).
pub const MISSED_LISTED: usize = 50;

/// The Beijing days a summary covers, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Days {
    /// The `n` days up to and including `last`.
    pub fn ending(last: NaiveDate, n: u32) -> Self {
        let back = chrono::Days::new(u64::from(n.max(1) - 1));
        Days {
            first: last.checked_sub_days(back).unwrap_or(NaiveDate::MIN),
            last,
        }
    }

    /// When the first day starts (00:00 Beijing time).
    pub fn start(&self) -> DateTime<Utc> {
        domain::clock::china_day_start(self.first)
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.first <= day && day <= self.last
    }

    /// Every day, oldest first.
    pub fn each(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.first.iter_days().take_while(|d| *d <= self.last)
    }
}

/// A distribution of durations in seconds: how many, the median and the 90th percentile
/// (nearest rank: a value some complaint really had).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub count: usize,
    pub median_secs: i64,
    pub p90_secs: i64,
}

impl Spread {
    /// The spread of `values` (None when empty).
    pub fn of(mut values: Vec<i64>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank = |p: usize| {
            // The smallest value with at least p % of the values at or below it.
            let r = (values.len() * p).div_ceil(100).max(1);
            values[r - 1]
        };
        Some(Spread {
            count: values.len(),
            median_secs: rank(50),
            p90_secs: rank(90),
        })
    }
}

/// Refunds counted together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refunds {
    pub count: usize,
    pub fen: u64,
}

/// A deadline missed: its label (in Chinese, as the platform's rules word it), when it was
/// due, and when it was met late (None: still not met).
#[derive(Debug, Clone, PartialEq)]
pub struct MissedDeadline {
    pub label: String,
    pub due_at: DateTime<Utc>,
    pub met_at: Option<DateTime<Utc>>,
}

/// A complaint with deadlines missed.
#[derive(Debug, Clone, PartialEq)]
pub struct Missed {
    pub complaint_id: String,
    pub platform: Platform,
    pub account_id: String,
    pub platform_complaint_id: String,
    pub deadlines: Vec<MissedDeadline>,
}

/// The dashboard's numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Per day (oldest first), complaints received per platform.
    pub per_day: Vec<(NaiveDate, BTreeMap<Platform, usize>)>,
    /// Complaints received in the range, per platform.
    pub per_platform: BTreeMap<Platform, usize>,
    pub received: usize,
    /// First-response time, over every platform.
    pub first_response: Option<Spread>,
    /// First-response time per platform (platforms with at least one response).
    pub first_response_by_platform: BTreeMap<Platform, Spread>,
    /// Replied to, but with no reply of ours in the log (answered in the platform's back
    /// office): no time to measure.
    pub replied_elsewhere: usize,
    /// Open (pending, processing, awaiting the platform) and not replied to yet.
    pub awaiting_reply: usize,
    pub automatic_refunds: Refunds,
    pub staff_refunds: Refunds,
    /// Deadlines missed, and the complaints that have them (newest first, at most
    /// [`MISSED_LISTED`]).
    pub missed_deadlines: usize,
    pub missed_complaints: usize,
    pub missed: Vec<Missed>,
    /// More complaints needed their action log or refunds read than [`DETAIL_READS`] allows:
    /// the first-response times and refunds are those of the newest complaints.
    pub details_capped: bool,
}

fn is_open(s: ComplaintStatus) -> bool {
    matches!(
        s,
        ComplaintStatus::Pending | ComplaintStatus::Processing | ComplaintStatus::AwaitingPlatform
    )
}

/// The deadlines of `c` that passed before `now` without being met by their time.
fn missed_deadlines(c: &Complaint, now: DateTime<Utc>) -> Vec<MissedDeadline> {
    c.deadlines
        .iter()
        .filter(|d| d.due_at < now && d.met_at.is_none_or(|m| m > d.due_at))
        .map(|d| MissedDeadline {
            label: d.label.clone(),
            due_at: d.due_at,
            met_at: d.met_at,
        })
        .collect()
}

/// The summary of `complaints` (received in `days`, newest first; others are left out) at
/// `now`, reading their action logs and refunds from `records` (see the module's comment).
pub async fn summarise(
    records: &dyn RecordStore,
    complaints: &[Complaint],
    days: Days,
    now: DateTime<Utc>,
) -> Result<Summary, RepoError> {
    let repo = ComplaintRepo::new(records);
    let in_range: Vec<&Complaint> = complaints
        .iter()
        .filter(|c| days.contains(domain::clock::china_date(c.received_at)))
        .collect();
    let mut s = Summary {
        per_day: days.each().map(|d| (d, BTreeMap::new())).collect(),
        ..Summary::default()
    };
    let mut responses: Vec<(Platform, i64)> = Vec::new();
    let (mut auto_fen, mut staff_fen) = (Vec::new(), Vec::new());
    // The detail reads, newest complaints first, within the bound; run concurrently below.
    let mut reads: Vec<Read<'_>> = Vec::new();
    for c in in_range {
        s.received += 1;
        *s.per_platform.entry(c.platform).or_default() += 1;
        let day = domain::clock::china_date(c.received_at);
        if let Some((_, counts)) = s.per_day.iter_mut().find(|(d, _)| *d == day) {
            *counts.entry(c.platform).or_default() += 1;
        }
        if !c.replied && is_open(c.status) {
            s.awaiting_reply += 1;
        }
        let missed = missed_deadlines(c, now);
        if !missed.is_empty() {
            s.missed_deadlines += missed.len();
            s.missed_complaints += 1;
            if s.missed.len() < MISSED_LISTED {
                s.missed.push(Missed {
                    complaint_id: c.id.clone(),
                    platform: c.platform,
                    account_id: c.account_id.clone(),
                    platform_complaint_id: c.platform_complaint_id.clone(),
                    deadlines: missed,
                });
            }
        }
        for (wanted, read) in [
            (c.replied, Read::FirstReply(c)),
            (c.refunded_fen > 0, Read::Refunds(c)),
        ] {
            if !wanted {
                continue;
            }
            if reads.len() >= DETAIL_READS {
                s.details_capped = true;
            } else {
                reads.push(read);
            }
        }
    }
    // The futures are made first: a closure inside the stream would make the handler's future
    // not general enough over its lifetimes.
    let reads: Vec<_> = reads.into_iter().map(|read| read.run(&repo)).collect();
    let details: Vec<Detail> = futures_util::stream::iter(reads)
        .buffer_unordered(DETAIL_CONCURRENCY)
        .try_collect()
        .await?;
    for detail in details {
        match detail {
            Detail::FirstReply(c, Some(at)) => {
                let made = c.complained_at.unwrap_or(c.received_at);
                responses.push((c.platform, (at - made).num_seconds().max(0)));
            }
            Detail::FirstReply(_, None) => s.replied_elsewhere += 1,
            Detail::Refunds(refunds) => {
                for r in refunds.iter().filter(|r| refund_made(r)) {
                    if r.sequence == AUTO_REFUND_SEQUENCE {
                        s.automatic_refunds.count += 1;
                        auto_fen.push(r.amount_fen);
                    } else {
                        s.staff_refunds.count += 1;
                        staff_fen.push(r.amount_fen);
                    }
                }
            }
        }
    }
    // A sum past u64 (never in practice) shows as the largest amount, not a wrapped one.
    s.automatic_refunds.fen = domain::money::sum(auto_fen).unwrap_or(u64::MAX);
    s.staff_refunds.fen = domain::money::sum(staff_fen).unwrap_or(u64::MAX);
    s.first_response = Spread::of(responses.iter().map(|(_, v)| *v).collect());
    let mut by_platform: BTreeMap<Platform, Vec<i64>> = BTreeMap::new();
    for (p, v) in responses {
        by_platform.entry(p).or_default().push(v);
    }
    s.first_response_by_platform = by_platform
        .into_iter()
        .filter_map(|(p, v)| Spread::of(v).map(|sp| (p, sp)))
        .collect();
    Ok(s)
}

/// One read of a complaint's own partition.
enum Read<'a> {
    /// Its action log, for its first successful reply.
    FirstReply(&'a Complaint),
    /// Its refunds.
    Refunds(&'a Complaint),
}

/// What a [`Read`] found.
enum Detail<'a> {
    /// The complaint and when we first replied (None: replied elsewhere).
    FirstReply(&'a Complaint, Option<DateTime<Utc>>),
    Refunds(Vec<crate::complaints::RefundRecord>),
}

impl<'a> Read<'a> {
    async fn run(self, repo: &ComplaintRepo<'_>) -> Result<Detail<'a>, RepoError> {
        Ok(match self {
            Read::FirstReply(c) => {
                let first = repo
                    .actions(&c.id)
                    .await?
                    .into_iter()
                    .filter(|a| {
                        a.action == ActionKind::Reply
                            && matches!(
                                a.outcome,
                                ActionOutcome::Succeeded | ActionOutcome::AlreadyDone
                            )
                    })
                    .map(|a| a.at)
                    .min();
                Detail::FirstReply(c, first)
            }
            Read::Refunds(c) => Detail::Refunds(repo.refunds(&c.id).await?),
        })
    }
}

/// A refund the platform took: paid, or accepted (a refund id) and not closed. A claim whose
/// platform call never got an answer still bounds the order ([`counts_against_order`]) but is
/// not money refunded.
fn refund_made(r: &crate::complaints::RefundRecord) -> bool {
    r.status == "SUCCESS" || (r.refund_id.is_some() && counts_against_order(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_nearest_rank() {
        assert_eq!(Spread::of(vec![]), None);
        let one = Spread::of(vec![42]).expect("spread");
        assert_eq!((one.count, one.median_secs, one.p90_secs), (1, 42, 42));
        // 1..=10: the median is the 5th value, the 90th percentile the 9th.
        let ten = Spread::of((1..=10).rev().collect()).expect("spread");
        assert_eq!((ten.median_secs, ten.p90_secs), (5, 9));
        let three = Spread::of(vec![300, 60, 7200]).expect("spread");
        assert_eq!((three.median_secs, three.p90_secs), (300, 7200));
    }

    #[test]
    fn days_end_on_the_last_and_hold_n_days() {
        let last = NaiveDate::from_ymd_opt(2026, 11, 27).expect("day");
        let d = Days::ending(last, 7);
        assert_eq!(d.first, NaiveDate::from_ymd_opt(2026, 11, 21).expect("day"));
        assert_eq!(d.each().count(), 7);
        assert!(d.contains(last) && !d.contains(last.succ_opt().expect("day")));
    }
}
