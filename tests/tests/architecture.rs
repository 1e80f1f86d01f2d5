//! The walls of the house, checked on the code itself:
//! - no import loops inside any crate of the workspace: a module never imports from a module
//!   that imports it, directly or through others (every target of every member: libraries,
//!   binaries, integration tests with their `mod common;`, build scripts);
//! - each binary links what it serves: a callback function links only its own platform, no
//!   mailer and no simulators; the worker and the notifier link no web framework; the
//!   scheduler links no platform, no mailer and no web framework; only the
//!   all-in-one binary links the simulators, and only for its `demo` (a default feature: built
//!   without it, it links none); no function builds the moto launcher.
//!
//! The checker of import loops is tested here too, on small crates written to a temporary
//! directory.

mod cargo_query;
mod import_graph;

use std::collections::BTreeMap;
use std::path::Path;

use cargo_query::{
    Package, normal_dependencies, normal_dependencies_with, why_linked, why_linked_with,
    workspace_packages,
};
use import_graph::{FileGraph, ImportLoop, ModuleTree, file_graph};

// ---------------------------------------------------------------------------------------------
// The workspace

#[test]
fn no_crate_has_an_import_loop() {
    let packages = workspace_packages().unwrap_or_else(|e| panic!("{e}"));
    // The same loop seen from several targets (a `tests/common` module) is reported once.
    let mut loops: BTreeMap<(String, Vec<String>), (ImportLoop, Vec<String>)> = BTreeMap::new();
    let mut errors = Vec::new();
    for package in &packages {
        for target in &package.targets {
            let label = format!("{} {}", target.kind, shown(&target.root, &package.dir));
            match file_graph(&target.root, &package.dir) {
                Ok(graph) => {
                    for found in graph.loops() {
                        let key = (package.name.clone(), found.files.clone());
                        loops
                            .entry(key)
                            .or_insert_with(|| (found, Vec::new()))
                            .1
                            .push(label.clone());
                    }
                }
                Err(e) => errors.push(format!("crate `{}` ({label}): {e}", package.name)),
            }
        }
    }
    assert!(errors.is_empty(), "cannot read:\n{}", errors.join("\n"));
    let mut report = String::new();
    for ((package, _), (found, targets)) in &loops {
        report.push_str(&format!(
            "\ncrate `{package}` ({}):\n{}",
            targets.join(", "),
            found.describe()
        ));
    }
    assert!(
        loops.is_empty(),
        "{} import loop(s): a module must never import from a module that imports it, \
         directly or through others; cut one step of each chain:\n{report}",
        loops.len()
    );
}

/// Packages and what they must not link (a name matches a package whose name has it as a
/// whole `-`/`_`-separated part: `alipay` matches `alipay` and `platform-alipay`, not
/// `wechatpay`). Beyond the platforms: only the admin API and the worker store evidence
/// (`aws-sdk-s3`, feature `blobs` of shared/aws), only the admin API serves the console
/// (`askama`, feature `full` of desk-http), and the functions take their SDK settings from
/// Lambda's environment (no `aws-config`, so no STS, SSO or IMDS client; the admin API's
/// package has it for its `reindex` tool).
const LINKING_RULES: &[(&str, &[&str])] = &[
    (
        "callback-wechatpay",
        &[
            "lettre",
            "alipay",
            "sandbox",
            "aws-sdk-s3",
            "aws-config",
            "askama",
        ],
    ),
    (
        "callback-alipay",
        &[
            "wechatpay",
            "wechat",
            "lettre",
            "sandbox",
            "aws-sdk-s3",
            "aws-config",
            "askama",
        ],
    ),
    (
        "callback-wxmini",
        &[
            "alipay",
            "wechatpay",
            "lettre",
            "sandbox",
            "aws-sdk-s3",
            "aws-config",
            "askama",
        ],
    ),
    (
        "callback-wxopen",
        &[
            "alipay",
            "wechatpay",
            "lettre",
            "sandbox",
            "aws-sdk-s3",
            "aws-config",
            "askama",
        ],
    ),
    (
        "worker",
        &["axum", "lambda_http", "sandbox", "aws-config", "askama"],
    ),
    (
        "notifier",
        &[
            "axum",
            "lambda_http",
            "sandbox",
            "aws-sdk-s3",
            "aws-config",
            "askama",
        ],
    ),
    // It lists accounts and enqueues: no platform client, no mailer, no web framework.
    (
        "scheduler",
        &[
            "axum",
            "lambda_http",
            "sandbox",
            "alipay",
            "wechatpay",
            "wechat",
            "notify",
            "lettre",
            "aws-sdk-s3",
            "aws-config",
            "askama",
        ],
    ),
];

