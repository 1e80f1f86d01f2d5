//! Rules of `infra/template.yaml` that cfn-lint does not check (the test command runs cfn-lint
//! as well): SQS event sources report batch item failures, queue visibility timeouts are at
//! least six times their function's timeout, every function is built by cargo-lambda from a
//! binary of this workspace with a log group that has a retention, every dead-letter queue has
//! an alarm, and each function is granted exactly the secrets its code reads.

#[path = "template/pipeline.rs"]
mod pipeline;

use serde_yaml::Value;

// Logs, concurrency, alarms and the dashboard.
#[path = "template/operations.rs"]
mod operations;
// The dashboard (with the metric checks of `operations`).
#[path = "template/dashboard.rs"]
mod dashboard;
// Where the admin API and the console are reachable from.
#[path = "template/admin_access.rs"]
mod admin_access;
// How SAM builds each function (its own package, the workflow's profile).
#[path = "template/build.rs"]
mod build;
// What each resource needs first: no cycle in any AdminAccess case.
#[path = "template/dependencies.rs"]
mod dependencies;

fn template() -> Value {
    let path = e2e_tests::workspace_root().join("infra/template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("template")).expect("YAML")
}

fn resources(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v))
        .collect()
}

fn of_type<'a>(t: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .collect()
}

/// The resource a `{"Fn::GetAtt": [name, attr]}` or `{"Ref": name}` points at.
fn target(v: &Value) -> Option<&str> {
    v["Fn::GetAtt"][0].as_str().or_else(|| v["Ref"].as_str())
}

fn timeout(t: &Value, function: &Value) -> i64 {
    function["Properties"]["Timeout"]
        .as_i64()
        .or_else(|| t["Globals"]["Function"]["Timeout"].as_i64())
        .unwrap_or(3)
}

#[test]
fn sqs_event_sources_report_batch_failures_and_queues_outlast_their_functions() {
    let t = template();
    let mut checked = 0;
    for (name, f) in of_type(&t, "AWS::Serverless::Function") {
        for (event, e) in f["Properties"]["Events"].as_mapping().into_iter().flatten() {
            if e["Type"].as_str() != Some("SQS") {
                continue;
            }
            let ev = event.as_str().unwrap_or_default();
            let types = e["Properties"]["FunctionResponseTypes"]
                .as_sequence()
                .cloned()
                .unwrap_or_default();
            assert!(
                types
                    .iter()
                    .any(|v| v.as_str() == Some("ReportBatchItemFailures")),
                "{name}.{ev}: ReportBatchItemFailures is missing"
            );
            let queue_name = target(&e["Properties"]["Queue"]).expect("queue reference");
            let queue = &t["Resources"][queue_name];
            let visibility = queue["Properties"]["VisibilityTimeout"]
                .as_i64()
                .unwrap_or(30);
            assert!(
                visibility >= 6 * timeout(&t, f),
                "{queue_name}: visibility {visibility}s is less than 6 x {name}'s timeout"
            );
            let dlq = target(&queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]);
            assert!(dlq.is_some(), "{queue_name} has no dead-letter queue");
            checked += 1;
        }
    }
    assert!(checked >= 1, "no SQS event source found");
}

#[test]
fn functions_are_cargo_lambda_builds_of_workspace_binaries_with_log_retention() {
    let t = template();
    let functions = of_type(&t, "AWS::Serverless::Function");
    assert!(functions.len() >= 2);
    for (name, f) in &functions {
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name}"
        );
        let binary = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary");
        let manifest = e2e_tests::workspace_root()
            .join("functions")
            .join(binary)
            .join("Cargo.toml");
        assert!(
            manifest.exists(),
            "{name} builds {binary}, which is not a crate under functions/"
        );
        let log_group = target(&f["Properties"]["LoggingConfig"]["LogGroup"])
            .unwrap_or_else(|| panic!("{name} has no LoggingConfig.LogGroup"));
        let lg = &t["Resources"][log_group];
        assert_eq!(lg["Type"].as_str(), Some("AWS::Logs::LogGroup"));
        assert!(
            !lg["Properties"]["RetentionInDays"].is_null(),
            "{log_group} keeps logs forever"
        );
    }
    // Every function crate is deployed.
    for entry in
        std::fs::read_dir(e2e_tests::workspace_root().join("functions")).expect("functions/")
    {
        let crate_name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        if crate_name == "complaint-desk" {
            continue; // the embedded all-in-one binary
        }
        assert!(
            functions
                .iter()
                .any(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"].as_str()
                    == Some(crate_name.as_str())),
            "functions/{crate_name} is not in the template"
        );
    }
}

