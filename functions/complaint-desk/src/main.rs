//! complaint desk, all in one process: every route, the workers and the scheduler over the
//! embedded store and queue (SQLite and files under the data directory). No AWS, no Docker.

use anyhow::Context;
use clap::Parser;
use desk_core::Services;
use desk_core::fingerprint::Fingerprinter;
use desk_core::schedule::{DEADLINE_SWEEP, PerAccountJob, RECONCILE_PASS};
use desk_core::telemetry::LogFormat;
use desk_core::worker::{CancellationToken, JobRegistry};
use desk_http::AppState;
use desk_http::auth::{AdminTokenSource, ensure_admin_token};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use adapters::{Embedded, open, queue_worker};

mod adapters;
#[cfg(test)]
mod cli_env_tests;
#[cfg(feature = "demo")]
mod demo;
mod exporter;
#[cfg(feature = "demo")]
mod fixtures;
#[cfg(feature = "demo")]
mod sandbox;
#[cfg(feature = "demo")]
mod try_it_cli;

/// complaint desk: receive payment-platform complaints, answer and refund automatically, tell
/// staff at once.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the database and blobs live (created if missing).
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// The master key that encrypts secrets (created on first start). Default:
    /// <data-dir>/master.key. Keep it out of the data directory's backups if you can.
    #[arg(long, env = "MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// The HTTPS address platforms use to reach this server (behind your TLS proxy).
    #[arg(long, env = "PUBLIC_BASE_URL")]
    public_base_url: Option<url::Url>,
    /// Where staff open the console, when not under --public-base-url (e.g. a private
    /// address): the links in staff notices point there; `off`: no console links. Default:
    /// --public-base-url.
    #[arg(long, env = "CONSOLE_BASE_URL")]
    console_base_url: Option<desk_core::ConsoleBase>,
    /// Log format: text or json. Filter with RUST_LOG (default info).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Jobs in flight per queue. Jobs mostly wait on platform calls and mail servers, so this
    /// is far above the number of cores; platform calls stay within each merchant's rate
    /// limits whatever it is.
    #[arg(long, env = "WORKER_CONCURRENCY", default_value_t = desk_core::worker::DEFAULT_CONCURRENCY as u16,
        value_parser = clap::value_parser!(u16).range(1..=1024))]
    worker_concurrency: u16,
    /// Run no jobs: accept and queue callbacks and serve the admin API only. Queued jobs wait,
    /// durably, until the binary runs again without this flag. For measuring ingestion alone
    /// (scripts/bench) and for holding automatic handling during maintenance.
    #[arg(long, env = "NO_WORKERS")]
    no_workers: bool,
    /// Seconds between deadline sweeps: each puts one sweep per account with complaints on the
    /// events queue, and the workers send the reminders, escalations and daily digests it finds
    /// due. The first comes a few seconds after start. 0 turns the schedule off. Only with the
    /// workers (not with --no-workers).
    #[arg(long, env = "DEADLINE_SWEEP_SECS", default_value_t = 300)]
    deadline_sweep_secs: u64,
    /// Seconds between reconciliation passes: each puts one pass per account with complaints on
    /// the events queue, and the workers ask the platform for what its pushes missed (recent
    /// complaints, open ones re-read, the registered notification URL). The first comes a few
    /// seconds after start. 0 turns the schedule off. Only with the workers (not with
    /// --no-workers).
    #[arg(long, env = "RECONCILE_SECS", default_value_t = 600)]
    reconcile_secs: u64,
    /// Seconds a job is hidden from other workers; a running job keeps it extended, and after
    /// a crash the job runs again once this has passed.
    #[arg(long, env = "JOB_VISIBILITY_SECS", default_value_t = 60)]
    job_visibility_secs: u64,
    /// SMS to the same numbers within this many seconds are folded into one message.
    #[arg(long, env = "SMS_FOLD_SECS", default_value_t = 30)]
    sms_fold_secs: u64,
    /// First retry delay of a failed notification delivery (doubles per attempt, at most 15
    /// minutes; deliveries are given up after 6 hours).
    #[arg(long, env = "DELIVERY_RETRY_SECS", default_value_t = 10)]
    delivery_retry_secs: u64,
    /// How far (seconds, either way) a plaintext mini-program push's timestamp may be from now.
    /// Plaintext pushes are accepted only from mini programs with `allow_plaintext` (unsafe).
    #[arg(long, env = "PLAINTEXT_PUSH_WINDOW_SECS", default_value_t = 900,
        value_parser = clap::value_parser!(u32).range(1..=86_400))]
    plaintext_push_window_secs: u32,
    /// Try it without a platform account: start the platform simulators inside this process
    /// (127.0.0.1) and keep one sandbox account per platform (names start with `沙箱 Sandbox ·`)
    /// pointed at them, from which `complaint-desk try-it push` and the console push test
    /// complaints. Their keys are kept in <data-dir>/sandbox.json. Needs the `demo` feature.
    #[arg(long, env = "SANDBOX", action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new())]
    sandbox: bool,
    /// Also serve `GET /metrics` (Prometheus text) without authentication on this address,
    /// for a scraper on a private network (the main listener serves it to tokens of scope
    /// `all`). Loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7) and link-local
    /// addresses only, unless --metrics-listen-public.
    #[arg(long, env = "METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Let --metrics-listen bind an unspecified (0.0.0.0, ::) or public address: anyone who
    /// reaches it reads the metrics without a token. Only behind a firewall of your own.
    #[arg(long, env = "METRICS_LISTEN_PUBLIC", action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new())]
    metrics_listen_public: bool,
    #[command(flatten)]
    server: desk_http::server::ServerArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Show a complaint flowing end to end through the platform simulators (no account, no
    /// network; data in a temporary directory).
    #[cfg_attr(
        not(feature = "demo"),
        command(
            about = "Not in this build: it was built without the `demo` feature (on by default)",
            long_about = None
        )
    )]
    Demo,
    /// Sandbox accounts of a server started with `--sandbox`: push a test complaint, list them.
    #[cfg(feature = "demo")]
    TryIt {
        #[command(subcommand)]
        command: try_it_cli::TryItCommand,
    },
    /// Not in this build: it was built without the `demo` feature (on by default).
    #[cfg(not(feature = "demo"))]
    #[command(
        disable_help_flag = true,
        allow_external_subcommands = true,
        about = "Not in this build: it was built without the `demo` feature (on by default)"
    )]
    TryIt {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    },
}

