//! `bench`: the committed benchmarks of the complaint desk (run through `scripts/bench`, by
//! hand; the test command only builds this and runs its unit tests).
//!
//! - P1 ingest: desk vs. the Python peer at 1, 8, 32, 64 senders; CPU per callback vs. OpenSSL.
//! - P2 push → staff mail: one at a time (p50/p99), and a burst across 50 merchants with 50 ms
//!   of platform latency (time until every mail and every completion).
//! - P4 admin reads at 10,000 (and 1,000,000) complaints, and callback acknowledgements while an
//!   admin client pages deep.
//!
//! The desk is the release binary as a child process; the platform simulators run in this
//! process; the results go to stdout and to a Markdown file.

mod ctx;
mod desk;
mod load;
mod machine;
mod p1;
mod p2;
mod p4;
mod report;
mod seed;
mod stats;

use anyhow::Context;
use clap::Parser;
use ctx::Ctx;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(about = "complaint desk benchmarks (P1 ingest, P2 mail, P4 admin reads)")]
struct Cli {
    /// Short runs and the 10,000-complaint data set only (a few minutes).
    #[arg(long)]
    quick: bool,
    /// The workspace root (scripts/ and target/ are found from it).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// The complaint-desk binary (default: <target>/release/complaint-desk).
    #[arg(long)]
    desk: Option<PathBuf>,
    /// The virtualenv with gunicorn, wechatpayv3 and aiosmtpd (default: <root>/.venv-bench).
    #[arg(long)]
    venv: Option<PathBuf>,
    /// Where the Markdown results go (default: <target>/bench/results.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Parts to run: P1, P2, P4 (default: all).
    parts: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a TLS provider of its own: the process default is aws-lc-rs.
    crypto::tls::install_default();
    let cli = Cli::parse();
    let root = std::fs::canonicalize(&cli.root)
        .with_context(|| format!("no workspace root at {}", cli.root.display()))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let cache = target.join("bench");
    let work = cache.join("run");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let ctx = Ctx {
        quick: cli.quick,
        desk_binary: cli
            .desk
            .unwrap_or_else(|| target.join("release/complaint-desk")),
        venv: cli.venv.unwrap_or_else(|| root.join(".venv-bench")),
        root,
        work,
        cache: cache.clone(),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    anyhow::ensure!(
        ctx.desk_binary.exists(),
        "no complaint-desk binary at {} (cargo build --release --bin complaint-desk)",
        ctx.desk_binary.display()
    );
    let parts: Vec<String> = if cli.parts.is_empty() {
        vec!["P1".into(), "P2".into(), "P4".into()]
    } else {
        cli.parts.iter().map(|p| p.to_ascii_uppercase()).collect()
    };
    if let Some(bad) = parts
        .iter()
        .find(|p| !["P1", "P2", "P4"].contains(&p.as_str()))
    {
        anyhow::bail!("unknown part {bad}: choose from P1, P2, P4");
    }

    let before = machine::uptime();
    let mut out = format!(
        "## Results ({})\n\nMachine: {}. Command: `scripts/bench{}{}`.\n\nLoad before: `{before}`\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine::description(),
        if ctx.quick { " --quick" } else { "" },
        if cli.parts.is_empty() {
            String::new()
        } else {
            format!(" {}", parts.join(" "))
        },
    );
    println!("{out}");
    for part in &parts {
        let started = std::time::Instant::now();
        let section = match part.as_str() {
            "P1" => p1::run(&ctx).await,
            "P2" => p2::run(&ctx).await,
            _ => p4::run(&ctx).await,
        };
        let text = match section {
            Ok(s) => s.markdown(),
            Err(e) => format!("### {part}\n\nFAILED to run: {e:#}\n\n"),
        };
        let text = format!(
            "{text}_{part} took {:.0} s; load after it: `{}`_\n\n",
            started.elapsed().as_secs_f64(),
            machine::uptime()
        );
        println!("{text}");
        out.push_str(&text);
    }
    let after = format!("Load after: `{}`\n", machine::uptime());
    println!("{after}");
    out.push_str(&after);
    let path = cli.out.unwrap_or_else(|| cache.join("results.md"));
    std::fs::write(&path, &out).with_context(|| format!("cannot write {}", path.display()))?;
    println!("results written to {}", path.display());
    let _ = std::fs::remove_dir_all(&ctx.work);
    Ok(())
}
