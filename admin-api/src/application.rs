//! The admin API process, assembled once for `main` and for the tests:
//! [`Application::build`] connects, migrates, builds the state and the drain
//! and binds the listener; [`Application::run_until_stopped`] runs the
//! background tasks on one `TaskTracker`, serves, and on shutdown lets
//! in-flight requests finish (within the grace period), cancels the tasks and
//! waits for them.

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::drain::Drain;
use crate::server::ServerLimits;
use crate::state::AppState;

/// A built admin API, listening and ready to run.
pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
    drain: Drain,
    limits: ServerLimits,
    grace: Duration,
    db_acquire_timeout: Duration,
}

impl Application {
    /// Connects (lazily) to Postgres, applies pending migrations, builds the
    /// state and the visit drain, refuses to serve a closed API without any
    /// key ([`crate::NoKey`]), and binds `config.listen` (port 0 picks a
    /// free port; see [`Application::port`]).
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let pool = crate::connect(config)?;
        crate::migrate(&pool).await?;
        let (state, drain) = crate::from_config(config, pool)?;
        crate::check_some_key(&state).await?;
        if state.settings.api_keys.is_open() {
            tracing::warn!(
                "ADMIN_ALLOW_OPEN=true and no ADMIN_API_KEYS: the admin API is open to anyone who can reach it"
            );
        }
        let (listener, port) = shared::listener::bind("admin-api", config.listen).await?;
        Ok(Self {
            listener,
            port,
            state,
            drain,
            limits: config.server_limits(),
            grace: config.shutdown_timeout,
            db_acquire_timeout: config.db_acquire_timeout,
        })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The handlers' state (its pool, metrics and link write-through).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs the visit drain, the link write-through task, the visit
    /// partitions' keeper and the dependency watcher, and serves until `shutdown` is cancelled. In-flight requests
    /// then get the grace period to finish; after it the tasks are cancelled
    /// and waited for.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            drain,
            limits,
            grace,
            db_acquire_timeout,
            ..
        } = self;
        let tasks = TaskTracker::new();
        let drain_task = tasks.spawn(drain.run(shutdown.clone()));
        tasks.spawn(state.metrics.dependencies.clone().watch(
            state.links.valkey().clone(),
            Some(state.pool.clone()),
            db_acquire_timeout,
            shutdown.clone(),
        ));
        let link_task = tasks.spawn({
            let links = state.links.clone();
            let shutdown = shutdown.clone();
            async move { links.run(shutdown).await }
        });
        tasks.spawn({
            let partitions = state.partitions.clone();
            let shutdown = shutdown.clone();
            async move { partitions.run(shutdown).await }
        });
        tasks.close();
        let served = crate::serve(listener, state, limits, shutdown.clone().cancelled_owned());
        let result = tokio::select! {
            result = served => result,
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!("shutdown grace period elapsed; exiting with requests in flight");
                Ok(())
            }
        };
        shutdown.cancel();
        link_task
            .await
            .context("while stopping the link write-through task")?;
        drain_task.await.context("while stopping the visit drain")?;
        tasks.wait().await;
        result
    }
}
