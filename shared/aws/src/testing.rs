//! moto server for tests and local tools: `MOTO_ENDPOINT` if set, otherwise started once per
//! process from the project's `.venv-test` (which `./scripts/test` installs). If it cannot
//! start, the caller panics: tests that need it fail, they never skip.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The moto endpoint, starting moto server on first use.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(e) = std::env::var("MOTO_ENDPOINT")
            && !e.is_empty()
        {
            return e;
        }
        let python = root().join(".venv-test/bin/python");
        assert!(
            python.exists(),
            "moto is not installed: run ./scripts/test once (it creates .venv-test with moto[server]), or set MOTO_ENDPOINT"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut child = Command::new(python)
            .arg(root().join("scripts/moto_server.py"))
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("moto output");
        assert_eq!(line.trim(), "ready", "moto server did not start");
        // The launcher exits by itself when this process ends.
        std::mem::forget(child);
        format!("http://127.0.0.1:{port}")
    })
}

/// An SDK configuration for moto: its endpoint, us-east-1, dummy static credentials.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let creds =
        aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await
}

/// An S3 client with path-style addressing (moto has no bucket subdomains).
pub fn s3_client(cfg: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(cfg)
            .force_path_style(true)
            .build(),
    )
}
