//! `admin-api`: parse config, init telemetry, build the [`Application`]
//! (which migrates), serve until SIGTERM or Ctrl-C. `admin-api migrate`
//! applies migrations and exits.

use admin_api::{Application, Command, Config};
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
    if config.command == Some(Command::Migrate) {
        admin_api::migrate(&admin_api::connect(&config)?).await?;
        tracing::info!("migrations applied");
        return Ok(());
    }
    let application = Application::build(&config).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(shared::shutdown::cancel_on_signal(shutdown.clone()));
    application.run_until_stopped(shutdown).await
}
