//! Queries on `blocklist`, the links an entry catches, and the lock
//! between link writes and new entries (see [`crate::blocklist`]).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// The advisory lock of the blocklist: link writes hold it shared, adding
/// an entry exclusive. (An arbitrary constant, unique in this database.)
const LOCK_KEY: i64 = 0x626c_6f63_6b6c_7374; // "blocklst"

/// An entry as stored.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub pattern: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// A live link an entry may catch.
#[derive(Debug, Clone)]
pub struct Caught {
    pub id: i64,
    pub user_id: i64,
    pub short_code: String,
    pub original_url: String,
    pub fallback_url: Option<String>,
    pub routes: sqlx::types::Json<Vec<shared::route::Route>>,
}

pub async fn lock_shared(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock_shared($1)", LOCK_KEY)
        .execute(db)
        .await
        .map(drop)
}

pub async fn lock_exclusive(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        .execute(db)
        .await
        .map(drop)
}

/// Entries with ids above `after_id`, by id.
pub async fn list(
    db: impl PgExecutor<'_>,
    after_id: i64,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as!(
        Entry,
        "SELECT id, pattern, reason, created_at FROM blocklist WHERE id > $1
         ORDER BY id LIMIT $2 OFFSET $3",
        after_id,
        limit,
        offset
    )
    .fetch_all(db)
    .await
}

pub async fn count(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM blocklist"#)
        .fetch_one(db)
        .await
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Entry>> {
    sqlx::query_as!(
        Entry,
        "SELECT id, pattern, reason, created_at FROM blocklist WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// Adds an entry unless its pattern is already listed (then `None`).
pub async fn insert(
    db: impl PgExecutor<'_>,
    pattern: &str,
    reason: &str,
) -> sqlx::Result<Option<Entry>> {
    sqlx::query_as!(
        Entry,
        "INSERT INTO blocklist (pattern, reason) VALUES ($1, $2)
         ON CONFLICT (pattern) DO NOTHING
         RETURNING id, pattern, reason, created_at",
        pattern,
        reason
    )
    .fetch_optional(db)
    .await
}

/// Removes an entry; whether it existed.
pub async fn delete(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!("DELETE FROM blocklist WHERE id = $1", id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The first entry among `patterns` (by id), if any.
pub async fn first_blocking(
    db: impl PgExecutor<'_>,
    patterns: &[String],
) -> sqlx::Result<Option<Entry>> {
    sqlx::query_as!(
        Entry,
        "SELECT id, pattern, reason, created_at FROM blocklist
         WHERE pattern = ANY($1::text[]) ORDER BY id LIMIT 1",
        patterns
    )
    .fetch_optional(db)
    .await
}

/// A row of an import that points at a blocked host.
#[derive(Debug)]
pub struct BlockedRow {
    /// 1-based.
    pub row: i64,
    /// The column whose URL is blocked.
    pub field: String,
    /// The entry that blocks it.
    pub pattern: String,
}

/// The first row whose patterns, `(row, field, pattern)` triples as
/// parallel columns, hold a listed one.
pub async fn first_blocked_row(
    db: impl PgExecutor<'_>,
    rows: &[i64],
    fields: &[&str],
    patterns: &[String],
) -> sqlx::Result<Option<BlockedRow>> {
    let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    sqlx::query_as!(
        BlockedRow,
        r#"SELECT r.row AS "row!", r.field AS "field!", b.pattern
           FROM UNNEST($1::bigint[], $2::text[], $3::text[]) AS r(row, field, pattern)
           JOIN blocklist b ON b.pattern = r.pattern
           ORDER BY r.row, b.id LIMIT 1"#,
        rows,
        &fields,
        patterns
    )
    .fetch_optional(db)
    .await
}

/// Up to `limit` live, enabled links with ids above `after_id` whose code,
/// title or destination contains `like` (a `LIKE` pattern): the trigram
/// index's lookup, a superset of the links an entry catches (the caller
/// checks each destination's host).
pub async fn candidates(
    db: impl PgExecutor<'_>,
    like: &str,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<Caught>> {
    sqlx::query_as!(
        Caught,
        r#"SELECT id, user_id, short_code, original_url, fallback_url,
                routes AS "routes: sqlx::types::Json<Vec<shared::route::Route>>"
         FROM urls
         WHERE deleted_at IS NULL AND disabled_reason IS NULL
           AND ((short_code || ' ' || title || ' ' || original_url) ILIKE $1
                OR fallback_url ILIKE $1 OR routes::text ILIKE $1)
           AND id > $2
         ORDER BY id LIMIT $3"#,
        like,
        after_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// Disables links `ids` with `reason`, naming blocklist entry `entry`.
pub async fn disable(
    db: impl PgExecutor<'_>,
    ids: &[i64],
    reason: &str,
    entry: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE urls SET disabled_reason = $2, disabled_entry = $3,
                updated_at = GREATEST(date_trunc('second', now()), updated_at + interval '1 second')
         WHERE id = ANY($1::bigint[])",
        ids,
        reason,
        entry
    )
    .execute(db)
    .await
    .map(drop)
}
