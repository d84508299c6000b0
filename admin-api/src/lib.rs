//! The admin API as a library: `router(state)` for tests, `serve` for the
//! binary. It owns every write to Postgres: users, links, events, imports.

mod auth;
mod config;
mod db;
mod error;
mod extract;
mod http;
mod import;
mod link_sync;
mod metrics;
mod pagination;
mod patch;
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

pub use crate::config::{Command, Config};
pub use crate::db::MIGRATOR;
pub use crate::http::router;
pub use crate::link_sync::LinkSync;
pub use crate::metrics::Metrics;
pub use crate::state::{ApiKeys, AppState, Settings};

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

/// The state the configuration describes.
pub fn state_from_config(config: &Config, pool: PgPool) -> anyhow::Result<AppState> {
    let mut settings = Settings::new(&config.public_base());
    settings.short_code_length = usize::from(config.short_code_length);
    settings.users_list_cap = config.users_list_cap;
    settings.api_keys = ApiKeys::new(config.api_keys()?);
    let valkey = Valkey::from_args(&config.redis).context("while configuring Valkey")?;
    Ok(build_state(pool, valkey, settings))
}

/// Assembles the state from its parts (tests build their own settings).
pub fn build_state(pool: PgPool, valkey: Valkey, settings: Settings) -> AppState {
    let mut metrics = Metrics::new();
    let links = LinkSync::new(valkey, pool.clone(), metrics.registry_mut());
    AppState {
        pool,
        settings: Arc::new(settings),
        metrics: Arc::new(metrics),
        links: Arc::new(links),
    }
}

/// Serves the router on `listener` until `shutdown` completes, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("while serving HTTP")
}
