//! The admin API's configuration: command-line flags with environment
//! fallbacks (`admin-api --help` lists them all), validated before any socket
//! is bound.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use shared::client_ip::{TrustedProxies, parse_trusted};
use shared::config::{
    DatabaseArgs, Rate, RedisArgs, TelemetryArgs, parse_duration, parse_rate, parse_secret,
};

use crate::auth::MIN_KEY_LENGTH;

/// The shortener's admin API: users, links, events, bulk import; owns all writes.
#[derive(Debug, Parser)]
#[command(name = "admin-api", version, about)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on.
    #[arg(
        long,
        env = "ADMIN_LISTEN",
        default_value = "0.0.0.0:8081",
        global = true
    )]
    pub listen: SocketAddr,

    /// Public base URL of the redirector, the prefix of `short_url` and of QR codes.
    #[arg(
        long,
        env = "PUBLIC_BASE_URL",
        default_value = "http://localhost:8080",
        global = true
    )]
    pub public_base_url: url::Url,

    /// Comma-separated API keys, each at least 32 characters; events name
    /// them `env-1`, `env-2`, … Without a key the API refuses to start
    /// unless ADMIN_ALLOW_OPEN=true.
    #[arg(long, env = "ADMIN_API_KEYS", value_parser = parse_secret, hide_env_values = true, global = true)]
    pub admin_api_keys: Option<SecretString>,

    /// Run without API keys: anyone who can reach the API may use it (for
    /// local use only; a warning is logged at start). Ignored when keys are set.
    #[arg(long, env = "ADMIN_ALLOW_OPEN", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub allow_open: bool,

    /// Secret (at least 32 characters) that signs web console sessions;
    /// give every admin API replica the same one. Unset: a random one per
    /// process (sign-ins end with a restart and do not move between replicas).
    #[arg(long, env = "ADMIN_CONSOLE_SECRET", value_parser = parse_secret, hide_env_values = true, global = true)]
    pub console_secret: Option<SecretString>,

    /// How long a web console sign-in lasts (`8h`; at least `1m`).
    #[arg(long, env = "ADMIN_CONSOLE_SESSION_TTL", default_value = "8h", value_parser = parse_duration, global = true)]
    pub console_session_ttl: Duration,

    /// Mark the console's session cookie `Secure` (when the console is served over https).
    #[arg(long, env = "ADMIN_CONSOLE_SECURE_COOKIE", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub console_secure_cookie: bool,

    /// Comma-separated addresses or CIDRs of proxies whose X-Forwarded-For
    /// names the client (for the limits per client address).
    #[arg(long, env = "ADMIN_TRUSTED_PROXIES", default_value = "", value_parser = parse_trusted, global = true)]
    pub trusted_proxies: TrustedProxies,

    /// Failed key attempts per client address (`20/min`; bursts up to 10×;
    /// `0` turns it off); past it 429 with Retry-After.
    #[arg(long, env = "ADMIN_AUTH_FAILURE_RATE", default_value = "20/min", value_parser = parse_rate, global = true)]
    pub auth_failure_rate: Rate,

    /// Writes (POST, PUT, PATCH, DELETE) per key, or per client address when
    /// open (`50/s`; bursts up to 10×; `0` turns it off); past it 429.
    #[arg(long, env = "ADMIN_WRITE_RATE", default_value = "50/s", value_parser = parse_rate, global = true)]
    pub write_rate: Rate,

    /// Longest a request may take, bulk uploads excepted; past it 408.
    #[arg(long, env = "ADMIN_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub request_timeout: Duration,

    /// Longest the body of a bulk upload may take to arrive; past it 408.
    #[arg(long, env = "ADMIN_BODY_TIMEOUT", default_value = "120s", value_parser = parse_duration, global = true)]
    pub body_timeout: Duration,

    /// Time a client has to send its request head; past it the connection is closed.
    #[arg(long, env = "ADMIN_HEADER_READ_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub header_read_timeout: Duration,

    /// Largest request head (request line and headers) in bytes; past it 431.
    #[arg(long, env = "ADMIN_MAX_HEADER_BYTES", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(8_192..=1_048_576), global = true)]
    pub max_header_bytes: u32,

    /// Length of generated short codes (6 to 16).
    #[arg(long, env = "SHORT_CODE_LENGTH", default_value_t = 7,
          value_parser = clap::value_parser!(u8).range(6..=16), global = true)]
    pub short_code_length: u8,

    /// Most users `GET /users` returns when the client asks for no page.
    #[arg(long, env = "USERS_LIST_CAP", default_value_t = 10_000,
          value_parser = clap::value_parser!(i64).range(1..=1_000_000), global = true)]
    pub users_list_cap: i64,

    /// Postgres connections in this process's pool. Size it so that
    /// replicas × this + redirector replicas × their fallback pool stays
    /// under Postgres `max_connections` (100 by default) with room to spare.
    #[arg(long, env = "ADMIN_DB_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub db_max_connections: u32,

    /// How long a request waits for a pool connection before answering 503.
    #[arg(long, env = "ADMIN_DB_ACQUIRE_TIMEOUT", default_value = "3s", value_parser = parse_duration, global = true)]
    pub db_acquire_timeout: Duration,

    /// Statement timeout of every admin API query (set on each pool
    /// connection); a query past it is cancelled and answered 503 with
    /// `Retry-After`. Imports use ADMIN_IMPORT_STATEMENT_TIMEOUT instead.
    #[arg(long, env = "ADMIN_STATEMENT_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub statement_timeout: Duration,

    /// Statement timeout inside a bulk import's transaction (a million-row
    /// upsert takes longer than a request's query should).
    #[arg(long, env = "ADMIN_IMPORT_STATEMENT_TIMEOUT", default_value = "5m", value_parser = parse_duration, global = true)]
    pub import_statement_timeout: Duration,

    /// Most data rows one bulk import (`POST /.../bulk`) takes; a larger file is a 413.
    #[arg(long, env = "ADMIN_IMPORT_MAX_ROWS", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000), global = true)]
    pub import_max_rows: u64,

    /// How long shutdown waits for in-flight requests.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = parse_duration, global = true)]
    pub shutdown_timeout: Duration,

    /// This replica's name in the visit stream consumer group; keep it stable
    /// across restarts (defaults to HOSTNAME, the pod name in Kubernetes).
    #[arg(long, env = "DRAIN_CONSUMER", global = true)]
    pub drain_consumer: Option<String>,

    /// Drain consumers in this replica, each with its own Valkey connection
    /// and Postgres transaction at a time.
    #[arg(long, env = "DRAIN_WORKERS", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=64), global = true)]
    pub drain_workers: u16,

    /// Most stream entries read per drain transaction; an entry holds one
    /// push batch of a redirector (up to REDIRECTOR_VISIT_BATCH visits).
    #[arg(long, env = "DRAIN_BATCH", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=100_000), global = true)]
    pub drain_batch: u32,

    /// Visits left pending this long by another consumer (it died) are taken over.
    #[arg(long, env = "DRAIN_CLAIM_IDLE", default_value = "30s", value_parser = parse_duration, global = true)]
    pub drain_claim_idle: Duration,

    /// Longest a link write (`POST`/`PUT`/`DELETE` of a link or its user, an
    /// import) waits for every subscribed redirector to confirm it applied
    /// the change; past it the response goes out anyway (counted).
    #[arg(long, env = "LINK_SYNC_WAIT", default_value = "250ms", value_parser = parse_duration, global = true)]
    pub link_sync_wait: Duration,

    /// How often every link record in Valkey is checked against Postgres
    /// (records that drifted are rewritten, and announced).
    #[arg(long, env = "LINK_RECONCILE_INTERVAL", default_value = "1h", value_parser = parse_duration, global = true)]
    pub link_reconcile_interval: Duration,

    /// How long visit events are kept (e.g. `90d`); older visits are
    /// dropped a day at a time, whole partitions. Unset: kept for ever.
    /// Audit events and the rollups behind the stats are never dropped.
    #[arg(long, env = "EVENTS_RETENTION", value_parser = parse_duration, global = true)]
    pub events_retention: Option<Duration>,

    /// Where the IP-to-country database is: the `geoip` and `geoip6` files
    /// of Debian's `tor-geoipdb`. The drain gives each visit the country of
    /// its client prefix; without the files every visit's country is
    /// `unknown` (a warning at start).
    #[arg(
        long,
        env = "GEOIP_DIR",
        default_value = "/usr/share/tor",
        global = true
    )]
    pub geoip_dir: std::path::PathBuf,

    /// Attempts at writing a visit Postgres refuses (a value out of range, a
    /// character it cannot store) before it is moved to the dead-letter
    /// stream, so that one bad visit never stops the drain.
    #[arg(long, env = "DRAIN_MAX_DELIVERIES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub drain_max_deliveries: u32,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub redis: RedisArgs,

    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

