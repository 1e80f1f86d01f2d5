//! Latency samples and their percentiles (nearest rank over the sorted samples: every request
//! is kept, so p99 is a real request's latency, not an estimate).

use std::time::Duration;

/// Per-request latencies of one measurement.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    sorted: Vec<Duration>,
    dirty: Vec<Duration>,
}

impl Samples {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Duration) {
        self.dirty.push(d);
    }

    pub fn extend(&mut self, other: Samples) {
        self.dirty.extend(other.sorted);
        self.dirty.extend(other.dirty);
    }

    fn settle(&mut self) {
        if !self.dirty.is_empty() {
            self.sorted.append(&mut self.dirty);
            self.sorted.sort_unstable();
        }
    }

    pub fn len(&self) -> usize {
        self.sorted.len() + self.dirty.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `p`-th percentile (0 < p ≤ 100) by nearest rank: the smallest sample with at least
    /// p % of the samples at or below it. None without samples.
    pub fn percentile(&mut self, p: f64) -> Option<Duration> {
        if self.is_empty() {
            return None;
        }
        self.settle();
        nearest_rank(&self.sorted, p)
    }

    pub fn max(&mut self) -> Option<Duration> {
        self.settle();
        self.sorted.last().copied()
    }
}

/// Nearest-rank percentile of ascending `sorted`.
pub fn nearest_rank(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let n = sorted.len();
    // rank = ceil(p/100 * n), 1-based; computed in integers from per-mille to avoid 0.1 + 0.2.
    let per_100k = (p * 1000.0).round() as u128;
    let rank = (per_100k * n as u128).div_ceil(100_000).max(1) as usize;
    sorted.get(rank.min(n) - 1).copied()
}

/// Milliseconds with two decimals, or "–" when there is nothing.
pub fn ms(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.2}", d.as_secs_f64() * 1000.0),
        None => "–".into(),
    }
}

/// CPU time per answered request.
pub fn cpu_per(cpu: Duration, n: usize) -> Option<Duration> {
    (n > 0).then(|| cpu / u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank_picks_a_real_sample() {
        let s = millis(&(1..=100).collect::<Vec<_>>());
        assert_eq!(nearest_rank(&s, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(nearest_rank(&s, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(nearest_rank(&s, 99.9), Some(Duration::from_millis(100)));
        assert_eq!(nearest_rank(&s, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(nearest_rank(&s, 0.5), Some(Duration::from_millis(1)));
    }

    #[test]
    fn small_sets_round_up_to_the_next_sample() {
        let s = millis(&[10, 20, 30]);
        assert_eq!(nearest_rank(&s, 50.0), Some(Duration::from_millis(20)));
        assert_eq!(nearest_rank(&s, 99.0), Some(Duration::from_millis(30)));
        assert_eq!(
            nearest_rank(&millis(&[7]), 99.0),
            Some(Duration::from_millis(7))
        );
    }

    #[test]
    fn no_samples_or_a_bad_rank_gives_none() {
        assert_eq!(nearest_rank(&[], 50.0), None);
        assert_eq!(nearest_rank(&millis(&[1]), 0.0), None);
        assert_eq!(nearest_rank(&millis(&[1]), 101.0), None);
        assert_eq!(nearest_rank(&millis(&[1]), f64::NAN), None);
    }

    #[test]
    fn samples_sort_what_arrived_in_any_order() {
        let mut s = Samples::new();
        for m in [30, 10, 20] {
            s.push(Duration::from_millis(m));
        }
        assert_eq!(s.percentile(50.0), Some(Duration::from_millis(20)));
        let mut more = Samples::new();
        more.push(Duration::from_millis(5));
        s.extend(more);
        assert_eq!(s.len(), 4);
        assert_eq!(s.percentile(25.0), Some(Duration::from_millis(5)));
        assert_eq!(s.max(), Some(Duration::from_millis(30)));
        assert_eq!(ms(Some(Duration::from_micros(1500))), "1.50");
        assert_eq!(ms(None), "–");
    }
}
