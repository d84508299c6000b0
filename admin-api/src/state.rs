//! The state every handler shares: the pool, settings and metrics. Cheap to
//! clone (everything is behind `Arc` or is a pool handle).

use std::sync::Arc;
use std::time::Duration;

use shared::config::Rate;
use sqlx::PgPool;

use crate::auth::{ApiKeys, KeyStore};
use crate::limits::Limits;
use crate::link_sync::{LinkSync, SyncSettings};
use crate::metrics::Metrics;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    /// Write-through of link records to Valkey.
    pub links: Arc<LinkSync>,
    /// The visit history's partitions and their retention.
    pub partitions: Arc<crate::partitions::VisitPartitions>,
    /// Rate limits and the import slot.
    pub limits: Arc<Limits>,
    /// Stored API keys, cached for authentication.
    pub keys: Arc<KeyStore>,
}

/// Settings the handlers read.
#[derive(Debug)]
pub struct Settings {
    /// `PUBLIC_BASE_URL` without a trailing slash.
    pub public_base: String,
    /// The public host, which no link may point at, as
    /// [`crate::validate::host_key`] spells hosts.
    pub public_host: Option<String>,
    /// Length of generated codes.
    pub short_code_length: usize,
    /// Page size of `GET /users` without page parameters.
    pub users_list_cap: i64,
    /// Bootstrap keys, and whether the API runs open.
    pub api_keys: ApiKeys,
    /// How link writes reach Valkey and the redirectors.
    pub link_sync: SyncSettings,
    /// Most data rows one bulk import takes (413 above).
    pub import_max_rows: usize,
    /// Statement timeout inside an import's transaction.
    pub import_statement_timeout: std::time::Duration,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Failed key attempts per client address.
    pub auth_failure_rate: Rate,
    /// Writes per key (per client address when open).
    pub write_rate: Rate,
    /// Bound on a request (bulk uploads excepted), 408 past it.
    pub request_timeout: Duration,
    /// Bound on reading a bulk upload's body, 408 past it.
    pub body_timeout: Duration,
    /// How web console sessions are signed and kept.
    pub console: crate::console::ConsoleSettings,
    /// How long visit events are kept (`None`: for ever).
    pub events_retention: Option<Duration>,
}

impl Settings {
    /// Settings for tests and local use: open API, default lengths, limits
    /// and timeouts, except that writes are not rate-limited (tests write in
    /// bursts; the binary's configuration turns the limit on).
    pub fn new(public_base: &str) -> Self {
        let public_host = url::Url::parse(public_base)
            .ok()
            .and_then(|u| crate::validate::host_key(&u));
        Self {
            public_base: public_base.trim_end_matches('/').to_owned(),
            public_host,
            short_code_length: 7,
            users_list_cap: 10_000,
            api_keys: ApiKeys::default(),
            link_sync: SyncSettings::default(),
            import_max_rows: 1_000_000,
            import_statement_timeout: std::time::Duration::from_secs(300),
            trusted_proxies: Vec::new(),
            auth_failure_rate: Rate {
                count: 20,
                per: Duration::from_secs(60),
            },
            write_rate: Rate::OFF,
            request_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(120),
            console: crate::console::ConsoleSettings::default(),
            events_retention: None,
        }
    }

    /// The public short URL of `code`.
    pub fn short_url(&self, code: &str) -> String {
        format!("{}/{code}", self.public_base)
    }
}
