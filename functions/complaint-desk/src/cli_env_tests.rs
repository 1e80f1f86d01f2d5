//! The command line read from the environment, as main reads it: the variables, not only the
//! flags. A test cannot set its own process's environment safely (the process's other tests
//! read it at the same time), so each case runs this test binary again as a child process
//! with the variables set, and the child's half parses them.

/// Set in the child process of [`metrics_listen_public_is_read_from_the_environment`].
const CHILD: &str = "COMPLAINT_DESK_TEST_ENV_CHILD";

/// `METRICS_LISTEN=0.0.0.0:9100` is let through with `METRICS_LISTEN_PUBLIC` true (`true`,
/// `1`) and refused with it false or unset.
#[test]
fn metrics_listen_public_is_read_from_the_environment() {
    if std::env::var_os(CHILD).is_some() {
        // A runner that ignored `--exact`: the child never starts children of its own.
        return;
    }
    let exe = std::env::current_exe().expect("this test binary");
    for (public, allowed) in [
        (Some("true"), true),
        (Some("1"), true),
        (Some("false"), false),
        (None, false),
    ] {
        let mut child = std::process::Command::new(&exe);
        child
            .args([
                "--exact",
                "cli_env_tests::the_environments_metrics_listener",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            // Only the variables of the case: none of the command line's others from the
            // environment the tests run in (a CI-wide CONSOLE_BASE_URL, LISTEN_ADDR, ...).
            .env_clear()
            .env(CHILD, "1")
            .env("METRICS_LISTEN", "0.0.0.0:9100")
            .env_remove("METRICS_LISTEN_PUBLIC");
        if let Some(v) = public {
            child.env("METRICS_LISTEN_PUBLIC", v);
        }
        let out = child.output().expect("the child runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{public:?}: {stdout}");
        assert!(
            stdout.contains(&format!("metrics listener allowed: {allowed}")),
            "METRICS_LISTEN_PUBLIC={public:?}: {stdout}"
        );
    }
}

/// The child half of [`metrics_listen_public_is_read_from_the_environment`]: the command
/// line as main parses it from this process's environment (run only as that child: ignored
/// otherwise, and nothing when run on its own).
#[test]
#[ignore = "the child half of metrics_listen_public_is_read_from_the_environment"]
fn the_environments_metrics_listener() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let cli = <crate::Cli as clap::Parser>::try_parse_from(["complaint-desk"])
        .expect("the environment parses");
    let at = cli.metrics_listen.expect("METRICS_LISTEN is read");
    let allowed = crate::exporter::listen_allowed(at, cli.metrics_listen_public).is_ok();
    println!("metrics listener allowed: {allowed}");
}