/// The one function that may link the simulators (its `demo`).
const ALL_IN_ONE: &str = "complaint-desk";

#[test]
fn each_function_links_only_what_it_serves() {
    let mut rules: Vec<(String, Vec<&str>)> = LINKING_RULES
        .iter()
        .map(|(package, forbidden)| (package.to_string(), forbidden.to_vec()))
        .collect();
    for function in functions() {
        if function.name != ALL_IN_ONE && !rules.iter().any(|(p, _)| *p == function.name) {
            rules.push((function.name.clone(), vec!["sandbox"]));
        }
    }
    let mut violations = Vec::new();
    for (package, forbidden) in &rules {
        let linked = normal_dependencies(package).unwrap_or_else(|e| panic!("{e}"));
        for dependency in linked.keys().filter(|d| *d != package) {
            if let Some(rule) = forbidden.iter().find(|f| names_part(dependency, f)) {
                violations.push(format!(
                    "`{package}` links `{dependency}` (forbidden: {rule}):\n{}",
                    why_linked(package, dependency, "normal")
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "{} forbidden link(s) in normal builds:\n\n{}",
        violations.len(),
        violations.join("\n")
    );
}

/// The all-in-one binary's feature that links the simulators (its `demo` subcommand).
const DEMO_FEATURE: &str = "demo";

#[test]
fn the_all_in_one_binary_links_the_simulators_only_for_its_demo() {
    let packages = workspace_packages().unwrap_or_else(|e| panic!("{e}"));
    let all_in_one = packages
        .iter()
        .find(|p| p.name == ALL_IN_ONE)
        .unwrap_or_else(|| panic!("the workspace has the `{ALL_IN_ONE}` package"));
    assert!(
        all_in_one.features.iter().any(|f| f == DEMO_FEATURE),
        "`{ALL_IN_ONE}` declares no `{DEMO_FEATURE}` feature (it has: {:?})",
        all_in_one.features
    );
    let without_demo = ["--no-default-features"];
    let linked =
        normal_dependencies_with(ALL_IN_ONE, &without_demo).unwrap_or_else(|e| panic!("{e}"));
    let violations: Vec<String> = linked
        .keys()
        .filter(|d| *d != ALL_IN_ONE && names_part(d, "sandbox"))
        .map(|d| {
            format!(
                "`{ALL_IN_ONE}` without default features links `{d}`:\n{}",
                why_linked_with(ALL_IN_ONE, d, "normal", &without_demo)
            )
        })
        .collect();
    assert!(
        violations.is_empty(),
        "the simulators must come only with the `{DEMO_FEATURE}` feature (make them optional \
         dependencies it enables):\n\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_function_builds_the_moto_launcher() {
    let packages = workspace_packages().unwrap_or_else(|e| panic!("{e}"));
    let aws = packages
        .iter()
        .find(|p| p.name == "aws")
        .expect("the workspace has the `aws` package");
    let mut violations = Vec::new();
    if !aws.features.iter().any(|f| f == "testing") {
        violations.push(format!(
            "`aws` declares no `testing` feature (it has: {:?})",
            aws.features
        ));
    }
    violations.extend(launcher_outside_the_testing_feature(aws));
    for function in functions() {
        let linked = normal_dependencies(&function.name).unwrap_or_else(|e| panic!("{e}"));
        if let Some(dependency) = linked.get("aws")
            && dependency.features.iter().any(|f| f == "testing")
        {
            violations.push(format!(
                "`{}` builds `aws` with its `testing` feature:\n{}",
                function.name,
                why_linked(&function.name, "aws", "features,normal")
            ));
        }
    }
    assert!(
        violations.is_empty(),
        "the moto launcher must stay out of production builds:\n\n{}",
        violations.join("\n")
    );
}

/// The modules of `aws`'s library that start moto server, unless they (or a module around them)
/// are compiled only with the `testing` feature.
fn launcher_outside_the_testing_feature(aws: &Package) -> Vec<String> {
    let Some(lib) = aws.targets.iter().find(|t| t.kind == "lib") else {
        return vec!["`aws` has no library target".into()];
    };
    let tree = ModuleTree::load(&lib.root).unwrap_or_else(|e| panic!("{e}"));
    let launchers: Vec<usize> = (0..tree.modules.len())
        .filter(|&m| tree.sources[tree.modules[m].file].contains("moto_server"))
        .collect();
    if launchers.is_empty() {
        return vec![
            "no module of `aws` starts moto server (scripts/moto_server.py) any more: \
             point this test at the launcher's new home"
                .into(),
        ];
    }
    launchers
        .into_iter()
        .filter(|&m| !behind_testing_feature(&tree, m))
        .map(|m| {
            format!(
                "{} starts moto server but is compiled without the `testing` feature \
                 (declare it under #[cfg(feature = \"testing\")])",
                shown(&tree.files[tree.modules[m].file], &aws.dir)
            )
        })
        .collect()
}

fn behind_testing_feature(tree: &ModuleTree, module: usize) -> bool {
    let mut at = Some(module);
    while let Some(m) = at {
        let gated = tree.modules[m].cfgs.iter().any(|cfg| {
            let cfg: String = cfg.split_whitespace().collect();
            cfg.contains("feature=\"testing\"") && !cfg.contains("not(")
        });
        if gated {
            return true;
        }
        at = tree.parent(m);
    }
    false
}

/// The deployable functions: the members under `functions/`.
fn functions() -> Vec<Package> {
    let root = cargo_query::workspace_root().join("functions");
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    workspace_packages()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|p| {
            std::fs::canonicalize(&p.dir)
                .unwrap_or_else(|_| p.dir.clone())
                .starts_with(&root)
        })
        .collect()
}

fn names_part(package: &str, part: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(['-', '_'])
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
    };
    let (package, part) = (words(package), words(part));
    package.windows(part.len()).any(|w| w == part.as_slice())
}

fn shown(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// The checker of import loops, on small crates

/// A crate written to a temporary directory: `(path, source)` pairs, `src/lib.rs` its root.
fn synthetic(files: &[(&str, &str)]) -> (tempfile::TempDir, FileGraph) {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (path, source) in files {
        let path = dir.path().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create directory");
        }
        std::fs::write(&path, source).expect("write source");
    }
    let graph =
        file_graph(&dir.path().join("src/lib.rs"), dir.path()).unwrap_or_else(|e| panic!("{e}"));
    (dir, graph)
}

fn chains(graph: &FileGraph) -> Vec<String> {
    graph.loops().into_iter().flat_map(|l| l.chains).collect()
}

fn edges(graph: &FileGraph) -> Vec<String> {
    graph.edge_names().into_iter().collect()
}

#[test]
fn checker_reports_a_direct_loop_between_two_files() {
    let (_dir, graph) = synthetic(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        ("src/a.rs", "use crate::b::B;\npub struct A(B);\n"),
        (
            "src/b.rs",
            "pub struct B;\npub fn make() -> crate::a::A { todo!() }\n",
        ),
    ]);
    assert_eq!(chains(&graph), ["src/a.rs → src/b.rs → src/a.rs"]);
    let loops = graph.loops();
    assert_eq!(loops[0].files, ["src/a.rs", "src/b.rs"]);
    assert_eq!(
        loops[0].steps,
        [
            "src/a.rs → src/b.rs: line 1: crate::b::B; line 2: B",
            "src/b.rs → src/a.rs: line 2: crate::a::A",
        ]
    );
}

#[test]
fn checker_reports_a_loop_through_three_files_as_one_chain() {
    let (_dir, graph) = synthetic(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\n"),
        ("src/a.rs", "use crate::b::f;\npub fn g() { f() }\n"),
        ("src/b.rs", "pub fn f() { super::c::h() }\n"),
        ("src/c.rs", "pub fn h() { crate::a::g() }\n"),
        // Uses the loop without being part of it.
        ("src/d.rs", "use crate::a::g;\n"),
    ]);
    assert_eq!(
        chains(&graph),
        ["src/a.rs → src/b.rs → src/c.rs → src/a.rs"]
    );
    assert_eq!(graph.loops().len(), 1);
}

#[test]
fn checker_reports_a_child_file_that_glob_imports_the_parent_which_uses_it() {
    let (_dir, graph) = synthetic(&[
        ("src/lib.rs", "pub mod a;\n"),
        (
            "src/a.rs",
            "mod child;\npub struct Shared;\npub fn run() { child::work() }\n",
        ),
        ("src/a/child.rs", "use super::*;\npub fn work() {}\n"),
    ]);
    assert_eq!(chains(&graph), ["src/a.rs → src/a/child.rs → src/a.rs"]);
}

#[test]
fn checker_counts_an_inline_test_module_as_part_of_its_file() {
    let (_dir, graph) = synthetic(&[
        ("src/lib.rs", "pub mod a;\npub mod b;\n"),
        (
            "src/a.rs",
            "pub fn f() -> u8 { 1 }\n\
             #[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn one() { assert_eq!(f(), super::f()); }\n}\n",
        ),
        ("src/b.rs", "pub fn g() -> u8 { crate::a::f() }\n"),
    ]);
    assert!(chains(&graph).is_empty(), "{:?}", chains(&graph));
    assert_eq!(edges(&graph), ["src/b.rs → src/a.rs"]);
}

#[test]
fn checker_follows_every_path_of_a_grouped_use() {
    let (_dir, graph) = synthetic(&[
        ("src/lib.rs", "mod a;\nmod d;\nmod e;\nmod user;\n"),
        ("src/a/mod.rs", "pub mod b;\npub mod c;\n"),
        ("src/a/b.rs", "pub struct B;\n"),
        ("src/a/c.rs", "pub struct C;\n"),
        ("src/d.rs", "pub struct D;\n"),
        ("src/e.rs", "pub trait E {}\n"),
        (
            "src/user.rs",
            "use crate::{a::{b::B, c::{self as see}}, d::D as Dee, e::E as _};\n\
             pub fn f(_: B, _: Dee) -> see::C { todo!() }\n",
        ),
    ]);
    assert_eq!(
        edges(&graph),
        [
            "src/user.rs → src/a/b.rs",
            "src/user.rs → src/a/c.rs",
            "src/user.rs → src/d.rs",
            "src/user.rs → src/e.rs",
        ]
    );
}

#[test]
fn checker_reads_paths_inside_macro_invocations() {
    let (_dir, graph) = synthetic(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        (
            "src/a.rs",
            "pub fn name() -> String { format!(\"{}\", crate::b::NAME) }\n",
        ),
        (
            "src/b.rs",
            "pub const NAME: &str = \"b\";\n\
             pub fn body() -> serde_json::Value { serde_json::json!({ \"name\": super::c::label() }) }\n",
        ),
        (
            "src/c.rs",
            "pub fn label() -> String { crate::a::name() }\n",
        ),
    ]);
    assert_eq!(
        edges(&graph),
        [
            "src/a.rs → src/b.rs",
            "src/b.rs → src/c.rs",
            "src/c.rs → src/a.rs"
        ]
    );
    assert_eq!(
        chains(&graph),
        ["src/a.rs → src/b.rs → src/c.rs → src/a.rs"]
    );
}

