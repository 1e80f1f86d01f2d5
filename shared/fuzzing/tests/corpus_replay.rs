//! Every input of every fuzz target's committed corpus (`fuzz/corpus/<target>/`), replayed
//! through the same function the fuzzer calls: a regression test on stable Rust for every
//! crash the fuzzers found and every path they reached.

use std::path::PathBuf;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_corpus_input_replays_without_a_failure() {
    let mut failures = Vec::new();
    for (name, run) in fuzzing::TARGETS {
        let dir = corpus(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the corpus of {name} ({}): {e}", dir.display()));
        let mut n = 0;
        for entry in entries {
            let path = entry.expect("a corpus entry").path();
            if !path.is_file() {
                continue;
            }
            let data = std::fs::read(&path).expect("a corpus file");
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                failures.push(path.display().to_string());
            }
            n += 1;
        }
        assert!(n > 0, "the corpus of {name} is empty");
    }
    assert!(failures.is_empty(), "inputs that fail: {failures:#?}");
}

#[test]
fn every_fuzz_target_has_a_binary_and_a_corpus() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in fuzzing::TARGETS {
        let source = fuzz.join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            text.contains(&format!("fuzzing::{name}(")),
            "{name}.rs calls fuzzing::{name}"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} in fuzz/Cargo.toml"
        );
        assert!(corpus(name).is_dir(), "fuzz/corpus/{name}");
    }
}
