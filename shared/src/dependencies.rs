//! Reachability of Valkey and Postgres, in one place: the pings behind the
//! readiness probes, and `…_dependency_up` gauges kept current by a
//! background task for the alerts.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::valkey::Valkey;

/// How often the gauges are refreshed.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Whether Postgres answers `SELECT 1` within `timeout`.
pub async fn postgres_answers(pool: &PgPool, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(pool)).await,
        Ok(Ok(_))
    )
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabel {
    dependency: &'static str,
}

/// `dependency_up{dependency="valkey"|"postgres"}`: 1 when it answers.
#[derive(Clone, Default)]
pub struct DependencyGauges {
    up: Family<DependencyLabel, Gauge>,
}

impl DependencyGauges {
    pub fn register(registry: &mut Registry) -> Self {
        let gauges = Self::default();
        registry.register(
            "dependency_up",
            "Whether a dependency answered its last check (1) or not (0)",
            gauges.up.clone(),
        );
        gauges
    }

    fn set(&self, dependency: &'static str, up: bool) {
        self.up
            .get_or_create(&DependencyLabel { dependency })
            .set(i64::from(up));
    }

    /// Checks both dependencies every [`CHECK_EVERY`] until `shutdown`.
    pub async fn watch(
        self,
        valkey: Valkey,
        postgres: Option<PgPool>,
        timeout: Duration,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! { () = shutdown.cancelled() => return, _ = tick.tick() => {} }
            self.set("valkey", valkey.ping().await);
            if let Some(pool) = &postgres {
                self.set("postgres", postgres_answers(pool, timeout).await);
            }
        }
    }
}
