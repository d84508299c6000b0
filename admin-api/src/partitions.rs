//! Keeps the visit history's partitions: one per UTC day, made a week ahead
//! of need, and dropped whole once the newest visit they may hold is older
//! than `EVENTS_RETENTION` (audit events and rollups live elsewhere and are
//! never dropped). One replica at a time does it (an advisory lock), at
//! start and then hourly; the gauge of where the partitions end is what
//! the alert on a missing next partition watches.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::db::partitions::{self, Partition};
use crate::db::set_local_statement_timeout;

/// Days of partitions kept ahead of today.
pub const DAYS_AHEAD: i64 = 7;
/// How often the partitions are checked.
const EVERY: Duration = Duration::from_secs(3600);
/// How soon a failed round is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// Longest a round waits for a lock (a partition is added or dropped under
/// one): a busy table costs a retry, never a stalled drain.
const LOCK_TIMEOUT: &str = "5s";

/// A partition to add: `[from, to)`, at most one UTC day, named by its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub day: NaiveDate,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// What a round should do, worked out from the partitions there are.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Partitions missing, in order: the rest of the day where the last one
    /// ends, then whole days.
    pub add: Vec<Span>,
    /// Partitions wholly older than the retention.
    pub drop: Vec<String>,
    /// Visits before this are past retention (None: kept for ever).
    pub cutoff: Option<DateTime<Utc>>,
}

/// The plan for `existing` at `now`: from where the last partition ends
/// (today's start if that is earlier) up to the end of the day `DAYS_AHEAD`
/// days ahead, and the partitions that end at or before `now - retention`.
pub fn plan(existing: &[Partition], now: DateTime<Utc>, retention: Option<Duration>) -> Plan {
    let start_of = |day: NaiveDate| day.and_time(chrono::NaiveTime::MIN).and_utc();
    let today = start_of(now.date_naive());
    let horizon = today + chrono::Duration::days(DAYS_AHEAD + 1);
    let mut from = existing
        .iter()
        .filter_map(|p| p.to)
        .max()
        .map_or(today, |to| to.max(today));
    let mut add = Vec::new();
    while from < horizon {
        let day = from.date_naive();
        let to = start_of(day) + chrono::Duration::days(1);
        add.push(Span { day, from, to });
        from = to;
    }
    let cutoff = retention.and_then(|r| chrono::Duration::from_std(r).ok().map(|r| now - r));
    let drop = existing
        .iter()
        .filter(|p| !p.is_default())
        .filter(|p| matches!((p.to, cutoff), (Some(to), Some(cutoff)) if to <= cutoff))
        .map(|p| p.name.clone())
        .collect();
    Plan { add, drop, cutoff }
}

/// Partition gauges and counters.
#[derive(Clone, Default)]
struct PartitionMetrics {
    end_timestamp: Gauge,
    partitions: Gauge,
    added: Counter,
    dropped: Counter,
    failures: Counter,
}

impl PartitionMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "visit_partitions_end_timestamp_seconds",
            "Unix time up to which visit partitions exist (the next day's is missing when it is less than a day ahead)",
            metrics.end_timestamp.clone(),
        );
        registry.register(
            "visit_partitions",
            "Partitions of the visit history",
            metrics.partitions.clone(),
        );
        registry.register(
            "visit_partitions_added",
            "Visit partitions made ahead of need",
            metrics.added.clone(),
        );
        registry.register(
            "visit_partitions_dropped",
            "Visit partitions dropped past EVENTS_RETENTION",
            metrics.dropped.clone(),
        );
        registry.register(
            "visit_partition_maintenance_failures",
            "Partition maintenance rounds that failed (retried within a minute)",
            metrics.failures.clone(),
        );
        metrics
    }
}

/// What a round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Maintained {
    pub added: Vec<String>,
    pub dropped: Vec<String>,
    /// Late visits removed from the default partition.
    pub cleared: u64,
    /// False when another replica was at it.
    pub ran: bool,
}

/// The visit partitions' keeper.
pub struct VisitPartitions {
    pool: PgPool,
    retention: Option<Duration>,
    metrics: PartitionMetrics,
}

impl VisitPartitions {
    pub fn new(pool: PgPool, retention: Option<Duration>, registry: &mut Registry) -> Self {
        Self {
            pool,
            retention,
            metrics: PartitionMetrics::register(registry),
        }
    }

