//! P1: ingest. Signed, encrypted WeChat Pay complaint pushes at 1, 8, 32 and 64 concurrent
//! senders, to the desk (a fresh data directory per level, workers running as configured) and
//! to the Python peer (wechatpayv3 `callback()` + a SQLite insert under gunicorn), the same
//! pre-signed pushes to both, one after the other on the same machine. CPU per callback from
//! `/proc/<pid>/stat` over each run, against the OpenSSL floor.

use crate::ctx::Ctx;
use crate::desk::{APIV3_KEY, Desk, MERCHANT_SERIAL, Platform, free_port};
use crate::load::{self, Prepared};
use crate::machine::{self, OpensslFloor};
use crate::report::{Check, Section, Table};
use crate::stats::{cpu_per, ms};
use anyhow::{Context, bail};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MCHID: &str = "1900009001";

/// (senders, pushes) per level.
fn levels(quick: bool) -> Vec<(usize, usize)> {
    if quick {
        vec![(1, 300), (8, 2_000), (32, 3_000), (64, 3_000)]
    } else {
        vec![(1, 1_000), (8, 8_000), (32, 16_000), (64, 16_000)]
    }
}

struct Row {
    senders: usize,
    desk: load::LoadResult,
    desk_cpu: Duration,
    desk_gen_cpu: Duration,
    peer: load::LoadResult,
    peer_cpu: Duration,
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Section> {
    let platform = Platform::start().await?;
    let sample = platform
        .sign_pushes(vec!["200299000000000000000000001".into()])
        .await?;
    let body_bytes = sample.first().map(|p| p.body.len()).unwrap_or(512);
    println!("P1: openssl speed (about 12 s)");
    let floor = machine::openssl_floor(body_bytes)?;
    let peer = Peer::start(ctx, &platform).await?;

    let mut rows = Vec::new();
    for (senders, count) in levels(ctx.quick) {
        println!("P1: {senders} senders, {count} pushes: signing");
        let ids: Vec<String> = (0..count)
            .map(|i| format!("2002{senders:02}{i:021}"))
            .collect();
        for id in &ids {
            platform.add_complaint(MCHID, id, 100);
        }
        let pushes = platform.sign_pushes(ids).await?;

        let dir = ctx.work.join(format!("p1-desk-{senders}"));
        let _ = std::fs::remove_dir_all(&dir);
        // Ingest alone, as the peer does: verify, decrypt, durably queue. The jobs wait on the
        // queue (P2 measures what the workers do with them).
        let desk = Desk::start(
            &ctx.desk_binary,
            &dir,
            &[("NO_WORKERS", "true")],
            Duration::from_secs(60),
        )
        .await?;
        platform.add_merchant(&desk, MCHID, json!({})).await?;
        let url = desk.url(&format!("/callbacks/wechatpay/{MCHID}/complaints"));
        let requests = Arc::new(
            pushes
                .iter()
                .map(|p| Prepared::new(url.clone(), p))
                .collect::<Vec<_>>(),
        );
        let http = load::load_client(senders);
        let (cpu0, gen0) = (machine::cpu_time(desk.pid()), machine::own_cpu_time());
        println!("P1: {senders} senders: desk");
        let desk_result = load::run(&http, requests, senders, None).await;
        let (desk_cpu, desk_gen_cpu) = (
            machine::cpu_time(desk.pid()).saturating_sub(cpu0),
            machine::own_cpu_time().saturating_sub(gen0),
        );
        desk.stop();
        let _ = std::fs::remove_dir_all(&dir);

        let requests = Arc::new(
            pushes
                .iter()
                .map(|p| Prepared::new(peer.url.clone(), p))
                .collect::<Vec<_>>(),
        );
        let http = load::load_client(senders);
        let cpu0 = machine::cpu_time(peer.pid());
        println!("P1: {senders} senders: peer");
        let peer_result = load::run(&http, requests, senders, None).await;
        let peer_cpu = machine::cpu_time(peer.pid()).saturating_sub(cpu0);
        rows.push(Row {
            senders,
            desk: desk_result,
            desk_cpu,
            desk_gen_cpu,
            peer: peer_result,
            peer_cpu,
        });
    }
    drop(peer);
    Ok(section(ctx, rows, floor, body_bytes))
}

fn section(ctx: &Ctx, mut rows: Vec<Row>, floor: OpensslFloor, body_bytes: usize) -> Section {
    let floor_cb = floor.per_callback(body_bytes);
    let mut s = Section::new("P1 ingest: desk vs. Python peer (wechatpayv3 + SQLite, gunicorn)");
    s.para(format!(
        "Each level sends the same pre-signed WeChat Pay complaint pushes ({body_bytes}-byte \
         bodies) to the desk, then to the peer. Desk: release binary, fresh data directory per \
         level, `--no-workers` (ingest alone: each push verified, decrypted and durably \
         queued with its dedupe record; the jobs wait). Peer: gunicorn, {} sync workers. OpenSSL floor per \
         callback: {:.1} µs (RSA-2048 verify {:.0}/s, AES-256-GCM {:.0} MB/s at {} bytes).",
        ctx.cores,
        floor_cb.as_secs_f64() * 1e6,
        floor.rsa2048_verify_per_s,
        floor.aes_gcm_bytes_per_s / 1e6,
        floor.aes_block
    ));
    let mut t = Table::new(&[
        "senders",
        "desk /s",
        "desk p50 ms",
        "desk p99 ms",
        "peer /s",
        "peer p50 ms",
        "peer p99 ms",
        "desk ÷ peer",
        "desk CPU µs/cb",
        "× floor",
        "peer CPU µs/cb",
        "generator µs/cb",
        "failures (desk; peer)",
    ]);
    let mut at32 = None;
    for r in rows.iter_mut() {
        let ratio = r.desk.throughput() / r.peer.throughput().max(1e-9);
        let cpu = cpu_per(r.desk_cpu, r.desk.ok);
        let times_floor = cpu.map(|c| c.as_secs_f64() / floor_cb.as_secs_f64());
        t.row(vec![
            r.senders.to_string(),
            format!("{:.0}", r.desk.throughput()),
            ms(r.desk.samples.percentile(50.0)),
            ms(r.desk.samples.percentile(99.0)),
            format!("{:.0}", r.peer.throughput()),
            ms(r.peer.samples.percentile(50.0)),
            ms(r.peer.samples.percentile(99.0)),
            format!("{ratio:.2}"),
            micros(cpu),
            times_floor.map(|x| format!("{x:.1}")).unwrap_or_default(),
            micros(cpu_per(r.peer_cpu, r.peer.ok)),
            micros(cpu_per(r.desk_gen_cpu, r.desk.ok)),
            format!("{}; {}", r.desk.failure_text(), r.peer.failure_text()),
        ]);
        if r.senders == 32 {
            at32 = Some((
                r.desk.throughput(),
                r.desk.samples.percentile(99.0),
                ratio,
                times_floor,
                r.desk.failures.is_empty(),
            ));
        }
    }
    s.table(t);
    s.para(
        "CPU per callback: utime+stime of the process and its children over the run ÷ \
         callbacks answered 2xx.",
    );
    if let Some((tput, p99, ratio, floor_x, clean)) = at32 {
        s.check(Check::new(
            "ingest at 32 senders",
            "≥ 5,000/s",
            format!("{tput:.0}/s"),
            tput >= 5_000.0,
        ));
        s.check(Check::new(
            "ack p99 at 32 senders",
            "≤ 20 ms",
            format!("{} ms", ms(p99)),
            p99.is_some_and(|d| d <= Duration::from_millis(20)),
        ));
        s.check(Check::new(
            "desk ÷ peer at 32 senders",
            "≥ 3×",
            format!("{ratio:.2}×"),
            ratio >= 3.0,
        ));
        s.check(Check::new(
            "desk CPU per callback at 32 senders",
            "≤ 10× OpenSSL floor",
            floor_x
                .map(|x| format!("{x:.1}×"))
                .unwrap_or_else(|| "–".into()),
            floor_x.is_some_and(|x| x <= 10.0),
        ));
        s.check(Check::new(
            "every push acknowledged at 32 senders",
            "no failures",
            if clean { "none" } else { "some failed" }.to_string(),
            clean,
        ));
    }
    s
}

fn micros(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.0}", d.as_secs_f64() * 1e6))
        .unwrap_or_else(|| "–".into())
}