#[test]
fn checker_sees_no_edge_in_a_mod_declaration_alone() {
    let (_dir, graph) = synthetic(&[
        (
            "src/lib.rs",
            "mod a;\npub mod b;\npub use b::Thing;\npub struct Root;\n",
        ),
        ("src/a.rs", "use crate::Root;\n"),
        ("src/b.rs", "pub struct Thing;\n"),
    ]);
    assert!(chains(&graph).is_empty(), "{:?}", chains(&graph));
    assert_eq!(
        edges(&graph),
        ["src/a.rs → src/lib.rs", "src/lib.rs → src/b.rs"]
    );
}

#[test]
fn checker_follows_module_aliases_and_re_exports_to_the_defining_file() {
    let (_dir, graph) = synthetic(&[
        (
            "src/lib.rs",
            "mod a;\nmod b;\nmod user;\npub use a::inner::Deep;\n",
        ),
        ("src/a/mod.rs", "pub mod inner;\n"),
        ("src/a/inner.rs", "pub struct Deep;\n"),
        ("src/b.rs", "pub fn f() {}\n"),
        (
            "src/user.rs",
            "use crate::a;\nuse crate::b as bee;\n\
             pub fn g(_: a::inner::Deep, _: crate::Deep) { bee::f() }\n",
        ),
    ]);
    assert_eq!(
        edges(&graph),
        [
            "src/lib.rs → src/a/inner.rs",
            "src/user.rs → src/a/inner.rs",
            "src/user.rs → src/b.rs",
        ]
    );
}

