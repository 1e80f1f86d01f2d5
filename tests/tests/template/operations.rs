//! Operations in `infra/template.yaml`: how the functions log (JSON, a log group with a
//! retention, arm64), what they may take of the account's concurrency, and the alarms (each
//! tells the alarm topic and watches a metric that exists: AWS's own, or one of the catalogue
//! that the functions write as the Embedded Metric Format in namespace `ComplaintDesk`). The
//! dashboard's checks (`dashboard.rs`) use the same metric checks.

use super::{of_type, target, template};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// The metric catalogue as the functions write it on AWS: each metric's dimension set without
/// `account` and `operation` (the one alarms and the dashboard use), with the values each
/// dimension takes. (The names are `desk_core::metrics`'s; the catalogue is in the README.)
const CATALOGUE: &[(&str, &[Label])] = &[
    (
        "complaints_received_total",
        &[PLATFORM, ("source", &["push", "reconcile"])],
    ),
    ("reconcile_found_total", &[PLATFORM]),
    (
        "callbacks_total",
        &[
            PLATFORM,
            (
                "outcome",
                &[
                    "accepted",
                    "bad_signature",
                    "unknown_account",
                    "disabled",
                    "bad_request",
                    "duplicate",
                    "error",
                ],
            ),
        ],
    ),
    ("first_response_seconds", &[PLATFORM]),
    ("completion_seconds", &[PLATFORM]),
    (
        "deadlines_total",
        &[PLATFORM, ("outcome", &["met", "missed"])],
    ),
    ("automatic_replies_total", &[PLATFORM]),
    ("automatic_refunds_total", &[PLATFORM]),
    ("automatic_refund_fen_total", &[PLATFORM]),
    (
        "staff_notices_total",
        &[
            ("channel", &["email", "oa", "sms", "bot"]),
            ("outcome", &["sent", "failed", "gave_up"]),
        ],
    ),
    (
        "platform_calls_total",
        &[
            PLATFORM,
            ("outcome", &["ok", "rate_limited", "error", "timeout"]),
        ],
    ),
    ("dead_letters_total", &[("queue", &["events", "notify"])]),
];

/// The copy above (with the values each dimension takes) is the code's catalogue: the same
/// counters and histograms, each by its labels less `account` and `operation` (the dimension
/// set the functions' EMF documents give alarms and the dashboard, shared/runtime/src/emf.rs).
#[test]
fn the_alarms_catalogue_is_the_codes() {
    use desk_core::metrics::{CATALOGUE as CODE, Kind};
    let detail = ["account", "operation"];
    let mut code: Vec<(&str, Vec<&str>)> = CODE
        .iter()
        .filter(|(_, kind, _)| !matches!(kind, Kind::Gauge))
        .map(|(name, _, labels)| {
            let mut l: Vec<&str> = labels
                .iter()
                .copied()
                .filter(|l| !detail.contains(l))
                .collect();
            l.sort();
            (*name, l)
        })
        .collect();
    code.sort();
    let mut ours: Vec<(&str, Vec<&str>)> = CATALOGUE
        .iter()
        .map(|(name, labels)| {
            let mut l: Vec<&str> = labels.iter().map(|(l, _)| *l).collect();
            l.sort();
            (*name, l)
        })
        .collect();
    ours.sort();
    assert_eq!(ours, code);
}

