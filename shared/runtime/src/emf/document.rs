//! Turning one flush's values into CloudWatch Embedded Metric Format documents, within the
//! format's limits: at most [`MAX_METRICS`] metric definitions per document, at most
//! [`MAX_VALUES`] values per metric, at most [`MAX_DIMENSIONS`] keys per dimension set.

use serde_json::{Map, Number, Value, json};

/// Metric definitions per document (EMF: a directive's `Metrics` holds at most 100).
pub const MAX_METRICS: usize = 100;
/// Values of one metric in one document (EMF: a value array holds at most 100).
pub const MAX_VALUES: usize = 100;
/// Keys in one dimension set (EMF: at most 30).
pub const MAX_DIMENSIONS: usize = 30;

/// One metric's values since the last flush, as EMF writes them.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// A counter's increase since the last flush, or a gauge's last value.
    One(f64),
    /// A histogram's observations since the last flush.
    Many(Vec<f64>),
}

/// One series: its EMF name and unit, and what it read since the last flush.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub unit: &'static str,
    pub reading: Reading,
}

/// The series of one label set (the same label names and values): one or more documents.
#[derive(Debug, Clone)]
pub struct Group {
    /// The labels, in the order they were recorded with.
    pub labels: Vec<(String, String)>,
    pub entries: Vec<Entry>,
}

/// What a document needs besides its group.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub namespace: &'a str,
    /// Labels left out of the first (summary) dimension set.
    pub detail_labels: &'a [&'a str],
    /// Milliseconds since the epoch.
    pub timestamp_ms: u64,
}

/// The documents of one group: the summary dimension set (the labels less the detail labels)
/// and the full one, or only one when they are the same. A group that EMF cannot carry (too
/// many labels, a label named `_aws`) gives none, and a metric named like one of its labels is
/// left out: both are logged.
pub fn documents(frame: Frame<'_>, group: &Group) -> Vec<Value> {
    if group.labels.len() > MAX_DIMENSIONS || group.labels.iter().any(|(k, _)| k == "_aws") {
        tracing::warn!(
            labels = group.labels.len(),
            "EMF: a label set EMF cannot carry; its metrics are left out"
        );
        return vec![];
    }
    let full: Vec<&str> = group.labels.iter().map(|(k, _)| k.as_str()).collect();
    let summary: Vec<&str> = full
        .iter()
        .copied()
        .filter(|k| !frame.detail_labels.contains(k))
        .collect();
    let sets = if summary == full {
        vec![full.clone()]
    } else {
        vec![summary, full.clone()]
    };
    let mut docs: Vec<Vec<(&Entry, Value)>> = Vec::new();
    for entry in &group.entries {
        if entry.name == "_aws" || full.contains(&entry.name.as_str()) {
            tracing::warn!(metric = %entry.name, "EMF: a metric named like one of its labels; left out");
            continue;
        }
        for value in values(&entry.reading) {
            // The first document with room that does not hold this metric yet.
            let slot = docs.iter().position(|d| {
                d.len() < MAX_METRICS && !d.iter().any(|(e, _)| e.name == entry.name)
            });
            match slot {
                Some(i) => docs[i].push((entry, value)),
                None => docs.push(vec![(entry, value)]),
            }
        }
    }
    docs.into_iter()
        .map(|metrics| document(frame, &sets, &group.labels, &metrics))
        .collect()
}

/// A reading as EMF values: a number, or arrays of at most [`MAX_VALUES`] (values that are no
/// JSON number, NaN and infinities, are dropped).
fn values(reading: &Reading) -> Vec<Value> {
    match reading {
        Reading::One(v) => Number::from_f64(*v)
            .map(|n| vec![Value::Number(integral(n))])
            .unwrap_or_default(),
        Reading::Many(vs) => {
            let numbers: Vec<Value> = vs
                .iter()
                .filter_map(|v| Number::from_f64(*v))
                .map(|n| Value::Number(integral(n)))
                .collect();
            numbers
                .chunks(MAX_VALUES)
                .map(|c| Value::Array(c.to_vec()))
                .collect()
        }
    }
}

/// Whole numbers as integers (`3`, not `3.0`): counts read as counts in the logs.
fn integral(n: Number) -> Number {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Number::from(f as i64),
        _ => n,
    }
}