#[test]
fn checker_follows_path_attributes_and_reports_a_missing_module_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let write = |path: &str, source: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create directory");
        std::fs::write(path, source).expect("write source");
    };
    write(
        "src/lib.rs",
        "#[path = \"../common/helpers.rs\"]\nmod helpers;\n",
    );
    write("common/helpers.rs", "pub fn help() { crate::missing() }\n");
    let graph = file_graph(&dir.path().join("src/lib.rs"), dir.path()).expect("graph");
    assert_eq!(edges(&graph), ["common/helpers.rs → src/lib.rs"]);

    write("src/lib.rs", "mod gone;\n");
    let error = file_graph(&dir.path().join("src/lib.rs"), dir.path())
        .err()
        .expect("a missing module file is an error");
    assert!(error.contains("`mod gone;`"), "{error}");
}

#[test]
fn package_names_match_forbidden_names_by_whole_parts() {
    assert!(names_part("alipay", "alipay"));
    assert!(names_part("platform-alipay", "alipay"));
    assert!(names_part("lambda_http", "lambda_http"));
    assert!(names_part("axum-core", "axum"));
    assert!(!names_part("wechatpay", "wechat"));
    assert!(!names_part("lambda_runtime", "lambda_http"));
    assert!(!names_part("callback-wechatpay", "alipay"));
}