/// A dimension and the values it takes.
type Label = (&'static str, &'static [&'static str]);

const PLATFORM: Label = ("platform", &["wechatpay", "alipay", "wxmini"]);
pub(crate) const PLATFORMS: &[&str] = PLATFORM.1;

/// A metric as an alarm or the dashboard names it: namespace, name, and its dimensions, the
/// value of one that names a resource written `@Resource` or `@Resource.Attribute`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Metric {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) dimensions: BTreeMap<String, String>,
}

impl Metric {
    pub(crate) fn dim(&self, name: &str) -> Option<&str> {
        self.dimensions.get(name).map(String::as_str)
    }
}

/// A dimension value of an alarm: a literal, `{"Ref": X}` as `@X`, `{"Fn::GetAtt": [X, A]}` as
/// `@X.A`.
fn value_text(v: &Value) -> String {
    if let Some(s) = v.as_str() {
        return s.to_string();
    }
    if let Some(r) = v["Ref"].as_str() {
        return format!("@{r}");
    }
    if let Some(a) = v["Fn::GetAtt"].as_sequence() {
        let part = |i: usize| a.get(i).and_then(Value::as_str).unwrap_or("?");
        return format!("@{}.{}", part(0), part(1));
    }
    if let Some(f) = v["Fn::Sub"].as_str() {
        return format!("sub:{f}");
    }
    panic!("a dimension value the test cannot read: {v:?}")
}

fn metric_of(namespace: &Value, name: &Value, dimensions: &Value) -> Metric {
    Metric {
        namespace: namespace.as_str().expect("Namespace").to_string(),
        name: name.as_str().expect("MetricName").to_string(),
        dimensions: dimensions
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|d| {
                (
                    d["Name"].as_str().expect("dimension name").to_string(),
                    value_text(&d["Value"]),
                )
            })
            .collect(),
    }
}

/// The resource a `@Resource` or `@Resource.Attribute` value names, and its type.
fn resource_type<'a>(t: &'a Value, marker: &str) -> Option<&'a str> {
    let name = marker.strip_prefix('@')?.split('.').next()?;
    t["Resources"][name]["Type"].as_str()
}

/// Panics unless `m` is a metric that exists: one of the catalogue's with its dimension set
/// (and values it takes), or AWS's for a resource of this stack.
pub(crate) fn check_metric(t: &Value, m: &Metric, whose: &str) {
    let dims: Vec<&str> = m.dimensions.keys().map(String::as_str).collect();
    // A value may be one of several resources (`@A|@B`: whichever exists).
    let one = |dim: &str, kind: &str, attribute: Option<&str>| {
        assert_eq!(dims, vec![dim], "{whose}: {m:?}");
        for value in m.dim(dim).unwrap_or_default().split('|') {
            assert_eq!(
                resource_type(t, value),
                Some(kind),
                "{whose}: {dim}={value} is not a {kind} of this stack"
            );
            if let Some(a) = attribute {
                assert!(value.ends_with(&format!(".{a}")), "{whose}: {dim}={value}");
            } else {
                assert!(!value.contains('.'), "{whose}: {dim}={value}");
            }
        }
    };
    match m.namespace.as_str() {
        "ComplaintDesk" => {
            let (_, labels) = CATALOGUE
                .iter()
                .find(|(name, _)| *name == m.name)
                .unwrap_or_else(|| panic!("{whose}: {} is not in the catalogue", m.name));
            let mut want: Vec<&str> = labels.iter().map(|(l, _)| *l).collect();
            want.sort();
            assert_eq!(dims, want, "{whose}: {} by {dims:?}", m.name);
            for (label, values) in *labels {
                let v = m.dim(label).unwrap_or_default();
                assert!(
                    values.contains(&v),
                    "{whose}: {}: {label}={v} is not a value it takes",
                    m.name
                );
            }
        }
        "AWS/Lambda" => {
            assert!(
                [
                    "Errors",
                    "Throttles",
                    "Duration",
                    "Invocations",
                    "ConcurrentExecutions"
                ]
                .contains(&m.name.as_str()),
                "{whose}: AWS/Lambda {}",
                m.name
            );
            one("FunctionName", "AWS::Serverless::Function", None);
        }
        "AWS/SQS" => {
            assert!(
                [
                    "ApproximateNumberOfMessagesVisible",
                    "ApproximateAgeOfOldestMessage"
                ]
                .contains(&m.name.as_str()),
                "{whose}: AWS/SQS {}",
                m.name
            );
            one("QueueName", "AWS::SQS::Queue", Some("QueueName"));
        }
        "AWS/ApiGateway" if m.name.ends_with("XXError") => {
            // A REST API's (the admin API's own, AdminAccess ip-restricted or private): by its
            // name and stage, which must be the AdminApi's.
            assert!(
                ["4XXError", "5XXError"].contains(&m.name.as_str()),
                "{whose}: {m:?}"
            );
            assert_eq!(dims, vec!["ApiName", "Stage"], "{whose}: {m:?}");
            let api = &t["Resources"]["AdminApi"];
            assert_eq!(
                api["Type"].as_str(),
                Some("AWS::Serverless::Api"),
                "{whose}"
            );
            assert_eq!(
                m.dim("ApiName").map(str::to_string),
                Some(value_text(&api["Properties"]["Name"])),
                "{whose}: ApiName"
            );
            assert_eq!(
                m.dim("Stage"),
                api["Properties"]["StageName"].as_str(),
                "{whose}: Stage"
            );
        }
        "AWS/ApiGateway" => {
            // An HTTP API's metric names (a REST API's are 4XXError and 5XXError).
            assert!(
                ["4xx", "5xx", "Count", "Latency"].contains(&m.name.as_str()),
                "{whose}: AWS/ApiGateway {}",
                m.name
            );
            one("ApiId", "AWS::Serverless::HttpApi", None);
        }
        other => panic!("{whose}: namespace {other}"),
    }
}

