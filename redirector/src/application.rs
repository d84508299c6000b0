//! The redirector process, assembled once for `main` and for the tests:
//! [`Application::build`] makes the lookup tiers, a visit buffer and its
//! pusher per serving thread, and binds one `SO_REUSEPORT` socket per
//! serving thread; [`Application::run_until_stopped`] runs the background
//! tasks on one `TaskTracker` and serves on a single-threaded runtime per
//! serving thread (nginx's model: a connection, its requests and their
//! visits stay on one thread). On shutdown each thread's connections drain
//! first (within the grace period); then its pusher, whose senders went with
//! the connections, flushes its buffer; then the background tasks stop.

use std::str::FromStr;
use std::sync::Arc;
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
use crate::visits::{BufferLimits, Pusher, VisitMetrics, VisitSink};

/// A built redirector, listening and ready to run.
pub struct Application {
    /// One `SO_REUSEPORT` listener per serving thread.
    listeners: Vec<std::net::TcpListener>,
    port: u16,
    app: App,
    /// One visit buffer and its pusher per serving thread.
    visits: Vec<(Arc<VisitSink>, Pusher)>,
    valkey: Valkey,
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
        let threads = config.serving_threads();
        let visits = crate::visits::buffers(
            limits,
            usize::from(config.redis.visit_streams),
            VisitMetrics::register(&mut registry),
            threads,
        );
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
                // The handler `main` keeps until the threads start; its
                // clone of the first thread's sink goes before they drain.
                visits: visits[0].0.clone(),
                trusted_proxies: config.trusted_proxies.0.clone(),
                limits: config.request_limits(),
                not_found_redirect: config.not_found_redirect()?,
                geoip_dir: config.geoip_dir.clone(),
            },
        );
        let (listeners, port) =
            shared::listener::bind_reuse_port("redirector", config.listen, threads)?;
        Ok(Self {
            listeners,
            port,
            app,
            visits,
            valkey,
            visit_batch: config.visit_batch as usize,
            limits: config.server_limits(),
            grace: config.shutdown_timeout,
        })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs the invalidation subscription, the dependency checks and the
    /// rate-limit sweeps on this runtime, and serves (and pushes visits) on
    /// one single-threaded runtime per serving thread until `shutdown` is
    /// cancelled; then drains the connections, lets the pushers flush and
    /// stops the tasks (each wait bounded by the grace period).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listeners,
            app,
            visits,
            valkey,
            visit_batch,
            limits,
            grace,
            ..
        } = self;
        let tasks = TaskTracker::new();
        let invalidations = tasks.spawn(app.invalidations(shutdown.clone()));
        tasks.spawn(app.dependency_checks(shutdown.clone()));
        tasks.spawn(app.rate_limit_sweeps(shutdown.clone()));
        tasks.close();
        // The Valkey connection's driver lives on this runtime, not on a
        // serving thread's (which would then carry every thread's lookups).
        let _ = tokio::time::timeout(VALKEY_WARMUP, valkey.connection()).await;
        // `app` moves into the serving threads: once a thread's connections
        // drained, its handler and with it its visit sender are gone.
        let threads = listeners
            .into_iter()
            .zip(visits)
            .enumerate()
            .map(|(index, (socket, (sink, pusher)))| {
                let serving = Serving {
                    app: app.for_serving_thread(sink),
                    pusher,
                    visit_batch,
                    limits,
                    grace,
                };
                serving_thread(index, socket, serving, shutdown.clone())
            })
            .collect::<anyhow::Result<Vec<_>>>();
        drop(app);
        let served = match threads {
            Ok(threads) => join_serving(threads).await,
            Err(err) => {
                shutdown.cancel();
                Err(err)
            }
        };
        shutdown.cancel();
        invalidations
            .await
            .context("while stopping the invalidation task")?;
        tasks.wait().await;
        served
    }
}

/// How long start-up waits to connect to Valkey before serving anyway.
const VALKEY_WARMUP: Duration = Duration::from_secs(1);

/// What one serving thread runs: its handler and its visit pusher.
struct Serving {
    app: App,
    pusher: Pusher,
    visit_batch: usize,
    limits: ServerLimits,
    grace: Duration,
}

impl Serving {
    /// Serves until `shutdown`, drains the connections, then lets the
    /// pusher flush what they left (each wait bounded by the grace period).
    async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            app,
            pusher,
            visit_batch,
            limits,
            grace,
        } = self;
        let pushing = tokio::spawn(pusher.run(app.separate_valkey(), visit_batch, grace));
        let served = crate::server::run(listener, app, limits, shutdown, grace).await;
        // The pusher ends once the senders (the handler's clones) are gone.
        if tokio::time::timeout(grace, pushing).await.is_err() {
            tracing::error!("visits still buffered at exit: connections outlived the grace period");
        }
        served
    }
}

/// Starts a serving thread: a single-threaded runtime accepting on its own
/// socket, serving every connection it accepts and pushing their visits.
fn serving_thread(
    index: usize,
    listener: std::net::TcpListener,
    serving: Serving,
    shutdown: CancellationToken,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    std::thread::Builder::new()
        .name(format!("redirector-{index}"))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("while starting a serving runtime")?;
            let stop = shutdown.clone();
            let served = runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).context("while listening")?;
                serving.run(listener, stop).await
            });
            // One thread's failure stops them all.
            if served.is_err() {
                shutdown.cancel();
            }
            served
        })
        .context("while starting a serving thread")
}

/// Waits for every serving thread; the first failure, if any.
async fn join_serving(
    threads: Vec<std::thread::JoinHandle<anyhow::Result<()>>>,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        threads.into_iter().try_for_each(|thread| {
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("a serving thread panicked"))?
        })
    })
    .await
    .context("while waiting for the serving threads")?
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
