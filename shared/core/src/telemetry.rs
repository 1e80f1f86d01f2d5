//! Tracing set-up: JSON lines (Lambda, log shippers) or human-readable text.
//!
//! `RUST_LOG` is read with tracing-subscriber's `EnvFilter` (every directive, spans and fields
//! included) when the `env-filter` feature is on (the embedded binary, the admin API), and as a
//! `target=level` list (`Targets`) otherwise: the other Lambda functions then link no regex
//! engine.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("log format must be text or json, not {other:?}")),
        }
    }
}

/// Install the global subscriber. `RUST_LOG` filters (default `info`). Logs go to stderr.
#[cfg(feature = "env-filter")]
pub fn init(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Install the global subscriber. `RUST_LOG` filters as a `target=level` list (default `info`;
/// a value that is not such a list also gives `info`). Logs go to stderr.
#[cfg(not(feature = "env-filter"))]
pub fn init(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (filter, unreadable) = targets(std::env::var("RUST_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .finish()
            .with(filter)
            .try_init(),
        LogFormat::Text => builder.finish().with(filter).try_init(),
    };
    if let Some(why) = unreadable {
        tracing::warn!("{why}");
    }
}

/// `RUST_LOG` as a `target=level` list; unset, empty or unreadable: `info` (and, when
/// unreadable, why: logged once the subscriber is installed). (Compiled with `env-filter` too,
/// unused then, so that its test runs in the workspace's test command.)
#[cfg_attr(feature = "env-filter", allow(dead_code))]
fn targets(rust_log: Option<&str>) -> (tracing_subscriber::filter::Targets, Option<String>) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let info = || Targets::new().with_default(LevelFilter::INFO);
    match rust_log.filter(|v| !v.trim().is_empty()) {
        None => (info(), None),
        Some(v) => match v.parse::<Targets>() {
            Ok(t) => (t, None),
            Err(e) => (
                info(),
                Some(format!(
                    "RUST_LOG is not a list of target=level ({e}); logging at info. \
                     This function reads no span or field directives."
                )),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::targets;
    use tracing::Level;

    #[test]
    fn rust_log_is_read_as_a_target_list_with_info_by_default() {
        let (f, unreadable) = targets(Some("info,desk_core=debug"));
        assert_eq!(unreadable, None);
        assert!(f.would_enable("desk_core::worker", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::DEBUG));
        assert!(f.would_enable("aws_smithy_runtime", &Level::INFO));
        for unset in [None, Some(""), Some("desk_core=loud")] {
            let (f, unreadable) = targets(unset);
            assert_eq!(
                unreadable.is_some(),
                unset == Some("desk_core=loud"),
                "{unset:?}"
            );
            assert!(f.would_enable("any", &Level::INFO), "{unset:?}");
            assert!(!f.would_enable("any", &Level::DEBUG), "{unset:?}");
        }
    }
}
