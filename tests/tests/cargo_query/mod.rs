//! What cargo knows about the workspace, asked offline and against the lock file: its member
//! packages with their targets and features (`cargo metadata --no-deps`), and each package's
//! normal dependency tree (`cargo tree -e normal`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Package {
    pub name: String,
    /// The directory holding its `Cargo.toml`.
    pub dir: PathBuf,
    pub targets: Vec<Target>,
    /// The features it declares.
    pub features: Vec<String>,
}

pub struct Target {
    /// `lib`, `bin`, `test`, `bench`, `example`, `custom-build`, ...
    pub kind: String,
    pub root: PathBuf,
}

/// One package in a dependency tree, with the features it is built with.
pub struct Dependency {
    pub features: Vec<String>,
}

pub fn workspace_root() -> PathBuf {
    e2e_tests::workspace_root()
}

/// `cargo` as the one running this test (`CARGO`), else the one on the `PATH`.
fn cargo(args: &[&str]) -> Result<String, String> {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = workspace_root().join("Cargo.toml");
    let output = Command::new(&program)
        .args(args)
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--offline", "--locked"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&program).display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "`cargo {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The workspace members, as cargo reads the root `Cargo.toml`.
pub fn workspace_packages() -> Result<Vec<Package>, String> {
    let text = cargo(&["metadata", "--no-deps", "--format-version", "1"])?;
    let metadata: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("cargo metadata is not JSON: {e}"))?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata has no `packages` array")?;
    packages.iter().map(package).collect()
}

fn package(value: &serde_json::Value) -> Result<Package, String> {
    let name = value["name"].as_str().ok_or("a package without a name")?;
    let manifest = value["manifest_path"]
        .as_str()
        .ok_or_else(|| format!("package {name} without a manifest path"))?;
    let dir = Path::new(manifest)
        .parent()
        .ok_or_else(|| format!("manifest {manifest} has no directory"))?
        .to_path_buf();
    let targets = value["targets"]
        .as_array()
        .ok_or_else(|| format!("package {name} without targets"))?
        .iter()
        .map(|t| {
            let kind = t["kind"][0].as_str().unwrap_or("unknown").to_string();
            let root = t["src_path"]
                .as_str()
                .ok_or_else(|| format!("a target of {name} without a source path"))?;
            Ok(Target {
                kind,
                root: PathBuf::from(root),
            })
        })
        .collect::<Result<_, String>>()?;
    let features = value["features"]
        .as_object()
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default();
    Ok(Package {
        name: name.to_string(),
        dir,
        targets,
        features,
    })
}

/// Every package `package` links in a normal build (dev and build dependencies left out),
/// itself included, by name.
pub fn normal_dependencies(package: &str) -> Result<BTreeMap<String, Dependency>, String> {
    normal_dependencies_with(package, &[])
}

/// [`normal_dependencies`] with more `cargo tree` arguments (`--no-default-features`).
pub fn normal_dependencies_with(
    package: &str,
    more: &[&str],
) -> Result<BTreeMap<String, Dependency>, String> {
    let mut args = vec![
        "tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}|{f}",
    ];
    args.extend_from_slice(more);
    let text = cargo(&args)?;
    let mut found = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (described, features) = line.split_once('|').unwrap_or((line, ""));
        let name = described
            .split_whitespace()
            .next()
            .ok_or_else(|| format!("unexpected cargo tree line {line:?}"))?;
        // A repeated package is printed as `... (*)`; the first sighting has its features.
        let features = features.trim_end_matches("(*)").trim();
        found.entry(name.to_string()).or_insert_with(|| Dependency {
            features: features
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(String::from)
                .collect(),
        });
    }
    Ok(found)
}

/// How `package` comes to link `dependency` (`cargo tree -i`), to quote in a failure.
pub fn why_linked(package: &str, dependency: &str, edges: &str) -> String {
    why_linked_with(package, dependency, edges, &[])
}

/// [`why_linked`] with more `cargo tree` arguments (`--no-default-features`).
pub fn why_linked_with(package: &str, dependency: &str, edges: &str, more: &[&str]) -> String {
    let mut args = vec!["tree", "-p", package, "-e", edges, "-i", dependency];
    args.extend_from_slice(more);
    cargo(&args).unwrap_or_else(|e| format!("(cannot show the chain: {e})"))
}