/// Every metric an alarm watches; for metric math, after checking that the expression uses
/// exactly the alarm's metric ids and is the only series returned.
fn alarm_metrics(name: &str, a: &Value) -> Vec<Metric> {
    let p = &a["Properties"];
    if p["Metrics"].is_null() {
        return vec![metric_of(
            &p["Namespace"],
            &p["MetricName"],
            &p["Dimensions"],
        )];
    }
    let queries = p["Metrics"].as_sequence().expect("Metrics");
    let returned: Vec<&Value> = queries
        .iter()
        .filter(|q| q["ReturnData"].as_bool() == Some(true))
        .collect();
    assert_eq!(returned.len(), 1, "{name}: one series is returned");
    let expression = returned[0]["Expression"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: the returned series is an expression"));
    let mut ids: Vec<&str> = Vec::new();
    let mut metrics = Vec::new();
    for q in queries {
        if q["ReturnData"].as_bool() == Some(true) {
            continue;
        }
        ids.push(q["Id"].as_str().expect("Id"));
        let m = &q["MetricStat"]["Metric"];
        metrics.push(metric_of(
            &m["Namespace"],
            &m["MetricName"],
            &m["Dimensions"],
        ));
    }
    // The identifiers of the expression (lower-case words; functions are upper case).
    let mut used: Vec<&str> = expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with(|c: char| c.is_ascii_lowercase()))
        .collect();
    used.sort();
    used.dedup();
    ids.sort();
    assert_eq!(
        used, ids,
        "{name}: the expression uses every metric it names"
    );
    metrics
}

pub(crate) fn functions(t: &Value) -> Vec<(String, &Value)> {
    of_type(t, "AWS::Serverless::Function")
}

