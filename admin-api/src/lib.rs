//! The admin API as a library: [`Application`] for the binary and the
//! tests that run it whole, `router(state)` for in-process tests. It owns every write to Postgres: users, links, events, imports.

mod agents;
mod application;
mod auth;
mod blocklist;
mod config;
mod console;
mod csv_export;
mod db;
mod drain;
mod error;
mod extract;
mod http;
mod import;
mod limits;
mod link_sync;
mod link_write;
mod metrics;
mod pagination;
mod partitions;
mod patch;
mod rollups;
mod server;
mod short_codes;
mod state;
mod validate;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use shared::valkey::Valkey;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;

use crate::limits::Limits;

pub use crate::application::Application;
pub use crate::auth::{ApiKeys, MIN_KEY_LENGTH};
pub use crate::config::{Command, Config, CreateKeyArgs, KeysCommand};
pub use crate::db::MIGRATOR;
pub use crate::drain::{Drain, DrainSettings, Round};
pub use crate::error::ApiError;
pub use crate::http::router;
pub use crate::link_sync::{LinkSync, SyncSettings, WRITE_IF_NEWER};
pub use crate::metrics::Metrics;
pub use crate::server::ServerLimits;
pub use crate::state::{AppState, Settings};

/// Opens the Postgres pool the configuration describes. Connections are made
/// lazily, so the process starts (and answers `/health`, and 503s) while
/// Postgres is down. Every connection carries `ADMIN_STATEMENT_TIMEOUT`.
pub fn connect(config: &Config) -> anyhow::Result<PgPool> {
    let url = config.database.url()?;
    let options = PgConnectOptions::from_str(url.expose_secret())
        .context("while reading the database URL")?;
    Ok(PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(config.db_acquire_timeout)
        .connect_lazy_with(with_statement_timeout(options, config.statement_timeout)))
}

/// `options` with a statement timeout sent in the connection's startup
/// packet, so that every query on it is bounded without a round trip of its
/// own. A cancelled query answers 503 with `Retry-After`.
pub fn with_statement_timeout(options: PgConnectOptions, timeout: Duration) -> PgConnectOptions {
    options.options([("statement_timeout", timeout.as_millis().max(1))])
}

/// Applies pending migrations, on a connection of their own without the
/// statement timeout (a migration of a large table may take minutes); the
/// connection is closed afterwards rather than returned to the pool.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    let mut connection = pool
        .acquire()
        .await
        .context("while connecting to apply migrations")?;
    connection.close_on_drop();
    sqlx::query!("SET statement_timeout = 0")
        .execute(&mut *connection)
        .await
        .context("while lifting the statement timeout for migrations")?;
    MIGRATOR
        .run(&mut *connection)
        .await
        .context("while applying migrations")
}

/// `admin-api keys create`: applies pending migrations, then issues a key
/// by the same rules as `POST /api-keys`. The outer error is the service's
/// (no database); the inner one the arguments' (a taken name, a bad role).
pub async fn issue_key(
    config: &Config,
    args: &CreateKeyArgs,
) -> anyhow::Result<Result<auth::issue::Issued, ApiError>> {
    let pool = connect(config)?;
    migrate(&pool).await?;
    let request = auth::issue::KeyRequest {
        name: args.name.clone(),
        role: args.role.clone(),
        user_id: args.user_id,
        rate_limit_per_minute: args.rate_limit_per_minute,
    };
    match auth::issue::issue(&pool, &request).await {
        Err(err) if !err.is_client_error() => Err(anyhow::anyhow!("{err}")),
        result => Ok(result),
    }
}

/// Refusal to serve: the API would be closed with no key to open it.
#[derive(Debug, thiserror::Error)]
#[error(
    "no API key: set ADMIN_API_KEYS (comma-separated keys of at least {MIN_KEY_LENGTH} \
     characters), issue one with `admin-api keys create --name NAME --role admin`, or set \
     ADMIN_ALLOW_OPEN=true to run without auth"
)]
pub struct NoKey;

