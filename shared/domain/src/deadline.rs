//! Complaint deadlines: what the merchant must do by when, where that time comes from, and
//! whether it was met.
//!
//! Each platform says which deadlines a complaint has in its state ([`DeadlineRules`], declared
//! once per platform by the registry that registers it); the complaint repository calls
//! [`refresh`] on every write, so `deadlines`, `next_due_at` (the earliest deadline not yet met)
//! and the older `deadline` field always follow the stored state. A deadline's `met_at` is kept
//! from the first write that found it met.

use crate::complaint::{Complaint, Platform};
pub use crate::complaint::{Counted, Deadline, DeadlineSource, DeadlineSourceKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};
use utoipa::ToSchema;

/// What the deadline sweep does for an account or a sub-merchant (`settings.deadlines`): the
/// defaults are on (reminders at 50 % and 80 % of each deadline's window and 2 h before it,
/// escalation when it passes, a digest at 09:00 Beijing time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadlineSettings {
    /// Remind the staff before a deadline.
    #[serde(default = "yes")]
    pub reminders: bool,
    /// Remind when this share of a deadline's window has passed (percent, 1..=99).
    #[serde(default = "default_percents")]
    pub remind_at_percent: Vec<u8>,
    /// Remind this many minutes before a deadline.
    #[serde(default = "default_before")]
    pub remind_before_minutes: Vec<u32>,
    /// Tell the escalation audience when a deadline passes unmet.
    #[serde(default = "yes")]
    pub escalate: bool,
    /// Who else hears of a missed deadline (a sub-merchant's escalations also go to the
    /// provider's staff).
    #[serde(default)]
    pub escalation_recipients: EscalationRecipients,
    /// The daily digest.
    #[serde(default)]
    pub digest: DigestSettings,
}

impl Default for DeadlineSettings {
    fn default() -> Self {
        Self {
            reminders: true,
            remind_at_percent: default_percents(),
            remind_before_minutes: default_before(),
            escalate: true,
            escalation_recipients: EscalationRecipients::default(),
            digest: DigestSettings::default(),
        }
    }
}

/// Extra recipients of escalations, reached over the account's own configured channels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationRecipients {
    #[serde(default)]
    pub emails: Vec<String>,
    /// Phone numbers for SMS.
    #[serde(default)]
    pub phones: Vec<String>,
    /// Official-account openids for template messages.
    #[serde(default)]
    pub oa_openids: Vec<String>,
}

impl EscalationRecipients {
    pub fn is_empty(&self) -> bool {
        self.emails.is_empty() && self.phones.is_empty() && self.oa_openids.is_empty()
    }

    /// The lists with each contact masked ([`mask_contact`]), for readers who may not see
    /// staff contacts.
    pub fn masked(&self) -> Self {
        let m = |v: &[String]| v.iter().map(|c| mask_contact(c)).collect();
        Self {
            emails: m(&self.emails),
            phones: m(&self.phones),
            oa_openids: m(&self.oa_openids),
        }
    }
}

/// A staff contact shown without giving it away: an e-mail address keeps its first character
/// and its domain (`b***@example.com`), a phone number its first 3 and last 4 characters, an
/// openid its first 4.
pub fn mask_contact(c: &str) -> String {
    let chars: Vec<char> = c.chars().collect();
    if let Some((local, domain)) = c.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    if c.starts_with('+') && chars.len() >= 8 {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        return format!("{head}****{tail}");
    }
    let head: String = chars.iter().take(4.min(chars.len() / 2)).collect();
    format!("{head}***")
}

/// The daily digest of open complaints (by e-mail, template message and bots; never SMS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Beijing time of day, `HH:MM`.
    #[serde(default = "default_digest_time")]
    pub local_time: String,
}

impl Default for DigestSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            local_time: default_digest_time(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_percents() -> Vec<u8> {
    vec![50, 80]
}

fn default_before() -> Vec<u32> {
    vec![120]
}

fn default_digest_time() -> String {
    "09:00".into()
}

/// A platform's deadline rules: which deadlines a complaint has in its stored state, computed
/// from the platform's own fields kept on the record. A deadline the rule finds met carries
/// `met_at` (the complaint's `updated_at` will do: [`refresh`] keeps an earlier time).
pub trait DeadlineRules: Send + Sync {
    fn deadlines(&self, complaint: &Complaint) -> Vec<Deadline>;
}

type Registry = HashMap<Platform, Arc<dyn DeadlineRules>>;

static RULES: LazyLock<RwLock<Registry>> = LazyLock::new(|| RwLock::new(HashMap::new()));

/// Declare a platform's deadline rules for this process (the platform registry does it when a
/// platform is registered; a second declaration replaces the first).
pub fn declare(platform: Platform, rules: Arc<dyn DeadlineRules>) {
    RULES
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(platform, rules);
}

/// The deadlines the platform's declared rules give the complaint now (None: no rules were
/// declared for its platform in this process).
pub fn rules_for(complaint: &Complaint) -> Option<Vec<Deadline>> {
    let rules = RULES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&complaint.platform)
        .cloned()?;
    Some(rules.deadlines(complaint))
}