/// Every function logs JSON (its tracing lines are JSON already; Lambda keeps a JSON line as
/// it is, so the EMF lines on stdout still become metrics) to its own log group kept for
/// `LogRetentionDays`, with no application log level that would drop the EMF lines (they
/// carry no `level`, so Lambda files them as INFO); every function runs on arm64; every log
/// group and queue says what happens to it when the stack deletes or replaces it.
#[test]
fn every_function_logs_json_to_a_log_group_with_retention_on_arm64() {
    let t = template();
    let global_arch = &t["Globals"]["Function"]["Architectures"];
    for (name, f) in functions(&t) {
        let logging = &f["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"].as_str(), Some("JSON"), "{name}");
        let level = logging["ApplicationLogLevel"].as_str().unwrap_or("INFO");
        assert!(
            ["TRACE", "DEBUG", "INFO"].contains(&level),
            "{name}: application log level {level} drops the EMF lines"
        );
        let group = target(&logging["LogGroup"]).expect("LogGroup");
        assert_eq!(
            t["Resources"][group]["Properties"]["RetentionInDays"]["Ref"].as_str(),
            Some("LogRetentionDays"),
            "{group}"
        );
        let arch = match &f["Properties"]["Architectures"] {
            Value::Null => global_arch,
            own => own,
        };
        assert_eq!(
            arch.as_sequence()
                .map(|a| a.iter().filter_map(Value::as_str).collect()),
            Some(vec!["arm64"]),
            "{name}"
        );
    }
    let kept = of_type(&t, "AWS::SQS::Queue");
    let groups = of_type(&t, "AWS::Logs::LogGroup");
    assert!(kept.len() >= 4 && !groups.is_empty());
    for (name, r) in kept.iter().chain(&groups) {
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert!(
                ["Retain", "Delete", "Snapshot", "RetainExceptOnCreate"]
                    .contains(&r[policy].as_str().unwrap_or_default()),
                "{name}: {policy}"
            );
        }
    }
    // Queues hold work and dead letters: a stack deleted or a queue replaced by mistake keeps
    // them (and SQS expires them after the retention period).
    for (name, q) in &kept {
        assert_eq!(q["DeletionPolicy"].as_str(), Some("Retain"), "{name}");
    }
}

/// The SQS consumers run at most `QueueMaxConcurrency` batches each (a flood of jobs cannot
/// take the concurrency the callbacks and the admin API need), and the admin API and every
/// callback function reserve concurrency only when their parameter is set (0, the default,
/// reserves nothing: a new account may have little to reserve).
#[test]
fn queue_consumers_are_capped_and_http_functions_can_reserve_concurrency() {
    let t = template();
    let mut consumers = 0;
    let mut reserving = 0;
    for (name, f) in functions(&t) {
        let events: Vec<&Value> = f["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(_, e)| e)
            .collect();
        for e in events.iter().filter(|e| e["Type"].as_str() == Some("SQS")) {
            let cap = &e["Properties"]["ScalingConfig"]["MaximumConcurrency"];
            assert_eq!(cap["Ref"].as_str(), Some("QueueMaxConcurrency"), "{name}");
            consumers += 1;
        }
        let http = events
            .iter()
            .any(|e| e["Type"].as_str().is_some_and(|k| k.contains("Api")));
        let reserved = &f["Properties"]["ReservedConcurrentExecutions"];
        if !http {
            assert!(reserved.is_null(), "{name}");
            continue;
        }
        let choice = reserved["Fn::If"].as_sequence().expect("Fn::If");
        let condition = choice[0].as_str().expect("condition");
        let parameter = choice[1]["Ref"].as_str().expect("a parameter");
        assert_eq!(choice[2]["Ref"].as_str(), Some("AWS::NoValue"), "{name}");
        let p = &t["Parameters"][parameter];
        assert_eq!(p["Default"].as_i64(), Some(0), "{parameter}");
        // The condition is "the parameter is not 0".
        let c = &t["Conditions"][condition]["Fn::Not"][0]["Fn::Equals"];
        assert_eq!(c[0]["Ref"].as_str(), Some(parameter), "{condition}");
        assert_eq!(c[1].as_str(), Some("0"), "{condition}");
        reserving += 1;
    }
    assert_eq!(consumers, 2, "the worker and the notifier");
    assert!(reserving >= 8, "the admin API and every callback function");
    let cap = &t["Parameters"]["QueueMaxConcurrency"];
    assert!(cap["MinValue"].as_i64() >= Some(2), "SQS allows 2 at least");
    assert!(cap["Default"].as_i64() >= cap["MinValue"].as_i64());
}

/// Every alarm tells the alarm topic and watches metrics that exist (AWS's, of a resource of
/// this stack, or the catalogue's with its dimension set); its threshold is a number or a
/// parameter.
#[test]
fn every_alarm_tells_the_topic_and_watches_a_metric_that_exists() {
    let t = template();
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 30);
    for (name, a) in &alarms {
        let p = &a["Properties"];
        let actions: Vec<Option<&str>> = p["AlarmActions"]
            .as_sequence()
            .expect("AlarmActions")
            .iter()
            .map(target)
            .collect();
        assert_eq!(actions, vec![Some("AlarmTopic")], "{name}");
        assert_eq!(
            t["Resources"]["AlarmTopic"]["Type"].as_str(),
            Some("AWS::SNS::Topic")
        );
        // CloudWatch cannot publish to a topic under the AWS-managed SNS key (its policy
        // cannot grant cloudwatch.amazonaws.com the key): every alarm action would fail.
        assert_ne!(
            t["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"].as_str(),
            Some("alias/aws/sns"),
            "the alarm topic"
        );
        assert!(
            p["TreatMissingData"].is_string(),
            "{name}: TreatMissingData"
        );
        match &p["Threshold"] {
            Value::Number(_) => {}
            v => {
                let param = v["Ref"].as_str().expect("a number or a parameter");
                assert_eq!(
                    t["Parameters"][param]["Type"].as_str(),
                    Some("Number"),
                    "{name}: {param}"
                );
            }
        }
        for m in alarm_metrics(name, a) {
            check_metric(&t, &m, name);
        }
    }
}

