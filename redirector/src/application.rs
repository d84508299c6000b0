//! The redirector process, assembled once for `main` and for the tests:
//! [`Application::build`] makes the lookup tiers, the visit buffer and its
//! pusher, and binds the listener; [`Application::run_until_stopped`] runs
//! the background tasks on one `TaskTracker` and serves. On shutdown the
//! connections drain first (within the grace period); then the tasks are
//! cancelled, and the pusher, whose senders went with the connections,
//! flushes the visit buffer before the process ends.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use shared::valkey::Valkey;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{App, Parts};
use crate::config::Config;
use crate::server::ServerLimits;
use crate::visits::{BufferLimits, Pusher, VisitMetrics};

/// A built redirector, listening and ready to run.
pub struct Application {
    listener: TcpListener,
    port: u16,
    app: App,
    pusher: Pusher,
    valkey: Valkey,
    visit_streams: usize,
    visit_batch: usize,
    limits: ServerLimits,
    grace: Duration,
}

impl Application {
    /// Builds the tiers (the Postgres fallback, when enabled, connects
    /// lazily and read-only), the bounded visit buffer and its pusher, and
    /// binds `config.listen` (port 0 picks a free port; see
    /// [`Application::port`]).
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let postgres = if config.db_fallback {
            Some(fallback_pool(config)?)
        } else {
            None
        };
        let valkey = Valkey::from_args(&config.redis).context("while configuring Valkey")?;
        let mut registry = prometheus_client::registry::Registry::with_prefix("redirector");
        let limits = BufferLimits {
            visits: config.visit_buffer as usize,
            bytes: usize::try_from(config.visit_buffer_bytes).unwrap_or(usize::MAX),
        };
        let (visits, pusher) = crate::visits::buffer(limits, VisitMetrics::register(&mut registry));
        let app = App::new(
            registry,
            Parts {
                valkey: valkey.clone(),
                postgres,
                cache_max_bytes: config.cache_max_bytes,
                cache_ttl: config.cache_ttl,
                negative_ttl: config.negative_ttl,
                ready_timeout: config.ready_timeout,
                subscription_silence: config.subscription_silence,
                visits,
                trusted_proxies: config.trusted_proxies.0.clone(),
                limits: config.request_limits(),
            },
        );
        let (listener, port) = shared::listener::bind("redirector", config.listen).await?;
        Ok(Self {
            listener,
            port,
            app,
            pusher,
            valkey,
            visit_streams: usize::from(config.redis.visit_streams),
            visit_batch: config.visit_batch as usize,
            limits: config.server_limits(),
            grace: config.shutdown_timeout,
        })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs the visit pusher, the invalidation subscription, the dependency
    /// checks and the rate-limit sweeps, and serves until `shutdown` is
    /// cancelled; then drains the connections, stops the tasks and lets the
    /// pusher flush (each wait bounded by the grace period).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            app,
            pusher,
            valkey,
            visit_streams,
            visit_batch,
            limits,
            grace,
            ..
        } = self;
        let tasks = TaskTracker::new();
        let push_task = tasks.spawn(pusher.run(valkey, visit_streams, visit_batch, grace));
        let invalidations = tasks.spawn(app.invalidations(shutdown.clone()));
        tasks.spawn(app.dependency_checks(shutdown.clone()));
        tasks.spawn(app.rate_limit_sweeps(shutdown.clone()));
        tasks.close();
        // `app` moves into the server: once the connections drained, the
        // handler and with it the visit sender are gone.
        let served = crate::server::run(listener, app, limits, shutdown.clone(), grace).await;
        shutdown.cancel();
        invalidations
            .await
            .context("while stopping the invalidation task")?;
        // The pusher flushes what is left and ends once the senders are gone.
        if tokio::time::timeout(grace, push_task).await.is_err() {
            tracing::error!("visits still buffered at exit: connections outlived the grace period");
            return served;
        }
        tasks.wait().await;
        served
    }
}

/// The fallback's pool: it only reads, so its sessions refuse writes outright.
fn fallback_pool(config: &Config) -> anyhow::Result<PgPool> {
    let url = config.database.url()?;
    let options = PgConnectOptions::from_str(url.expose_secret())
        .context("DATABASE_URL is not a valid Postgres URL")?
        .options([("default_transaction_read_only", "on")]);
    Ok(PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(config.db_acquire_timeout)
        .connect_lazy_with(options))
}
