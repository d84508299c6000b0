//! `admin-api`: parse config, init telemetry, migrate, serve until SIGTERM or
//! Ctrl-C. `admin-api migrate` applies migrations and exits.

use std::process::ExitCode;
use std::time::Duration;

use admin_api::{Command, Config};
use anyhow::Context;
use clap::Parser;

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
    let state = admin_api::state_from_config(&config, pool)?;
    if state.settings.api_keys.is_open() {
        tracing::warn!("ADMIN_API_KEYS is unset: the admin API is open to anyone who can reach it");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("while binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, "admin-api listening");
    let grace = config.shutdown_timeout;
    let served = admin_api::serve(listener, state, shutdown_signal());
    // After the signal, in-flight requests get `grace` to finish.
    tokio::select! {
        result = served => result,
        () = async { shutdown_signal().await; tokio::time::sleep(grace + Duration::from_millis(100)).await } => {
            tracing::warn!("shutdown grace period elapsed; exiting with requests in flight");
            Ok(())
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}
