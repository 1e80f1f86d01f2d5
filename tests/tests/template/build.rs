//! How SAM builds each function. `BuildMethod: rust-cargolambda` runs `cargo lambda build
//! --release --bin <Binary>` in `CodeUri` (the workspace root), adding only the architecture:
//! what makes that a build of the function's own package (so with only its features, not every
//! package's) and with the deploy workflow's release profile is the cargo-lambda metadata of the
//! package that owns the binary, `[package.metadata.lambda.build]`: `packages` (cargo's `-p`)
//! and `disable_optimizations` (without it cargo-lambda adds `--config profile.release.*`
//! settings of its own, thin LTO and `panic = "abort"`, over the workflow's `[profile.lambda]`).

use super::pipeline::{toml_section, toml_value};

#[test]
fn each_function_build_names_its_own_package_and_keeps_the_workflows_profile() {
    let t = super::template();
    let functions = super::of_type(&t, "AWS::Serverless::Function");
    assert!(functions.len() >= 8, "{} functions", functions.len());
    for (name, f) in &functions {
        assert_eq!(f["Properties"]["CodeUri"].as_str(), Some(".."), "{name}");
        let binary = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no Binary"));
        let path = format!("functions/{binary}/Cargo.toml");
        let manifest = std::fs::read_to_string(e2e_tests::workspace_root().join(&path))
            .unwrap_or_else(|e| panic!("{name}: {path}: {e}"));
        assert_eq!(
            toml_value(&manifest, "package", "name").as_deref(),
            Some(binary),
            "{path}: the package is named after its binary"
        );
        let lambda = toml_section(&manifest, "package.metadata.lambda.build");
        let get = |k: &str| {
            lambda
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.replace(' ', ""))
        };
        assert_eq!(
            get("packages"),
            Some(format!("[\"{binary}\"]")),
            "{path}: [package.metadata.lambda.build] packages = [\"{binary}\"], or SAM's \
             `cargo lambda build --bin {binary}` builds it with every package's features"
        );
        assert_eq!(
            get("disable_optimizations").as_deref(),
            Some("true"),
            "{path}: [package.metadata.lambda.build] disable_optimizations = true, or \
             cargo-lambda's release settings replace the deploy workflow's profile"
        );
    }
}