/// The demo, when this build has it (the `demo` feature links the platform simulators).
#[cfg(feature = "demo")]
async fn run_demo() -> anyhow::Result<()> {
    demo::run().await
}

#[cfg(not(feature = "demo"))]
async fn run_demo() -> anyhow::Result<()> {
    anyhow::bail!(NO_DEMO)
}

/// The sandbox accounts' engine of `--sandbox`, when this build has the simulators.
#[cfg(feature = "demo")]
async fn start_sandbox(
    services: &Services,
    platforms: &desk_core::platform::Platforms,
    data_dir: &std::path::Path,
    our_base: &str,
) -> anyhow::Result<Arc<dyn desk_http::try_it::TryIt>> {
    let engine = sandbox::start(services, platforms, data_dir, our_base)
        .await
        .context("cannot start the sandbox (--sandbox)")?;
    Ok(engine)
}

#[cfg(not(feature = "demo"))]
async fn start_sandbox(
    _: &Services,
    _: &desk_core::platform::Platforms,
    _: &std::path::Path,
    _: &str,
) -> anyhow::Result<Arc<dyn desk_http::try_it::TryIt>> {
    sandbox_built()?;
    anyhow::bail!(NO_SANDBOX)
}

/// Whether this build can run `--sandbox` (checked first thing, before any file is touched).
fn sandbox_built() -> anyhow::Result<()> {
    #[cfg(not(feature = "demo"))]
    anyhow::bail!(NO_SANDBOX);
    #[cfg(feature = "demo")]
    Ok(())
}

