//! Queries on `events`: the audit trail (partition `events_audit`) and the
//! visits (`events_visits`, partitioned by day), read together as one table.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;

use crate::db::link_list::Edge;
use crate::pagination::{EXACT_COUNT_LIMIT, Total, plan_rows};

/// An event as stored.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub url_id: Option<i64>,
    pub user_id: Option<i64>,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub details: Value,
    /// Who caused it (see `crate::auth::Actor`).
    pub actor: String,
}

/// An event to write.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub url_id: Option<i64>,
    pub user_id: Option<i64>,
    pub event_type: &'a str,
    pub details: Value,
    /// `None`: now.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Who caused it.
    pub actor: &'a str,
}

pub async fn insert(db: impl PgExecutor<'_>, event: &NewEvent<'_>) -> sqlx::Result<EventRow> {
    sqlx::query_as!(
        EventRow,
        "INSERT INTO events (url_id, user_id, event_type, details, occurred_at, actor)
         VALUES ($1, $2, $3, $4, COALESCE($5, date_trunc('second', now())), $6)
         RETURNING id, url_id, user_id, event_type, occurred_at, details, actor",
        event.url_id,
        event.user_id,
        event.event_type,
        event.details,
        event.occurred_at,
        event.actor
    )
    .fetch_one(db)
    .await
}

/// Writes one event of `event_type` per link, all stamped now and caused by
/// `actor` (one statement, however many links a user had).
pub async fn insert_for_links(
    db: impl PgExecutor<'_>,
    actor: &str,
    event_type: &str,
    url_ids: &[i64],
    user_ids: &[i64],
    details: &[Value],
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "INSERT INTO events (url_id, user_id, event_type, details, actor)
         SELECT u, r, $1, d, $5 FROM UNNEST($2::bigint[], $3::bigint[], $4::jsonb[]) AS t(u, r, d)",
        event_type,
        url_ids,
        user_ids,
        details,
        actor
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Filters of `GET /events`.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub url_id: Option<i64>,
    pub user_id: Option<i64>,
    pub event_type: Option<String>,
    pub actor: Option<String>,
}

/// The events matching `filter` with ids above `after_id`, by id.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &EventFilter,
    after_id: i64,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as!(
        EventRow,
        "SELECT id, url_id, user_id, event_type, occurred_at, details, actor FROM events
         WHERE ($1::bigint IS NULL OR url_id = $1)
           AND ($2::bigint IS NULL OR user_id = $2)
           AND ($3::text IS NULL OR event_type = $3)
           AND id > $4
           AND ($7::text IS NULL OR actor = $7)
         ORDER BY id LIMIT $5 OFFSET $6",
        filter.url_id,
        filter.user_id,
        filter.event_type.as_deref(),
        after_id,
        limit,
        offset,
        filter.actor.as_deref()
    )
    .fetch_all(db)
    .await
}