/// `Err(NoKey)` when the API is closed, has no bootstrap key and no live
/// stored key: nobody could use it.
pub async fn check_some_key(state: &AppState) -> anyhow::Result<()> {
    let keys = &state.settings.api_keys;
    if keys.is_open() || !keys.is_empty() {
        return Ok(());
    }
    let stored = db::api_keys::count(&state.pool)
        .await
        .context("while counting stored API keys")?;
    if stored == 0 {
        return Err(NoKey.into());
    }
    Ok(())
}

/// The state and the visit drain the configuration describes.
pub fn from_config(config: &Config, pool: PgPool) -> anyhow::Result<(AppState, Drain)> {
    let mut settings = Settings::new(&config.public_base());
    settings.short_code_length = usize::from(config.short_code_length);
    settings.users_list_cap = config.users_list_cap;
    let bootstrap = config.api_keys()?;
    settings.api_keys = if bootstrap.is_empty() && config.allow_open {
        ApiKeys::default()
    } else {
        ApiKeys::new(bootstrap)
    };
    settings.link_sync = SyncSettings {
        wait: config.link_sync_wait,
        reconcile_every: config.link_reconcile_interval,
    };
    settings.import_max_rows = usize::try_from(config.import_max_rows)
        .context("ADMIN_IMPORT_MAX_ROWS does not fit this platform")?;
    settings.import_statement_timeout = config.import_statement_timeout;
    settings.trusted_proxies = config.trusted_proxies.0.clone();
    settings.auth_failure_rate = config.auth_failure_rate;
    settings.write_rate = config.write_rate;
    settings.request_timeout = config.request_timeout;
    settings.body_timeout = config.body_timeout;
    settings.events_retention = config.events_retention;
    settings.console = console::ConsoleSettings {
        key: config
            .console_secret
            .as_ref()
            .map_or_else(console::session::SessionKey::random, |secret| {
                console::session::SessionKey::from_secret(secret)
            }),
        ttl: config.console_session_ttl,
        secure_cookie: config.console_secure_cookie,
    };
    if config.console_secret.is_none() {
        tracing::info!(
            "ADMIN_CONSOLE_SECRET is unset: console sign-ins last until this process stops and hold on this replica only"
        );
    }
    let valkey = Valkey::from_args(&config.redis).context("while configuring Valkey")?;
    // The drain's blocking reads get a connection, and a timeout, of their own.
    let drain_valkey = valkey
        .separate_with_timeout(config.redis.valkey_timeout.max(DRAIN_MIN_TIMEOUT))
        .context("while configuring Valkey")?;
    let drain_settings = DrainSettings {
        consumer: config.drain_consumer(),
        streams: usize::from(config.redis.visit_streams),
        workers: usize::from(config.drain_workers),
        batch: config.drain_batch as usize,
        claim_idle: config.drain_claim_idle,
        max_deliveries: config.drain_max_deliveries,
        countries: Arc::new(shared::geo::Countries::load_or_empty(
            &config.geoip_dir,
            "every visit's country is unknown",
        )),
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
    let links = LinkSync::new(
        valkey,
        pool.clone(),
        settings.link_sync,
        metrics.registry_mut(),
    );
    let partitions = crate::partitions::VisitPartitions::new(
        pool.clone(),
        settings.events_retention,
        metrics.registry_mut(),
    );
    let drain = drain.map(|(valkey, settings)| {
        Drain::new(valkey, pool.clone(), settings, metrics.registry_mut())
    });
    let state = AppState {
        keys: Arc::new(crate::auth::KeyStore::new(pool.clone())),
        pool,
        limits: Arc::new(Limits::new(&settings)),
        settings: Arc::new(settings),
        metrics: Arc::new(metrics),
        links: Arc::new(links),
        partitions: Arc::new(partitions),
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
