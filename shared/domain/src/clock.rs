//! The clock port.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use std::sync::Mutex;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests, simulations).
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// China Standard Time (UTC+8, no daylight saving): the platforms' local time and the calendar
/// day used for "at most once a day" rules.
pub fn china_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The Asia/Shanghai calendar day of an instant, as `YYYY-MM-DD`.
pub fn china_day(at: DateTime<Utc>) -> String {
    at.with_timezone(&china_offset())
        .format("%Y-%m-%d")
        .to_string()
}

/// The Asia/Shanghai calendar day of an instant.
pub fn china_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&china_offset()).date_naive()
}

/// The instant a time of day on an Asia/Shanghai calendar day is (UTC+8 has no gaps or folds:
/// a local time is always exactly one instant).
pub fn china_instant(day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    (day.and_time(time) - chrono::Duration::hours(8)).and_utc()
}

/// The instant an Asia/Shanghai calendar day starts (00:00 Beijing time).
pub fn china_day_start(day: NaiveDate) -> DateTime<Utc> {
    china_instant(day, NaiveTime::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn china_day_rolls_over_at_16_utc() {
        let before = Utc.with_ymd_and_hms(2026, 11, 21, 15, 59, 59).single();
        let after = Utc.with_ymd_and_hms(2026, 11, 21, 16, 0, 0).single();
        assert_eq!(china_day(before.expect("valid")), "2026-11-21");
        assert_eq!(china_day(after.expect("valid")), "2026-11-22");
    }
}
