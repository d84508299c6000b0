//! The drain's metrics: what it wrote, skipped and dead-lettered, its
//! failures, and the backlog it has left (which rises while it is stuck).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use shared::visit_stream::Backlog;

/// Batch sizes, from an idle system's single visit to a loaded one.
const BATCH_BUCKETS: [f64; 8] = [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0];

#[derive(Clone)]
pub struct DrainMetrics {
    pub drained: Counter,
    pub skipped: Counter,
    pub dead_lettered: Counter,
    pub batches: Histogram,
    pub errors: Counter,
    lag_ms: Gauge,
    pending: Gauge,
    entries: Gauge,
}

impl DrainMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            drained: Counter::default(),
            skipped: Counter::default(),
            dead_lettered: Counter::default(),
            batches: Histogram::new(BATCH_BUCKETS.iter().copied()),
            errors: Counter::default(),
            lag_ms: Gauge::default(),
            pending: Gauge::default(),
            entries: Gauge::default(),
        };
        registry.register(
            "visits_drained",
            "Visits written to Postgres as redirect events",
            metrics.drained.clone(),
        );
        registry.register(
            "visits_skipped",
            "Visits not written (already written, twice in a batch, or of an unknown link)",
            metrics.skipped.clone(),
        );
        registry.register(
            "visits_dead_lettered",
            "Visits (or unreadable stream entries) Postgres kept refusing, moved to the dead-letter stream",
            metrics.dead_lettered.clone(),
        );
        registry.register(
            "drain_batch_size",
            "Visits per drain transaction",
            metrics.batches.clone(),
        );
        registry.register(
            "drain_errors",
            "Drain rounds that failed and were retried",
            metrics.errors.clone(),
        );
        registry.register(
            "drain_lag_milliseconds",
            "Age of the oldest visit entry not yet drained (0 when the streams are empty)",
            metrics.lag_ms.clone(),
        );
        registry.register(
            "drain_pending_entries",
            "Visit stream entries delivered to a drain consumer and not yet acknowledged",
            metrics.pending.clone(),
        );
        registry.register(
            "visit_stream_entries",
            "Entries in the visit streams not yet drained",
            metrics.entries.clone(),
        );
        metrics
    }

    pub fn observe_backlog(&self, backlog: Backlog) {
        self.lag_ms.set(backlog.oldest_ms);
        self.pending
            .set(i64::try_from(backlog.pending).unwrap_or(i64::MAX));
        self.entries
            .set(i64::try_from(backlog.entries).unwrap_or(i64::MAX));
    }
}