/// What to do; serving is the default.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve (the default).
    Serve,
    /// Apply pending migrations and exit (for a Kubernetes Job).
    Migrate,
    /// Manage API keys from the command line (needs the database, no key).
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `admin-api keys …`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum KeysCommand {
    /// Issue a key and print it on stdout (shown this once; only its digest
    /// is stored): the way to a first admin key without an existing one.
    Create(CreateKeyArgs),
}

/// `admin-api keys create`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct CreateKeyArgs {
    /// The key's name, unique; events name it as their actor.
    #[arg(long)]
    pub name: String,
    /// What the key may do.
    #[arg(long, value_parser = ["admin", "editor", "viewer"])]
    pub role: String,
    /// The user an editor key (or, optionally, a viewer key) is bound to.
    #[arg(long)]
    pub user_id: Option<i64>,
    /// Writes per minute for this key instead of ADMIN_WRITE_RATE.
    #[arg(long)]
    pub rate_limit_per_minute: Option<i64>,
}

impl Config {
    /// Checks what clap cannot: URLs, keys. Called before binding.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.database.url()?;
        self.redis.validate()?;
        if !matches!(self.public_base_url.scheme(), "http" | "https")
            || self.public_base_url.host_str().is_none()
        {
            bail!("PUBLIC_BASE_URL must be an http(s) URL with a host");
        }
        if self.drain_claim_idle < Duration::from_secs(1) {
            bail!("DRAIN_CLAIM_IDLE must be at least 1s");
        }
        if self
            .events_retention
            .is_some_and(|retention| retention < Duration::from_secs(86_400))
        {
            bail!("EVENTS_RETENTION must be at least 1d (visits are dropped a day at a time)");
        }
        if self.link_reconcile_interval < Duration::from_secs(1) {
            bail!("LINK_RECONCILE_INTERVAL must be at least 1s");
        }
        if self.db_acquire_timeout.is_zero() {
            bail!("ADMIN_DB_ACQUIRE_TIMEOUT must be more than zero");
        }
        if self.statement_timeout < Duration::from_millis(1)
            || self.import_statement_timeout < Duration::from_millis(1)
        {
            bail!(
                "ADMIN_STATEMENT_TIMEOUT and ADMIN_IMPORT_STATEMENT_TIMEOUT must be at least 1ms"
            );
        }
        self.api_keys().context("ADMIN_API_KEYS")?;
        if let Some(secret) = &self.console_secret
            && secret.expose_secret().chars().count() < MIN_KEY_LENGTH
        {
            bail!("ADMIN_CONSOLE_SECRET needs at least {MIN_KEY_LENGTH} characters");
        }
        if self.console_session_ttl < Duration::from_secs(60) {
            bail!("ADMIN_CONSOLE_SESSION_TTL must be at least 1m");
        }
        for (name, value) in [
            ("ADMIN_REQUEST_TIMEOUT", self.request_timeout),
            ("ADMIN_BODY_TIMEOUT", self.body_timeout),
            ("ADMIN_HEADER_READ_TIMEOUT", self.header_read_timeout),
        ] {
            if value.is_zero() {
                bail!("{name} must be more than zero");
            }
        }
        Ok(())
    }

    /// The connection limits of the server.
    pub fn server_limits(&self) -> crate::ServerLimits {
        crate::ServerLimits {
            header_read_timeout: self.header_read_timeout,
            max_header_bytes: self.max_header_bytes as usize,
        }
    }

    /// The configured API keys (empty: none configured), each checked to be
    /// long enough. Messages name a key by position, never by value.
    pub fn api_keys(&self) -> anyhow::Result<Vec<SecretString>> {
        let Some(raw) = &self.admin_api_keys else {
            return Ok(Vec::new());
        };
        let keys: Vec<SecretString> = raw
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| SecretString::from(k.to_owned()))
            .collect();
        if keys.is_empty() {
            bail!("is set but holds no key");
        }
        for (index, key) in keys.iter().enumerate() {
            let length = key.expose_secret().chars().count();
            if length < MIN_KEY_LENGTH {
                bail!(
                    "key {} has {length} characters; each key needs at least {MIN_KEY_LENGTH}",
                    index + 1
                );
            }
        }
        Ok(keys)
    }

    /// The drain's consumer name: `DRAIN_CONSUMER`, else `HOSTNAME`, else a
    /// fixed name (fine for one replica).
    pub fn drain_consumer(&self) -> String {
        self.drain_consumer
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| "admin-api".to_owned())
    }

    /// `PUBLIC_BASE_URL` without a trailing slash.
    pub fn public_base(&self) -> String {
        self.public_base_url
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("admin-api").chain(args.iter().copied()))
    }

    const KEY_1: &str = "0123456789abcdef0123456789abcdef";
    const KEY_2: &str = "fedcba9876543210fedcba9876543210-2";

    #[test]
    fn defaults_are_valid_and_serve_once_open_is_allowed() {
        let config = parse(&["--allow-open", "true"]).expect("defaults parse");
        config.validate().expect("defaults are valid");
        assert_eq!(
            config.write_rate,
            Rate {
                count: 50,
                per: Duration::from_secs(1)
            }
        );
        assert_eq!(
            config.auth_failure_rate,
            Rate {
                count: 20,
                per: Duration::from_secs(60)
            }
        );
        assert_eq!(config.command, None);
        assert_eq!(config.listen.port(), 8081);
        assert_eq!(config.short_code_length, 7);
        assert_eq!(config.public_base(), "http://localhost:8080");
    }

    #[test]
    fn bad_values_are_refused() {
        let refused_by_clap: &[&[&str]] = &[
            &["--short-code-length", "5"],
            &["--short-code-length", "17"],
            &["--listen", "nowhere"],
            &["--db-acquire-timeout", "3 parsecs"],
            &["--db-max-connections", "0"],
            &["--import-max-rows", "0"],
            &["--log-format", "xml"],
            &["--write-rate", "fast"],
            &["--trusted-proxies", "proxy.local"],
            &["--max-header-bytes", "100"],
        ];
        for args in refused_by_clap {
            assert!(parse(args).is_err(), "{args:?} should be refused");
        }
        let refused_by_validate: &[&[&str]] = &[
            &["--public-base-url", "ftp://x"],
            &["--admin-api-keys", " , "],
            &["--database-url", "mysql://x/y"],
            &["--statement-timeout", "0s"],
            &["--import-statement-timeout", "0s"],
            &["--request-timeout", "0s"],
        ];
        for args in refused_by_validate {
            let args = [&["--allow-open", "true"], *args].concat();
            let config = parse(&args).expect("parses");
            assert!(
                config.validate().is_err(),
                "{args:?} should fail validation"
            );
        }
    }

    #[test]
    fn api_keys_are_split_and_trimmed() {
        let raw = format!("{KEY_1}, {KEY_2} ,,");
        let config = parse(&["--admin-api-keys", &raw, "migrate"]).expect("parses");
        let keys: Vec<String> = config
            .api_keys()
            .expect("valid")
            .iter()
            .map(|k| k.expose_secret().to_owned())
            .collect();
        assert_eq!(keys, [KEY_1, KEY_2]);
        assert_eq!(config.command, Some(Command::Migrate));
    }

    #[test]
    fn keys_create_reads_its_own_arguments() {
        let config = parse(&[
            "keys",
            "create",
            "--name",
            "ops",
            "--role",
            "editor",
            "--user-id",
            "7",
        ])
        .expect("parses");
        config.validate().expect("needs no key");
        let Some(Command::Keys(KeysCommand::Create(args))) = config.command else {
            panic!("keys create, got {:?}", config.command);
        };
        assert_eq!((args.name.as_str(), args.role.as_str()), ("ops", "editor"));
        assert_eq!((args.user_id, args.rate_limit_per_minute), (Some(7), None));
        parse(&["keys", "create", "--name", "ops", "--role", "root"]).expect_err("no such role");
        parse(&["keys", "create", "--role", "admin"]).expect_err("a name is required");
    }

    #[test]
    fn short_keys_are_refused_without_being_shown() {
        let raw = format!("{KEY_1},short-secret");
        let error = parse(&["--admin-api-keys", &raw, "--allow-open", "true"])
            .expect("parses")
            .validate()
            .expect_err("key 2 is too short");
        let message = format!("{error:#}");
        assert!(
            message.contains("key 2") && message.contains("32"),
            "{message}"
        );
        assert!(
            !message.contains("short-secret") && !message.contains(KEY_1),
            "{message}"
        );
    }

    #[test]
    fn env_example_lists_every_variable() {
        use clap::CommandFactory;
        let missing = shared::config::env_vars_missing_from(
            &Config::command(),
            include_str!("../../.env.example"),
        );
        assert!(missing.is_empty(), ".env.example lacks {missing:?}");
    }
}
