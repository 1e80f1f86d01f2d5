//! The admin access option (`AdminAccess`: `public`, `ip-restricted`, `private`): for each of
//! its values the template, with its conditions evaluated, serves the admin API and the
//! console from exactly one function on the API the option names, keeps the one-click
//! authorisation pages and every callback on the public HTTP API, guards the separate API with
//! the resource policy the option names, and alarms only on functions that exist.

use super::{of_type, target, template};
use serde_yaml::Value;

const ACCESS: &str = "AdminAccess";

/// A condition of the template for a value of `AdminAccess` (the forms the template uses).
fn eval(t: &Value, c: &Value, access: &str) -> bool {
    if let Some(name) = c["Condition"].as_str() {
        return eval(t, &t["Conditions"][name], access);
    }
    if let Some(args) = c["Fn::Not"].as_sequence() {
        return !eval(t, &args[0], access);
    }
    if let Some(args) = c["Fn::And"].as_sequence() {
        return args.iter().all(|a| eval(t, a, access));
    }
    if let Some(args) = c["Fn::Or"].as_sequence() {
        return args.iter().any(|a| eval(t, a, access));
    }
    if let Some(args) = c["Fn::Equals"].as_sequence() {
        let value = |v: &Value| match v["Ref"].as_str() {
            Some(ACCESS) => access.to_string(),
            Some(other) => panic!("a condition on {other}: not evaluated here"),
            None => v.as_str().expect("a literal").to_string(),
        };
        return value(&args[0]) == value(&args[1]);
    }
    panic!("unexpected condition {c:?}")
}

/// Whether a resource exists for a value of `AdminAccess`.
fn exists(t: &Value, resource: &Value, access: &str) -> bool {
    resource["Condition"]
        .as_str()
        .is_none_or(|name| eval(t, &t["Conditions"][name], access))
}

/// `{"Fn::If": [condition, a, b]}` resolved for a value of `AdminAccess`; anything else as it is.
fn pick<'a>(t: &Value, v: &'a Value, access: &str) -> &'a Value {
    match v["Fn::If"].as_sequence() {
        Some(choice) => {
            let cond = choice[0].as_str().expect("condition name");
            let branch = if eval(t, &t["Conditions"][cond], access) {
                &choice[1]
            } else {
                &choice[2]
            };
            pick(t, branch, access)
        }
        None => v,
    }
}

/// Whether a route's path template (`{name}` matches one segment) matches a path.
fn matches(template: &str, path: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            x == y || (x.starts_with('{') && x.ends_with('}') && !x.contains('+') && !y.is_empty())
        })
}

