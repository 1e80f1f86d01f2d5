//! The metrics a queue consumer prints: EMF documents that the EMF specification's JSON schema
//! (`tests/fixtures/emf-schema.json`, its source named inside) accepts, that keep the rules the
//! schema cannot state, and that carry the namespace, the two dimension sets, the units and
//! the values recorded during the invocation.

use super::support::{NotingQueue, Stdout, batch, invocation};
use async_trait::async_trait;
use desk_core::worker::{JobError, JobHandler, JobRegistry, RetryPolicy};
use domain::job::JobEnvelope;
use runtime::emf::{Emf, MAX_METRICS, MAX_VALUES};
use serde_json::{Value, json};
use std::time::Duration;

fn schema() -> Value {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/emf-schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("JSON")
}

/// Where `doc` breaks the `schema`: a validator for the keywords the EMF schema uses. A
/// keyword it does not know fails the test, so nothing in the schema is skipped.
fn violations(schema: &Value, doc: &Value, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(rules) = schema.as_object() else {
        panic!("{at}: a schema is an object");
    };
    for (keyword, rule) in rules {
        let bad = match keyword.as_str() {
            "$id" | "$comment" | "title" | "examples" | "properties" | "items" => false,
            "type" => !match rule.as_str().expect("type") {
                "object" => doc.is_object(),
                "array" => doc.is_array(),
                "string" => doc.is_string(),
                "integer" => doc.is_i64() || doc.is_u64(),
                "number" => doc.is_number(),
                other => panic!("unsupported type {other}"),
            },
            "required" => rule
                .as_array()
                .expect("required")
                .iter()
                .any(|k| doc.get(k.as_str().expect("name")).is_none()),
            "minItems" => doc
                .as_array()
                .is_some_and(|a| (a.len() as u64) < rule.as_u64().expect("n")),
            "maxItems" => doc
                .as_array()
                .is_some_and(|a| (a.len() as u64) > rule.as_u64().expect("n")),
            "minLength" => doc
                .as_str()
                .is_some_and(|s| (s.chars().count() as u64) < rule.as_u64().expect("n")),
            "maxLength" => doc
                .as_str()
                .is_some_and(|s| (s.chars().count() as u64) > rule.as_u64().expect("n")),
            "pattern" => doc.as_str().is_some_and(|s| {
                !regex::Regex::new(rule.as_str().expect("pattern"))
                    .expect("a pattern")
                    .is_match(s)
            }),
            other => panic!("the validator does not know the keyword {other}"),
        };
        if bad {
            out.push(format!("{at}: {keyword} {rule}"));
        }
    }
    if let (Some(props), Some(obj)) = (schema.get("properties"), doc.as_object()) {
        for (k, sub) in props.as_object().expect("properties") {
            if let Some(v) = obj.get(k) {
                out.extend(violations(sub, v, &format!("{at}/{k}")));
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), doc.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            out.extend(violations(items, v, &format!("{at}/{i}")));
        }
    }
    out
}

/// The specification's rules the schema cannot state: every dimension a string member of the
/// root, every metric a number or at most 100 numbers, at most 100 metrics per directive.
fn emf_rules(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for directive in doc["_aws"]["CloudWatchMetrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for set in directive["Dimensions"].as_array().into_iter().flatten() {
            for key in set.as_array().into_iter().flatten() {
                if !doc[key.as_str().unwrap_or_default()].is_string() {
                    out.push(format!("dimension {key} is no string member"));
                }
            }
        }
        let metrics = directive["Metrics"].as_array().cloned().unwrap_or_default();
        if metrics.len() > MAX_METRICS {
            out.push(format!("{} metrics in one directive", metrics.len()));
        }
        for m in metrics {
            match &doc[m["Name"].as_str().unwrap_or_default()] {
                Value::Number(_) => {}
                Value::Array(vs) if vs.len() <= MAX_VALUES && vs.iter().all(Value::is_number) => {}
                other => out.push(format!("metric {} is {other}", m["Name"])),
            }
        }
    }
    out
}

/// Every line parsed and checked; the documents.
fn valid_documents(lines: &[String]) -> Vec<Value> {
    let schema = schema();
    lines
        .iter()
        .map(|line| {
            let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let mut wrong = violations(&schema, &doc, "");
            wrong.extend(emf_rules(&doc));
            assert!(wrong.is_empty(), "{wrong:?} in {line}");
            doc
        })
        .collect()
}

/// The documents that carry `metric`.
fn carrying<'a>(docs: &'a [Value], metric: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d.get(metric).is_some()).collect()
}

/// A job as the worker's would: a complaint recorded, a platform call, a reply with its first
/// response time, a refund (the catalogue's names and labels).
struct Answers;

#[async_trait]
impl JobHandler for Answers {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let account = job.account_id.clone().unwrap_or_default();
        metrics::counter!("complaints_received_total", "platform" => "wechatpay", "account" => account.clone(), "source" => "push").increment(1);
        metrics::counter!("platform_calls_total", "platform" => "wechatpay", "operation" => "reply", "outcome" => "ok").increment(1);
        metrics::histogram!("first_response_seconds", "platform" => "wechatpay", "account" => account.clone()).record(90.0);
        metrics::counter!("automatic_refund_fen_total", "platform" => "wechatpay", "account" => account).increment(1250);
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(())
    }
}

