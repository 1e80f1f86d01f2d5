//! The platform simulators as a process, for scripts that test a running server.
//!
//! `sandbox alipay --app-id ID --complaint-id ID [--complaint-id ID ...] --notify URL
//! [--listen ADDR]` starts the Alipay gateway simulator (public-key mode) with a freshly
//! generated app key, registers the app, prints one JSON line on stdout:
//!
//! ```json
//! {"gateway_url": "...", "app_id": "...", "complaint_ids": ["..."],
//!  "app_private_key": "<PKCS#8 PEM>", "alipay_public_key": "<SPKI PEM>"}
//! ```
//!
//! adds a trade complaint per id and pushes its signed `alipay.merchant.tradecomplain.changed`
//! message to `--notify`, again until the server answers `success` (so the script may create
//! the account after reading the line), for at most `--push-timeout-secs` in all. It then serves the gateway (complaint query, reply, feedback,
//! supplement, refund, ...) until SIGTERM or Ctrl-C. Progress goes to stderr.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim, SimApp};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "sandbox",
    about = "Platform simulators on local ports, for tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The Alipay gateway simulator with one app and one trade complaint, pushed to a server.
    Alipay(AlipayArgs),
}

#[derive(clap::Args)]
struct AlipayArgs {
    /// Where the gateway listens (port 0: a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The app the simulator knows (the server's account must use this app_id).
    #[arg(long)]
    app_id: String,
    /// A trade complaint's `complain_event_id` (repeat for more complaints).
    #[arg(long = "complaint-id", required = true)]
    complaint_ids: Vec<String>,
    /// Their status (`MERCHANT_PROCESSING` accepts reply, supplement and feedback).
    #[arg(long, default_value = "MERCHANT_PROCESSING")]
    status: String,
    /// Their trade amount in yuan.
    #[arg(long, default_value = "30.00")]
    trade_amount: String,
    /// The server's Alipay callback URL (`.../callbacks/alipay/{app_id}`).
    #[arg(long)]
    notify: url::Url,
    /// How long to keep pushing until the server answers `success`.
    #[arg(long, default_value_t = 30)]
    push_timeout_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sandbox::install_tls_provider();
    match Cli::parse().command {
        Command::Alipay(args) => alipay(args).await,
    }
}

async fn alipay(args: AlipayArgs) -> anyhow::Result<()> {
    let sim = AlipaySim::start_on(AlipayKeys::generate(), AlipayMode::PublicKey, args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let app_key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?;
    sim.add_app(SimApp {
        app_id: args.app_id.clone(),
        public_key: app_key.to_public_key(),
        app_cert_sn: None,
    });
    for (n, id) in (1..).zip(&args.complaint_ids) {
        sim.add_trade_complaint(json!({
            "complain_event_id": id,
            "status": args.status,
            "trade_no": format!("20240521220014{n:05}"),
            "merchant_order_no": format!("ORDER-{n:04}"),
            "gmt_create": "2024-05-21 10:00:00",
            "content": "质量问题",
            "trade_amount": args.trade_amount,
            "reply_detail_infos": [],
        }));
    }
    println!(
        "{}",
        json!({
            "gateway_url": sim.gateway_url(),
            "app_id": args.app_id,
            "complaint_ids": args.complaint_ids,
            "app_private_key": app_key.to_pkcs8_pem(LineEnding::LF)?.as_str(),
            "alipay_public_key": sim.keys().alipay_public_key_pem(),
        })
    );
    let deadline = Instant::now() + Duration::from_secs(args.push_timeout_secs);
    for id in &args.complaint_ids {
        push(&sim, &args, id, deadline).await?;
    }
    eprintln!(
        "sandbox: pushed complaints {} to {}; serving {} until stopped",
        args.complaint_ids.join(", "),
        args.notify,
        sim.gateway_url()
    );
    stopped().await
}

/// The signed `alipay.merchant.tradecomplain.changed` message of complaint `id`, again until
/// `success` or `deadline`.
async fn push(
    sim: &AlipaySim,
    args: &AlipayArgs,
    id: &str,
    deadline: Instant,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    // One message, delivered again as Alipay does (same notify_id).
    let msg = sim.message(
        &args.app_id,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": id}),
    );
    let mut last = String::new();
    while Instant::now() < deadline {
        match client.post(args.notify.clone()).form(&msg).send().await {
            Ok(res) => {
                let status = res.status();
                let body = res.text().await.unwrap_or_default();
                if status.is_success() && body == "success" {
                    return Ok(());
                }
                last = format!("{status} {body:?}");
            }
            // Without the URL: reqwest errors name it, and it is the caller's own anyway.
            Err(e) => last = e.without_url().to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "{} did not answer success for complaint {id} within {} s (last: {last})",
        args.notify,
        args.push_timeout_secs
    )
}

async fn stopped() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r?,
    }
    Ok(())
}
