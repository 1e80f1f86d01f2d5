//! The template deploys in every `AdminAccess` case: the resources that exist and what each
//! one needs first form no cycle. cfn-lint and `sam validate` pass a cycle that goes through
//! the body SAM writes for an API (aws/serverless-application-model#386); CloudFormation
//! refuses the stack when it is created.
//!
//! A resource depends on what its properties name (`Ref`, `Fn::GetAtt`, `Fn::Sub`
//! references; `Fn::If` resolved under the evaluated conditions) and on its `DependsOn`; a
//! function also on what the `Globals` give every function, not on what its events name (SAM
//! makes separate resources of them). SAM adds one edge the template does not show: an API
//! (`Api` event's `RestApiId`, `HttpApi` event's `ApiId`) depends on each function with an
//! event on it, whose ARN SAM writes into the API's definition.

use super::admin_access::{Params, eval, exists};
use super::template;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every resource that exists in the case `c`, with the resources it depends on.
fn graph(t: &Value, c: &Params) -> BTreeMap<String, BTreeSet<String>> {
    let all = t["Resources"].as_mapping().expect("Resources");
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, r) in all {
        let name = name.as_str().expect("a resource name").to_string();
        if !exists(t, r, c) {
            continue;
        }
        let mut needs = BTreeSet::new();
        let mut properties = r["Properties"].clone();
        if r["Type"].as_str() == Some("AWS::Serverless::Function") {
            if let Some(p) = properties.as_mapping_mut() {
                p.remove("Events");
            }
            named(t, &t["Globals"]["Function"], c, &mut needs);
            for (_, e) in r["Properties"]["Events"].as_mapping().into_iter().flatten() {
                let api = match e["Type"].as_str() {
                    Some("Api") => &e["Properties"]["RestApiId"],
                    Some("HttpApi") => &e["Properties"]["ApiId"],
                    _ => continue,
                };
                let mut apis = BTreeSet::new();
                named(t, api, c, &mut apis);
                for api in apis {
                    g.entry(api).or_default().insert(name.clone());
                }
            }
        }
        named(t, &properties, c, &mut needs);
        if let Some(d) = r["DependsOn"].as_str() {
            needs.insert(d.to_string());
        }
        for d in r["DependsOn"].as_sequence().into_iter().flatten() {
            needs.insert(d.as_str().expect("DependsOn names").to_string());
        }
        g.entry(name).or_default().extend(needs);
    }
    // Whatever is named exists in this case (else the stack would not deploy either).
    for (name, needs) in &g {
        for n in needs {
            assert!(
                exists(t, &all[n.as_str()], c),
                "{name} needs {n}, which does not exist in this case"
            );
        }
    }
    g
}

/// The resources `v` names, in the case `c`, into `out` (parameters and pseudo parameters are
/// not resources).
fn named(t: &Value, v: &Value, c: &Params, out: &mut BTreeSet<String>) {
    let resource = |n: &str| t["Resources"][n].is_mapping().then(|| n.to_string());
    match v {
        Value::Sequence(s) => s.iter().for_each(|v| named(t, v, c, out)),
        Value::Mapping(m) => {
            if let Some(choice) = v["Fn::If"].as_sequence() {
                let cond = choice[0].as_str().expect("a condition's name");
                let taken = if eval(t, &t["Conditions"][cond], c) {
                    &choice[1]
                } else {
                    &choice[2]
                };
                return named(t, taken, c, out);
            }
            if let Some(r) = v["Ref"].as_str() {
                out.extend(resource(r));
                return;
            }
            if let Some(a) = v.get("Fn::GetAtt") {
                let r = match a {
                    Value::String(s) => s.split('.').next().unwrap_or_default(),
                    a => a[0].as_str().expect("GetAtt's resource"),
                };
                out.extend(resource(r));
                return;
            }
            if let Some(sub) = v.get("Fn::Sub") {
                let (text, locals) = match sub {
                    Value::String(s) => (s.as_str(), None),
                    s => (s[0].as_str().expect("Sub's text"), s[1].as_mapping()),
                };
                for r in substituted(text) {
                    let local = locals.is_some_and(|l| l.contains_key(r.as_str()));
                    if !local {
                        out.extend(resource(&r));
                    }
                }
                if let Some(l) = locals {
                    l.values().for_each(|v| named(t, v, c, out));
                }
                return;
            }
            m.values().for_each(|v| named(t, v, c, out));
        }
        _ => {}
    }
}

/// The names an `Fn::Sub` text substitutes (`${Name}`, `${Name.Attribute}`; not `${!Text}`).
fn substituted(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find('}') else { break };
        let inner = &rest[..end];
        if !inner.starts_with('!') {
            out.push(inner.split('.').next().unwrap_or_default().to_string());
        }
        rest = &rest[end + 1..];
    }
    out
}

/// A cycle of `g`, as the resources along it, if it has one.
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit<'a>(
        g: &'a BTreeMap<String, BTreeSet<String>>,
        n: &'a str,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(n) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = path.iter().position(|p| *p == n).unwrap_or_default();
                let mut c: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
                c.push(n.to_string());
                return Some(c);
            }
            None => {}
        }
        marks.insert(n, Mark::Open);
        path.push(n);
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(g, m, marks, path) {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(n, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    g.keys()
        .find_map(|n| visit(g, n, &mut marks, &mut Vec::new()))
}

#[test]
fn no_admin_access_case_has_a_dependency_cycle() {
    let t = template();
    let values: Vec<&str> = t["Parameters"]["AdminAccess"]["AllowedValues"]
        .as_sequence()
        .expect("AllowedValues")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(values.len(), 3);
    for access in values {
        for console in ["", "https://admin.example.com/"] {
            let c = Params::access(access)
                .with("ConsoleBaseUrl", console)
                .with("AWS::Partition", "aws");
            let g = graph(&t, &c);
            assert!(g.len() > 40, "{access}: {} resources", g.len());
            if let Some(found) = cycle(&g) {
                panic!(
                    "AdminAccess {access}, ConsoleBaseUrl {console:?}: a circular dependency: {}",
                    found.join(" -> ")
                );
            }
        }
    }
}

/// The graph sees what the template hides: an `Api` event's API depends on its function, so a
/// function that names that API closes a cycle; a `Fn::Sub` of it counts, an escaped `${!...}`
/// does not.
#[test]
fn the_dependency_graph_finds_a_cycle_through_an_api_event() {
    let t: Value = serde_yaml::from_str(
        r#"
Parameters:
  AdminAccess: {Type: String, Default: public}
Conditions:
  Own: {"Fn::Equals": [{"Ref": "AdminAccess"}, "private"]}
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {StageName: prod}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          URL: {"Fn::If": ["Own", {"Fn::Sub": "https://${Api}.example/${!Literal}"}, "off"]}
      Events:
        All: {Type: Api, Properties: {RestApiId: {"Ref": "Api"}, Path: /, Method: ANY}}
"#,
    )
    .expect("YAML");
    let public = graph(&t, &Params::access("public"));
    assert_eq!(cycle(&public), None, "{public:?}");
    let own = graph(&t, &Params::access("private"));
    assert_eq!(
        cycle(&own),
        Some(vec!["Api".to_string(), "Fn".into(), "Api".into()]),
        "{own:?}"
    );
    assert_eq!(substituted("a${B}c${C.Arn}${!D}"), ["B", "C"]);
}
