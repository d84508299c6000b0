//! The redirector's configuration: command-line flags with environment
//! fallbacks (`redirector --help` lists them all), validated before any
//! socket is bound.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;
use shared::config::{DatabaseArgs, Rate, RedisArgs, TelemetryArgs, parse_duration, parse_rate};

/// The shortener's redirect server: `GET /{code}` answered from an in-process
/// cache, Valkey, or Postgres.
#[derive(Debug, Parser)]
#[command(name = "redirector", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "REDIRECTOR_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Serving threads, each a single-threaded runtime with its own
    /// `SO_REUSEPORT` listener on REDIRECTOR_LISTEN (nginx's model: a
    /// connection lives on one thread, no cross-thread wake-ups); `0`: one
    /// per CPU.
    #[arg(long, env = "REDIRECTOR_WORKERS", default_value_t = 0,
          value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub workers: u16,

    /// Most client connections open at once; a connection over it is
    /// accepted and closed at once (counted in
    /// redirector_connections_rejected_total), so the server keeps answering.
    #[arg(long, env = "REDIRECTOR_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Longest a client may take to send a request's head (from the
    /// connection's start, or from the first byte of a later request); the
    /// connection is closed past it.
    #[arg(long, env = "REDIRECTOR_HEADER_READ_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// Longest a keep-alive connection may wait for its next request before
    /// it is closed (gracefully, never mid-request).
    #[arg(long, env = "REDIRECTOR_KEEPALIVE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub keepalive_timeout: Duration,

    /// Largest request head (request line and headers; bytes, or with a
    /// KiB/MiB suffix): 431 over it.
    #[arg(long, env = "REDIRECTOR_MAX_HEADER_BYTES", default_value = "16KiB", value_parser = parse_bytes)]
    pub max_header_bytes: u64,

    /// Most header fields in a request: 431 over it.
    #[arg(long, env = "REDIRECTOR_MAX_HEADERS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_headers: u32,

    /// Unknown-code 404s per client prefix (/24 or /48), e.g. 20/s or
    /// 600/min, bursts up to 10x; over it → 429 with Retry-After. 0 is off.
    #[arg(long, env = "REDIRECTOR_NOT_FOUND_RATE", default_value = "20/s", value_parser = parse_rate)]
    pub not_found_rate: Rate,

    /// Redirects (GET) per client prefix, bursts up to 10x; over it → 429.
    /// 0 (the default) is off: many clients share NATs and proxies.
    #[arg(long, env = "REDIRECTOR_VISIT_RATE", default_value = "0", value_parser = parse_rate)]
    pub visit_rate: Rate,

    /// Memory budget of the in-process link cache (bytes, or with a KiB/MiB/GiB suffix).
    #[arg(long, env = "REDIRECTOR_CACHE_MAX_BYTES", default_value = "64MiB", value_parser = parse_bytes)]
    pub cache_max_bytes: u64,

    /// Longest a cached link lives without an invalidation (a safety net;
    /// invalidations evict changes within a second).
    #[arg(long, env = "REDIRECTOR_CACHE_TTL", default_value = "5m", value_parser = parse_duration)]
    pub cache_ttl: Duration,

    /// Where unknown codes are sent (302) instead of a 404 JSON error: an
    /// absolute http(s) URL. Unset (the default): 404, as the contract says.
    #[arg(long, env = "NOT_FOUND_REDIRECT")]
    pub not_found_redirect: Option<String>,

    /// Where the IP-to-country database is (the `geoip` and `geoip6` files
    /// of Debian's `tor-geoipdb`): read the first time a link's country rule
    /// is asked, never when no link has one. Without it country rules match
    /// nobody (a warning).
    #[arg(long, env = "GEOIP_DIR", default_value = "/usr/share/tor")]
    pub geoip_dir: std::path::PathBuf,

    /// How long an unknown code is remembered as unknown.
    #[arg(long, env = "REDIRECTOR_NEGATIVE_TTL", default_value = "30s", value_parser = parse_duration)]
    pub negative_ttl: Duration,

    /// Proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For is
    /// believed; from anyone else the connection's address is the client's.
    #[arg(long, env = "REDIRECTOR_TRUSTED_PROXIES", default_value = "", value_parser = crate::client_ip::parse_trusted)]
    pub trusted_proxies: crate::client_ip::TrustedProxies,

    /// Visits the in-process buffer holds while Valkey is slow or down;
    /// beyond it visits are dropped and counted.
    #[arg(long, env = "REDIRECTOR_VISIT_BUFFER", default_value_t = 200_000,
          value_parser = clap::value_parser!(u32).range(1..=50_000_000))]
    pub visit_buffer: u32,

    /// Most memory the buffered visits may hold (bytes, or with a KiB/MiB/GiB
    /// suffix); beyond it visits are dropped and counted, as for
    /// REDIRECTOR_VISIT_BUFFER. A visit holds at most ~1.8 KiB (user agent
    /// and referrer are cut to 512 and 1024 bytes).
    #[arg(long, env = "REDIRECTOR_VISIT_BUFFER_BYTES", default_value = "64MiB", value_parser = parse_bytes)]
    pub visit_buffer_bytes: u64,

    /// Most visits per pipelined XADD batch.
    #[arg(long, env = "REDIRECTOR_VISIT_BATCH", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub visit_batch: u32,

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

    /// How long the invalidation subscription may hear nothing, not even the
    /// redirector's own once-a-second heartbeat, before the cache is dropped
    /// and the subscription replaced.
    #[arg(long, env = "REDIRECTOR_SUBSCRIPTION_SILENCE", default_value = "3s", value_parser = parse_duration)]
    pub subscription_silence: Duration,

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
            ("REDIRECTOR_CACHE_TTL", self.cache_ttl),
            ("REDIRECTOR_NEGATIVE_TTL", self.negative_ttl),
            ("REDIRECTOR_DB_ACQUIRE_TIMEOUT", self.db_acquire_timeout),
            ("REDIRECTOR_READY_TIMEOUT", self.ready_timeout),
            ("REDIRECTOR_HEADER_READ_TIMEOUT", self.header_read_timeout),
            ("REDIRECTOR_KEEPALIVE_TIMEOUT", self.keepalive_timeout),
        ] {
            if value.is_zero() {
                bail!("{name} must be more than zero");
            }
        }
        self.not_found_redirect()?;
        if self.subscription_silence < Duration::from_secs(2) {
            bail!(
                "REDIRECTOR_SUBSCRIPTION_SILENCE must be at least 2s (the heartbeat beats every second)"
            );
        }
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&self.max_header_bytes) {
            bail!("REDIRECTOR_MAX_HEADER_BYTES must be between 1KiB and 1MiB");
        }
        Ok(())
    }

    /// `NOT_FOUND_REDIRECT` as a `Location` value; an empty setting is none.
    pub fn not_found_redirect(&self) -> anyhow::Result<Option<hyper::header::HeaderValue>> {
        let Some(target) = self.not_found_redirect.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let parsed = url::Url::parse(target)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        let Some(parsed) = parsed else {
            bail!("NOT_FOUND_REDIRECT must be an absolute http(s) URL");
        };
        hyper::header::HeaderValue::from_str(parsed.as_str())
            .map(Some)
            .map_err(|_| anyhow::anyhow!("NOT_FOUND_REDIRECT cannot be a Location header"))
    }

    /// What the accept loop allows each connection.
    /// The serving threads to run: REDIRECTOR_WORKERS, or one per CPU.
    pub fn serving_threads(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => usize::from(n),
        }
    }

    pub fn server_limits(&self) -> crate::ServerLimits {
        crate::ServerLimits {
            max_connections: self.max_connections as usize,
            timeouts: crate::Timeouts {
                header_read: self.header_read_timeout,
                idle: self.keepalive_timeout,
            },
            max_header_bytes: self.max_header_bytes as usize,
            max_headers: self.max_headers as usize,
        }
    }

    /// What the handler allows each request.
    pub fn request_limits(&self) -> crate::RequestLimits {
        crate::RequestLimits {
            max_headers: self.max_headers as usize,
            max_header_bytes: self.max_header_bytes as usize,
            not_found_rate: self.not_found_rate.quota(),
            visit_rate: self.visit_rate.quota(),
        }
    }
}

