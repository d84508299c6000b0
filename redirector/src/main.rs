//! `redirector`: parse config, init telemetry, build the lookup tiers, serve
//! until SIGTERM or Ctrl-C, drain.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use redirector::{App, Config, Probes};
use secrecy::ExposeSecret;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

/// Exit status for bad configuration (EX_USAGE, as linkerd does).
const EXIT_CONFIG: u8 = 64;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(err) = config
        .validate()
        .and_then(|()| shared::telemetry::init(&config.telemetry))
    {
        eprintln!("redirector: invalid configuration: {err:#}");
        return ExitCode::from(EXIT_CONFIG);
    }
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "redirector stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let postgres = if config.db_fallback {
        let url = config.database.url()?;
        let pool = PgPoolOptions::new()
            .max_connections(config.db_max_connections)
            .acquire_timeout(config.db_acquire_timeout)
            .connect_lazy(url.expose_secret())
            .context("while configuring the Postgres fallback pool")?;
        Some(pool)
    } else {
        None
    };
    let probes = Probes {
        redis: Probes::redis_client(&config.redis.redis_url).context("while configuring Valkey")?,
        postgres,
        timeout: config.ready_timeout,
    };
    let app = App::new(probes);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("while binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, "redirector listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(shared::shutdown::cancel_on_signal(shutdown.clone()));
    redirector::run(
        listener,
        app,
        config.max_connections as usize,
        shutdown,
        config.shutdown_timeout,
    )
    .await
}
