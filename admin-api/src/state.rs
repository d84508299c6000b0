//! The state every handler shares: the pool, settings and metrics. Cheap to
//! clone (everything is behind `Arc` or is a pool handle).

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use subtle::ConstantTimeEq;

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
    /// API keys; empty means the API is open.
    pub api_keys: ApiKeys,
    /// How link writes reach Valkey and the redirectors.
    pub link_sync: SyncSettings,
    /// Most data rows one bulk import takes (413 above).
    pub import_max_rows: usize,
    /// Statement timeout inside an import's transaction.
    pub import_statement_timeout: std::time::Duration,
}

impl Settings {
    /// Settings for tests and local use: open API, default lengths.
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
        }
    }
}

/// The accepted API keys, compared in constant time and never printed.
#[derive(Debug, Default)]
pub struct ApiKeys(Vec<SecretString>);

impl ApiKeys {
    pub fn new(keys: Vec<SecretString>) -> Self {
        Self(keys)
    }

    /// Whether no key is configured (the API is open).
    pub fn is_open(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `candidate` is one of the keys. Every key is compared, in
    /// constant time, so timing tells nothing about which one nearly matched.
    pub fn accepts(&self, candidate: &str) -> bool {
        self.0.iter().fold(false, |found, key| {
            found | bool::from(key.expose_secret().as_bytes().ct_eq(candidate.as_bytes()))
        })
    }
}
