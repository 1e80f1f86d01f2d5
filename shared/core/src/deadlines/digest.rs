//! The daily digest of one audience (an account's staff, or a sub-merchant's): its open
//! complaints by deadline and yesterday's numbers, as one staff notice by e-mail, template
//! message and bots (never SMS: its templates are fixed and each message costs money).
//!
//! Everything is read with index queries, never a scan:
//! - open complaints: the audience's list partition per open status (`pending`,
//!   `processing`, `awaiting_platform`: the account's, or account and sub-merchant's, status
//!   partition, which holds only complaints of that status, so every item read is used), newest
//!   first, at most [`MAX_OPEN_READ`] per status; sorted here overdue first, then by
//!   `next_due_at`, then those with nothing due, at most [`MAX_LINES`] lines and "… N more".
//!   (The deadline partitions hold every complaint of the scope, closed ones too, and a status
//!   filter on them is applied to the pages read: reading the open ones there would read the
//!   whole history.)
//! - yesterday (the Beijing calendar day before): the audience's complaints received in the
//!   [`LOOKBACK_DAYS`] days up to the end of yesterday (the list partition's time range), and
//!   for those written since yesterday began, their action log and refunds (their own
//!   partition). Received: received yesterday. Answered: the complaint's first successful
//!   reply was yesterday. Completed: its first successful completion was yesterday, or, when
//!   the platform closed it without one of ours, it is resolved or closed and was last written
//!   yesterday. Refunds: refunds asked for yesterday that were not closed (count and yuan).
//!   Deadlines missed: deadlines due yesterday that were not met by their time. A complaint
//!   received before the look-back window is not in yesterday's numbers.

use crate::complaints::list::{ComplaintFilter, ListSort};
use crate::complaints::{ComplaintRepo, RefundRecord, counts_against_order};
use crate::console_links::{self, Due, InboxFilter};
use crate::notices::{self, Notice};
use crate::repo::RepoError;
use crate::state::Services;
use crate::worker::JobError;
use chrono::{DateTime, NaiveDate, Utc};
use domain::complaint::{ActionKind, ActionOutcome, Complaint, ComplaintStatus};
use domain::deadline::DeadlineSourceKind;
use domain::notification::{
    Audience, Channel, DIGEST_EVENT, NotificationSubject, NotificationSummary, SummaryLine,
};
use domain::ports::RecordStore;

/// The statuses of an open complaint.
pub const OPEN: [ComplaintStatus; 3] = [
    ComplaintStatus::Pending,
    ComplaintStatus::Processing,
    ComplaintStatus::AwaitingPlatform,
];

/// Complaint lines in one digest; the rest are counted ("… and N more").
pub const MAX_LINES: usize = 30;
/// Open complaints read per status (the counts say "at least" past it).
pub const MAX_OPEN_READ: usize = 2000;
/// How far back yesterday's numbers look for the complaints that changed yesterday.
pub const LOOKBACK_DAYS: i64 = 31;
/// Complaints of the look-back window read at most.
pub const MAX_WINDOW_READ: usize = 5000;

/// The channels a digest goes to.
pub const CHANNELS: [Channel; 3] = [Channel::Email, Channel::OaTemplate, Channel::Bot];

/// Where a digest points: the audience's inbox in the console (sorted by the nearest
/// deadline), and the inbox's overdue and due-soon views when the digest counts a complaint
/// they would list (due soon: within [`console_links::DUE_SOON`]). None without
/// `PUBLIC_BASE_URL`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestLinks {
    pub inbox: Option<String>,
    pub overdue: Option<String>,
    pub soon: Option<String>,
}

/// Yesterday's numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Yesterday {
    pub day: Option<NaiveDate>,
    pub received: usize,
    pub answered: usize,
    pub completed: usize,
    pub refunds: usize,
    pub refunded_fen: u64,
    pub missed: usize,
}

/// One audience's digest of one day.
#[derive(Debug, Clone)]
pub struct Digest {
    pub day: NaiveDate,
    pub now: DateTime<Utc>,
    /// Open complaints in digest order (overdue first, then by `next_due_at`, then nothing
    /// due).
    pub open: Vec<Complaint>,
    /// Whether more open complaints exist than were read.
    pub open_capped: bool,
    pub yesterday: Yesterday,
}

fn filter(audience: &Audience) -> ComplaintFilter {
    ComplaintFilter {
        account_id: Some(audience.account_id.clone()),
        sub_mchid: audience.sub_mchid.clone(),
        ..ComplaintFilter::default()
    }
}

/// Every page of a list, at most `max` complaints; whether it stopped at `max`.
async fn read_all(
    repo: &ComplaintRepo<'_>,
    f: &ComplaintFilter,
    max: usize,
) -> Result<(Vec<Complaint>, bool), RepoError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = repo.list(f, |_| true, 500, cursor).await?;
        out.extend(page);
        cursor = next;
        if out.len() >= max {
            out.truncate(max);
            return Ok((out, cursor.is_some()));
        }
        if cursor.is_none() {
            return Ok((out, false));
        }
    }
}