#[tokio::test]
async fn a_batch_prints_valid_emf_with_both_dimension_sets_when_it_ends() {
    let stdout = Stdout::default();
    let emf = Emf::to_writer(stdout.clone());
    let _recorder = metrics::set_default_local_recorder(&emf);
    let mut registry = JobRegistry::new();
    registry.register("test.answer", std::sync::Arc::new(Answers));
    let event = batch(&[
        ("m1", "test.answer", "acc_1"),
        ("m2", "test.answer", "acc_1"),
        ("m3", "test.answer", "acc_2"),
    ]);
    let res = runtime::sqs::handle_invocation(
        invocation(event, Duration::from_secs(30)),
        "events",
        &registry,
        &RetryPolicy::default(),
        &NotingQueue::default(),
        &emf,
    )
    .await;
    assert!(res.batch_item_failures.is_empty());
    let docs = valid_documents(&stdout.lines());
    for d in &docs {
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "ComplaintDesk"
        );
        let ts = d["_aws"]["Timestamp"].as_u64().expect("ms");
        let now = chrono::Utc::now().timestamp_millis() as u64;
        assert!(now - ts < 60_000, "Timestamp in milliseconds: {ts}");
    }

    // One document per account (the full set needs its value), each with both sets.
    let received = carrying(&docs, "complaints_received_total");
    assert_eq!(received.len(), 2, "{docs:?}");
    for d in &received {
        let directive = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            directive["Dimensions"],
            json!([["platform", "source"], ["platform", "account", "source"]])
        );
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "complaints_received_total", "Unit": "Count"}])
        );
        let expected = if d["account"] == "acc_1" { 2 } else { 1 };
        assert_eq!(d["complaints_received_total"], json!(expected), "{d}");
    }

    // Counters across the batch sum; the operation is left out of the summary set.
    let calls = carrying(&docs, "platform_calls_total");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["platform_calls_total"], json!(3));
    assert_eq!(
        calls[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([
            ["platform", "outcome"],
            ["platform", "operation", "outcome"]
        ])
    );

    // A histogram is its observations, in seconds; the refund amount travels with it.
    let first = carrying(&docs, "first_response_seconds");
    let acc_1 = first
        .iter()
        .find(|d| d["account"] == "acc_1")
        .expect("acc_1");
    assert_eq!(acc_1["first_response_seconds"], json!([90, 90]));
    assert_eq!(acc_1["automatic_refund_fen_total"], json!(2500));
    let units = &acc_1["_aws"]["CloudWatchMetrics"][0]["Metrics"];
    assert_eq!(
        units,
        &json!([
            {"Name": "automatic_refund_fen_total", "Unit": "Count"},
            {"Name": "first_response_seconds", "Unit": "Seconds"}
        ])
    );
    assert_eq!(
        docs.len(),
        5,
        "two received, one calls, two per-account documents"
    );

    // The next invocation prints only what it recorded: here nothing.
    let before = stdout.lines().len();
    runtime::sqs::handle_invocation(
        invocation(batch(&[]), Duration::from_secs(30)),
        "events",
        &registry,
        &RetryPolicy::default(),
        &NotingQueue::default(),
        &emf,
    )
    .await;
    assert_eq!(stdout.lines().len(), before);
}

#[test]
fn over_a_hundred_metrics_or_values_split_into_valid_documents() {
    let stdout = Stdout::default();
    let emf = Emf::to_writer(stdout.clone());
    metrics::with_local_recorder(&emf, || {
        for i in 0..230 {
            metrics::counter!(format!("m{i}_total"), "platform" => "alipay").increment(i + 1);
        }
        for v in 0..250 {
            metrics::histogram!("completion_seconds", "platform" => "alipay").record(f64::from(v));
        }
    });
    emf.flush();
    let docs = valid_documents(&stdout.lines());
    assert_eq!(docs.len(), 3);
    let mut total = 0;
    let mut observations = 0;
    for d in &docs {
        for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("metrics")
        {
            match &d[m["Name"].as_str().expect("name")] {
                Value::Array(vs) => observations += vs.len(),
                n => total += n.as_u64().expect("a count"),
            }
        }
    }
    assert_eq!(total, (1..=230).sum::<u64>(), "every counter once");
    assert_eq!(observations, 250, "every observation once");
}

/// The checks above can fail: what the specification forbids, they refuse.
#[test]
fn the_checks_refuse_what_the_specification_forbids() {
    let schema = schema();
    let good = json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N",
        "Dimensions": [["platform"]], "Metrics": [{"Name": "x", "Unit": "Count"}]}]},
        "platform": "alipay", "x": 1});
    assert!(violations(&schema, &good, "").is_empty());
    assert!(emf_rules(&good).is_empty());
    let mut bad_unit = good.clone();
    bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Fen");
    assert_eq!(violations(&schema, &bad_unit, "").len(), 1);
    let mut seconds_as_float = good.clone();
    seconds_as_float["_aws"]["Timestamp"] = json!(1.5);
    assert_eq!(violations(&schema, &seconds_as_float, "").len(), 1);
    let mut no_dimension_value = good.clone();
    no_dimension_value["platform"] = json!(3);
    assert_eq!(emf_rules(&no_dimension_value).len(), 1);
    let mut too_many_values = good;
    too_many_values["x"] = json!(vec![1; 101]);
    assert_eq!(emf_rules(&too_many_values).len(), 1);
}
