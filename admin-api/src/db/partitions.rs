//! Queries on the visit history's partitions (`events_visits`, one per UTC
//! day): which exist with their bounds, add one day's, drop one, and clear
//! the default partition past retention. Partition names and bounds are made
//! here from dates, never from input.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;

/// One partition of `events_visits` and the times it holds: `[from, to)`;
/// `None` for an open end (the history before partitioning starts at
/// `MINVALUE`; the default partition has neither).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Partition {
    /// Whether it is the default partition (visits of days without one).
    pub fn is_default(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

/// The name of day `day`'s partition.
pub fn day_name(day: NaiveDate) -> String {
    format!("events_visits_p{}", day.format("%Y%m%d"))
}

/// Every partition of `events_visits`, by start (the open ones first).
pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Partition>> {
    sqlx::query_as!(
        Partition,
        r#"SELECT c.relname::text AS "name!",
                  substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']+)''\)')::timestamptz AS "from?",
                  substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz AS "to?"
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'events_visits'::regclass
           ORDER BY 2 NULLS FIRST, 3 NULLS FIRST"#
    )
    .fetch_all(db)
    .await
}

/// Adds the partition of `[from, to)`, named by `day`: made apart and
/// attached, which blocks no visit being written (attaching takes a lock
/// that lets inserts go on); its indexes are made as it attaches. Visits of
/// that span kept meanwhile in the default partition move into it first
/// (else Postgres would refuse to attach it).
pub async fn add(
    db: &mut sqlx::PgConnection,
    day: NaiveDate,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<String> {
    let name = day_name(day);
    sqlx::query(&format!(
        "CREATE TABLE {name} (LIKE events_visits INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    ))
    .execute(&mut *db)
    .await?;
    sqlx::query(&format!(
        "WITH moved AS (DELETE FROM events_visits_default
                        WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *)
         INSERT INTO {name} SELECT * FROM moved"
    ))
    .bind(from)
    .bind(to)
    .execute(&mut *db)
    .await?;
    sqlx::query(&format!(
        "ALTER TABLE events_visits ATTACH PARTITION {name} FOR VALUES FROM ('{}') TO ('{}')",
        from.to_rfc3339(),
        to.to_rfc3339()
    ))
    .execute(&mut *db)
    .await?;
    Ok(name)
}

/// Drops partition `name` (as `list` named it), visits and all.
pub async fn drop(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<()> {
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    sqlx::query(&format!("DROP TABLE {quoted}"))
        .execute(db)
        .await
        .map(|_| ())
}

/// Deletes the default partition's visits older than `cutoff` (visits that
/// arrived for a day already dropped); how many.
pub async fn clear_default_before(
    db: impl PgExecutor<'_>,
    cutoff: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM events_visits_default WHERE occurred_at < $1",
        cutoff
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Takes the transaction-scoped lock that lets one admin API replica at a
/// time maintain the partitions; false when another holds it.
pub async fn try_lock(db: impl PgExecutor<'_>) -> sqlx::Result<bool> {
    // Any constant of our own; "partitions" in ASCII.
    const KEY: i64 = 0x7061_7274_6974_696f;
    sqlx::query_scalar!(r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#, KEY)
        .fetch_one(db)
        .await
}
