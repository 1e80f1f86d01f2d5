//! The real `complaint-desk` release binary as a child process, its admin API, and WeChat Pay
//! merchant accounts pointed at the in-process simulator.

use anyhow::{Context, bail};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";
pub const APIV3_KEY: &str = "0123456789abcdefghijABCDEFGHIJ01";
pub const MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One HTTP client for control calls (admin API, health checks); the load has its own.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap_or_default()
}

/// A running complaint-desk.
pub struct Desk {
    child: Child,
    pub base_url: String,
    http: reqwest::Client,
    /// From spawn to the first 200 of `/healthz`.
    pub time_to_healthy: Duration,
}

impl Desk {
    /// Start `binary` on `data_dir` (kept), its log in `data_dir/../<name>.log`, and wait for
    /// `/healthz` to answer 200 (at most `limit`).
    pub async fn start(
        binary: &Path,
        data_dir: &Path,
        env: &[(&str, &str)],
        limit: Duration,
    ) -> anyhow::Result<Desk> {
        let port = free_port()?;
        let log_path = log_path(data_dir);
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut cmd = Command::new(binary);
        cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env_remove("PUBLIC_BASE_URL")
            .env_remove("WORKER_CONCURRENCY")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut desk = Desk {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            http: client(),
            time_to_healthy: Duration::ZERO,
        };
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        loop {
            if let Ok(Some(status)) = desk.child.try_wait() {
                bail!(
                    "complaint-desk exited ({status}) before it was healthy; its log: {}",
                    log_path.display()
                );
            }
            if let Ok(r) = probe.get(desk.url("/healthz")).send().await
                && r.status().as_u16() == 200
            {
                desk.time_to_healthy = started.elapsed();
                return Ok(desk);
            }
            if started.elapsed() > limit {
                bail!(
                    "complaint-desk not healthy after {limit:?}; its log: {}",
                    log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// An admin call; the status and the JSON answer (Null when there is none).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, self.url(&format!("/admin/v1{path}")))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|e| e.without_url())?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// An admin call that must answer 2xx.
    pub async fn admin_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let (status, v) = self.admin(method.clone(), path, body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path}: HTTP {status}: {v}");
        }
        Ok(v)
    }

    /// SIGKILL and reap.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_path(data_dir: &Path) -> PathBuf {
    let name = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "desk".into());
    data_dir
        .parent()
        .unwrap_or(data_dir)
        .join(format!("{name}.log"))
}

/// The WeChat Pay simulator with one merchant key shared by every benchmark merchant.
pub struct Platform {
    pub sim: WechatPaySim,
    pub merchant_key: rsa::RsaPrivateKey,
    merchant_key_pem: String,
}

impl Platform {
    pub async fn start() -> anyhow::Result<Platform> {
        let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey).await?;
        let merchant_key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?;
        let merchant_key_pem = merchant_key.to_pkcs8_pem(LineEnding::LF)?.to_string();
        Ok(Platform {
            sim,
            merchant_key,
            merchant_key_pem,
        })
    }

    pub fn merchant_key_pem(&self) -> &str {
        &self.merchant_key_pem
    }

    /// A `wechatpay_merchant` account for `mchid` on `desk` (and the simulator), with `extra`
    /// settings merged in (e.g. `reply_text`, `auto_refund`); its id.
    pub async fn add_merchant(
        &self,
        desk: &Desk,
        mchid: &str,
        extra: Value,
    ) -> anyhow::Result<String> {
        self.sim.add_merchant(SimMerchant {
            mchid: mchid.into(),
            serial_no: MERCHANT_SERIAL.into(),
            public_key: self.merchant_key.to_public_key(),
            apiv3_key: APIV3_KEY.into(),
        });
        let mut settings = json!({"mchid": mchid, "appid": "wx2c2769f8efd9abc2",
            "merchant_serial_no": MERCHANT_SERIAL, "api_base_url": self.sim.base_url()});
        if let (Some(s), Some(e)) = (settings.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let account = desk
            .admin_ok(
                reqwest::Method::POST,
                "/accounts",
                Some(&json!({
                    "kind": "wechatpay_merchant", "name": format!("bench {mchid}"),
                    "settings": settings,
                    "credentials": {"private_key": self.merchant_key_pem, "apiv3_key": APIV3_KEY,
                                    "wechatpay_public_key": self.sim.keys().public_key_pem(),
                                    "wechatpay_public_key_id": self.sim.keys().pub_key_id},
                })),
            )
            .await?;
        account["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no account id in {account}"))
    }

    /// A complaint the simulator serves to `mchid` (one paid order of `amount_fen`).
    pub fn add_complaint(&self, mchid: &str, complaint_id: &str, amount_fen: u64) {
        self.sim.add_complaint_for(
            mchid,
            json!({"complaint_id": complaint_id, "complaint_time": chrono::Utc::now().to_rfc3339(),
                   "complaint_detail": "未收到商品", "complaint_state": "PENDING",
                   "complaint_order_info": [{"transaction_id": format!("42{complaint_id}"),
                       "out_trade_no": format!("T{complaint_id}"), "amount": amount_fen}],
                   "problem_type": "REFUND", "need_immediate_service": false}),
        );
    }

    /// Signed, encrypted `COMPLAINT.CREATE` pushes for `complaint_ids`, signed on every core
    /// (the signing is not part of any measurement); timestamps are now.
    pub async fn sign_pushes(&self, complaint_ids: Vec<String>) -> anyhow::Result<Vec<Push>> {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let chunk = complaint_ids.len().div_ceil(workers).max(1);
        let mut tasks = Vec::new();
        for ids in complaint_ids.chunks(chunk) {
            let ids = ids.to_vec();
            let sim = self.sim.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                ids.iter()
                    .map(|id| {
                        let n = sim.notification(
                            APIV3_KEY,
                            "COMPLAINT.CREATE",
                            "complaint",
                            &json!({"complaint_id": id, "action_type": "CREATE_COMPLAINT"}),
                            KeyMode::PublicKey,
                            0,
                        );
                        Push {
                            headers: n.headers,
                            body: n.body,
                        }
                    })
                    .collect::<Vec<_>>()
            }));
        }
        let mut out = Vec::with_capacity(complaint_ids.len());
        for t in tasks {
            out.extend(t.await?);
        }
        Ok(out)
    }
}

/// A pre-signed callback: its headers and body.
#[derive(Clone)]
pub struct Push {
    pub headers: Vec<(String, String)>,
    pub body: String,
}