/// gunicorn serving `scripts/bench_peer.py` from `.venv-bench`.
struct Peer {
    child: Child,
    url: String,
}

impl Peer {
    async fn start(ctx: &Ctx, platform: &Platform) -> anyhow::Result<Peer> {
        let dir = ctx.work.join("p1-peer");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("config.json");
        std::fs::write(
            &config,
            json!({"mchid": MCHID, "serial_no": MERCHANT_SERIAL,
                   "private_key_pem": platform.merchant_key_pem(), "apiv3_key": APIV3_KEY,
                   "public_key_pem": platform.sim.keys().public_key_pem(),
                   "public_key_id": platform.sim.keys().pub_key_id,
                   "db": dir.join("peer.db")})
            .to_string(),
        )?;
        let gunicorn = ctx.venv.join("bin/gunicorn");
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("gunicorn.log"))?;
        let child = Command::new(&gunicorn)
            .args(["--workers", &ctx.cores.to_string()])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--backlog", "2048", "--log-level", "warning", "--chdir"])
            .arg(ctx.root.join("scripts"))
            .arg("bench_peer:app")
            .env("BENCH_PEER_CONFIG", &config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", gunicorn.display()))?;
        let mut peer = Peer {
            child,
            url: format!("http://127.0.0.1:{port}/"),
        };
        let http = crate::desk::client();
        let started = Instant::now();
        loop {
            if let Ok(Some(s)) = peer.child.try_wait() {
                bail!(
                    "gunicorn exited ({s}); see {}",
                    dir.join("gunicorn.log").display()
                );
            }
            if let Ok(r) = http.get(&peer.url).send().await
                && r.status().is_success()
            {
                return Ok(peer);
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!(
                    "the peer did not start; see {}",
                    dir.join("gunicorn.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // SIGTERM lets gunicorn stop its workers; then reap.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
