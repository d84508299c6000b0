//! `admin-api`: parse config, init telemetry, migrate, serve until SIGTERM or
//! Ctrl-C. `admin-api migrate` applies migrations and exits.

use admin_api::{Command, Config};
use anyhow::Context;
use clap::Parser;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Exit status for bad configuration (EX_USAGE, as linkerd does).
const EXIT_CONFIG: u8 = 64;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(err) = config.validate() {
        eprintln!("admin-api: invalid configuration: {err:#}");
        return ExitCode::from(EXIT_CONFIG);
    }
    if let Err(err) = shared::telemetry::init(&config.telemetry) {
        eprintln!("admin-api: invalid configuration: {err:#}");
        return ExitCode::from(EXIT_CONFIG);
    }
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "admin-api stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let pool = admin_api::connect(&config)?;
    admin_api::migrate(&pool).await?;
    if config.command == Some(Command::Migrate) {
        tracing::info!("migrations applied");
        return Ok(());
    }
    let (state, drain) = admin_api::from_config(&config, pool)?;
    if state.settings.api_keys.is_open() {
        tracing::warn!(
            "ADMIN_ALLOW_OPEN=true and no ADMIN_API_KEYS: the admin API is open to anyone who can reach it"
        );
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("while binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, "admin-api listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(shared::shutdown::cancel_on_signal(shutdown.clone()));
    let drain_task = tokio::spawn(drain.run(shutdown.clone()));
    tokio::spawn(state.metrics.dependencies.clone().watch(
        state.links.valkey().clone(),
        Some(state.pool.clone()),
        config.db_acquire_timeout,
        shutdown.clone(),
    ));
    let links = state.links.clone();
    let link_task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { links.run(shutdown).await }
    });
    let served = admin_api::serve(
        listener,
        state,
        config.server_limits(),
        shutdown.clone().cancelled_owned(),
    );
    // After the signal, in-flight requests get the grace period to finish.
    let grace = config.shutdown_timeout;
    let result = tokio::select! {
        result = served => result,
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("shutdown grace period elapsed; exiting with requests in flight");
            Ok(())
        }
    };
    shutdown.cancel();
    link_task
        .await
        .context("while stopping the link write-through task")?;
    drain_task.await.context("while stopping the visit drain")?;
    result
}
