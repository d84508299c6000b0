//! `admin-api`: parse config, init telemetry, build the [`Application`]
//! (which migrates), serve until SIGTERM or Ctrl-C. `admin-api migrate`
//! applies migrations and exits; `admin-api keys create` issues a key.

use admin_api::{Application, Command, Config, CreateKeyArgs, KeysCommand, NoKey};
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
    // Before telemetry: the command's stdout is the key alone.
    if let Some(Command::Keys(KeysCommand::Create(args))) = &config.command {
        return create_key(&config, args).await;
    }
    if let Err(err) = shared::telemetry::init(&config.telemetry) {
        eprintln!("admin-api: invalid configuration: {err:#}");
        return ExitCode::from(EXIT_CONFIG);
    }
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<NoKey>() => {
            eprintln!("admin-api: invalid configuration: {err}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "admin-api stopped");
            ExitCode::FAILURE
        }
    }
}

/// Prints a new key on stdout (alone, for `KEY=$(admin-api keys create …)`)
/// and what it is on stderr; bad arguments exit 64.
async fn create_key(config: &Config, args: &CreateKeyArgs) -> ExitCode {
    match admin_api::issue_key(config, args).await {
        Ok(Ok(issued)) => {
            eprintln!(
                "admin-api: issued {} key {:?} (id {}, prefix {}); it is shown only now",
                issued.row.role, issued.row.name, issued.row.id, issued.row.prefix
            );
            // The one place a key is written out: stdout, for the operator.
            #[allow(clippy::print_stdout)]
            {
                println!("{}", issued.secret.reveal());
            }
            ExitCode::SUCCESS
        }
        Ok(Err(refused)) => {
            eprintln!("admin-api: cannot issue the key: {refused}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(err) => {
            eprintln!("admin-api: cannot issue the key: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    if matches!(config.command, Some(Command::Migrate)) {
        admin_api::migrate(&admin_api::connect(&config)?).await?;
        tracing::info!("migrations applied");
        return Ok(());
    }
    let application = Application::build(&config).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(shared::shutdown::cancel_on_signal(shutdown.clone()));
    application.run_until_stopped(shutdown).await
}
