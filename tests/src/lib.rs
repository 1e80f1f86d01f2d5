//! Support for the end-to-end tests: build and spawn the real `complaint-desk` binary on a
//! random loopback port, capture everything it prints, and stop it (SIGKILL or SIGTERM); drive
//! headless Chromium against it ([`browser`]).

pub mod browser;
pub mod prometheus;
pub mod wechatpay;
pub use browser::Browser;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The workspace root (this package lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Build the binary once per test process (cheap when up to date) and return its path.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    // This process talks to the binary and the simulators with reqwest: the rustls provider
    // first.
    crypto::tls::install_default();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // The very command scripts/test runs before schemathesis (the whole workspace's
        // features, both binaries), so that one build serves both: with `-p complaint-desk`
        // cargo resolves other features and compiles a dozen crates a second time.
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--locked",
                "--bin",
                "complaint-desk",
                "--bin",
                "sandbox",
            ])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building complaint-desk failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        let bin = target.join("debug").join("complaint-desk");
        assert!(bin.exists(), "no binary at {}", bin.display());
        bin
    })
}

/// A running complaint-desk process.
pub struct Server {
    child: Child,
    pub base_url: String,
    /// Every line it printed on stdout and stderr, in arrival order per stream.
    pub output: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Start on a random loopback port with `data_dir` and extra environment variables.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_with(data_dir, &[], env)
    }

    /// The same with `--sandbox`: the platform simulators in the server's process and one
    /// sandbox account per platform.
    pub fn start_sandbox(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_with(data_dir, &["--sandbox"], env)
    }

    /// Start with extra command-line arguments (after the listen address and data directory).
    pub fn start_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(binary());
        cmd.args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("ADMIN_TOKEN")
            .env_remove("RUST_LOG")
            .env_remove("PUBLIC_BASE_URL")
            // No reconciliation pass unless a test asks for one (`RECONCILE_SECS` in `env`): a
            // pass calls each account's platform, which for accounts made without a simulator
            // is the real platform, out of a test's reach.
            .env("RECONCILE_SECS", "0")
            .env_remove("SANDBOX")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn complaint-desk");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let output = output.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(url) = line.strip_prefix("complaint-desk listening on ") {
                        let _ = tx.send(url.trim().to_string());
                    }
                    output.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        let base_url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let out = output.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
                panic!("complaint-desk did not start listening:\n{out}");
            }
        };
        Server {
            child,
            base_url,
            output,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn output_text(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// An admin API call with `token`: the status and the JSON answer (Null when empty).
    pub async fn admin(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = reqwest::Client::new()
            .request(method, self.url(&format!("/admin/v1{path}")))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("admin call");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Wait up to `limit` for the process to exit by itself (e.g. an injected crash).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.output_text()
    }

    /// SIGTERM, then wait up to `limit` for the exit.
    pub fn terminate(mut self, limit: Duration) -> (Option<ExitStatus>, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                break Some(s);
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(100));
        (status, self.output_text())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
