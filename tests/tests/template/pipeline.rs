//! The deployment pipeline's rules that actionlint and cfn-lint do not check (the test command
//! runs both): each stage's bootstrap deploy role trusts only its own GitHub environment and
//! reaches only its own stack, secrets and packages, the execution roles create roles only
//! within the stage's permissions boundary, production waits for its environment's reviewers, no workflow holds a
//! long-lived AWS key, the stacks the workflow deploys are samconfig's, and the build uses the
//! size profile of Cargo.toml.

use serde_yaml::Value;

fn yaml(path: &str) -> Value {
    let path = e2e_tests::workspace_root().join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn text(path: &str) -> String {
    std::fs::read_to_string(e2e_tests::workspace_root().join(path)).expect(path)
}

/// The `key = value` lines of one `[section]` of a TOML file (basic strings unquoted, `\"`
/// unescaped; other values as written). Enough for samconfig.toml and Cargo.toml's profiles.
pub(crate) fn toml_section(text: &str, section: &str) -> Vec<(String, String)> {
    let header = format!("[{section}]");
    let mut inside = false;
    let mut pairs = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(inner) => inner.replace("\\\"", "\""),
            None => v.to_string(),
        };
        pairs.push((k.trim().to_string(), v));
    }
    pairs
}

pub(crate) fn toml_value(text: &str, section: &str, key: &str) -> Option<String> {
    toml_section(text, section)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// The jobs of deploy.yml that assume an AWS role: (job name, job).
fn aws_jobs(workflow: &Value) -> Vec<(String, Value)> {
    workflow["jobs"]
        .as_mapping()
        .expect("jobs")
        .iter()
        .filter(|(_, job)| {
            job["steps"].as_sequence().into_iter().flatten().any(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@"))
            })
        })
        .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.clone()))
        .collect()
}

/// A job's environment name (`environment: name` or `environment: {name: ...}`).
fn environment(job: &Value) -> Option<&str> {
    job["environment"]
        .as_str()
        .or_else(|| job["environment"]["name"].as_str())
}

/// The two deployment stages: (GitHub environment, the bootstrap resources' prefix).
const STAGES: [(&str, &str); 2] = [("staging", "Staging"), ("production", "Production")];

