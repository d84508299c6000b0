//! Queries on `users`. Deleted users (soft-deleted) are invisible here.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// A live user as stored.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(db: impl PgExecutor<'_>, username: &str, email: &str) -> sqlx::Result<UserRow> {
    sqlx::query_as!(
        UserRow,
        "INSERT INTO users (username, email) VALUES ($1, $2)
         RETURNING id, username, email, created_at",
        username,
        email
    )
    .fetch_one(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(
        UserRow,
        "SELECT id, username, email, created_at FROM users WHERE id = $1 AND deleted_at IS NULL",
        id
    )
    .fetch_optional(db)
    .await
}

/// Locks a live user's row against deletion until the transaction ends, so a
/// link is never created for a user being deleted. Returns whether it exists.
pub async fn lock_live(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    let found = sqlx::query_scalar!(
        "SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL FOR SHARE",
        id
    )
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

pub async fn list(db: impl PgExecutor<'_>, limit: i64, offset: i64) -> sqlx::Result<Vec<UserRow>> {
    sqlx::query_as!(
        UserRow,
        "SELECT id, username, email, created_at FROM users WHERE deleted_at IS NULL
         ORDER BY id LIMIT $1 OFFSET $2",
        limit,
        offset
    )
    .fetch_all(db)
    .await
}

pub async fn count(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    let n = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM users WHERE deleted_at IS NULL"#)
        .fetch_one(db)
        .await?;
    Ok(n)
}

/// Sets the given fields (`None` keeps the current value).
pub async fn update(
    db: impl PgExecutor<'_>,
    id: i64,
    username: Option<&str>,
    email: Option<&str>,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(
        UserRow,
        "UPDATE users SET username = COALESCE($2, username), email = COALESCE($3, email)
         WHERE id = $1 AND deleted_at IS NULL
         RETURNING id, username, email, created_at",
        id,
        username,
        email
    )
    .fetch_optional(db)
    .await
}

/// Soft-deletes a live user; returns whether one was deleted.
pub async fn soft_delete(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE users SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL",
        id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
