//! Queries on `link_outbox`: write-throughs owed to Valkey. Rows are written
//! by triggers on `urls` in the transaction of each change (see the
//! migration), so no writer can forget one.

use sqlx::PgExecutor;

/// Codes with write-throughs owed for longer than `older_than` (their writer
/// died, or Valkey refused them), at most `limit`.
pub async fn overdue(
    db: impl PgExecutor<'_>,
    older_than: std::time::Duration,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    let seconds = older_than.as_secs_f64();
    sqlx::query_scalar!(
        r#"SELECT short_code AS "short_code!" FROM link_outbox
           WHERE created_at < now() - make_interval(secs => $1)
           GROUP BY short_code ORDER BY min(id) LIMIT $2"#,
        seconds,
        limit
    )
    .fetch_all(db)
    .await
}

/// Settles what Valkey now holds: each code's rows up to the version written.
pub async fn settle(
    db: impl PgExecutor<'_>,
    codes: &[String],
    versions: &[i64],
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM link_outbox o
         USING UNNEST($1::text[], $2::bigint[]) AS w(short_code, version)
         WHERE o.short_code = w.short_code AND o.version <= w.version",
        codes,
        versions
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Write-throughs owed, for the backlog gauge.
pub async fn count(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM link_outbox"#)
        .fetch_one(db)
        .await
}