#[test]
fn every_dead_letter_queue_has_an_alarm() {
    let t = template();
    let alarmed: Vec<String> = of_type(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter_map(|(_, a)| {
            a["Properties"]["Dimensions"]
                .as_sequence()
                .and_then(|d| d.first())
                .and_then(|d| target(&d["Value"]))
                .map(String::from)
        })
        .collect();
    let mut dlqs = 0;
    for (name, q) in of_type(&t, "AWS::SQS::Queue") {
        if let Some(dlq) = target(&q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) {
            dlqs += 1;
            assert!(
                alarmed.iter().any(|a| a == dlq),
                "{dlq} (dead letters of {name}) has no alarm"
            );
        }
    }
    assert!(dlqs >= 2);
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(s) => s.iter().flat_map(strings).collect(),
        Value::String(a) => vec![a.clone()],
        _ => vec![],
    }
}

/// A policy resource as text: `Ref:<resource>` or the `Fn::Sub` string.
fn resources_of(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(s) => s.iter().flat_map(resources_of).collect(),
        Value::String(a) => vec![a.clone()],
        v if v["Ref"].is_string() => vec![format!("Ref:{}", v["Ref"].as_str().unwrap_or(""))],
        v => vec![v["Fn::Sub"].as_str().unwrap_or("?").to_string()],
    }
}