/// Every metric the alarms watch.
fn alarmed(t: &Value) -> Vec<Metric> {
    of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .flat_map(|(name, a)| alarm_metrics(&name, a))
        .collect()
}

fn desk(name: &str, dims: &[(&str, &str)]) -> Metric {
    Metric {
        namespace: "ComplaintDesk".into(),
        name: name.into(),
        dimensions: dims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// The alarms an operator needs: every function's errors and throttles, the HTTP API's 5xx,
/// both queues' oldest job, and from the functions' metrics: platform call errors and 429s of
/// every platform, deadlines missed, complaints that only reconciliation found, callbacks
/// refused for a bad signature.
#[test]
fn the_operators_alarms_are_all_there() {
    let t = template();
    let watched = alarmed(&t);
    let has = |m: &Metric| watched.contains(m);
    for (name, _) in functions(&t) {
        for metric in ["Errors", "Throttles"] {
            let m = Metric {
                namespace: "AWS/Lambda".into(),
                name: metric.into(),
                dimensions: [("FunctionName".to_string(), format!("@{name}"))].into(),
            };
            assert!(has(&m), "{name}: no {metric} alarm");
        }
    }
    let api5xx = Metric {
        namespace: "AWS/ApiGateway".into(),
        name: "5xx".into(),
        dimensions: [("ApiId".to_string(), "@HttpApi".to_string())].into(),
    };
    assert!(has(&api5xx), "the HTTP API's 5xx");
    for queue in ["EventsQueue", "NotifyQueue"] {
        let age = of_type(&t, "AWS::CloudWatch::Alarm")
            .into_iter()
            .find(|(n, a)| {
                alarm_metrics(n, a).iter().any(|m| {
                    m.name == "ApproximateAgeOfOldestMessage"
                        && m.dim("QueueName") == Some(format!("@{queue}.QueueName").as_str())
                })
            });
        let (name, a) = age.unwrap_or_else(|| panic!("{queue}: no alarm on its oldest job"));
        assert_eq!(
            a["Properties"]["Threshold"]["Ref"].as_str(),
            Some("OldestJobAgeAlarmSeconds"),
            "{name}"
        );
    }
    for platform in PLATFORMS {
        for outcome in ["error", "rate_limited"] {
            let m = desk(
                "platform_calls_total",
                &[("platform", platform), ("outcome", outcome)],
            );
            assert!(has(&m), "no alarm on {platform}'s calls ({outcome})");
        }
        for m in [
            desk(
                "deadlines_total",
                &[("platform", platform), ("outcome", "missed")],
            ),
            desk("reconcile_found_total", &[("platform", platform)]),
            desk(
                "callbacks_total",
                &[("platform", platform), ("outcome", "bad_signature")],
            ),
        ] {
            assert!(has(&m), "no alarm on {m:?}");
        }
    }
}
