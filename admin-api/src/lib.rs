//! The admin API as a library: `router(state)` for tests, `serve` for the
//! binary. It owns every write to Postgres: users, links, events, imports.

mod agents;
mod auth;
mod config;
mod db;
mod drain;
mod error;
mod extract;
mod http;
mod import;
mod limits;
mod link_sync;
mod metrics;
mod pagination;
mod patch;
mod rollups;
mod server;
mod short_codes;
mod state;
mod validate;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;
use shared::valkey::Valkey;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;

use crate::limits::Limits;

pub use crate::auth::{ApiKeys, MIN_KEY_LENGTH};
pub use crate::config::{Command, Config};
pub use crate::db::MIGRATOR;
pub use crate::drain::{Drain, DrainSettings};
pub use crate::http::router;
pub use crate::link_sync::LinkSync;
pub use crate::metrics::Metrics;
pub use crate::server::ServerLimits;
pub use crate::state::{AppState, Settings};

/// Opens the Postgres pool the configuration describes. Connections are made
/// lazily, so the process starts (and answers `/health`, and 503s) while
/// Postgres is down.
pub fn connect(config: &Config) -> anyhow::Result<PgPool> {
    let url = config.database.url()?;
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(config.db_acquire_timeout)
        .connect_lazy(url.expose_secret())
        .context("while configuring the Postgres pool")
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("while applying migrations")
}

/// The state and the visit drain the configuration describes.
pub fn from_config(config: &Config, pool: PgPool) -> anyhow::Result<(AppState, Drain)> {
    let mut settings = Settings::new(&config.public_base());
    settings.short_code_length = usize::from(config.short_code_length);
    settings.users_list_cap = config.users_list_cap;
    settings.api_keys = ApiKeys::new(config.api_keys()?);
    settings.trusted_proxies = config.trusted_proxies.0.clone();
    settings.auth_failure_rate = config.auth_failure_rate;
    settings.write_rate = config.write_rate;
    settings.request_timeout = config.request_timeout;
    settings.body_timeout = config.body_timeout;
    let valkey = Valkey::from_args(&config.redis).context("while configuring Valkey")?;
    // The drain's blocking reads get a connection, and a timeout, of their own.
    let drain_valkey = Valkey::new(
        &config.redis.redis_url,
        valkey.keys().clone(),
        config.redis.valkey_timeout.max(DRAIN_MIN_TIMEOUT),
    )
    .context("while configuring Valkey")?;
    let drain_settings = DrainSettings {
        consumer: config.drain_consumer(),
        streams: usize::from(config.redis.visit_streams),
        workers: usize::from(config.drain_workers),
        batch: config.drain_batch as usize,
        claim_idle: config.drain_claim_idle,
    };
    let (state, drain) = build(pool, valkey, settings, Some((drain_valkey, drain_settings)));
    Ok((state, drain.context("the drain was asked for")?))
}

/// Shortest command timeout of the drain's connection (its reads block).
const DRAIN_MIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Assembles the state from its parts (tests build their own settings).
pub fn build_state(pool: PgPool, valkey: Valkey, settings: Settings) -> AppState {
    build(pool, valkey, settings, None).0
}

/// The state and, when `drain` is given (its own Valkey handle and
/// settings), the visit drain, its metrics in the same registry.
pub fn build(
    pool: PgPool,
    valkey: Valkey,
    settings: Settings,
    drain: Option<(Valkey, DrainSettings)>,
) -> (AppState, Option<Drain>) {
    let mut metrics = Metrics::new();
    let links = LinkSync::new(valkey, pool.clone(), metrics.registry_mut());
    let drain = drain.map(|(valkey, settings)| {
        Drain::new(valkey, pool.clone(), settings, metrics.registry_mut())
    });
    let state = AppState {
        pool,
        limits: Arc::new(Limits::new(&settings)),
        settings: Arc::new(settings),
        metrics: Arc::new(metrics),
        links: Arc::new(links),
    };
    (state, drain)
}

/// Serves the router on `listener` with the connection `limits` until
/// `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    server::serve(listener, router(state), limits, shutdown)
        .await
        .context("while serving HTTP")
}