impl Digest {
    /// Read the audience's digest of `day` (its yesterday is the day before).
    pub async fn read(
        records: &dyn RecordStore,
        audience: &Audience,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Self, RepoError> {
        let repo = ComplaintRepo::new(records);
        let mut open = Vec::new();
        let mut open_capped = false;
        for status in OPEN {
            let f = ComplaintFilter {
                status: Some(status),
                sort: ListSort::Received,
                ..filter(audience)
            };
            let (list, capped) = read_all(&repo, &f, MAX_OPEN_READ).await?;
            open.extend(list);
            open_capped |= capped;
        }
        open.sort_by(|a, b| {
            (a.next_due_at.is_none(), a.next_due_at, a.received_at, &a.id).cmp(&(
                b.next_due_at.is_none(),
                b.next_due_at,
                b.received_at,
                &b.id,
            ))
        });
        let yesterday = yesterday(records, audience, day).await?;
        Ok(Self {
            day,
            now,
            open,
            open_capped,
            yesterday,
        })
    }

    pub fn overdue(&self) -> usize {
        self.open
            .iter()
            .filter(|c| c.next_due_at.is_some_and(|d| d < self.now))
            .count()
    }

    /// Open complaints due soon: a deadline ahead within [`console_links::DUE_SOON`], as the
    /// inbox's `due=soon` view lists them.
    pub fn due_soon(&self) -> usize {
        self.open
            .iter()
            .filter(|c| console_links::due_soon(self.now, c.next_due_at))
            .count()
    }

    /// Where the digest points ([`DigestLinks`]).
    pub fn links(&self, services: &Services, audience: &Audience) -> DigestLinks {
        let inbox = InboxFilter::account(&audience.account_id, audience.sub_mchid.as_deref());
        let view = |due: Due, count: usize| {
            (count > 0)
                .then(|| console_links::inbox(services, &inbox.due(due)))
                .flatten()
        };
        DigestLinks {
            inbox: console_links::inbox(services, &inbox),
            overdue: view(Due::Overdue, self.overdue()),
            soon: view(Due::Soon, self.due_soon()),
        }
    }

    /// The digest as a staff notice's summary.
    pub fn summary(
        &self,
        platform: &str,
        merchant: &str,
        links: &DigestLinks,
    ) -> NotificationSummary {
        let more = if self.open_capped { "+" } else { "" };
        let y = &self.yesterday;
        NotificationSummary {
            platform: platform.to_string(),
            event: DIGEST_EVENT.to_string(),
            merchant: merchant.to_string(),
            reference: self.day.to_string(),
            at: self.now,
            amount_fen: None,
            user_text: Some(format!(
                "未结{}{more} 逾期{} 昨日新{}",
                self.open.len(),
                self.overdue(),
                y.received
            )),
            deadline: self.open.first().and_then(|c| c.next_due_at),
            link: links.inbox.clone(),
            extra_lines: self.lines(links),
        }
    }

    /// The digest's lines: yesterday's numbers, the open count, the links to the overdue and
    /// due-soon views (before the list, so a bot message cut short keeps them), then one line
    /// per open complaint (at most [`MAX_LINES`], then how many more).
    pub fn lines(&self, links: &DigestLinks) -> Vec<SummaryLine> {
        let line = |label: &str, value: String| SummaryLine {
            label: label.to_string(),
            value,
        };
        let y = &self.yesterday;
        let yday = y.day.map(|d| format!("（{d}）")).unwrap_or_default();
        let more = if self.open_capped { "至少 " } else { "" };
        let mut v = vec![
            line(&format!("昨日新收{yday}"), y.received.to_string()),
            line("昨日首次回复", y.answered.to_string()),
            line("昨日完结", y.completed.to_string()),
            line(
                "昨日退款",
                format!("{} 笔，{}", y.refunds, yuan(y.refunded_fen)),
            ),
            line("昨日错过期限", y.missed.to_string()),
            line(
                "未结投诉",
                format!(
                    "{more}{} 件，其中逾期 {} 件",
                    self.open.len(),
                    self.overdue()
                ),
            ),
        ];
        if let Some(l) = &links.overdue {
            v.push(line("逾期投诉 / overdue", l.clone()));
        }
        if let Some(l) = &links.soon {
            v.push(line("即将到期 / due soon", l.clone()));
        }
        for c in self.open.iter().take(MAX_LINES) {
            v.push(line(&c.platform_complaint_id, self.complaint_line(c)));
        }
        if self.open.len() > MAX_LINES {
            v.push(line(
                "…",
                format!(
                    "另有 {more}{} 件未列出（见链接）",
                    self.open.len() - MAX_LINES
                ),
            ));
        }
        v
    }

    /// What is due, by when (Beijing time), the amount.
    fn complaint_line(&self, c: &Complaint) -> String {
        let due = c
            .deadlines
            .iter()
            .filter(|d| !d.is_met())
            .min_by_key(|d| d.due_at);
        let what = match due {
            Some(d) => {
                let state = if d.due_at < self.now {
                    "已逾期"
                } else {
                    "待办"
                };
                let estimate = if d.source.kind == DeadlineSourceKind::Estimate {
                    "（估计期限，未经平台确认）"
                } else {
                    ""
                };
                format!("{state}：{}，截止 {}{estimate}", d.label, beijing(d.due_at))
            }
            None => match c.next_due_at {
                Some(t) => format!("截止 {}", beijing(t)),
                None => "无待办期限".to_string(),
            },
        };
        let amount = c
            .complaint_amount_fen
            .or_else(|| c.orders.iter().find_map(|o| o.amount_fen));
        match amount {
            Some(f) => format!("{what}；{}", yuan(f)),
            None => what,
        }
    }

    /// Queue the digest for `audience` (by e-mail, template message and bots); how many
    /// notices were queued now (0: an earlier pass queued this day's already).
    pub async fn send(
        &self,
        services: &Services,
        platform: &str,
        merchant: &str,
        audience: &Audience,
        now: DateTime<Utc>,
    ) -> Result<usize, JobError> {
        let links = self.links(services, audience);
        let jobs = notices::send(
            &services.ports,
            Notice {
                owner_pk: format!("DAILY#{}", audience.account_id),
                event_key: format!("digest:{}", self.day),
                subject: NotificationSubject::Digest {
                    account_id: audience.account_id.clone(),
                    sub_mchid: audience.sub_mchid.clone(),
                    day: self.day.to_string(),
                },
                summary: self.summary(platform, merchant, &links),
                audiences: std::slice::from_ref(audience),
                now,
                record_only_when_queued: true,
                extra_recipients: None,
                only_channels: Some(CHANNELS.to_vec()),
            },
        )
        .await?;
        Ok(jobs.len())
    }
}

fn beijing(t: DateTime<Utc>) -> String {
    t.with_timezone(&domain::clock::china_offset())
        .format("%m-%d %H:%M")
        .to_string()
}

fn yuan(fen: u64) -> String {
    format!("{}.{:02} 元", fen / 100, fen % 100)
}

/// Yesterday's numbers of the audience (see the module's comment).
async fn yesterday(
    records: &dyn RecordStore,
    audience: &Audience,
    today: NaiveDate,
) -> Result<Yesterday, RepoError> {
    let Some(day) = today.pred_opt() else {
        return Ok(Yesterday::default());
    };
    let start = domain::clock::china_day_start(day);
    let end = domain::clock::china_day_start(today);
    let during = |t: DateTime<Utc>| start <= t && t < end;
    let repo = ComplaintRepo::new(records);
    let f = ComplaintFilter {
        since: Some(start - chrono::Duration::days(LOOKBACK_DAYS)),
        until: Some(end - chrono::Duration::milliseconds(1)),
        ..filter(audience)
    };
    let (window, capped) = read_all(&repo, &f, MAX_WINDOW_READ).await?;
    if capped {
        tracing::warn!(account_id = %audience.account_id, "more complaints in the digest's look-back window than it reads: yesterday's numbers may be short");
    }
    let mut y = Yesterday {
        day: Some(day),
        ..Yesterday::default()
    };
    let mut refunded: Vec<u64> = Vec::new();
    for c in &window {
        if during(c.received_at) {
            y.received += 1;
        }
        y.missed += c
            .deadlines
            .iter()
            .filter(|d| during(d.due_at) && d.met_at.is_none_or(|m| m > d.due_at))
            .count();
        if c.updated_at < start {
            continue;
        }
        let actions = ComplaintRepo::new(records).actions(&c.id).await?;
        let first = |kind: ActionKind| {
            actions
                .iter()
                .filter(|a| {
                    a.action == kind
                        && matches!(
                            a.outcome,
                            ActionOutcome::Succeeded | ActionOutcome::AlreadyDone
                        )
                })
                .map(|a| a.at)
                .min()
        };
        if first(ActionKind::Reply).is_some_and(during) {
            y.answered += 1;
        }
        let completed = match first(ActionKind::Complete) {
            Some(t) => during(t),
            None => {
                matches!(
                    c.status,
                    ComplaintStatus::Resolved | ComplaintStatus::Closed
                ) && during(c.updated_at)
            }
        };
        if completed {
            y.completed += 1;
        }
        let refunds: Vec<RefundRecord> = repo.refunds(&c.id).await?;
        for r in refunds
            .iter()
            .filter(|r| counts_against_order(r) && during(r.created_at))
        {
            y.refunds += 1;
            refunded.push(r.amount_fen);
        }
    }
    y.refunded_fen = domain::money::sum(refunded).unwrap_or(u64::MAX);
    Ok(y)
}