/// The statements of a role's inline policies (or of a managed policy's document).
fn statements(resource: &Value) -> Vec<Value> {
    let props = &resource["Properties"];
    let docs: Vec<&Value> = match props["Policies"].as_sequence() {
        Some(policies) => policies.iter().map(|p| &p["PolicyDocument"]).collect(),
        None => vec![&props["PolicyDocument"]],
    };
    docs.iter()
        .flat_map(|d| d["Statement"].as_sequence().expect("statements").clone())
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(a) => vec![a.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        Value::Mapping(m) => m.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// The `sub` value a stage's deploy role's trust policy accepts, as written.
fn trusted_subject(bootstrap: &Value, role: &str) -> String {
    let role = &bootstrap["Resources"][role];
    assert_eq!(role["Type"].as_str(), Some("AWS::IAM::Role"));
    let statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .expect("trust statements");
    assert_eq!(statements.len(), 1, "one trust statement: {statements:?}");
    let s = &statements[0];
    assert_eq!(s["Effect"].as_str(), Some("Allow"));
    assert_eq!(s["Action"].as_str(), Some("sts:AssumeRoleWithWebIdentity"));
    let federated = &s["Principal"]["Federated"]["Fn::If"];
    assert_eq!(
        federated[1]["Ref"].as_str(),
        Some("GitHubOidcProvider"),
        "the principal is GitHub's OIDC provider: {federated:?}"
    );
    assert_eq!(
        federated[2]["Ref"].as_str(),
        Some("ExistingOidcProviderArn")
    );
    let condition = s["Condition"].as_mapping().expect("a trust condition");
    assert_eq!(
        condition
            .keys()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>(),
        ["StringEquals"],
        "exact matches only (no StringLike wildcards)"
    );
    let equals = &s["Condition"]["StringEquals"];
    assert_eq!(
        equals["token.actions.githubusercontent.com:aud"].as_str(),
        Some("sts.amazonaws.com")
    );
    equals["token.actions.githubusercontent.com:sub"]["Fn::Sub"]
        .as_str()
        .expect("exactly one subject (Fn::Sub), not a list")
        .to_string()
}

#[test]
fn each_stage_has_its_own_deploy_role_trusted_only_by_its_environment() {
    let bootstrap = yaml("infra/bootstrap.yaml");
    assert!(
        !bootstrap["Parameters"]["GitHubRepository"].is_null(),
        "the repository is a parameter"
    );
    assert!(
        bootstrap["Resources"]["DeployRole"].is_null(),
        "no deploy role shared by both stages"
    );
    // deploy.yml's AWS jobs run in exactly the two environments.
    let workflow = yaml(".github/workflows/deploy.yml");
    let mut used: Vec<&str> = aws_jobs(&workflow)
        .iter()
        .map(|(name, job)| {
            environment(job).unwrap_or_else(|| {
                panic!("{name} assumes the deploy role outside a GitHub environment")
            })
        })
        .map(|e| {
            STAGES
                .iter()
                .find(|(env, _)| *env == e)
                .expect("a known stage")
                .0
        })
        .collect();
    used.sort();
    assert_eq!(used, ["production", "staging"]);
    let samconfig = text("infra/samconfig.toml");
    let stack_prefix = bootstrap["Parameters"]["StackNamePrefix"]["Default"]
        .as_str()
        .expect("StackNamePrefix default");
    for (env, cap) in STAGES {
        let role_name = format!("{cap}DeployRole");
        assert_eq!(
            trusted_subject(&bootstrap, &role_name),
            format!("repo:${{GitHubRepository}}:environment:{env}"),
            "{role_name} trusts its own environment only"
        );
        assert!(
            !bootstrap["Outputs"][format!("{role_name}Arn")].is_null(),
            "an output for {role_name}"
        );
        // samconfig's stack and secret prefix are those the role is scoped to.
        let stack = toml_value(
            &samconfig,
            &format!("{env}.deploy.parameters"),
            "stack_name",
        )
        .expect("stack_name");
        assert_eq!(stack, format!("{stack_prefix}-{env}"));
        let secret_param = format!("{cap}SecretNamePrefix");
        let secret_prefix = bootstrap["Parameters"][&secret_param]["Default"]
            .as_str()
            .unwrap_or_else(|| panic!("{secret_param} default"));
        let overrides = toml_value(
            &samconfig,
            &format!("{env}.deploy.parameters"),
            "parameter_overrides",
        )
        .expect("parameter_overrides");
        assert!(
            overrides.contains(&format!("SecretPrefix=\"{secret_prefix}/\"")),
            "[{env}] SecretPrefix is {secret_param}/: {overrides}"
        );
        let other = STAGES.iter().find(|(e, _)| *e != env).expect("other").1;
        for s in statements(&bootstrap["Resources"][&role_name]) {
            let actions = strings(&s["Action"]);
            assert!(
                actions.iter().all(|a| !a.contains('*')),
                "{role_name} names its actions: {actions:?}"
            );
            let resources = strings(&s["Resource"]).join(" ");
            assert!(
                !resources.contains(other) && !resources.contains("${StackNamePrefix}-*"),
                "{role_name} reaches past its own stage: {resources}"
            );
            let first = actions[0].split(':').next().unwrap_or_default();
            let own = match first {
                "cloudformation" if actions.iter().any(|a| a.ends_with("ExecuteChangeSet")) => {
                    Some(format!("stack/${{StackNamePrefix}}-{env}/*"))
                }
                "secretsmanager" => Some(format!(
                    "secret:${{{secret_param}}}/installation/admin-token-*"
                )),
                "s3" if actions.iter().any(|a| a == "s3:PutObject") => Some(format!(
                    "${{ArtifactBucket.Arn}}/${{StackNamePrefix}}-{env}/*"
                )),
                "s3" if actions.iter().any(|a| a == "s3:ListBucket") => {
                    Some(format!("${{StackNamePrefix}}-{env}/*"))
                }
                _ => None,
            };
            if let Some(own) = own {
                let scoped = resources.ends_with(&own) || strings(&s["Condition"]).contains(&own);
                assert!(
                    scoped,
                    "{role_name} {actions:?}: not scoped to {own}: {s:?}"
                );
            }
            if actions.iter().any(|a| a == "iam:PassRole") {
                assert_eq!(
                    s["Resource"]["Fn::GetAtt"][0].as_str(),
                    Some(format!("{cap}ExecutionRole").as_str())
                );
                assert_eq!(
                    s["Condition"]["StringEquals"]["iam:PassedToService"].as_str(),
                    Some("cloudformation.amazonaws.com")
                );
            }
        }
    }
    // The workflow takes the role from the environment's variable, and uploads under the stack.
    let deploy = text(".github/workflows/deploy.yml");
    assert!(deploy.contains("role-to-assume: ${{ vars.AWS_DEPLOY_ROLE_ARN }}"));
    assert!(deploy.contains("--s3-prefix \"$STACK\""));
}

#[test]
fn the_execution_roles_create_roles_only_within_their_boundary() {
    const BOUNDED: [&str; 4] = [
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:PutRolePermissionsBoundary",
    ];
    let bootstrap = yaml("infra/bootstrap.yaml");
    let template = yaml("infra/template.yaml");
    let samconfig = text("infra/samconfig.toml");
    for (env, cap) in STAGES {
        let boundary = format!("{cap}PermissionsBoundary");
        let policy = &bootstrap["Resources"][&boundary];
        assert_eq!(policy["Type"].as_str(), Some("AWS::IAM::ManagedPolicy"));
        let boundary_name = policy["Properties"]["ManagedPolicyName"]["Fn::Sub"]
            .as_str()
            .expect("a named boundary")
            .replace("${StackNamePrefix}", "complaint-desk");
        for s in statements(policy) {
            assert!(
                strings(&s["Action"])
                    .iter()
                    .all(|a| !a.starts_with("iam:") && a != "*"),
                "{boundary} grants no IAM: {s:?}"
            );
            if strings(&s["Action"])
                .iter()
                .any(|a| a.starts_with("secretsmanager:"))
            {
                assert!(
                    strings(&s["Resource"])
                        .iter()
                        .all(|r| r.ends_with(&format!("secret:${{{cap}SecretNamePrefix}}/*"))),
                    "{boundary}'s secrets end at the prefix's slash: {s:?}"
                );
            }
        }
        let role_name = format!("{cap}ExecutionRole");
        let role = statements(&bootstrap["Resources"][&role_name]);
        let mut bounded = Vec::new();
        for s in &role {
            let actions = strings(&s["Action"]);
            let allow = s["Effect"].as_str() == Some("Allow");
            if allow
                && actions
                    .iter()
                    .any(|a| a == "iam:*" || BOUNDED.contains(&a.as_str()))
            {
                assert_eq!(
                    s["Condition"]["StringEquals"]["iam:PermissionsBoundary"]["Ref"].as_str(),
                    Some(boundary.as_str()),
                    "{role_name}: {actions:?} only with {boundary}"
                );
                bounded.extend(actions.clone());
            }
            if actions.iter().any(|a| {
                a.starts_with("secretsmanager:") && a != "secretsmanager:GetRandomPassword"
            }) {
                assert!(
                    strings(&s["Resource"])
                        .iter()
                        .all(|r| r.ends_with(&format!("secret:${{{cap}SecretNamePrefix}}/*"))),
                    "{role_name}'s secrets end at the prefix's slash: {s:?}"
                );
            }
        }
        bounded.sort();
        let mut want: Vec<String> = BOUNDED.iter().map(|a| a.to_string()).collect();
        want.sort();
        assert_eq!(bounded, want, "{role_name} creates roles with the boundary");
        assert!(
            role.iter().any(|s| s["Effect"].as_str() == Some("Deny")
                && strings(&s["Action"]) == ["iam:DeleteRolePermissionsBoundary"]),
            "{role_name} may not take a boundary off"
        );
        assert!(
            role.iter().any(|s| s["Effect"].as_str() == Some("Allow")
                && strings(&s["Action"])
                    .iter()
                    .any(|a| a == "apigateway:UpdateRestApiPolicy")),
            "{role_name} sets the AdminApi's resource policy"
        );
        assert!(!bootstrap["Outputs"][format!("{role_name}Arn")].is_null());
        assert!(!bootstrap["Outputs"][format!("{boundary}Arn")].is_null());
        // samconfig passes the boundary to the stage's stack.
        let overrides = toml_value(
            &samconfig,
            &format!("{env}.deploy.parameters"),
            "parameter_overrides",
        )
        .expect("parameter_overrides");
        assert!(
            overrides.contains(&format!(":policy/{boundary_name}\"")),
            "[{env}] PermissionsBoundaryArn is {boundary_name}: {overrides}"
        );
    }
    // The application's functions carry the boundary the stack is given.
    let global = &template["Globals"]["Function"]["PermissionsBoundary"]["Fn::If"];
    assert_eq!(global[0].as_str(), Some("HasPermissionsBoundary"));
    assert_eq!(global[1]["Ref"].as_str(), Some("PermissionsBoundaryArn"));
    assert_eq!(global[2]["Ref"].as_str(), Some("AWS::NoValue"));
    assert_eq!(
        template["Parameters"]["PermissionsBoundaryArn"]["Default"].as_str(),
        Some("")
    );
}

#[test]
fn production_waits_for_its_environment_after_staging() {
    let workflow = yaml(".github/workflows/deploy.yml");
    let jobs = aws_jobs(&workflow);
    let names: Vec<&str> = jobs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["staging", "production"]);
    let production = &workflow["jobs"]["production"];
    assert_eq!(environment(production), Some("production"));
    assert_eq!(environment(&workflow["jobs"]["staging"]), Some("staging"));
    let needs: Vec<&str> = production["needs"]
        .as_sequence()
        .expect("needs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(needs.contains(&"staging"), "production after staging");
    for (name, job) in &jobs {
        assert_eq!(
            job["permissions"]["id-token"].as_str(),
            Some("write"),
            "{name} needs an OIDC token"
        );
        let group = job["concurrency"]["group"].as_str().unwrap_or_default();
        assert!(
            !group.is_empty() && job["concurrency"]["cancel-in-progress"] == Value::Bool(false),
            "{name}: two deployments of a stage never overlap, and none is cut short"
        );
    }
    // Deploys follow a green CI of main.
    let run = &workflow["on"]["workflow_run"];
    assert_eq!(run["workflows"][0].as_str(), Some("CI"));
    assert_eq!(run["branches"][0].as_str(), Some("main"));
    let ci = yaml(".github/workflows/ci.yml");
    assert_eq!(ci["name"].as_str(), Some("CI"));
    let test = &ci["jobs"]["test"];
    assert!(
        test["container"]["image"]
            .as_str()
            .is_some_and(|i| i.contains("bookworm")),
        "the tests run in Debian bookworm"
    );
    assert!(
        test["steps"]
            .as_sequence()
            .expect("steps")
            .iter()
            .any(|s| s["run"].as_str() == Some("scripts/test")),
        "CI runs the README's test command"
    );
}

#[test]
fn no_workflow_holds_a_long_lived_aws_key() {
    let dir = e2e_tests::workspace_root().join(".github/workflows");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect(".github/workflows") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path)
            .expect("workflow")
            .to_lowercase();
        for key in [
            "aws-secret-access-key",
            "aws-access-key-id",
            "aws_secret_access_key",
            "aws_access_key_id",
        ] {
            assert!(
                !text.contains(key),
                "{} mentions {key}: use the OIDC role",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "ci.yml and deploy.yml");
}

#[test]
fn the_workflow_deploys_samconfigs_stacks() {
    let samconfig = text("infra/samconfig.toml");
    let workflow = yaml(".github/workflows/deploy.yml");
    for (name, job) in aws_jobs(&workflow) {
        let stage = job["env"]["STAGE"].as_str().expect("env STAGE");
        let stack = job["env"]["STACK"].as_str().expect("env STACK");
        let section = format!("{stage}.deploy.parameters");
        assert_eq!(
            toml_value(&samconfig, &section, "stack_name").as_deref(),
            Some(stack),
            "{name} deploys {stack}, samconfig's [{section}] another"
        );
        assert!(
            stack.starts_with("complaint-desk-"),
            "{stack}: the bootstrap roles are scoped to complaint-desk-*"
        );
        let prefix = toml_value(&samconfig, &section, "parameter_overrides").unwrap_or_default();
        assert!(
            prefix.contains("SecretPrefix=\"complaint-desk"),
            "[{section}] sets a SecretPrefix under the bootstrap's SecretNamePrefix: {prefix}"
        );
        assert!(
            toml_value(&samconfig, &section, "region").is_some(),
            "[{section}] has a region"
        );
        let deploy = job["steps"]
            .as_sequence()
            .expect("steps")
            .iter()
            .find_map(|s| s["run"].as_str().filter(|r| r.contains("sam deploy")))
            .unwrap_or_else(|| panic!("{name} runs sam deploy"));
        assert!(
            deploy.contains("--config-env \"$STAGE\"")
                && deploy.contains("--stack-name \"$STACK\""),
            "{name}: {deploy}"
        );
        assert!(
            job["steps"]
                .as_sequence()
                .expect("steps")
                .iter()
                .any(|s| s["run"]
                    .as_str()
                    .is_some_and(|r| r.contains("scripts/smoke --aws \"$STACK\" --callbacks-url"))),
            "{name} smoke-checks what it deployed"
        );
    }
    // Two stages, two stacks, two secret prefixes: they can share an account.
    let stacks: Vec<String> = ["staging", "production"]
        .iter()
        .filter_map(|s| toml_value(&samconfig, &format!("{s}.deploy.parameters"), "stack_name"))
        .collect();
    assert_eq!(stacks.len(), 2);
    assert_ne!(stacks[0], stacks[1]);
}

#[test]
fn the_deploy_build_uses_cargos_lambda_profile() {
    let cargo = text("Cargo.toml");
    let profile = toml_section(&cargo, "profile.lambda");
    let get = |k: &str| {
        profile
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("[profile.lambda] sets {k}"))
    };
    assert_eq!(get("inherits"), "release");
    assert!(
        profile.iter().all(|(k, _)| k != "panic"),
        "panics unwind: lambda_runtime reports a handler's panic as that invocation's error"
    );
    let workflow = yaml(".github/workflows/deploy.yml");
    let build = workflow["jobs"]["build"]["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .find(|s| s["run"].as_str().is_some_and(|r| r.contains("sam build")))
        .expect("a sam build step");
    for (setting, var) in [
        ("opt-level", "CARGO_PROFILE_RELEASE_OPT_LEVEL"),
        ("lto", "CARGO_PROFILE_RELEASE_LTO"),
        ("codegen-units", "CARGO_PROFILE_RELEASE_CODEGEN_UNITS"),
        ("strip", "CARGO_PROFILE_RELEASE_STRIP"),
    ] {
        let env = match &build["env"][var] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("{var} is not set on sam build: {other:?}"),
        };
        assert_eq!(
            env,
            get(setting),
            "{var} differs from [profile.lambda] {setting}"
        );
    }
}
