//! P2: staff mail. 50 WeChat Pay merchants with automatic reply and refund and an e-mail
//! channel to a real SMTP server (`scripts/smtp_sink.py`, its plain relay port). One push at a
//! time → the mail's arrival (p50/p99); then a burst of pushes across the 50 merchants with the
//! simulator holding every answer back 50 ms → time until every mail arrived and every
//! complaint shows completed through the admin API.

use crate::ctx::Ctx;
use crate::desk::{Desk, Platform, free_port};
use crate::load::{self, Prepared};
use crate::report::{Check, Section, Table};
use crate::stats::{Samples, ms};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MERCHANTS: usize = 50;

fn mchid(k: usize) -> String {
    format!("{}", 1_900_100_000 + k)
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Section> {
    let (singles, burst, limit) = if ctx.quick {
        (10, 200, Duration::from_secs(180))
    } else {
        (50, 1_000, Duration::from_secs(600))
    };
    let platform = Platform::start().await?;
    let sink = Sink::start(ctx)?;
    let dir = ctx.work.join("p2-desk");
    // The binary's default worker concurrency, or BENCH_WORKER_CONCURRENCY to try another.
    let concurrency = std::env::var("BENCH_WORKER_CONCURRENCY").ok();
    let env: Vec<(&str, &str)> = concurrency
        .as_deref()
        .map(|c| ("WORKER_CONCURRENCY", c))
        .into_iter()
        .collect();
    let desk = Desk::start(&ctx.desk_binary, &dir, &env, Duration::from_secs(60)).await?;
    println!("P2: {MERCHANTS} merchants");
    for k in 0..MERCHANTS {
        let id = platform
            .add_merchant(
                &desk,
                &mchid(k),
                json!({"reply_text": "您好，已为您退款。", "auto_refund": true}),
            )
            .await?;
        desk.admin_ok(
            reqwest::Method::PUT,
            &format!("/accounts/{id}/notifications"),
            Some(
                &json!({"email": {"host": "127.0.0.1", "port": sink.relay_port, "tls": "none",
                                   "sender": "desk@example.com",
                                   "recipients": [format!("staff{k}@example.com")]}}),
            ),
        )
        .await?;
    }
    let http = load::load_client(MERCHANTS);

    // One push at a time → its mail.
    println!("P2: {singles} single pushes");
    let mut single = Samples::new();
    for i in 0..singles {
        let (m, id) = (mchid(i % MERCHANTS), format!("2003{i:023}"));
        platform.add_complaint(&m, &id, 1_000);
        let push = platform.sign_pushes(vec![id]).await?;
        let Some(push) = push.first() else {
            bail!("no push signed")
        };
        let req = Prepared::new(
            desk.url(&format!("/callbacks/wechatpay/{m}/complaints")),
            push,
        );
        let before = sink.count();
        let t = Instant::now();
        let r = load::run(&http, Arc::new(vec![req]), 1, None).await;
        if r.ok != 1 {
            bail!("a single push was not acknowledged: {}", r.failure_text());
        }
        while sink.count() <= before {
            if t.elapsed() > Duration::from_secs(60) {
                bail!("no mail 60 s after push {i}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        single.push(t.elapsed());
    }
    // Let the singles finish (reply, refund, complete) before the burst.
    let settle = Instant::now();
    while platform.sim.writes_to("/complete").len() < singles
        && settle.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The burst.
    println!("P2: burst of {burst} across {MERCHANTS} merchants, 50 ms platform latency");
    let ids: Vec<(String, String)> = (0..burst)
        .map(|i| (mchid(i % MERCHANTS), format!("2004{i:023}")))
        .collect();
    for (m, id) in &ids {
        platform.add_complaint(m, id, 1_000);
    }
    let pushes = platform
        .sign_pushes(ids.iter().map(|(_, id)| id.clone()).collect())
        .await?;
    let requests: Vec<Prepared> = ids
        .iter()
        .zip(&pushes)
        .map(|((m, _), p)| {
            Prepared::new(desk.url(&format!("/callbacks/wechatpay/{m}/complaints")), p)
        })
        .collect();
    platform.sim.set_latency(Duration::from_millis(50));
    let mails_before = sink.count();
    let t = Instant::now();
    let sent = load::run(&http, Arc::new(requests), MERCHANTS, None).await;
    let acked = t.elapsed();
    let (mut all_mailed, mut all_completed) = (None, None);
    let wanted: HashSet<String> = ids.iter().map(|(_, id)| id.clone()).collect();
    let mut completed_seen = 0;
    let mut last_check: Option<Instant> = None;
    while (all_mailed.is_none() || all_completed.is_none()) && t.elapsed() < limit {
        if all_mailed.is_none() && sink.count() >= mails_before + burst {
            all_mailed = Some(t.elapsed());
        }
        // Through the admin API, at most twice a second (each check pages the whole list).
        if all_completed.is_none()
            && last_check.is_none_or(|c| c.elapsed() >= Duration::from_millis(500))
        {
            last_check = Some(Instant::now());
            completed_seen = completed(&desk, &wanted).await?;
            if completed_seen >= burst {
                all_completed = Some(t.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if all_completed.is_none() {
        completed_seen = completed(&desk, &wanted).await?;
    }
    let mails = sink.count().saturating_sub(mails_before);
    desk.stop();
    drop(sink);

    let mut s = Section::new("P2 push → staff mail (real SMTP server)");
    s.para(format!(
        "{MERCHANTS} WeChat Pay merchants, each with an automatic reply and refund and an e-mail \
         channel (aiosmtpd, plain relay on loopback). Single pushes: one at a time, no added \
         platform latency, from the push until the mail is in the sink. Burst: {burst} pushes \
         from {MERCHANTS} concurrent senders, every simulator answer held back 50 ms; done when \
         every mail arrived and the admin API shows every complaint completed (reply, refund, \
         completion). Worker concurrency: {}.",
        concurrency
            .as_deref()
            .map(|c| format!("{c} jobs per queue (BENCH_WORKER_CONCURRENCY)"))
            .unwrap_or_else(|| "the binary's default".into())
    ));
    let mut t1 = Table::new(&["measure", "value"]);
    t1.row(vec![
        format!("single push → mail, {singles} pushes, p50 / p99 ms"),
        format!(
            "{} / {}",
            ms(single.percentile(50.0)),
            ms(single.percentile(99.0))
        ),
    ]);
    t1.row(vec![
        format!("burst: {burst} pushes acknowledged in"),
        format!("{:.2} s ({})", acked.as_secs_f64(), sent.failure_text()),
    ]);
    let secs = |d: Option<Duration>| {
        d.map(|d| format!("{:.1} s", d.as_secs_f64()))
            .unwrap_or_else(|| format!("not within {} s", limit.as_secs()))
    };
    t1.row(vec![
        "burst: every staff mail arrived after".into(),
        format!("{} ({mails}/{burst} mails)", secs(all_mailed)),
    ]);
    t1.row(vec![
        "burst: every complaint completed after".into(),
        format!(
            "{} ({completed_seen}/{burst} completed)",
            secs(all_completed)
        ),
    ]);
    s.table(t1);
    let done = all_mailed.zip(all_completed).map(|(a, b)| a.max(b));
    s.check(Check::new(
        &format!("burst of {burst} fully mailed and completed"),
        "≤ 10 s",
        secs(done),
        done.is_some_and(|d| d <= Duration::from_secs(10)),
    ));
    Ok(s)
}

/// How many of `wanted` (platform complaint ids) the admin API shows completed.
async fn completed(desk: &Desk, wanted: &HashSet<String>) -> anyhow::Result<usize> {
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/complaints?limit=100&cursor={c}"),
            None => "/complaints?limit=100".to_string(),
        };
        let page = desk.admin_ok(reqwest::Method::GET, &path, None).await?;
        for c in page["items"].as_array().into_iter().flatten() {
            if c["completed"] == Value::Bool(true)
                && c["platform_complaint_id"]
                    .as_str()
                    .is_some_and(|id| wanted.contains(id))
            {
                n += 1;
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return Ok(n),
        }
    }
}

/// `scripts/smtp_sink.py` (aiosmtpd) with a plain relay port; mail lands in `dir/mail`.
struct Sink {
    child: Child,
    dir: PathBuf,
    relay_port: u16,
}

impl Sink {
    fn start(ctx: &Ctx) -> anyhow::Result<Sink> {
        let dir = ctx.work.join("p2-smtp");
        std::fs::create_dir_all(&dir)?;
        let python = ctx.venv.join("bin/python");
        let relay_port = free_port()?;
        let mut child = Command::new(&python)
            .arg(ctx.root.join("scripts/smtp_sink.py"))
            .arg(&dir)
            .args(["desk@example.com", "bench-smtp-password"])
            .arg(free_port()?.to_string())
            .arg(free_port()?.to_string())
            .arg(std::process::id().to_string())
            .arg(relay_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start the SMTP sink with {}", python.display()))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            std::io::BufReader::new(out).read_line(&mut line)?;
        }
        if !line.contains("ca_pem") {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the SMTP sink did not start");
        }
        Ok(Sink {
            child,
            dir,
            relay_port,
        })
    }

    /// Messages received so far.
    fn count(&self) -> usize {
        count_mail(&self.dir.join("mail"))
    }
}

fn count_mail(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
                .count()
        })
        .unwrap_or(0)
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
