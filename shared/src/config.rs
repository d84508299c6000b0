//! Configuration groups shared by both binaries, flattened into each binary's
//! own `clap` parser: Postgres, Valkey and telemetry.

use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};

/// Where Postgres is. `DATABASE_URL` wins; otherwise the URL is built from the
/// old service's `DATABASE_HOST/PORT/NAME/USER/PASSWORD` variables.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Postgres connection URL; when unset it is built from the DATABASE_* parts.
    #[arg(long, env = "DATABASE_URL", value_parser = parse_secret, hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// Postgres host (used only when DATABASE_URL is unset).
    #[arg(long, env = "DATABASE_HOST", default_value = "localhost")]
    pub database_host: String,
    /// Postgres port (used only when DATABASE_URL is unset).
    #[arg(long, env = "DATABASE_PORT", default_value_t = 5432)]
    pub database_port: u16,
    /// Database name (used only when DATABASE_URL is unset).
    #[arg(long, env = "DATABASE_NAME", default_value = "hackathon_db")]
    pub database_name: String,
    /// Database user (used only when DATABASE_URL is unset).
    #[arg(long, env = "DATABASE_USER", default_value = "postgres")]
    pub database_user: String,
    /// Database password (used only when DATABASE_URL is unset).
    #[arg(long, env = "DATABASE_PASSWORD", value_parser = parse_secret, hide_env_values = true, hide_default_value = true, default_value = "postgres")]
    pub database_password: SecretString,
}

impl DatabaseArgs {
    /// The connection URL to use, validated to be a `postgres://` URL.
    pub fn url(&self) -> anyhow::Result<SecretString> {
        if let Some(url) = &self.database_url {
            let parsed =
                url::Url::parse(url.expose_secret()).context("DATABASE_URL is not a valid URL")?;
            if !matches!(parsed.scheme(), "postgres" | "postgresql") {
                bail!("DATABASE_URL must start with postgres:// or postgresql://");
            }
            return Ok(url.clone());
        }
        let mut url = url::Url::parse("postgres://localhost").context("static URL")?;
        url.set_host(Some(&self.database_host))
            .context("DATABASE_HOST is not a valid host name")?;
        // These setters fail only for URLs that cannot have a port or credentials,
        // which a postgres:// URL with a host always can.
        let _ = url.set_port(Some(self.database_port));
        let _ = url.set_username(&self.database_user);
        let _ = url.set_password(Some(self.database_password.expose_secret()));
        url.set_path(&self.database_name);
        Ok(SecretString::from(url.to_string()))
    }
}

/// Where Valkey (or any Redis-protocol server) is.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisArgs {
    /// Valkey/Redis URL (redis:// or rediss://).
    #[arg(long, env = "REDIS_URL", value_parser = parse_secret, hide_env_values = true, hide_default_value = true, default_value = "redis://localhost:6379")]
    pub redis_url: SecretString,
    /// Valkey/Redis Cluster seed nodes (comma-separated host:port); when
    /// set, both binaries use the cluster (REDIS_URL then gives only the
    /// scheme, user and password every node shares).
    #[arg(long, env = "REDIS_CLUSTER_NODES")]
    pub redis_cluster_nodes: Option<String>,
    /// Replicas that must hold each write of visits and link records before
    /// it counts (WAIT); 1 with replicas or a cluster, so that a failover
    /// loses nothing. 0 waits for none (a standalone Valkey).
    #[arg(long, env = "VALKEY_REPLICA_ACKS", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=8))]
    pub valkey_replica_acks: u16,
    /// Prefix of every Valkey key and channel, to share one Valkey between
    /// deployments (both binaries must agree).
    #[arg(long, env = "VALKEY_NAMESPACE", default_value = "")]
    pub valkey_namespace: String,
    /// Number of visit streams (shards); both binaries must agree.
    #[arg(long, env = "VISIT_STREAMS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub visit_streams: u16,
    /// Bound on connecting to Valkey and on each command.
    #[arg(long, env = "VALKEY_TIMEOUT", default_value = "250ms", value_parser = parse_duration)]
    pub valkey_timeout: Duration,
}

impl RedisArgs {
    /// The cluster's seed nodes, when a cluster is configured (an empty
    /// `REDIS_CLUSTER_NODES` is none).
    pub fn cluster_nodes(&self) -> Option<&str> {
        self.redis_cluster_nodes
            .as_deref()
            .filter(|nodes| !nodes.trim().is_empty())
    }

    /// Checks the URL's scheme without connecting.
    pub fn validate(&self) -> anyhow::Result<()> {
        let parsed = url::Url::parse(self.redis_url.expose_secret())
            .context("REDIS_URL is not a valid URL")?;
        if !matches!(parsed.scheme(), "redis" | "rediss" | "valkey" | "valkeys") {
            bail!("REDIS_URL must start with redis:// or rediss://");
        }
        if let Some(nodes) = self.cluster_nodes() {
            crate::valkey::cluster_seeds(&self.redis_url, nodes).map_err(|err| {
                anyhow::anyhow!("REDIS_CLUSTER_NODES ({nodes:?}) is not valid: {err}")
            })?;
        }
        if self.valkey_timeout.is_zero() {
            bail!("VALKEY_TIMEOUT must be more than zero");
        }
        Ok(())
    }
}

