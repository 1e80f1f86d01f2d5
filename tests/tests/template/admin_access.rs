//! The admin access option (`AdminAccess`: `public`, `ip-restricted`, `private`): for each of
//! its values the template, with its conditions evaluated, serves the admin API and the
//! console from exactly one function on the API the option names, keeps the one-click
//! authorisation pages and every callback on the public HTTP API, guards the separate API with
//! the resource policy the option names, and alarms only on functions that exist.

use super::{of_type, target, template};
use serde_yaml::Value;

const ACCESS: &str = "AdminAccess";

/// The values of the template's parameters in one case: those named here, the others at their
/// `Default`.
pub(super) struct Params<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Params<'a> {
    /// `AdminAccess` = `access`.
    pub(super) fn access(access: &'a str) -> Self {
        Self(vec![(ACCESS, access)])
    }

    /// And parameter (or pseudo parameter) `name` = `value`.
    pub(super) fn with(mut self, name: &'a str, value: &'a str) -> Self {
        self.0.push((name, value));
        self
    }

    fn value(&self, t: &Value, name: &str) -> String {
        if let Some((_, v)) = self.0.iter().rev().find(|(n, _)| *n == name) {
            return v.to_string();
        }
        match &t["Parameters"][name]["Default"] {
            Value::String(d) => d.clone(),
            Value::Number(d) => d.to_string(),
            _ => panic!("a condition on {name}, which has no Default: give it a value"),
        }
    }
}

/// A condition of the template in the case `p` (the forms the template uses).
pub(super) fn eval(t: &Value, c: &Value, p: &Params) -> bool {
    if let Some(name) = c["Condition"].as_str() {
        return eval(t, &t["Conditions"][name], p);
    }
    if let Some(args) = c["Fn::Not"].as_sequence() {
        return !eval(t, &args[0], p);
    }
    if let Some(args) = c["Fn::And"].as_sequence() {
        return args.iter().all(|a| eval(t, a, p));
    }
    if let Some(args) = c["Fn::Or"].as_sequence() {
        return args.iter().any(|a| eval(t, a, p));
    }
    if let Some(args) = c["Fn::Equals"].as_sequence() {
        let value = |v: &Value| match v["Ref"].as_str() {
            Some(name) => p.value(t, name),
            None => v.as_str().expect("a literal").to_string(),
        };
        return value(&args[0]) == value(&args[1]);
    }
    panic!("unexpected condition {c:?}")
}

/// Whether a resource exists in the case `p`.
pub(super) fn exists(t: &Value, resource: &Value, p: &Params) -> bool {
    resource["Condition"]
        .as_str()
        .is_none_or(|name| eval(t, &t["Conditions"][name], p))
}

/// `{"Fn::If": [condition, a, b]}` resolved in the case `p`; anything else as it is.
pub(super) fn pick<'a>(t: &Value, v: &'a Value, p: &Params) -> &'a Value {
    match v["Fn::If"].as_sequence() {
        Some(choice) => {
            let cond = choice[0].as_str().expect("condition name");
            let branch = if eval(t, &t["Conditions"][cond], p) {
                &choice[1]
            } else {
                &choice[2]
            };
            pick(t, branch, p)
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
fn routes<'a>(t: &'a Value, p: &Params) -> Vec<(String, &'a Value, String, String, String)> {
    let mut out = Vec::new();
    for (name, f) in of_type(t, "AWS::Serverless::Function") {
        if !exists(t, f, p) {
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
        let c = Params::access(access);
        let all = routes(&t, &c);
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
                assert!(exists(&t, r, &c), "{access}: {rest} exists");
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
            if !exists(&t, api, &c) {
                continue;
            }
            assert_ne!(access, "public", "{name} exists with AdminAccess public");
            let p = &api["Properties"];
            let endpoint = pick(&t, &p["EndpointConfiguration"]["Type"], &c);
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
            let condition = pick(&t, &deny["Condition"], &c);
            if access == "private" {
                assert_eq!(endpoint.as_str(), Some("PRIVATE"), "{access}");
                let ids = pick(&t, &p["EndpointConfiguration"]["VPCEndpointIds"], &c);
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
            if !exists(&t, a, &c) {
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
                    exists(&t, &t["Resources"][f], &c),
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
        let url = pick(&t, &t["Outputs"]["AdminApiUrl"]["Value"], &c)["Fn::Sub"]
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

/// Staff notices link to the console where it is: every function that builds or sends a
/// notice (the worker, the notifier, the admin function's test notice) has `CONSOLE_BASE_URL`
/// set to `ConsoleBaseUrl` when it is given, else to `PublicBaseUrl` where the console is
/// served with the callbacks (`public`), else to `off` (no console link: the REST API's own
/// address loses the stage in the console's links, and naming that API from the function it
/// serves is a circular dependency); the callbacks keep `PUBLIC_BASE_URL` for what the
/// platforms call. A `ConsoleBaseUrl` must be https, as `PublicBaseUrl` must.
#[test]
fn staff_notices_link_to_the_console_where_it_is_or_not_at_all() {
    let t = template();
    assert_eq!(
        t["Globals"]["Function"]["Environment"]["Variables"]["PUBLIC_BASE_URL"]["Ref"].as_str(),
        Some("PublicBaseUrl")
    );
    let public = t["Parameters"]["PublicBaseUrl"]["AllowedPattern"]
        .as_str()
        .expect("PublicBaseUrl's pattern");
    let https = public
        .strip_prefix("^https://")
        .and_then(|p| p.strip_suffix('$'))
        .expect("PublicBaseUrl: ^https://...$");
    let console = &t["Parameters"]["ConsoleBaseUrl"];
    assert_eq!(console["Default"].as_str(), Some(""), "optional");
    assert_eq!(
        console["AllowedPattern"].as_str(),
        Some(format!("^(https://{https})?$").as_str()),
        "empty, or an https URL as PublicBaseUrl"
    );
    for access in ["public", "ip-restricted", "private"] {
        for given in ["", "https://admin.example.com/"] {
            let c = Params::access(access).with("ConsoleBaseUrl", given);
            let mut senders = Vec::new();
            for (name, f) in of_type(&t, "AWS::Serverless::Function") {
                if !exists(&t, f, &c) {
                    continue;
                }
                let binary = f["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .unwrap_or_default();
                let value = &f["Properties"]["Environment"]["Variables"]["CONSOLE_BASE_URL"];
                if !["admin-api", "worker", "notifier"].contains(&binary) {
                    assert!(value.is_null(), "{name} needs no CONSOLE_BASE_URL");
                    continue;
                }
                assert!(!value.is_null(), "{access}: {name} has CONSOLE_BASE_URL");
                let value = pick(&t, value, &c);
                let case = format!("{access}, ConsoleBaseUrl {given:?}: {name}");
                if !given.is_empty() {
                    assert_eq!(value["Ref"].as_str(), Some("ConsoleBaseUrl"), "{case}");
                } else if access == "public" {
                    assert_eq!(value["Ref"].as_str(), Some("PublicBaseUrl"), "{case}");
                } else {
                    assert_eq!(value.as_str(), Some("off"), "{case}");
                }
                senders.push(binary);
            }
            senders.sort();
            assert_eq!(senders, ["admin-api", "notifier", "worker"], "{access}");
        }
    }
}