/// Every (secretsmanager action, resource) a function is granted, sorted.
fn secret_grants(f: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for policy in f["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        for st in policy["Statement"].as_sequence().into_iter().flatten() {
            assert_eq!(st["Effect"].as_str(), Some("Allow"));
            for action in strings(&st["Action"]) {
                if action.starts_with("secretsmanager:") {
                    for r in resources_of(&st["Resource"]) {
                        out.push((action.clone(), r));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

const SECRET_ARN: &str =
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretPrefix}";

fn grants(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list
        .iter()
        .map(|(a, r)| {
            let r = r
                .strip_prefix("name:")
                .map(|n| format!("{SECRET_ARN}{n}"))
                .unwrap_or_else(|| r.to_string());
            (format!("secretsmanager:{a}"), r)
        })
        .collect();
    out.sort();
    out
}

/// Each function is granted exactly the secrets its code reads: the callbacks and the worker
/// the installation key and account credentials; the notifier the installation key and
/// notification secrets; the admin API reads both installation secrets and manages account
/// secrets, but cannot write or delete an installation secret; the scheduler none. Nobody but
/// the admin API reads the admin token.
#[test]
fn each_function_is_granted_exactly_the_secrets_it_reads() {
    let t = template();
    let key = ("GetSecretValue", "Ref:FingerprintKeySecret");
    let platform = grants(&[
        key,
        ("GetSecretValue", "name:accounts/*/credentials-??????"),
    ]);
    let notifier = grants(&[
        key,
        ("GetSecretValue", "name:accounts/*/notifications-??????"),
    ]);
    let mut admin = vec![key, ("GetSecretValue", "Ref:AdminTokenSecret")];
    for a in [
        "GetSecretValue",
        "DescribeSecret",
        "PutSecretValue",
        "CreateSecret",
        "DeleteSecret",
        "RestoreSecret",
    ] {
        admin.push((a, "name:accounts/*"));
    }
    let admin = grants(&admin);
    let no_secret = grants(&[]);
    let functions = of_type(&t, "AWS::Serverless::Function");
    for (name, f) in &functions {
        let binary = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_default();
        let expected = match binary {
            "admin-api" => &admin,
            "notifier" => &notifier,
            "scheduler" => &no_secret,
            "worker" | "callback-wechatpay" | "callback-alipay" | "callback-wxmini"
            | "callback-wxopen" => &platform,
            other => panic!("{name}: no expected secret grants for {other}"),
        };
        assert_eq!(&secret_grants(f), expected, "{name} ({binary})");
    }
    assert!(functions.len() >= 10, "every function checked");
}

/// IAM's ARN match: `*` any run of characters, `?` exactly one.
fn glob(pattern: &[u8], s: &[u8]) -> bool {
    match (pattern.split_first(), s.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => glob(rest, s) || (!s.is_empty() && glob(pattern, &s[1..])),
        (Some((b'?', rest)), Some((_, srest))) => glob(rest, srest),
        (Some((p, rest)), Some((c, srest))) => p == c && glob(rest, srest),
        _ => false,
    }
}

/// The name patterns of the grants fit the names the code gives its secrets (the prefix, then
/// `domain::ports::secret_names`, then Secrets Manager's random suffix), and no pattern a
/// function gets by name reaches an installation secret.
#[test]
fn secret_grants_match_the_names_the_code_uses() {
    use domain::ports::secret_names;
    let t = template();
    let arn = |name: &str| {
        format!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:complaint-desk/{name}-AbC123")
    };
    let patterns = |binary: &str| -> Vec<String> {
        of_type(&t, "AWS::Serverless::Function")
            .into_iter()
            .filter(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
            .flat_map(|(_, f)| secret_grants(f))
            .filter(|(a, r)| a == "secretsmanager:GetSecretValue" && !r.starts_with("Ref:"))
            .map(|(_, r)| {
                r.replace("${AWS::Partition}", "aws")
                    .replace("${AWS::Region}", "eu-west-1")
                    .replace("${AWS::AccountId}", "123456789012")
                    .replace("${SecretPrefix}", "complaint-desk/")
            })
            .collect()
    };
    let reads = |binary: &str, name: &str| {
        patterns(binary)
            .iter()
            .any(|p| glob(p.as_bytes(), arn(name).as_bytes()))
    };
    let credentials = secret_names::credentials("acc_1");
    let notifications = secret_names::notifications("acc_1", None);
    let sub = secret_names::notifications("acc_1", Some("1900000109"));
    for binary in [
        "worker",
        "callback-wechatpay",
        "callback-alipay",
        "callback-wxmini",
        "callback-wxopen",
    ] {
        assert!(reads(binary, &credentials), "{binary} reads {credentials}");
        for other in [&notifications, &sub] {
            assert!(!reads(binary, other), "{binary} must not read {other}");
        }
    }
    assert!(reads("notifier", &notifications) && reads("notifier", &sub));
    assert!(
        !reads("notifier", &credentials),
        "the notifier needs no platform credentials"
    );
    for name in [&credentials, &notifications, &sub] {
        assert!(reads("admin-api", name), "admin-api manages {name}");
    }
    for binary in ["admin-api", "worker", "notifier", "callback-wechatpay"] {
        for name in [secret_names::ADMIN_TOKEN, secret_names::FINGERPRINT_KEY] {
            assert!(
                !reads(binary, name),
                "{binary} reaches {name} by a name pattern"
            );
        }
    }
    // The installation secrets the template creates are the ones the code reads.
    for (resource, name) in [
        ("AdminTokenSecret", secret_names::ADMIN_TOKEN),
        ("FingerprintKeySecret", secret_names::FINGERPRINT_KEY),
    ] {
        assert_eq!(
            t["Resources"][resource]["Properties"]["Name"]["Fn::Sub"].as_str(),
            Some(format!("${{SecretPrefix}}{name}").as_str())
        );
    }
}

#[test]
fn no_wildcard_actions_and_http_api_uses_the_default_stage() {
    let t = template();
    for (name, f) in of_type(&t, "AWS::Serverless::Function") {
        for policy in f["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for st in policy["Statement"].as_sequence().into_iter().flatten() {
                assert!(
                    !strings(&st["Action"])
                        .iter()
                        .any(|a| a.ends_with(":*") || a == "*"),
                    "{name}: wildcard action"
                );
            }
        }
    }
    for (name, api) in of_type(&t, "AWS::Serverless::HttpApi") {
        let stage = api["Properties"]["StageName"].as_str();
        assert!(
            stage.is_none() || stage == Some("$default"),
            "{name} uses stage {stage:?}"
        );
    }
    assert!(
        t["Parameters"]["PublicBaseUrl"].is_mapping(),
        "PublicBaseUrl parameter"
    );
}

/// The README's WeChat Pay callback paths, each served by its own function that answers within
/// WeChat Pay's 5 s and may only enqueue to the events queue.
#[test]
fn every_wechatpay_callback_endpoint_has_its_own_function() {
    let t = template();
    for kind in ["complaints", "violations", "refunds"] {
        let path = format!("/callbacks/wechatpay/{{mchid}}/{kind}");
        let serving: Vec<(String, &Value)> = of_type(&t, "AWS::Serverless::Function")
            .into_iter()
            .filter(|(_, f)| {
                f["Properties"]["Events"]
                    .as_mapping()
                    .into_iter()
                    .flatten()
                    .any(|(_, e)| {
                        e["Type"].as_str() == Some("HttpApi")
                            && e["Properties"]["Path"].as_str() == Some(path.as_str())
                            && e["Properties"]["Method"].as_str() == Some("POST")
                    })
            })
            .collect();
        assert_eq!(
            serving.len(),
            1,
            "{path}: {:?}",
            serving.iter().map(|s| &s.0).collect::<Vec<_>>()
        );
        let (name, f) = &serving[0];
        assert_eq!(
            f["Properties"]["Events"].as_mapping().map(|m| m.len()),
            Some(1),
            "{name} serves one endpoint"
        );
        assert_eq!(
            f["Metadata"]["BuildProperties"]["Binary"].as_str(),
            Some("callback-wechatpay")
        );
        assert!(
            timeout(&t, f) <= 5,
            "{name} must answer within WeChat Pay's 5 s"
        );
        assert_eq!(
            enqueues_to(f),
            vec!["EventsQueue"],
            "{name} enqueues to the events queue only"
        );
    }
}

/// Both queues have their consumer: the worker (events) and the notifier (notify).
#[test]
fn the_events_and_notify_queues_each_have_a_consumer() {
    let t = template();
    for (queue, binary) in [("EventsQueue", "worker"), ("NotifyQueue", "notifier")] {
        let consumers: Vec<String> = of_type(&t, "AWS::Serverless::Function")
            .into_iter()
            .filter(|(_, f)| {
                f["Properties"]["Events"]
                    .as_mapping()
                    .into_iter()
                    .flatten()
                    .any(|(_, e)| {
                        e["Type"].as_str() == Some("SQS")
                            && target(&e["Properties"]["Queue"]) == Some(queue)
                    })
            })
            .map(|(_, f)| {
                f["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert_eq!(consumers, vec![binary.to_string()], "{queue}");
    }
}

#[test]
fn the_alipay_callback_has_its_own_function() {
    let t = template();
    let serving: Vec<String> = of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, f)| {
            f["Properties"]["Events"]
                .as_mapping()
                .into_iter()
                .flatten()
                .any(|(_, e)| {
                    e["Properties"]["Path"].as_str() == Some("/callbacks/alipay/{app_id}")
                        && e["Properties"]["Method"].as_str() == Some("POST")
                })
        })
        .map(|(_, f)| {
            f["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(serving, vec!["callback-alipay".to_string()]);
}

/// The queues a function may send to (`sqs:SendMessage` statements).
fn enqueues_to(f: &Value) -> Vec<&str> {
    f["Properties"]["Policies"][0]["Statement"]
        .as_sequence()
        .expect("statements")
        .iter()
        .filter(|s| {
            s["Action"]
                .as_sequence()
                .is_some_and(|a| a.iter().any(|x| x.as_str() == Some("sqs:SendMessage")))
        })
        .filter_map(|s| target(&s["Resource"]))
        .collect()
}

/// The functions whose HTTP events include `path` with `method`.
fn serving<'a>(t: &'a Value, path: &str, method: &str) -> Vec<(String, &'a Value)> {
    of_type(t, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, f)| {
            f["Properties"]["Events"]
                .as_mapping()
                .into_iter()
                .flatten()
                .any(|(_, e)| {
                    e["Type"].as_str() == Some("HttpApi")
                        && e["Properties"]["Path"].as_str() == Some(path)
                        && e["Properties"]["Method"].as_str() == Some(method)
                })
        })
        .collect()
}

/// The README's mini-program and third-party platform endpoints: each has its own function (the
/// URL check and the push share one path), built from its binary, answering within WeChat's
/// 5 s and enqueueing only to the events queue; the authorisation pages are the admin API's
/// (their state is signed with the installation key only it reads).
#[test]
fn every_mini_program_endpoint_has_its_own_function() {
    let t = template();
    let endpoints = [
        (
            "/callbacks/wxmini/{appid}",
            &["GET", "POST"][..],
            "callback-wxmini",
        ),
        (
            "/callbacks/wxopen/{component_appid}/events",
            &["POST"][..],
            "callback-wxopen",
        ),
        (
            "/callbacks/wxopen/{component_appid}/messages/{appid}",
            &["POST"][..],
            "callback-wxopen",
        ),
    ];
    let mut names = Vec::new();
    for (path, methods, binary) in endpoints {
        for method in methods {
            let s = serving(&t, path, method);
            assert_eq!(s.len(), 1, "{method} {path}");
            let (name, f) = &s[0];
            assert_eq!(
                f["Properties"]["Events"].as_mapping().map(|m| m.len()),
                Some(methods.len()),
                "{name} serves one endpoint"
            );
            assert_eq!(
                f["Metadata"]["BuildProperties"]["Binary"].as_str(),
                Some(binary)
            );
            assert!(timeout(&t, f) <= 5, "{name} must answer within 5 s");
            let sends = enqueues_to(f);
            assert_eq!(sends, vec!["EventsQueue"], "{name}");
            names.push(name.clone());
        }
    }
    names.dedup();
    assert_eq!(names.len(), 3, "three functions: {names:?}");
    for (page, method) in [
        ("/wxopen/{component_appid}/authorize", "GET"),
        ("/wxopen/{component_appid}/authorized", "GET"),
        // The staff console is served by the admin API function.
        ("/console", "GET"),
        ("/console/{proxy+}", "ANY"),
    ] {
        let s = serving(&t, page, method);
        assert_eq!(s.len(), 1, "{page}");
        assert_eq!(
            s[0].1["Metadata"]["BuildProperties"]["Binary"].as_str(),
            Some("admin-api"),
            "{page}"
        );
    }
}

/// The table has one GSI per secondary index of the record port, named and keyed as the code
/// names them (`gsi{n}` on `gsi{n}pk`/`gsi{n}sk`, all attributes projected). The indexes after
/// the first two are each behind a condition of the `ListIndexes` parameter, and each step of
/// the parameter adds exactly one (CloudFormation adds at most one GSI per table update).
#[test]
fn the_table_has_the_record_ports_indexes_added_one_per_stack_update() {
    use domain::ports::Index;
    let t = template();
    let table = &t["Resources"]["Table"]["Properties"];
    let param = &t["Parameters"]["ListIndexes"];
    let values: Vec<i64> = param["AllowedValues"]
        .as_sequence()
        .expect("ListIndexes values")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    let added = Index::SECONDARY.len() - 2;
    assert_eq!(values, (0..=added as i64).collect::<Vec<_>>());
    assert_eq!(
        param["Default"].as_i64(),
        Some(added as i64),
        "a new stack has them all"
    );

    // Evaluate the conditions for a parameter value (the forms the template uses).
    fn eval(t: &Value, c: &Value, n: i64) -> bool {
        if let Some(name) = c["Condition"].as_str() {
            return eval(t, &t["Conditions"][name], n);
        }
        if let Some(args) = c["Fn::Not"].as_sequence() {
            return !eval(t, &args[0], n);
        }
        if let Some(args) = c["Fn::And"].as_sequence() {
            return args.iter().all(|a| eval(t, a, n));
        }
        if let Some(args) = c["Fn::Equals"].as_sequence() {
            let value = |v: &Value| match v["Ref"].as_str() {
                Some("ListIndexes") => n.to_string(),
                _ => v
                    .as_str()
                    .map(String::from)
                    .or_else(|| v.as_i64().map(|i| i.to_string()))
                    .expect("a literal"),
            };
            return value(&args[0]) == value(&args[1]);
        }
        panic!("unexpected condition {c:?}");
    }
    // The GSIs (and their attribute definitions) present for a parameter value.
    let present = |n: i64| -> (Vec<String>, Vec<String>) {
        let pick = |list: &Value| -> Vec<Value> {
            list.as_sequence()
                .expect("list")
                .iter()
                .filter_map(|v| match v["Fn::If"].as_sequence() {
                    Some(f) => {
                        let cond = f[0].as_str().expect("condition name");
                        eval(&t, &t["Conditions"][cond], n).then(|| f[1].clone())
                    }
                    None => Some(v.clone()),
                })
                .collect()
        };
        let gsis = pick(&table["GlobalSecondaryIndexes"])
            .iter()
            .map(|g| {
                let name = g["IndexName"].as_str().expect("name").to_string();
                let keys: Vec<&str> = g["KeySchema"]
                    .as_sequence()
                    .expect("keys")
                    .iter()
                    .map(|k| k["AttributeName"].as_str().expect("attribute"))
                    .collect();
                assert_eq!(keys, [format!("{name}pk"), format!("{name}sk")], "{name}");
                assert_eq!(g["Projection"]["ProjectionType"].as_str(), Some("ALL"));
                name
            })
            .collect();
        let attrs = pick(&table["AttributeDefinitions"])
            .iter()
            .map(|a| a["AttributeName"].as_str().expect("name").to_string())
            .collect();
        (gsis, attrs)
    };
    for n in values {
        let (gsis, attrs) = present(n);
        let want: Vec<String> = Index::SECONDARY[..2 + n as usize]
            .iter()
            .map(|i| format!("gsi{}", i.number().expect("secondary")))
            .collect();
        assert_eq!(gsis, want, "ListIndexes={n}");
        let mut want_attrs = vec!["pk".to_string(), "sk".to_string()];
        for g in &want {
            want_attrs.push(format!("{g}pk"));
            want_attrs.push(format!("{g}sk"));
        }
        assert_eq!(attrs, want_attrs, "ListIndexes={n}: attribute definitions");
    }
}

/// Every (action, resource) a function's policies allow, sorted; resources as
/// [`resources_of`] shows them, `GetAtt:<resource>.<attribute>` for an attribute.
fn all_grants(f: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for policy in f["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        for st in policy["Statement"].as_sequence().into_iter().flatten() {
            assert_eq!(st["Effect"].as_str(), Some("Allow"));
            let resources: Vec<String> = match &st["Resource"] {
                Value::Sequence(s) => s.clone(),
                one => vec![one.clone()],
            }
            .iter()
            .map(|r| match r["Fn::GetAtt"].as_sequence() {
                Some(a) => format!(
                    "GetAtt:{}.{}",
                    a[0].as_str().unwrap_or(""),
                    a[1].as_str().unwrap_or("")
                ),
                None => resources_of(r).join(","),
            })
            .collect();
            for action in strings(&st["Action"]) {
                for r in &resources {
                    out.push((action.clone(), r.clone()));
                }
            }
        }
    }
    out.sort();
    out
}

/// The scheduled jobs, each with the parameter that is its rate: (job type, parameter,
/// default minutes, least and most minutes allowed).
const SCHEDULES: &[(&str, &str, i64, i64, i64)] = &[
    (
        domain::job::deadlines::SWEEP.name(),
        "DeadlineSweepMinutes",
        5,
        2,
        60,
    ),
    (
        domain::job::reconcile::PASS.name(),
        "ReconcileMinutes",
        10,
        5,
        60,
    ),
];

/// The scheduler: the one `scheduler` binary as one function per schedule, each naming its
/// job in `SCHEDULED_JOBS` (unset would be every job at one rate), run by an EventBridge
/// schedule whose rate is that job's parameter, retried when a run fails, with an alarm on its
/// errors; each allowed exactly to query the account index (gsi1, where the account list
/// lives) and to send to the events queue: no other index, no table read or write, no other
/// queue, no secret. Every scheduled job has exactly one function.
#[test]
fn the_scheduler_runs_each_job_on_its_parameter_rate_with_only_what_it_needs() {
    let t = template();
    let schedulers: Vec<(String, &Value)> = of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"].as_str() == Some("scheduler"))
        .collect();
    let alarmed: Vec<String> = of_type(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| a["Properties"]["MetricName"].as_str() == Some("Errors"))
        .filter_map(|(_, a)| {
            a["Properties"]["Dimensions"]
                .as_sequence()
                .and_then(|d| d.first())
                .and_then(|d| target(&d["Value"]))
                .map(String::from)
        })
        .collect();
    let mut scheduled: Vec<&str> = Vec::new();
    for (name, f) in &schedulers {
        let jobs = f["Properties"]["Environment"]["Variables"]["SCHEDULED_JOBS"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: SCHEDULED_JOBS names its job"));
        let &(job, parameter, default, least, most) = SCHEDULES
            .iter()
            .find(|s| s.0 == jobs)
            .unwrap_or_else(|| panic!("{name}: SCHEDULED_JOBS={jobs} is not one scheduled job"));
        scheduled.push(job);
        let events: Vec<&Value> = f["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(_, e)| e)
            .collect();
        assert_eq!(events.len(), 1, "{name}: one event, its schedule");
        let event = events[0];
        assert_eq!(event["Type"].as_str(), Some("Schedule"), "{name}");
        assert_eq!(
            event["Properties"]["Schedule"]["Fn::Sub"].as_str(),
            Some(format!("rate(${{{parameter}}} minutes)").as_str()),
            "{name}: the rate of {job} is {parameter}"
        );
        assert!(
            event["Properties"]["Input"].is_null(),
            "{name}: the event keeps its time (the slot of the job ids)"
        );
        let minutes = &t["Parameters"][parameter];
        assert_eq!(minutes["Type"].as_str(), Some("Number"), "{parameter}");
        assert_eq!(minutes["Default"].as_i64(), Some(default), "{parameter}");
        assert_eq!(minutes["MinValue"].as_i64(), Some(least), "{parameter}");
        assert_eq!(minutes["MaxValue"].as_i64(), Some(most), "{parameter}");
        assert!(
            least >= 2,
            "`rate(1 minutes)` is not a valid rate (EventBridge wants `1 minute`)"
        );
        assert!(
            f["Properties"]["EventInvokeConfig"]["MaximumRetryAttempts"].as_i64() >= Some(1),
            "{name}: a failed run is run again"
        );
        assert!(
            alarmed.iter().any(|a| a == name),
            "{name}: no alarm on its errors"
        );
        let expected: Vec<(String, String)> = vec![
            ("dynamodb:Query".into(), "${Table.Arn}/index/gsi1".into()),
            ("sqs:SendMessage".into(), "GetAtt:EventsQueue.Arn".into()),
        ];
        assert_eq!(all_grants(f), expected, "{name}: exactly these grants");
    }
    scheduled.sort();
    let mut all: Vec<&str> = SCHEDULES.iter().map(|s| s.0).collect();
    all.sort();
    assert_eq!(scheduled, all, "one scheduler function per scheduled job");
}

/// The worker sends onto its own queue: a job our rate limiter deferred goes back as a fresh
/// message (without the grant it falls back to a back-off that uses up its attempts), and a
/// reconciliation pass queues the jobs a missed push would have queued and its continuation.
/// It sends to the notify queue (staff notices) and its dead-letter queue, nowhere else.
#[test]
fn the_worker_may_queue_onto_its_own_queue() {
    let t = template();
    let worker = &t["Resources"]["WorkerFunction"];
    let mut to = enqueues_to(worker);
    to.sort();
    assert_eq!(
        to,
        vec!["EventsDeadLetterQueue", "EventsQueue", "NotifyQueue"],
        "the worker's SendMessage grants"
    );
}