/// Logging: level filter and output format.
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// Log filter (tracing EnvFilter syntax, e.g. `info` or `admin_api=debug,info`).
    /// RUST_LOG, when set, takes precedence.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log output format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log shippers).
    Json,
    /// Human-readable lines.
    Text,
}

/// The environment variables of `command` (flags with `env = …`) that
/// `env_example` does not list as `NAME=`; each binary's tests check its own
/// parser against the repository's `.env.example` with this.
pub fn env_vars_missing_from(command: &clap::Command, env_example: &str) -> Vec<String> {
    command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| {
            !env_example.lines().any(|line| {
                line.trim_start_matches('#')
                    .starts_with(&format!("{name}="))
            })
        })
        .collect()
}

/// Parses a secret so that it never shows up in `Debug` output.
pub fn parse_secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value.to_owned()))
}

/// Parses a duration with units, such as `250ms`, `5s` or `1m`.
pub fn parse_duration(value: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(value)
}

/// A rate limit such as `50/s` or `20/min`: `count` events per `per`.
/// A count of zero (written `0`) turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// No limit.
    pub const OFF: Rate = Rate {
        count: 0,
        per: Duration::from_secs(1),
    };

    /// Whether the limit is turned off.
    pub fn is_off(&self) -> bool {
        self.count == 0
    }

    /// The governor quota: one cell per `per / count`, bursts of
    /// [`BURST_FACTOR`] × `count` (the contract's "bursts up to 10× the
    /// rate"). `None` when the limit is off.
    pub fn quota(&self) -> Option<governor::Quota> {
        let count = std::num::NonZeroU32::new(self.count)?;
        let burst = count.saturating_mul(std::num::NonZeroU32::new(BURST_FACTOR)?);
        governor::Quota::with_period(self.per / count.get()).map(|q| q.allow_burst(burst))
    }
}

/// How many times the per-unit rate a client may spend at once: `20/s` lets
/// a burst of 200 through before the steady rate applies.
pub const BURST_FACTOR: u32 = 10;

/// Parses a rate: `N/s`, `N/min`, `N/h` (also `sec`, `second`, `minute`,
/// `hour`), or `0` for off.
pub fn parse_rate(value: &str) -> Result<Rate, String> {
    let value = value.trim();
    if value == "0" {
        return Ok(Rate::OFF);
    }
    let bad = || format!("{value:?} is not a rate such as 50/s, 20/min or 0");
    let (count, unit) = value.split_once('/').ok_or_else(bad)?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        _ => return Err(bad()),
    };
    Ok(Rate { count, per })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn rates_are_parsed_with_their_unit() {
        let rate = |count, secs| {
            Ok(Rate {
                count,
                per: Duration::from_secs(secs),
            })
        };
        let cases = [
            ("50/s", rate(50, 1)),
            ("20/min", rate(20, 60)),
            (" 3 / hour ", rate(3, 3600)),
            ("0", Ok(Rate::OFF)),
            ("0/s", rate(0, 1)),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_rate(raw), expected, "rate {raw:?}");
        }
        for raw in ["", "50", "50/fortnight", "-1/s", "x/s", "1.5/s"] {
            assert!(parse_rate(raw).is_err(), "{raw:?} should be refused");
        }
        assert!(parse_rate("0/s").expect("valid").is_off());
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        db: DatabaseArgs,
    }

    #[test]
    fn database_url_is_built_from_parts_when_unset() {
        // Built directly rather than parsed: the environment running the tests
        // may well set DATABASE_URL, which clap would pick up.
        let args = DatabaseArgs {
            database_url: None,
            database_host: "db.internal".into(),
            database_port: 6543,
            database_name: "links".into(),
            database_user: "app".into(),
            database_password: SecretString::from("p@ss word"),
        };
        let url = args.url().expect("valid url");
        assert_eq!(
            url.expose_secret(),
            "postgres://app:p%40ss%20word@db.internal:6543/links"
        );
    }

    #[test]
    fn database_url_wins_over_parts_and_is_checked() {
        let cli = Cli::try_parse_from(["x", "--database-url", "postgres://u@h/d"]).expect("valid");
        assert_eq!(
            cli.db.url().expect("valid").expose_secret(),
            "postgres://u@h/d"
        );
        let cli = Cli::try_parse_from(["x", "--database-url", "mysql://u@h/d"]).expect("valid");
        assert!(cli.db.url().is_err(), "a non-postgres URL must be refused");
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let cli = Cli::try_parse_from(["x", "--database-password", "hunter2"]).expect("valid");
        assert!(!format!("{:?}", cli.db).contains("hunter2"));
    }

    #[test]
    fn rates_become_quotas_with_bursts_of_ten_times_the_count() {
        let per_second = parse_rate("20/s").expect("valid").quota().expect("on");
        assert_eq!(per_second.replenish_interval(), Duration::from_millis(50));
        assert_eq!(per_second.burst_size().get(), 200);
        let per_minute = parse_rate("20/min").expect("valid").quota().expect("on");
        assert_eq!(per_minute.replenish_interval(), Duration::from_secs(3));
        assert_eq!(per_minute.burst_size().get(), 200);
        for off in ["0", "0/s"] {
            assert!(parse_rate(off).expect("valid").quota().is_none(), "{off}");
        }
    }
}
