//! The deployment pipeline's rules that actionlint and cfn-lint do not check (the test command
//! runs both): the bootstrap deploy role trusts only this repository's two deployment
//! environments, production waits for its environment's reviewers, no workflow holds a
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
fn toml_section(text: &str, section: &str) -> Vec<(String, String)> {
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

fn toml_value(text: &str, section: &str, key: &str) -> Option<String> {
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

/// The `sub` values the bootstrap deploy role's trust policy accepts, as written.
fn trusted_subjects(bootstrap: &Value) -> Vec<String> {
    let role = &bootstrap["Resources"]["DeployRole"];
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
    equals["token.actions.githubusercontent.com:sub"]
        .as_sequence()
        .expect("a list of subjects")
        .iter()
        .map(|v| v["Fn::Sub"].as_str().expect("Fn::Sub").to_string())
        .collect()
}

#[test]
fn the_deploy_role_trusts_only_this_repositorys_deployment_environments() {
    let bootstrap = yaml("infra/bootstrap.yaml");
    assert!(
        !bootstrap["Parameters"]["GitHubRepository"].is_null(),
        "the repository is a parameter"
    );
    let subjects = trusted_subjects(&bootstrap);
    for s in &subjects {
        assert!(
            s.starts_with("repo:${GitHubRepository}:") && !s.contains('*'),
            "a subject outside the repository, or a wildcard: {s}"
        );
    }
    // Exactly the environments deploy.yml's AWS jobs run in.
    let workflow = yaml(".github/workflows/deploy.yml");
    let mut used: Vec<String> = aws_jobs(&workflow)
        .iter()
        .map(|(name, job)| {
            let env = environment(job).unwrap_or_else(|| {
                panic!("{name} assumes the deploy role outside a GitHub environment")
            });
            format!("repo:${{GitHubRepository}}:environment:{env}")
        })
        .collect();
    used.sort();
    let mut trusted = subjects.clone();
    trusted.sort();
    assert_eq!(trusted, used, "the trust names the deployment environments");

    // The role can hand CloudFormation its execution role, and nothing else to anyone.
    let policies = &bootstrap["Resources"]["DeployRole"]["Properties"]["Policies"];
    let statements: Vec<&Value> = policies
        .as_sequence()
        .expect("policies")
        .iter()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_sequence()
                .expect("statements")
        })
        .collect();
    for s in &statements {
        let actions: Vec<&str> = match &s["Action"] {
            Value::String(a) => vec![a.as_str()],
            v => v
                .as_sequence()
                .expect("actions")
                .iter()
                .filter_map(Value::as_str)
                .collect(),
        };
        assert!(
            actions.iter().all(|a| !a.contains('*')),
            "the deploy role names its actions: {actions:?}"
        );
        if actions.contains(&"iam:PassRole") {
            assert_eq!(
                s["Resource"]["Fn::GetAtt"][0].as_str(),
                Some("CloudFormationExecutionRole")
            );
            assert_eq!(
                s["Condition"]["StringEquals"]["iam:PassedToService"].as_str(),
                Some("cloudformation.amazonaws.com")
            );
        }
    }
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