/// Bounds of `REDIRECTOR_MAX_HEADER_BYTES`: a browser's head fits in 1 KiB
/// (most in far less); past 1 MiB a head is an attack.
const MIN_HEADER_BYTES: u64 = 1 << 10;
const MAX_HEADER_BYTES: u64 = 1 << 20;

/// Parses a byte size: `1048576`, `512KiB`, `64MiB`, `1GiB`.
pub fn parse_bytes(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let (number, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a size like 64MiB"))?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB or GiB)"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{value:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("redirector").chain(args.iter().copied()))
    }

    #[test]
    fn byte_sizes_take_binary_units() {
        let cases = [
            ("1024", Some(1024)),
            ("512KiB", Some(512 << 10)),
            ("64MiB", Some(64 << 20)),
            ("1GiB", Some(1 << 30)),
            ("64MB", None),
            ("x", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_bytes(input).ok(), expected, "size {input:?}");
        }
    }

    #[test]
    fn defaults_are_valid() {
        let config = parse(&[]).expect("defaults parse");
        config.validate().expect("defaults are valid");
        assert_eq!(config.listen.port(), 8080);
        assert!(config.db_fallback);
        assert!(
            config.not_found_rate.quota().is_some(),
            "404s are limited by default"
        );
        assert_eq!(
            config.visit_rate.quota(),
            None,
            "visits are not limited by default"
        );
        assert_eq!(config.max_header_bytes, 16 << 10);
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["--listen", "8080"][..],
            &["--max-connections", "0"],
            &["--db-fallback", "maybe"],
            &["--ready-timeout", "soon"],
            &["--max-headers", "0"],
            &["--not-found-rate", "20/day"],
            &["--visit-rate", "fast"],
        ] {
            assert!(parse(args).is_err(), "{args:?} should be refused");
        }
        for args in [
            &["--redis-url", "http://x"][..],
            &["--ready-timeout", "0s"],
            &["--header-read-timeout", "0s"],
            &["--max-header-bytes", "100"],
            &["--max-header-bytes", "2MiB"],
            &["--not-found-redirect", "/home"],
            &["--not-found-redirect", "ftp://example.com/"],
            &["--not-found-redirect", "javascript:alert(1)"],
        ] {
            assert!(
                parse(args).expect("parses").validate().is_err(),
                "{args:?} should fail validation"
            );
        }
        let off = parse(&["--db-fallback", "false"]).expect("parses");
        assert!(!off.db_fallback);
        let home = parse(&[
            "--not-found-redirect",
            "https://example.com/where?from=short",
        ])
        .expect("parses");
        assert_eq!(
            home.not_found_redirect()
                .expect("valid")
                .map(|v| v.as_bytes().to_vec()),
            Some(b"https://example.com/where?from=short".to_vec())
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
