//! Logging set-up for both binaries: an `EnvFilter` from `RUST_LOG` or
//! `LOG_LEVEL`, written as JSON or text.

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, TelemetryArgs};

/// Installs the global tracing subscriber. Fails on an invalid filter, so that
/// a typo in `LOG_LEVEL` stops the process before it binds a socket.
pub fn init(args: &TelemetryArgs) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(rust_log) if !rust_log.trim().is_empty() => {
            EnvFilter::try_new(&rust_log).context("RUST_LOG is not a valid log filter")?
        }
        _ => EnvFilter::try_new(&args.log_level).context("LOG_LEVEL is not a valid log filter")?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let result = match args.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|err| anyhow::anyhow!("installing the log subscriber: {err}"))
}
