//! `redirector`: parse config, init telemetry, build the [`Application`],
//! serve until SIGTERM or Ctrl-C, drain.

use std::process::ExitCode;

use clap::Parser;
use redirector::{Application, Config};
use tokio_util::sync::CancellationToken;

/// Exit status for bad configuration (EX_USAGE, as linkerd does).
const EXIT_CONFIG: u8 = 64;

// The main runtime runs only the background tasks (the invalidation
// subscription, checks, sweeps) and the shared Valkey connection: one thread
// is plenty; the serving threads have their own runtimes, Valkey connections
// and visit pushers.
#[tokio::main(flavor = "current_thread")]
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
    let application = Application::build(&config).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(shared::shutdown::cancel_on_signal(shutdown.clone()));
    application.run_until_stopped(shutdown).await
}