/// Every (function, event type, API resource, path, method) of the functions that exist.
fn routes<'a>(t: &'a Value, access: &str) -> Vec<(String, &'a Value, String, String, String)> {
    let mut out = Vec::new();
    for (name, f) in of_type(t, "AWS::Serverless::Function") {
        if !exists(t, f, access) {
            continue;
        }
        for (_, e) in f["Properties"]["Events"].as_mapping().into_iter().flatten() {
            let kind = e["Type"].as_str().unwrap_or_default();
            let api = match kind {
                "HttpApi" => target(&e["Properties"]["ApiId"]),
                "Api" => target(&e["Properties"]["RestApiId"]),
                _ => continue,
            }
            .unwrap_or_else(|| panic!("{name}: an API event names its API"));
            out.push((
                name.clone(),
                f,
                format!("{kind}:{api}"),
                e["Properties"]["Path"].as_str().unwrap_or_default().into(),
                e["Properties"]["Method"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            ));
        }
    }
    out
}

#[test]
fn the_admin_access_option_holds_together() {
    let t = template();
    let param = &t["Parameters"][ACCESS];
    assert_eq!(param["Default"].as_str(), Some("public"), "today's layout");
    let values: Vec<&str> = param["AllowedValues"]
        .as_sequence()
        .expect("AllowedValues")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(values, ["public", "ip-restricted", "private"]);
    for access in values {
        let all = routes(&t, access);
        // The admin API, the console and the health check: one function, on the HTTP API
        // (public) or on a REST API of this stack that exists (otherwise).
        let mut servers = Vec::new();
        for (path, method) in [
            ("/admin/{proxy+}", "ANY"),
            ("/console", "GET"),
            ("/console/{proxy+}", "ANY"),
            ("/healthz", "GET"),
        ] {
            let serving: Vec<_> = all
                .iter()
                .filter(|r| r.3 == path && r.4 == method)
                .collect();
            assert_eq!(serving.len(), 1, "{access}: {method} {path}");
            let (name, f, api, _, _) = serving[0];
            assert_eq!(
                f["Metadata"]["BuildProperties"]["Binary"].as_str(),
                Some("admin-api"),
                "{access}: {path}"
            );
            if access == "public" {
                assert_eq!(api, "HttpApi:HttpApi", "{access}: {path}");
            } else {
                let rest = api.strip_prefix("Api:").expect("a REST API");
                let r = &t["Resources"][rest];
                assert_eq!(r["Type"].as_str(), Some("AWS::Serverless::Api"));
                assert!(exists(&t, r, access), "{access}: {rest} exists");
                // lambda_http puts a REST event's stage in the path unless told not to.
                assert!(
                    f["Properties"]["Environment"]["Variables"]
                        ["AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH"]
                        .is_string(),
                    "{access}: {name} keeps the stage out of the path"
                );
            }
            servers.push(name.clone());
        }
        servers.dedup();
        assert_eq!(
            servers.len(),
            1,
            "{access}: one admin function: {servers:?}"
        );
        let admin = &servers[0];
        // The authorisation pages are public in every case, and served by that function.
        for page in ["/wxopen/wx123/authorize", "/wxopen/wx123/authorized"] {
            let serving: Vec<_> = all
                .iter()
                .filter(|r| r.4 == "GET" && matches(&r.3, page))
                .collect();
            assert_eq!(serving.len(), 1, "{access}: GET {page}");
            assert_eq!(serving[0].2, "HttpApi:HttpApi", "{access}: {page}");
            assert_eq!(&serving[0].0, admin, "{access}: {page}");
        }
        // Every route off the HTTP API is the admin function's (callbacks stay public).
        for (name, _, api, path, _) in &all {
            if api != "HttpApi:HttpApi" {
                assert_eq!(name, admin, "{access}: {path} on {api}");
            }
        }
        // The separate API's reach.
        for (name, api) in of_type(&t, "AWS::Serverless::Api") {
            if !exists(&t, api, access) {
                continue;
            }
            assert_ne!(access, "public", "{name} exists with AdminAccess public");
            let p = &api["Properties"];
            let endpoint = pick(&t, &p["EndpointConfiguration"]["Type"], access);
            let deny = p["Policy"]["Statement"]
                .as_sequence()
                .expect("a resource policy")
                .iter()
                .find(|s| s["Effect"].as_str() == Some("Deny"))
                .expect("a Deny statement");
            assert_eq!(deny["Resource"].as_str(), Some("execute-api:/*"));
            // A changed policy takes effect only with a new deployment, which SAM makes only
            // when the routes change, unless told to deploy on every update.
            assert_eq!(
                p["AlwaysDeploy"].as_bool(),
                Some(true),
                "{access}: AlwaysDeploy"
            );
            // Without an OpenApiVersion SAM adds a second stage named "Stage".
            assert!(p["OpenApiVersion"].is_string(), "{access}: OpenApiVersion");
            let condition = pick(&t, &deny["Condition"], access);
            if access == "private" {
                assert_eq!(endpoint.as_str(), Some("PRIVATE"), "{access}");
                let ids = pick(&t, &p["EndpointConfiguration"]["VPCEndpointIds"], access);
                assert_eq!(ids[0]["Ref"].as_str(), Some("AdminVpcEndpointId"));
                assert_eq!(
                    condition["StringNotEquals"]["aws:SourceVpce"]["Ref"].as_str(),
                    Some("AdminVpcEndpointId"),
                    "{access}: only through the endpoint"
                );
            } else {
                assert_eq!(endpoint.as_str(), Some("REGIONAL"), "{access}");
                assert_eq!(
                    condition["NotIpAddress"]["aws:SourceIp"]["Ref"].as_str(),
                    Some("AdminAllowedCidrs"),
                    "{access}: only from the allowed addresses"
                );
            }
        }
        // Alarms watch only functions that exist, and the admin function has both of its own.
        let mut admin_alarms = Vec::new();
        for (name, a) in of_type(&t, "AWS::CloudWatch::Alarm") {
            if !exists(&t, a, access) {
                continue;
            }
            for d in a["Properties"]["Dimensions"]
                .as_sequence()
                .into_iter()
                .flatten()
            {
                if d["Name"].as_str() != Some("FunctionName") {
                    continue;
                }
                let f = target(&d["Value"]).expect("a function");
                assert!(
                    exists(&t, &t["Resources"][f], access),
                    "{access}: {name} watches {f}, which does not exist"
                );
                if f == admin {
                    admin_alarms.push(a["Properties"]["MetricName"].as_str().unwrap_or_default());
                }
            }
        }
        admin_alarms.sort();
        assert_eq!(admin_alarms, ["Errors", "Throttles"], "{access}: {admin}");
        // The output says where the admin API is.
        let url = pick(&t, &t["Outputs"]["AdminApiUrl"]["Value"], access)["Fn::Sub"]
            .as_str()
            .expect("an Fn::Sub URL");
        if access == "public" {
            assert!(url.contains("${HttpApi}"), "{access}: {url}");
        } else {
            assert!(
                url.contains("${AdminApi}") && url.ends_with("/prod"),
                "{access}: {url}"
            );
        }
    }
}

/// Staff notices link to the console where `AdminAccess` serves it: every function that builds
/// or sends a notice (the worker, the notifier, the admin function's test notice) has
/// `CONSOLE_BASE_URL` set to `PublicBaseUrl` (public) or to the REST API that serves
/// `/console/{proxy+}`, at its stage and ending with `/` (otherwise); the callbacks keep
/// `PUBLIC_BASE_URL` for what the platforms call.
#[test]
fn staff_notices_link_to_the_console_where_admin_access_serves_it() {
    let t = template();
    assert_eq!(
        t["Globals"]["Function"]["Environment"]["Variables"]["PUBLIC_BASE_URL"]["Ref"].as_str(),
        Some("PublicBaseUrl")
    );
    for access in ["public", "ip-restricted", "private"] {
        let console = routes(&t, access)
            .into_iter()
            .find(|r| r.3 == "/console/{proxy+}")
            .map(|r| r.2)
            .expect("the console is served");
        let mut senders = Vec::new();
        for (name, f) in of_type(&t, "AWS::Serverless::Function") {
            if !exists(&t, f, access) {
                continue;
            }
            let binary = f["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_default();
            if !["admin-api", "worker", "notifier"].contains(&binary) {
                continue;
            }
            let value = &f["Properties"]["Environment"]["Variables"]["CONSOLE_BASE_URL"];
            assert!(!value.is_null(), "{access}: {name} has CONSOLE_BASE_URL");
            let value = pick(&t, value, access);
            if access == "public" {
                assert_eq!(console, "HttpApi:HttpApi");
                assert_eq!(
                    value["Ref"].as_str(),
                    Some("PublicBaseUrl"),
                    "{access}: {name}"
                );
            } else {
                let rest = console.strip_prefix("Api:").expect("a REST API");
                let stage = t["Resources"][rest]["Properties"]["StageName"]
                    .as_str()
                    .expect("a stage");
                assert_eq!(
                    value["Fn::Sub"].as_str(),
                    Some(
                        format!(
                            "https://${{{rest}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}/"
                        )
                        .as_str()
                    ),
                    "{access}: {name}"
                );
            }
            senders.push(binary);
        }
        senders.sort();
        assert_eq!(senders, ["admin-api", "notifier", "worker"], "{access}");
    }
}
