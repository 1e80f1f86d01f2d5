//! Prometheus's text format read back, enough for the tests: each sample line
//! `name{label="value",...} number`, comments skipped.

use std::collections::BTreeMap;

/// One sample: its name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of `text`. Panics on a line that is not a sample (the tests want to know).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| sample(line).unwrap_or_else(|| panic!("not a sample line: {line:?}")))
        .collect()
}

fn sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => (name, labels(rest.strip_suffix('}')?)?),
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `a="x",b="y"` (values without `"` or `,` inside, as the desk's labels are).
fn labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=')?;
        let v = v.strip_prefix('"')?.strip_suffix('"')?;
        out.insert(k.to_string(), v.to_string());
    }
    Some(out)
}

/// The value of the series `name` whose labels are exactly `labels` (0 when absent: a
/// counter not yet moved).
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map_or(0.0, |s| s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_with_their_labels() {
        let s = parse("# TYPE x counter\nx{b=\"2\",a=\"1\"} 3\ny 0.5\nz_bucket{le=\"+Inf\"} 1\n");
        assert_eq!(value(&s, "x", &[("a", "1"), ("b", "2")]), 3.0);
        assert_eq!(value(&s, "x", &[("a", "1")]), 0.0);
        assert_eq!(value(&s, "y", &[]), 0.5);
        assert_eq!(value(&s, "z_bucket", &[("le", "+Inf")]), 1.0);
    }
}