/// The `limit` newest events of link `url_id`, newest first (read
/// backwards along the `(url_id, id)` index).
pub async fn latest_of_link(
    db: impl PgExecutor<'_>,
    url_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as!(
        EventRow,
        "SELECT id, url_id, user_id, event_type, occurred_at, details, actor FROM events
         WHERE url_id = $1
         ORDER BY id DESC LIMIT $2",
        url_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// How many events match `filter`: exact up to [`EXACT_COUNT_LIMIT`] (a
/// count that stops there), else the planner's estimate.
pub async fn count(db: impl PgExecutor<'_> + Copy, filter: &EventFilter) -> sqlx::Result<Total> {
    let capped = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (
               SELECT 1 FROM events
               WHERE ($1::bigint IS NULL OR url_id = $1)
                 AND ($2::bigint IS NULL OR user_id = $2)
                 AND ($3::text IS NULL OR event_type = $3)
                 AND ($5::text IS NULL OR actor = $5)
               LIMIT $4) AS capped"#,
        filter.url_id,
        filter.user_id,
        filter.event_type.as_deref(),
        EXACT_COUNT_LIMIT + 1,
        filter.actor.as_deref()
    )
    .fetch_one(db)
    .await?;
    if capped <= EXACT_COUNT_LIMIT {
        return Ok(Total::of(capped, None));
    }
    let plan = sqlx::query_scalar!(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM events
         WHERE ($1::bigint IS NULL OR url_id = $1)
           AND ($2::bigint IS NULL OR user_id = $2)
           AND ($3::text IS NULL OR event_type = $3)
           AND ($4::text IS NULL OR actor = $4)",
        filter.url_id,
        filter.user_id,
        filter.event_type.as_deref(),
        filter.actor.as_deref()
    )
    .fetch_one(db)
    .await?;
    Ok(Total::of(capped, plan.as_ref().and_then(plan_rows)))
}

/// Up to `limit` events matching `filter` from `edge`, newest first (the
/// console's audit trail): each filter is a range scan of its index.
pub async fn page(
    db: impl PgExecutor<'_>,
    filter: &EventFilter,
    edge: Edge,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    if let Edge::Above(above) = edge {
        let mut rows = sqlx::query_as!(
            EventRow,
            "SELECT id, url_id, user_id, event_type, occurred_at, details, actor FROM events
             WHERE ($1::bigint IS NULL OR url_id = $1)
               AND ($2::bigint IS NULL OR user_id = $2)
               AND ($3::text IS NULL OR event_type = $3)
               AND ($4::text IS NULL OR actor = $4)
               AND id > $5
             ORDER BY id ASC LIMIT $6",
            filter.url_id,
            filter.user_id,
            filter.event_type.as_deref(),
            filter.actor.as_deref(),
            above,
            limit
        )
        .fetch_all(db)
        .await?;
        rows.reverse();
        return Ok(rows);
    }
    sqlx::query_as!(
        EventRow,
        "SELECT id, url_id, user_id, event_type, occurred_at, details, actor FROM events
         WHERE ($1::bigint IS NULL OR url_id = $1)
           AND ($2::bigint IS NULL OR user_id = $2)
           AND ($3::text IS NULL OR event_type = $3)
           AND ($4::text IS NULL OR actor = $4)
           AND id < $5
         ORDER BY id DESC LIMIT $6",
        filter.url_id,
        filter.user_id,
        filter.event_type.as_deref(),
        filter.actor.as_deref(),
        edge.below(),
        limit
    )
    .fetch_all(db)
    .await
}

/// Drained visits, as parallel columns.
#[derive(Debug, Default)]
pub struct VisitColumns {
    pub url_ids: Vec<i64>,
    pub user_ids: Vec<i64>,
    pub occurred_at: Vec<DateTime<Utc>>,
    pub details: Vec<Value>,
    pub visit_ids: Vec<String>,
}

/// Writes visits as `redirect` events, skipping visits already written (a
/// redone batch: a visit keeps its time, so its first copy is in the same
/// day's partition, under the same key) and visits of links that do not
/// exist here. The event's
/// `original_url` is the link's (visits do not carry it: the link is here).
/// Returns the ids of the visits written.
pub async fn insert_visits(
    db: impl PgExecutor<'_>,
    rows: &VisitColumns,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"INSERT INTO events_visits (url_id, user_id, event_type, occurred_at, details, visit_id)
         SELECT v.url_id, v.user_id, 'redirect', v.occurred_at,
                v.details || jsonb_build_object('original_url', u.original_url), v.visit_id
         FROM UNNEST($1::bigint[], $2::bigint[], $3::timestamptz[], $4::jsonb[], $5::text[])
              AS v(url_id, user_id, occurred_at, details, visit_id)
         JOIN urls u ON u.id = v.url_id AND u.user_id = v.user_id
         ON CONFLICT (visit_id, occurred_at) DO NOTHING
         RETURNING visit_id AS "visit_id!""#,
        &rows.url_ids,
        &rows.user_ids,
        &rows.occurred_at,
        &rows.details,
        &rows.visit_ids
    )
    .fetch_all(db)
    .await
}
