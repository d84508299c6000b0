//! Queries on the visit rollup tables: the drain's increments and the stats
//! reads (which never touch raw events).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;

use crate::rollups::RollupBatch;

/// Records visitor identities; returns the link id of each one not seen
/// before (one entry per new visitor).
pub async fn add_visitors(db: impl PgExecutor<'_>, batch: &RollupBatch) -> sqlx::Result<Vec<i64>> {
    let (url_ids, visitors): (Vec<i64>, Vec<i64>) = batch.visitors.keys().copied().unzip();
    sqlx::query_scalar!(
        "INSERT INTO url_visitors (url_id, visitor)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[])
         ON CONFLICT DO NOTHING
         RETURNING url_id",
        &url_ids,
        &visitors
    )
    .fetch_all(db)
    .await
}

/// Adds to the per-link totals; `new_visitors` are the ids `add_visitors`
/// returned.
pub async fn add_totals(
    db: impl PgExecutor<'_>,
    batch: &RollupBatch,
    new_visitors: &[i64],
) -> sqlx::Result<()> {
    let mut url_ids = Vec::new();
    let mut visits = Vec::new();
    let mut bots = Vec::new();
    let mut fallbacks = Vec::new();
    let mut uniques = Vec::new();
    let mut last = Vec::new();
    for (url_id, delta) in &batch.totals {
        url_ids.push(*url_id);
        visits.push(delta.visits);
        bots.push(delta.bot_visits);
        fallbacks.push(delta.fallback_visits);
        uniques.push(new_visitors.iter().filter(|id| *id == url_id).count() as i64);
        last.push(delta.last_visit_at);
    }
    sqlx::query!(
        "INSERT INTO url_visit_totals AS t (url_id, total_visits, bot_visits, unique_visitors,
                                             last_visit_at, fallback_visits)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                              $5::timestamptz[], $6::bigint[])
         ON CONFLICT (url_id) DO UPDATE SET
             total_visits = t.total_visits + EXCLUDED.total_visits,
             bot_visits = t.bot_visits + EXCLUDED.bot_visits,
             fallback_visits = t.fallback_visits + EXCLUDED.fallback_visits,
             unique_visitors = t.unique_visitors + EXCLUDED.unique_visitors,
             last_visit_at = GREATEST(t.last_visit_at, EXCLUDED.last_visit_at)",
        &url_ids,
        &visits,
        &bots,
        &uniques,
        &last as &[Option<DateTime<Utc>>],
        &fallbacks
    )
    .execute(db)
    .await
    .map(drop)
}

/// Adds to the per-day counts.
pub async fn add_daily(db: impl PgExecutor<'_>, batch: &RollupBatch) -> sqlx::Result<()> {
    let (keys, counts): (Vec<(i64, NaiveDate)>, Vec<i64>) =
        batch.daily.iter().map(|(k, v)| (*k, *v)).unzip();
    let (url_ids, days): (Vec<i64>, Vec<NaiveDate>) = keys.into_iter().unzip();
    sqlx::query!(
        "INSERT INTO url_daily_visits AS d (url_id, day, visits)
         SELECT * FROM UNNEST($1::bigint[], $2::date[], $3::bigint[])
         ON CONFLICT (url_id, day) DO UPDATE SET visits = d.visits + EXCLUDED.visits",
        &url_ids,
        &days,
        &counts
    )
    .execute(db)
    .await
    .map(drop)
}

/// Adds to the per-breakdown counts.
pub async fn add_dimensions(db: impl PgExecutor<'_>, batch: &RollupBatch) -> sqlx::Result<()> {
    let mut url_ids = Vec::new();
    let mut dimensions = Vec::new();
    let mut values = Vec::new();
    let mut counts = Vec::new();
    for ((url_id, dimension, value), count) in &batch.dimensions {
        url_ids.push(*url_id);
        dimensions.push((*dimension).to_owned());
        values.push(value.clone());
        counts.push(*count);
    }
    sqlx::query!(
        "INSERT INTO url_dimension_visits AS d (url_id, dimension, value, visits)
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[])
         ON CONFLICT (url_id, dimension, value) DO UPDATE SET visits = d.visits + EXCLUDED.visits",
        &url_ids,
        &dimensions,
        &values,
        &counts
    )
    .execute(db)
    .await
    .map(drop)
}

/// A link's totals.
#[derive(Debug, Default)]
pub struct Totals {
    pub total_visits: i64,
    pub bot_visits: i64,
    pub unique_visitors: i64,
    pub last_visit_at: Option<DateTime<Utc>>,
    /// Visits sent to the link's fallback.
    pub fallback_visits: i64,
}

pub async fn totals(db: impl PgExecutor<'_>, url_id: i64) -> sqlx::Result<Totals> {
    let row = sqlx::query_as!(
        Totals,
        "SELECT total_visits, bot_visits, unique_visitors, last_visit_at, fallback_visits
         FROM url_visit_totals WHERE url_id = $1",
        url_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.unwrap_or_default())
}

/// Human visits per day, oldest first.
pub async fn daily(db: impl PgExecutor<'_>, url_id: i64) -> sqlx::Result<Vec<(NaiveDate, i64)>> {
    let rows = sqlx::query!(
        "SELECT day, visits FROM url_daily_visits WHERE url_id = $1 ORDER BY day",
        url_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.day, r.visits)).collect())
}

/// One breakdown row.
#[derive(Debug)]
pub struct DimensionCount {
    pub dimension: String,
    pub value: String,
    pub visits: i64,
}

/// The `top` largest values of every breakdown, largest first.
pub async fn top_dimensions(
    db: impl PgExecutor<'_>,
    url_id: i64,
    top: i64,
) -> sqlx::Result<Vec<DimensionCount>> {
    sqlx::query_as!(
        DimensionCount,
        r#"SELECT dimension AS "dimension!", value AS "value!", visits AS "visits!" FROM (
               SELECT dimension, value, visits,
                      row_number() OVER (PARTITION BY dimension ORDER BY visits DESC, value) AS rank
               FROM url_dimension_visits WHERE url_id = $1
           ) ranked
           WHERE rank <= $2
           ORDER BY dimension, visits DESC, value"#,
        url_id,
        top
    )
    .fetch_all(db)
    .await
}
