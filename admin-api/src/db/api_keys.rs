//! Queries on `api_keys`. Revoked keys keep their rows (events name them)
//! but are invisible here except to the name-uniqueness rule.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// A live key as shown: never its digest.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub user_id: Option<i64>,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<i32>,
}

/// A live key as the auth layer needs it.
#[derive(Debug, Clone)]
pub struct KeyAuth {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub user_id: Option<i64>,
    pub digest: Vec<u8>,
    pub rate_limit_per_minute: Option<i32>,
}

/// A key to store.
#[derive(Debug)]
pub struct NewKey<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub user_id: Option<i64>,
    pub prefix: &'a str,
    pub digest: &'a [u8],
    pub rate_limit_per_minute: Option<i32>,
}

/// Stores a key; `None` when its prefix is taken (the caller draws again).
/// A taken name is the `api_keys_name_key` violation (409).
pub async fn insert(db: impl PgExecutor<'_>, key: &NewKey<'_>) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        "INSERT INTO api_keys (name, role, user_id, prefix, digest, rate_limit_per_minute)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (prefix) DO NOTHING
         RETURNING id, name, role, user_id, prefix, created_at, last_used_at, rate_limit_per_minute",
        key.name,
        key.role,
        key.user_id,
        key.prefix,
        key.digest,
        key.rate_limit_per_minute
    )
    .fetch_optional(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        "SELECT id, name, role, user_id, prefix, created_at, last_used_at, rate_limit_per_minute
         FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
        id
    )
    .fetch_optional(db)
    .await
}

/// Live keys with ids above `after_id`, by id.
pub async fn list(
    db: impl PgExecutor<'_>,
    after_id: i64,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        "SELECT id, name, role, user_id, prefix, created_at, last_used_at, rate_limit_per_minute
         FROM api_keys WHERE revoked_at IS NULL AND id > $1
         ORDER BY id LIMIT $2 OFFSET $3",
        after_id,
        limit,
        offset
    )
    .fetch_all(db)
    .await
}

/// How many keys are live (few: an exact count).
pub async fn count(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM api_keys WHERE revoked_at IS NULL"#)
        .fetch_one(db)
        .await
}

/// The live key with `prefix`, for authentication.
pub async fn live_by_prefix(
    db: impl PgExecutor<'_>,
    prefix: &str,
) -> sqlx::Result<Option<KeyAuth>> {
    sqlx::query_as!(
        KeyAuth,
        "SELECT id, name, role, user_id, digest, rate_limit_per_minute
         FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL",
        prefix
    )
    .fetch_optional(db)
    .await
}

/// The live key with `id`, for a console session's caller.
pub async fn live_by_id(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<KeyAuth>> {
    sqlx::query_as!(
        KeyAuth,
        "SELECT id, name, role, user_id, digest, rate_limit_per_minute
         FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
        id
    )
    .fetch_optional(db)
    .await
}

/// A key just revoked.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub id: i64,
    pub prefix: String,
}

/// Revokes a live key; its prefix, or `None` when there was no live key.
pub async fn revoke(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL
         RETURNING prefix",
        id
    )
    .fetch_optional(db)
    .await
}

/// Revokes every live key bound to a user (the user is being deleted).
pub async fn revoke_for_user(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<Revoked>> {
    sqlx::query_as!(
        Revoked,
        "UPDATE api_keys SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL
         RETURNING id, prefix",
        user_id
    )
    .fetch_all(db)
    .await
}

/// Records that a key was used, unless that was recorded within the last
/// minute (by any replica).
pub async fn touch(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE api_keys SET last_used_at = date_trunc('second', now())
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        id
    )
    .execute(db)
    .await
    .map(drop)
}