fn document(
    frame: Frame<'_>,
    sets: &[Vec<&str>],
    labels: &[(String, String)],
    metrics: &[(&Entry, Value)],
) -> Value {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(e, _)| json!({"Name": e.name, "Unit": e.unit}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": frame.timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": frame.namespace,
                "Dimensions": sets,
                "Metrics": definitions,
            }],
        }),
    );
    for (k, v) in labels {
        // CloudWatch refuses an empty dimension value: "-" stands for it.
        let v = if v.is_empty() { "-" } else { v.as_str() };
        root.insert(k.clone(), Value::String(v.into()));
    }
    for (e, value) in metrics {
        root.insert(e.name.clone(), value.clone());
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Frame<'static> = Frame {
        namespace: "ComplaintDesk",
        detail_labels: &["account", "operation"],
        timestamp_ms: 1_700_000_000_000,
    };

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn entry(name: &str, reading: Reading) -> Entry {
        Entry {
            name: name.into(),
            unit: "Count",
            reading,
        }
    }

    #[test]
    fn a_label_set_with_detail_labels_has_a_summary_set_and_the_full_set() {
        let group = Group {
            labels: labels(&[
                ("platform", "alipay"),
                ("operation", "reply"),
                ("outcome", "ok"),
            ]),
            entries: vec![entry("platform_calls_total", Reading::One(2.0))],
        };
        let docs = documents(FRAME, &group);
        assert_eq!(docs.len(), 1);
        assert_eq!(
            docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([
                ["platform", "outcome"],
                ["platform", "operation", "outcome"]
            ])
        );
        assert_eq!(docs[0]["platform_calls_total"], json!(2));
        assert_eq!(docs[0]["operation"], json!("reply"));
        // Without detail labels, one set.
        let plain = Group {
            labels: labels(&[("platform", "alipay"), ("outcome", "accepted")]),
            entries: vec![entry("callbacks_total", Reading::One(1.0))],
        };
        assert_eq!(
            documents(FRAME, &plain)[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["platform", "outcome"]])
        );
    }

    #[test]
    fn an_empty_label_value_is_written_as_a_dash() {
        let group = Group {
            labels: labels(&[("platform", "alipay"), ("account", "")]),
            entries: vec![entry("automatic_replies_total", Reading::One(1.0))],
        };
        let docs = documents(FRAME, &group);
        assert_eq!(
            docs[0]["account"],
            json!("-"),
            "CloudWatch refuses an empty value"
        );
        assert_eq!(docs[0]["platform"], json!("alipay"));
    }

    #[test]
    fn more_than_a_hundred_values_or_metrics_are_split_over_documents() {
        let many: Vec<f64> = (0..250).map(f64::from).collect();
        let mut entries = vec![entry("first_response_seconds", Reading::Many(many))];
        entries.extend((0..150).map(|i| entry(&format!("m{i}"), Reading::One(1.0))));
        let docs = documents(
            FRAME,
            &Group {
                labels: labels(&[("platform", "wxmini")]),
                entries,
            },
        );
        let mut seen = 0;
        let mut metrics = 0;
        for d in &docs {
            let defs = d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .expect("metrics")
                .len();
            assert!(defs <= MAX_METRICS, "{defs}");
            metrics += defs;
            if let Some(vs) = d["first_response_seconds"].as_array() {
                assert!(vs.len() <= MAX_VALUES);
                seen += vs.len();
            }
        }
        assert_eq!(seen, 250, "every observation once");
        assert_eq!(
            metrics,
            150 + 3,
            "every counter once, the histogram in three pieces"
        );
        assert_eq!(docs.len(), 3);
    }

    #[test]
    fn what_emf_cannot_carry_is_left_out() {
        let clash = Group {
            labels: labels(&[("queue", "events")]),
            entries: vec![
                entry("queue", Reading::One(1.0)),
                entry("dead_letters_total", Reading::One(f64::NAN)),
                entry("ok_total", Reading::One(1.0)),
            ],
        };
        let docs = documents(FRAME, &clash);
        assert_eq!(docs.len(), 1);
        assert_eq!(
            docs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "ok_total", "Unit": "Count"}])
        );
        let wide = Group {
            labels: (0..31).map(|i| (format!("l{i}"), "v".into())).collect(),
            entries: vec![entry("x_total", Reading::One(1.0))],
        };
        assert!(documents(FRAME, &wide).is_empty());
    }
}
