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

/// A complete deployment on moto, as the SAM template creates it: a table, the queue pairs, a
/// bucket and the installation secrets (administrator token `admin_token`) under a fresh
/// prefix, so tests never share state.
pub async fn deployment(admin_token: &str) -> crate::AwsConfig {
    let cfg = sdk_config().await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let table = format!("records-{suffix}");
    crate::schema::create_table(&aws_sdk_dynamodb::Client::new(&cfg), &table)
        .await
        .expect("table");
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let mut queues = std::collections::HashMap::new();
    for q in domain::job::queues::ALL {
        let urls = crate::schema::create_queue_pair(&sqs, &format!("{q}-{suffix}"), 5)
            .await
            .expect("queues");
        queues.insert(q.to_string(), urls);
    }
    let bucket = format!("blobs-{suffix}");
    s3_client(&cfg)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let prefix = format!("desk-{suffix}/");
    let sm = aws_sdk_secretsmanager::Client::new(&cfg);
    for (name, value) in [
        (crate::installation_secrets::ADMIN_TOKEN, admin_token),
        (
            crate::installation_secrets::FINGERPRINT_KEY,
            "k3y-material-from-the-template",
        ),
    ] {
        sm.create_secret()
            .name(format!("{prefix}{name}"))
            .secret_string(value)
            .send()
            .await
            .expect("secret");
    }
    crate::AwsConfig {
        table,
        queues,
        bucket,
        secret_prefix: prefix,
        public_base_url: Some("https://complaints.example.com".into()),
        console_base_url: None,
        endpoint_url: Some(endpoint().to_string()),
        max_receives: 5,
        plaintext_push_window_secs: None,
    }
}
