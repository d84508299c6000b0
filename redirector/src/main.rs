//! `redirector`: parse config, init telemetry, build the lookup tiers, serve
//! until SIGTERM or Ctrl-C, drain.

use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use clap::Parser;
use redirector::{App, BufferLimits, Config, Parts, VisitMetrics};
use secrecy::ExposeSecret;
use shared::valkey::Valkey;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
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
        // The fallback only reads: its sessions refuse writes outright.
        let options = PgConnectOptions::from_str(url.expose_secret())
            .context("DATABASE_URL is not a valid Postgres URL")?
            .options([("default_transaction_read_only", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(config.db_max_connections)
            .acquire_timeout(config.db_acquire_timeout)
            .connect_lazy_with(options);
        Some(pool)
    } else {
        None
    };
    let valkey = Valkey::from_args(&config.redis).context("while configuring Valkey")?;
    let mut registry = prometheus_client::registry::Registry::with_prefix("redirector");
    let limits = BufferLimits {
        visits: config.visit_buffer as usize,
        bytes: usize::try_from(config.visit_buffer_bytes).unwrap_or(usize::MAX),
    };
    let (visits, pusher) = redirector::visit_buffer(limits, VisitMetrics::register(&mut registry));
    let push_task = tokio::spawn(pusher.run(
        valkey.clone(),
        usize::from(config.redis.visit_streams),
        config.visit_batch as usize,
        config.shutdown_timeout,
    ));
    let app = App::new(
        registry,
        Parts {
            valkey,
            postgres,
            cache_max_bytes: config.cache_max_bytes,
            cache_ttl: config.cache_ttl,
            negative_ttl: config.negative_ttl,
            ready_timeout: config.ready_timeout,
            subscription_silence: config.subscription_silence,
            visits,
            trusted_proxies: config.trusted_proxies.0.clone(),
            limits: config.request_limits(),
        },
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("while binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, "redirector listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(shared::shutdown::cancel_on_signal(shutdown.clone()));
    let invalidations = tokio::spawn(app.invalidations(shutdown.clone()));
    tokio::spawn(app.dependency_checks(shutdown.clone()));
    tokio::spawn(app.rate_limit_sweeps(shutdown.clone()));
    let served = redirector::run(
        listener,
        app,
        config.server_limits(),
        shutdown.clone(),
        config.shutdown_timeout,
    )
    .await;
    shutdown.cancel();
    invalidations
        .await
        .context("while stopping the invalidation task")?;
    // The handler (and with it the visit sender) is gone once the connections
    // drained; the pusher then flushes what is left and ends.
    if tokio::time::timeout(config.shutdown_timeout, push_task)
        .await
        .is_err()
    {
        tracing::error!("visits still buffered at exit: connections outlived the grace period");
    }
    served
}