    /// One round at `now`, in one transaction: add the missing days, drop
    /// what retention lets go, clear late visits past it.
    pub async fn maintain(&self, now: DateTime<Utc>) -> anyhow::Result<Maintained> {
        let mut tx = self.pool.begin().await?;
        set_local_statement_timeout(&mut *tx, Duration::from_secs(60)).await?;
        sqlx::query(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            .execute(&mut *tx)
            .await?;
        if !partitions::try_lock(&mut *tx).await? {
            // Another replica is at it; the gauges still say what exists.
            let existing = partitions::list(&mut *tx).await?;
            self.observe(&existing);
            return Ok(Maintained::default());
        }
        let existing = partitions::list(&mut *tx)
            .await
            .context("while listing the visit partitions")?;
        let plan = plan(&existing, now, self.retention);
        let mut done = Maintained {
            ran: true,
            ..Maintained::default()
        };
        for span in &plan.add {
            let name = partitions::add(&mut tx, span.day, span.from, span.to)
                .await
                .with_context(|| format!("while adding the visit partition of {}", span.day))?;
            done.added.push(name);
        }
        for name in &plan.drop {
            partitions::drop(&mut *tx, name)
                .await
                .with_context(|| format!("while dropping visit partition {name}"))?;
            done.dropped.push(name.clone());
        }
        if let Some(cutoff) = plan.cutoff {
            done.cleared = partitions::clear_default_before(&mut *tx, cutoff).await?;
        }
        let after = partitions::list(&mut *tx).await?;
        tx.commit().await?;
        self.metrics.added.inc_by(done.added.len() as u64);
        self.metrics.dropped.inc_by(done.dropped.len() as u64);
        self.observe(&after);
        if !done.dropped.is_empty() {
            tracing::info!(dropped = ?done.dropped, "dropped visit partitions past retention");
        }
        Ok(done)
    }

    fn observe(&self, partitions: &[Partition]) {
        self.metrics.partitions.set(partitions.len() as i64);
        if let Some(end) = partitions.iter().filter_map(|p| p.to).max() {
            self.metrics.end_timestamp.set(end.timestamp());
        }
    }

    /// Maintains at start and then hourly (a failed round again within a
    /// minute) until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) {
        loop {
            let pause = match self.maintain(Utc::now()).await {
                Ok(_) => EVERY,
                Err(err) => {
                    self.metrics.failures.inc();
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "visit partition maintenance failed"
                    );
                    RETRY_AFTER
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a time")
    }

    fn day(name: &str, from: &str, to: &str) -> Partition {
        Partition {
            name: name.into(),
            from: Some(at(from)),
            to: Some(at(to)),
        }
    }

    #[test]
    fn a_week_ahead_is_planned_from_where_the_partitions_end() {
        let now = at("2026-12-02T10:00:00Z");
        let before = Partition {
            name: "events_visits_before".into(),
            from: None,
            to: Some(at("2026-12-03T00:00:00Z")),
        };
        let plan = plan(&[before], now, None);
        let days: Vec<String> = plan.add.iter().map(|s| s.day.to_string()).collect();
        assert_eq!(days.first().map(String::as_str), Some("2026-12-03"));
        assert_eq!(days.last().map(String::as_str), Some("2026-12-09"));
        assert!(
            plan.drop.is_empty() && plan.cutoff.is_none(),
            "kept for ever"
        );

        let fresh = super::plan(&[], now, None);
        assert_eq!(fresh.add.len(), 8, "today and seven days ahead");
        assert_eq!(fresh.add[0].from, at("2026-12-02T00:00:00Z"));
    }

    #[test]
    fn a_history_cut_over_mid_day_is_followed_by_the_rest_of_that_day() {
        let now = at("2026-12-02T10:00:00Z");
        let before = Partition {
            name: "events_visits_before".into(),
            from: None,
            to: Some(at("2026-12-02T09:30:00Z")),
        };
        let plan = plan(&[before], now, None);
        assert_eq!(
            plan.add[0],
            Span {
                day: "2026-12-02".parse().expect("a day"),
                from: at("2026-12-02T09:30:00Z"),
                to: at("2026-12-03T00:00:00Z"),
            }
        );
        assert_eq!(plan.add[1].from, at("2026-12-03T00:00:00Z"));
        assert_eq!(plan.add.len(), 8);
    }

    #[test]
    fn only_partitions_wholly_past_retention_are_dropped() {
        let now = at("2026-12-10T12:00:00Z");
        let existing = [
            Partition {
                name: "events_visits_default".into(),
                from: None,
                to: None,
            },
            Partition {
                name: "events_visits_before".into(),
                from: None,
                to: Some(at("2026-12-01T00:00:00Z")),
            },
            day(
                "events_visits_p20261201",
                "2026-12-01T00:00:00Z",
                "2026-12-02T00:00:00Z",
            ),
            day(
                "events_visits_p20261202",
                "2026-12-02T00:00:00Z",
                "2026-12-03T00:00:00Z",
            ),
            day(
                "events_visits_p20261217",
                "2026-12-17T00:00:00Z",
                "2026-12-18T00:00:00Z",
            ),
        ];
        let plan = plan(
            &existing,
            now,
            Some(Duration::from_secs(8 * 86_400 + 12 * 3600)),
        );
        assert_eq!(plan.cutoff, Some(at("2026-12-02T00:00:00Z")));
        assert_eq!(
            plan.drop,
            ["events_visits_before", "events_visits_p20261201"]
        );
        assert!(plan.add.is_empty(), "a week ahead exists already");
    }
}
