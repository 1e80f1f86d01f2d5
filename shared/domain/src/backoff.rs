//! Exponential back-off, written once: the worker's retry policy and the notifier's delivery
//! retries use it. Deterministic: the caller brings the randomness for jitter.

use std::time::Duration;

/// A delay that starts at `base` and doubles per attempt, at most `max_doublings` times, and
/// never exceeds `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first attempt.
    pub base: Duration,
    /// No delay is longer than this.
    pub cap: Duration,
    /// The delay stops doubling after this many doublings (below the cap it then stays put).
    pub max_doublings: u32,
}

impl Backoff {
    /// Doubling from `base` up to `cap` (at most 20 doublings).
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            max_doublings: 20,
        }
    }

    /// The same schedule, doubling at most `n` times.
    pub const fn doubling_at_most(self, n: u32) -> Self {
        Self {
            max_doublings: n,
            ..self
        }
    }

    /// The delay after attempt `attempt` (1-based; 0 counts as 1): `base × 2^(attempt-1)`,
    /// at most `cap`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(self.max_doublings);
        self.base
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.cap)
    }

    /// [`Backoff::delay`] with "equal jitter" ([`jitter_upper_half`]); `unit` in `[0, 1)`
    /// chooses where.
    pub fn jittered(&self, attempt: u32, unit: f64) -> Duration {
        jitter_upper_half(self.delay(attempt), unit)
    }
}

/// A delay in `[d/2, d]`, `unit` in `[0, 1)` choosing where (clamped to `[0, 1]`; NaN counts
/// as 0): never shorter than half of `d`, never longer than `d`.
pub fn jitter_upper_half(d: Duration, unit: f64) -> Duration {
    let unit = if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    };
    let half = d / 2;
    half + half.mul_f64(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn doubles_from_the_base_up_to_the_cap() {
        let b = Backoff::new(S(5), S(900));
        let schedule: Vec<Duration> = (1..=10).map(|a| b.delay(a)).collect();
        assert_eq!(
            schedule,
            [5, 10, 20, 40, 80, 160, 320, 640, 900, 900].map(S).to_vec()
        );
        assert_eq!(b.delay(0), S(5), "attempt 0 counts as the first");
        assert_eq!(b.delay(u32::MAX), S(900), "no overflow, still capped");
    }

    #[test]
    fn stops_doubling_after_its_limit() {
        // The notifier's schedule: doubling at most 10 times, capped at 15 minutes.
        let b = Backoff::new(Duration::from_millis(200), S(900)).doubling_at_most(10);
        assert_eq!(b.delay(11), Duration::from_millis(200 * 1024));
        assert_eq!(b.delay(12), Duration::from_millis(200 * 1024));
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(200 * 1024));
        // With the default limit the same base reaches the cap.
        let b = Backoff::new(Duration::from_millis(200), S(900));
        assert_eq!(b.delay(13), Duration::from_millis(200 * 4096));
        assert_eq!(b.delay(14), S(900));
        // A huge base saturates instead of overflowing, and is capped.
        assert_eq!(Backoff::new(Duration::MAX, S(60)).delay(30), S(60));
    }

    #[test]
    fn jitter_stays_in_the_upper_half_of_the_step() {
        let d = S(10);
        assert_eq!(jitter_upper_half(d, 0.0), S(5));
        assert_eq!(jitter_upper_half(d, 0.5), Duration::from_millis(7500));
        assert_eq!(jitter_upper_half(d, 1.0), S(10));
        // Out-of-range units are clamped.
        assert_eq!(jitter_upper_half(d, -3.0), S(5));
        assert_eq!(jitter_upper_half(d, 7.0), S(10));
        assert_eq!(jitter_upper_half(d, f64::NAN), S(5));
        let b = Backoff::new(S(5), S(300));
        for attempt in 1..=12 {
            let step = b.delay(attempt);
            for i in 0..=20 {
                let j = b.jittered(attempt, f64::from(i) / 20.0);
                assert!(j >= step / 2 && j <= step, "{attempt}: {j:?} vs {step:?}");
            }
        }
    }
}
