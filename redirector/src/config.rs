//! The redirector's configuration: command-line flags with environment
//! fallbacks (`redirector --help` lists them all), validated before any
//! socket is bound.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;
use shared::config::{DatabaseArgs, RedisArgs, TelemetryArgs, parse_duration};

/// The shortener's redirect server: `GET /{code}` answered from an in-process
/// cache, Valkey, or Postgres.
#[derive(Debug, Parser)]
#[command(name = "redirector", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "REDIRECTOR_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Most client connections served at once; further ones wait in the
    /// kernel's accept queue.
    #[arg(long, env = "REDIRECTOR_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Whether to read links from Postgres when Valkey does not have them.
    #[arg(long, env = "REDIRECTOR_DB_FALLBACK", default_value_t = true, action = clap::ArgAction::Set)]
    pub db_fallback: bool,

    /// Postgres connections per redirector for the fallback tier. Kept small:
    /// replicas × this must fit beside the admin API's pools under Postgres
    /// `max_connections`.
    #[arg(long, env = "REDIRECTOR_DB_MAX_CONNECTIONS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub db_max_connections: u32,

    /// How long a fallback read waits for a Postgres connection.
    #[arg(long, env = "REDIRECTOR_DB_ACQUIRE_TIMEOUT", default_value = "500ms", value_parser = parse_duration)]
    pub db_acquire_timeout: Duration,

    /// How long a readiness check waits for each dependency.
    #[arg(long, env = "REDIRECTOR_READY_TIMEOUT", default_value = "1s", value_parser = parse_duration)]
    pub ready_timeout: Duration,

    /// How long shutdown waits for open connections to finish.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub redis: RedisArgs,

    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

impl Config {
    /// Checks what clap cannot. Called before binding.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.database.url()?;
        self.redis.validate()?;
        for (name, value) in [
            ("REDIRECTOR_DB_ACQUIRE_TIMEOUT", self.db_acquire_timeout),
            ("REDIRECTOR_READY_TIMEOUT", self.ready_timeout),
        ] {
            if value.is_zero() {
                bail!("{name} must be more than zero");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("redirector").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_are_valid() {
        let config = parse(&[]).expect("defaults parse");
        config.validate().expect("defaults are valid");
        assert_eq!(config.listen.port(), 8080);
        assert!(config.db_fallback);
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["--listen", "8080"][..],
            &["--max-connections", "0"],
            &["--db-fallback", "maybe"],
            &["--ready-timeout", "soon"],
        ] {
            assert!(parse(args).is_err(), "{args:?} should be refused");
        }
        for args in [&["--redis-url", "http://x"][..], &["--ready-timeout", "0s"]] {
            assert!(
                parse(args).expect("parses").validate().is_err(),
                "{args:?} should fail validation"
            );
        }
        let off = parse(&["--db-fallback", "false"]).expect("parses");
        assert!(!off.db_fallback);
    }

    #[test]
    fn env_example_lists_every_variable() {
        use clap::CommandFactory;
        let example = include_str!("../../.env.example");
        for arg in Config::command().get_arguments() {
            if let Some(env) = arg.get_env() {
                let name = env.to_string_lossy();
                assert!(
                    example.contains(&format!("{name}=")),
                    ".env.example lacks {name}"
                );
            }
        }
    }
}
