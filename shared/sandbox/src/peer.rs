//! Run an independent peer (a Python script under `scripts/` using an SDK from PyPI, from the
//! project's `.venv-test`, which `./scripts/test` installs): one JSON request on stdin, one JSON
//! answer on stdout. A missing venv fails loudly, never skips.

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

pub fn run(script: &str, request: &Value) -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv-test/bin/python");
    assert!(
        python.exists(),
        "the peer SDKs are not installed: run ./scripts/test once (it creates .venv-test)"
    );
    let mut child = Command::new(python)
        .arg(root.join("scripts").join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the peer");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write the request");
    let out = child.wait_with_output().expect("peer output");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the peer answers JSON")
}