/// What `--sandbox` and `try-it` answer in a build without the simulators.
#[cfg(not(feature = "demo"))]
const NO_SANDBOX: &str = "this build of complaint-desk has no sandbox accounts: it was built \
    without the `demo` feature (on by default; `cargo build -p complaint-desk` has it)";

/// Where this server's own routes are reached from inside the process: the listening address,
/// with the loopback address for an unspecified one (`0.0.0.0`, `::`).
fn own_base(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// What `demo` answers in a build without the simulators.
#[cfg(not(feature = "demo"))]
const NO_DEMO: &str = "this build of complaint-desk has no demo: it was built without the \
    `demo` feature (on by default; `cargo build -p complaint-desk` has it)";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // rustls is built with aws-lc-rs only: the process default before any TLS client exists.
    crypto::tls::install_default();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Demo) => return run_demo().await,
        #[cfg(feature = "demo")]
        Some(Command::TryIt { command }) => return try_it_cli::run(command).await,
        #[cfg(not(feature = "demo"))]
        Some(Command::TryIt { .. }) => anyhow::bail!(NO_SANDBOX),
        None => {}
    }
    if cli.sandbox {
        sandbox_built()?;
    }
    if let Some(at) = cli.metrics_listen {
        exporter::listen_allowed(at, cli.metrics_listen_public)?;
    }
    // Before any file exists: the data directory, the database (with its -wal and -shm) and
    // the blobs are the owner's only from the moment they are created.
    desk_http::server::owner_only_umask();
    desk_core::telemetry::init(cli.log_format);
    if let Some(u) = &cli.public_base_url
        && u.scheme() != "https"
    {
        tracing::warn!(public_base_url = %u, "PUBLIC_BASE_URL is not https; the platforms only call HTTPS addresses");
    }

    embedded::create_private_dir(&cli.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            cli.data_dir.display()
        )
    })?;
    match embedded::narrow_private_dir(&cli.data_dir) {
        Ok(Some(was)) => tracing::warn!(
            data_dir = %cli.data_dir.display(),
            was = format!("{was:o}"),
            "the data directory was readable by others; narrowed to 0700"
        ),
        Ok(None) => {}
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot make the data directory {} the owner's only",
                    cli.data_dir.display()
                )
            });
        }
    }
    let key_path = cli
        .master_key_file
        .clone()
        .unwrap_or_else(|| cli.data_dir.join("master.key"));
    let Embedded {
        ports,
        master,
        retry,
        queue,
        records,
    } = open(&cli.data_dir, &key_path)?;
    let metrics: Arc<dyn desk_http::scrape::Scrape> = Arc::new(exporter::Exporter::install(queue)?);

    let admin_env = std::env::var("ADMIN_TOKEN").ok().filter(|t| !t.is_empty());
    let (admin, source) = ensure_admin_token(&*ports.records, admin_env.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("cannot set up the admin token: {e:?}"))?;
    match source {
        AdminTokenSource::Generated(token) => {
            println!("Admin token (shown once; only its hash is stored): {token}");
        }
        AdminTokenSource::Environment => tracing::info!("admin token from ADMIN_TOKEN"),
        AdminTokenSource::Stored => tracing::info!("admin token: the one generated on first start"),
    }

    let mut services = Services::new(
        ports.clone(),
        Fingerprinter::new(master.derive("complaint-desk fingerprints v1")),
    )
    .with_public_base_url(cli.public_base_url.clone())
    .with_console_base(cli.console_base_url.clone().unwrap_or_default())
    .with_fault_point(std::env::var("COMPLAINT_DESK_FAULT").ok());
    services.notifier.sms_fold = std::time::Duration::from_secs(cli.sms_fold_secs);
    services.notifier.base_backoff = std::time::Duration::from_secs(cli.delivery_retry_secs.max(1));
    // The workers get the services only; the routes get the administrator token on top.
    // The platforms this binary serves: their jobs, callbacks, actions and account kinds.
    let platforms = desk_core::platforms::builtin();
    // Records stored by an older version get their list keys (and their deadlines, by the
    // rules the platforms just declared) in the background.
    tokio::spawn(desk_core::reindex::in_background(ports.records.clone()));
    let registry: Arc<JobRegistry> = Arc::new(desk_core::policy::registry(&services, &platforms));
    // Bound before the sandbox starts: its simulators push to this address.
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let addr = listener.local_addr()?;
    let try_it = if cli.sandbox {
        let engine = start_sandbox(&services, &platforms, &cli.data_dir, &own_base(addr)).await?;
        tracing::warn!(
            "--sandbox: platform simulators run in this process; sandbox accounts are on"
        );
        Some(engine)
    } else {
        None
    };
    let mut state = AppState::new(services, admin)
        .with_metrics(metrics.clone())
        .with_platforms(platforms)
        .with_plaintext_push_window(Some(cli.plaintext_push_window_secs));
    if let Some(engine) = try_it {
        state = state.with_try_it(engine);
    }
    let router = desk_http::router::router(state);

    let shutdown = CancellationToken::new();
    tokio::spawn(adapters::purge_expired(records, shutdown.clone()));
    let mut workers = tokio::task::JoinSet::new();
    if cli.no_workers {
        tracing::warn!(
            "--no-workers: callbacks are queued, no job runs until a restart without it"
        );
    }
    for queue in domain::job::queues::ALL.iter().filter(|_| !cli.no_workers) {
        workers.spawn(queue_worker(
            &ports,
            queue,
            registry.clone(),
            usize::from(cli.worker_concurrency),
            std::time::Duration::from_secs(cli.job_visibility_secs.max(1)),
            retry.clone(),
            shutdown.clone(),
        ));
    }

    // The schedules (clock-driven jobs onto the queues) run with the workers and stop with them.
    for (period, jobs) in schedules(&cli) {
        workers.spawn(desk_core::schedule::every(
            period,
            ports.records.clone(),
            ports.queue.clone(),
            ports.clock.clone(),
            jobs,
            shutdown.clone(),
        ));
    }

    println!("complaint-desk listening on http://{addr}");
    println!("staff console: http://{addr}/console/ (sign in with an access token)");
    tracing::info!(%addr, data_dir = %cli.data_dir.display(), "started");

    let stop = shutdown.clone();
    tokio::spawn(async move {
        desk_http::server::terminated().await;
        tracing::info!("shutting down: no new requests; finishing jobs in progress");
        stop.cancel();
    });
    let limits = cli.server.limits();
    if let Some(at) = cli.metrics_listen {
        let listener = tokio::net::TcpListener::bind(at)
            .await
            .with_context(|| format!("cannot listen on {at} (--metrics-listen)"))?;
        println!(
            "metrics (no authentication): http://{}/metrics",
            listener.local_addr()?
        );
        let router = desk_http::scrape::router(metrics);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = desk_http::server::serve(listener, router, limits, stop).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    tracing::info!(
        max_connections = limits.max_connections,
        header_timeout_secs = limits.header_timeout.as_secs(),
        body_timeout_secs = limits.body_timeout.as_secs(),
        idle_timeout_secs = limits.idle_timeout.as_secs(),
        "server limits"
    );
    desk_http::server::serve(listener, router, limits, shutdown.clone()).await?;
    while workers.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

/// The in-process schedules the flags ask for: (period, jobs) for each that runs. None with
/// `--no-workers` (nothing would take their jobs); a period of 0 turns its schedule off, with a
/// warning saying what is then missing.
fn schedules(cli: &Cli) -> Vec<(Duration, &'static [PerAccountJob])> {
    if cli.no_workers {
        return vec![];
    }
    let mut out = Vec::new();
    match cli.deadline_sweep_secs {
        0 => tracing::warn!(
            "--deadline-sweep-secs 0: no deadline sweeps (no reminders, escalations or digests)"
        ),
        secs => out.push((Duration::from_secs(secs), &[DEADLINE_SWEEP][..])),
    }
    match cli.reconcile_secs {
        0 => tracing::warn!(
            "--reconcile-secs 0: no reconciliation passes (complaints whose push never came are not found, and nothing says pushes stopped)"
        ),
        secs => out.push((Duration::from_secs(secs), &[RECONCILE_PASS][..])),
    }
    out
}

#[cfg(test)]
mod schedule_tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["complaint-desk"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn chosen(args: &[&str]) -> Vec<(u64, Vec<&'static str>)> {
        schedules(&cli(args))
            .into_iter()
            .map(|(period, jobs)| (period.as_secs(), jobs.iter().map(|j| j.job_type).collect()))
            .collect()
    }

    #[test]
    fn deadline_sweeps_every_five_minutes_and_reconciliation_every_ten_by_default() {
        assert_eq!(
            chosen(&[]),
            vec![
                (300, vec![DEADLINE_SWEEP.job_type]),
                (600, vec![RECONCILE_PASS.job_type])
            ]
        );
        assert_eq!(
            chosen(&["--reconcile-secs", "120", "--deadline-sweep-secs", "60"]),
            vec![
                (60, vec![DEADLINE_SWEEP.job_type]),
                (120, vec![RECONCILE_PASS.job_type])
            ]
        );
    }

    #[test]
    fn metrics_listen_public_is_the_flag_the_refusal_names() {
        let public = cli(&[
            "--metrics-listen",
            "0.0.0.0:9100",
            "--metrics-listen-public",
        ]);
        assert!(public.metrics_listen_public);
        assert!(!cli(&["--metrics-listen", "0.0.0.0:9100"]).metrics_listen_public);
    }

    #[test]
    fn zero_turns_one_schedule_off_and_no_workers_turns_off_both() {
        assert_eq!(
            chosen(&["--reconcile-secs", "0"]),
            vec![(300, vec![DEADLINE_SWEEP.job_type])]
        );
        assert_eq!(
            chosen(&["--deadline-sweep-secs", "0"]),
            vec![(600, vec![RECONCILE_PASS.job_type])]
        );
        assert_eq!(chosen(&["--no-workers"]), vec![]);
    }
}

#[cfg(all(test, not(feature = "demo")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn demo_says_this_build_has_none() {
        let cli = Cli::try_parse_from(["complaint-desk", "demo"])
            .unwrap_or_else(|e| panic!("`demo` is still a subcommand: {e}"));
        assert!(matches!(cli.command, Some(Command::Demo)));
        let error = run_demo()
            .await
            .expect_err("a build without the demo runs none");
        assert_eq!(error.to_string(), NO_DEMO);
        assert!(NO_DEMO.contains("has no demo"), "{NO_DEMO}");
    }

    #[test]
    fn sandbox_and_try_it_say_this_build_has_none() {
        let cli = Cli::try_parse_from(["complaint-desk", "--sandbox"])
            .unwrap_or_else(|e| panic!("`--sandbox` is still a flag: {e}"));
        assert!(cli.sandbox);
        let error = sandbox_built().expect_err("a build without the simulators has no sandbox");
        assert_eq!(error.to_string(), NO_SANDBOX);
        let cli = Cli::try_parse_from(["complaint-desk", "try-it", "push", "--platform", "alipay"])
            .unwrap_or_else(|e| panic!("`try-it` is still a subcommand: {e}"));
        assert!(matches!(cli.command, Some(Command::TryIt { .. })));
    }
}