/// How much later a deadline counted missed must fall due to be a new one (extended by the
/// platform, so it may be missed, and counted, again): a platform time re-read a few seconds
/// or minutes off is the same deadline.
pub const EXTENSION: chrono::Duration = chrono::Duration::hours(1);

/// Re-compute a complaint's deadlines from its state (when its platform declared rules in this
/// process; otherwise the stored ones stay), keep each deadline's first `met_at` and how the
/// metrics counted it ([`carried`]), and set `next_due_at` (and the older `deadline`, its
/// alias) to the earliest one not met. Counting itself is the repository's, at the write
/// (`desk_core::metrics`).
pub fn refresh(c: &mut Complaint) {
    if let Some(mut fresh) = rules_for(c) {
        for d in &mut fresh {
            let old = c.deadlines.iter().find(|o| o.what == d.what);
            if let Some(first) = old.and_then(|o| o.met_at)
                && let Some(now) = d.met_at
            {
                d.met_at = Some(first.min(now));
            }
            d.counted = old.and_then(|o| carried(o, d));
        }
        fresh.sort_by_key(|d| d.due_at);
        c.deadlines = fresh;
    }
    c.next_due_at = next_due(&c.deadlines);
    c.deadline = c.next_due_at;
}

/// How the metrics' count of `old` carries to `new`, the deadline of the same `what` the rules
/// give now: counted met stays counted while `new` is the same window (met, or opened no later
/// than `old` was met: its due time moved, or it opens again), so it is settled; a window that
/// opens after `old` was met (a buyer's next message, a mini program's next request for refund
/// evidence) is a new deadline, counted on its own. Counted missed stays unless `new` falls due
/// more than [`EXTENSION`] later (a real extension: a new deadline).
pub fn carried(old: &Deadline, new: &Deadline) -> Option<Counted> {
    match old.counted? {
        Counted::Met => {
            // The window `old` was counted in lasts until it was met, or, opened again since
            // (met no more), from its start.
            let counted_until = old.met_at.unwrap_or(old.starts_at);
            (new.is_met() || new.starts_at <= counted_until).then_some(Counted::Met)
        }
        Counted::Missed => (new.due_at <= old.due_at + EXTENSION).then_some(Counted::Missed),
    }
}

