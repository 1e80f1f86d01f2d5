//! The CloudWatch dashboard of `infra/template.yaml`.

use super::operations::{Metric, PLATFORMS, check_metric, functions};
use super::{of_type, template};

/// The dashboard's body (JSON once `Fn::Sub` has filled in the names) names only resources,
/// parameters and pseudo parameters of this stack and metrics that exist, and shows what the
/// operator reads: complaints per platform, first-response time (p50, p90), deadlines met and
/// missed, automatic replies and refunds, platform calls by outcome, queue depth and oldest
/// age, every function's errors and durations, the HTTP API's 4xx and 5xx.
#[test]
fn the_dashboard_is_json_naming_this_stacks_resources_and_metrics() {
    let t = template();
    let dashboards = of_type(&t, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1);
    let sub = &dashboards[0].1["Properties"]["DashboardBody"]["Fn::Sub"];
    let body = sub
        .as_str()
        .or_else(|| sub[0].as_str())
        .expect("DashboardBody is an Fn::Sub string");
    // Fn::Sub's own variables: each the resource that exists of two (`Fn::If` of two `Ref`s).
    let variables = &sub[1];
    // `${X}` becomes `@X` (a variable `@A|@B`) after checking that X exists.
    let mut text = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("closing brace") + start;
        let name = &rest[start + 2..end];
        text.push_str(&rest[..start]);
        rest = &rest[end + 1..];
        if let Some(choice) = variables[name]["Fn::If"].as_sequence() {
            let a = choice[1]["Ref"].as_str().expect("a Ref");
            let b = choice[2]["Ref"].as_str().expect("a Ref");
            text.push_str(&format!("@{a}|@{b}"));
            continue;
        }
        let resource = name.split('.').next().unwrap_or_default();
        assert!(
            name.starts_with("AWS::")
                || t["Resources"][resource].is_mapping()
                || (t["Parameters"][name].is_mapping() && !name.contains('.')),
            "the dashboard names {name}, which this stack does not have"
        );
        text.push('@');
        text.push_str(name);
    }
    text.push_str(rest);
    let json: serde_json::Value = serde_json::from_str(&text).expect("the body is JSON");
    let mut shown: Vec<(Metric, Option<String>)> = Vec::new();
    for w in json["widgets"].as_array().expect("widgets") {
        let Some(rows) = w["properties"]["metrics"].as_array() else {
            continue;
        };
        for row in rows {
            let row = row.as_array().expect("a metric row");
            let strings: Vec<&str> = row.iter().filter_map(|v| v.as_str()).collect();
            if strings.is_empty() {
                continue; // an expression over the row's metrics
            }
            assert!(
                strings.len() >= 2 && strings.len().is_multiple_of(2),
                "{row:?}"
            );
            let m = Metric {
                namespace: strings[0].into(),
                name: strings[1].into(),
                dimensions: strings[2..]
                    .chunks(2)
                    .map(|p| (p[0].to_string(), p[1].to_string()))
                    .collect(),
            };
            check_metric(&t, &m, "the dashboard");
            let stat = row
                .iter()
                .find_map(|v| v["stat"].as_str())
                .or_else(|| w["properties"]["stat"].as_str())
                .map(String::from);
            shown.push((m, stat));
        }
    }
    let shows = |namespace: &str, name: &str, stat: Option<&str>| {
        shown.iter().any(|(m, s)| {
            m.namespace == namespace && m.name == name && (stat.is_none() || s.as_deref() == stat)
        })
    };
    for platform in PLATFORMS {
        assert!(
            shown
                .iter()
                .any(|(m, _)| m.name == "complaints_received_total"
                    && m.dim("platform") == Some(platform))
        );
    }
    for stat in ["p50", "p90"] {
        assert!(shows("ComplaintDesk", "first_response_seconds", Some(stat)));
    }
    for outcome in ["met", "missed"] {
        assert!(
            shown
                .iter()
                .any(|(m, _)| m.name == "deadlines_total" && m.dim("outcome") == Some(outcome))
        );
    }
    for name in [
        "automatic_replies_total",
        "automatic_refunds_total",
        "platform_calls_total",
    ] {
        assert!(shows("ComplaintDesk", name, None), "{name}");
    }
    for name in [
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
    ] {
        assert!(shows("AWS/SQS", name, None), "{name}");
    }
    for name in ["4xx", "5xx"] {
        assert!(shows("AWS/ApiGateway", name, None), "{name}");
    }
    for (function, _) in functions(&t) {
        for name in ["Errors", "Duration"] {
            assert!(
                shown.iter().any(|(m, _)| m.namespace == "AWS/Lambda"
                    && m.name == name
                    && m.dim("FunctionName")
                        .is_some_and(|f| f.split('|').any(|f| f == format!("@{function}")))),
                "the dashboard shows no {name} of {function}"
            );
        }
    }
}