/// The earliest due time of the deadlines not met.
pub fn next_due(deadlines: &[Deadline]) -> Option<DateTime<Utc>> {
    deadlines
        .iter()
        .filter(|d| !d.is_met())
        .map(|d| d.due_at)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    struct Fixed;

    const TOY: Platform = Platform::new("deadline-toy");

    impl DeadlineRules for Fixed {
        fn deadlines(&self, c: &Complaint) -> Vec<Deadline> {
            let start = c.received_at;
            let mk = |what: &str, hours: i64, met: bool| Deadline {
                what: what.into(),
                label: what.into(),
                starts_at: start,
                due_at: start + chrono::Duration::hours(hours),
                source: DeadlineSource {
                    kind: DeadlineSourceKind::Estimate,
                    detail: "test".into(),
                },
                consequence: String::new(),
                met_at: met.then_some(c.updated_at),
                counted: None,
            };
            vec![mk("b", 72, c.completed), mk("a", 24, c.replied)]
        }
    }

    #[test]
    fn next_due_is_the_earliest_not_met_and_met_at_stays_the_first() {
        declare(TOY, Arc::new(Fixed));
        let t0 = Utc
            .with_ymd_and_hms(2026, 3, 20, 15, 50, 0)
            .single()
            .expect("time");
        let mut c = Complaint::new("c".into(), TOY, None, "a".into(), "p".into(), t0);
        refresh(&mut c);
        assert_eq!(c.deadlines.len(), 2);
        assert_eq!(c.deadlines[0].what, "a", "sorted by due time");
        assert_eq!(c.next_due_at, Some(t0 + chrono::Duration::hours(24)));
        assert_eq!(c.deadline, c.next_due_at);

        c.replied = true;
        c.updated_at = t0 + chrono::Duration::hours(1);
        refresh(&mut c);
        assert_eq!(c.deadlines[0].met_at, Some(c.updated_at));
        assert_eq!(c.next_due_at, Some(t0 + chrono::Duration::hours(72)));

        let first = c.updated_at;
        c.updated_at = t0 + chrono::Duration::hours(5);
        refresh(&mut c);
        assert_eq!(
            c.deadlines[0].met_at,
            Some(first),
            "the first time it was met"
        );

        c.completed = true;
        refresh(&mut c);
        assert_eq!(c.next_due_at, None, "everything met: nothing is due");
    }

    /// Due at the platform's time (`platform_due_at`), else a day after the complaint: a
    /// deadline that moves when the platform says so.
    struct Moving;

    const MOVING: Platform = Platform::new("deadline-moving-toy");

    impl DeadlineRules for Moving {
        fn deadlines(&self, c: &Complaint) -> Vec<Deadline> {
            vec![Deadline {
                what: "reply".into(),
                label: "reply".into(),
                starts_at: c.received_at,
                due_at: c
                    .platform_due_at
                    .unwrap_or(c.received_at + chrono::Duration::hours(24)),
                source: DeadlineSource {
                    kind: DeadlineSourceKind::Estimate,
                    detail: "test".into(),
                },
                consequence: String::new(),
                met_at: c.replied.then_some(c.updated_at),
                counted: None,
            }]
        }
    }

    #[test]
    fn a_count_stays_with_the_deadline_when_its_time_moves_and_missed_ends_with_an_extension() {
        declare(MOVING, Arc::new(Moving));
        let t0 = Utc
            .with_ymd_and_hms(2026, 3, 20, 0, 0, 0)
            .single()
            .expect("time");
        let h = chrono::Duration::hours;
        let mut c = Complaint::new("c".into(), MOVING, None, "a".into(), "p".into(), t0);
        refresh(&mut c);
        assert_eq!(c.deadlines[0].counted, None);
        c.deadlines[0].counted = Some(Counted::Missed);
        refresh(&mut c);
        assert_eq!(c.deadlines[0].counted, Some(Counted::Missed), "kept");
        // The platform's time, re-read, is a few seconds off: the same deadline.
        c.platform_due_at = Some(t0 + h(24) + chrono::Duration::seconds(7));
        refresh(&mut c);
        assert_eq!(c.deadlines[0].counted, Some(Counted::Missed), "seconds off");
        // Extended by a day: a new deadline, not counted yet.
        c.platform_due_at = Some(t0 + h(48));
        refresh(&mut c);
        assert_eq!(c.deadlines[0].counted, None, "extended");
        // Counted met: settled, wherever its time goes and if it opens again.
        c.replied = true;
        refresh(&mut c);
        c.deadlines[0].counted = Some(Counted::Met);
        c.replied = false;
        c.platform_due_at = Some(t0 + h(96));
        refresh(&mut c);
        assert!(!c.deadlines[0].is_met(), "open again");
        assert_eq!(c.deadlines[0].counted, Some(Counted::Met));
    }

    /// A window that opens after the last one was met (a buyer's second message) is a new
    /// deadline: the first one's count does not carry to it.
    #[test]
    fn a_met_count_does_not_carry_to_a_window_opened_after_it_was_met() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 3, 20, 0, 0, 0)
            .single()
            .expect("time");
        let h = chrono::Duration::hours;
        let window = |starts: i64, met: Option<i64>, counted| Deadline {
            what: "user_message".into(),
            label: "x".into(),
            starts_at: t0 + h(starts),
            due_at: t0 + h(starts + 24),
            source: DeadlineSource {
                kind: DeadlineSourceKind::PlatformField,
                detail: "f".into(),
            },
            consequence: String::new(),
            met_at: met.map(|m| t0 + h(m)),
            counted,
        };
        let first = window(0, Some(2), Some(Counted::Met));
        assert_eq!(
            carried(&first, &window(30, None, None)),
            None,
            "next message"
        );
        assert_eq!(
            carried(&first, &window(0, None, None)),
            Some(Counted::Met),
            "reopened"
        );
        assert_eq!(
            carried(&first, &window(1, None, None)),
            Some(Counted::Met),
            "moved"
        );
        assert_eq!(
            carried(&first, &window(30, Some(31), None)),
            Some(Counted::Met),
            "opened and met in one write: settled with the first"
        );
        // Opened again, then refreshed once more (a save refreshes twice): still settled.
        let reopened = window(0, None, Some(Counted::Met));
        assert_eq!(
            carried(&reopened, &window(0, None, None)),
            Some(Counted::Met),
            "reopened, refreshed again"
        );
        assert_eq!(
            carried(&reopened, &window(30, None, None)),
            None,
            "a later window"
        );
    }

    #[test]
    fn without_declared_rules_the_stored_deadlines_stay() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        let mut c = Complaint::new(
            "c".into(),
            Platform::new("undeclared-toy"),
            None,
            "a".into(),
            "p".into(),
            t0,
        );
        c.deadlines = vec![Deadline {
            what: "x".into(),
            label: "x".into(),
            starts_at: t0,
            due_at: t0 + chrono::Duration::hours(3),
            source: DeadlineSource {
                kind: DeadlineSourceKind::PlatformField,
                detail: "f".into(),
            },
            consequence: String::new(),
            met_at: None,
            counted: None,
        }];
        refresh(&mut c);
        assert_eq!(c.next_due_at, Some(t0 + chrono::Duration::hours(3)));
    }
}
