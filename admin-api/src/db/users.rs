//! Queries on `users`. Deleted users (soft-deleted) are invisible here.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::db::link_list::Edge;
use crate::pagination::{EXACT_COUNT_LIMIT, Total, plan_rows};

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

/// Live users with ids above `after_id`, by id.
pub async fn list(
    db: impl PgExecutor<'_>,
    after_id: i64,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<UserRow>> {
    sqlx::query_as!(
        UserRow,
        "SELECT id, username, email, created_at FROM users WHERE deleted_at IS NULL AND id > $1
         ORDER BY id LIMIT $2 OFFSET $3",
        after_id,
        limit,
        offset
    )
    .fetch_all(db)
    .await
}

/// How many live users there are: exact up to [`EXACT_COUNT_LIMIT`], else
/// the planner's estimate.
pub async fn count(db: impl PgExecutor<'_> + Copy) -> sqlx::Result<Total> {
    let capped = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (
               SELECT 1 FROM users WHERE deleted_at IS NULL LIMIT $1) AS capped"#,
        EXACT_COUNT_LIMIT + 1
    )
    .fetch_one(db)
    .await?;
    if capped <= EXACT_COUNT_LIMIT {
        return Ok(Total::of(capped, None));
    }
    let plan =
        sqlx::query_scalar!("EXPLAIN (FORMAT JSON) SELECT 1 FROM users WHERE deleted_at IS NULL")
            .fetch_one(db)
            .await?;
    Ok(Total::of(capped, plan.as_ref().and_then(plan_rows)))
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

/// A live user as the console's list shows it, with their live links.
#[derive(Debug, Clone)]
pub struct ListedUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub links: i64,
}

/// Up to `limit` live users from `edge`, newest first, each with how many
/// live links they have (a count per row on `urls_user_id_idx`).
pub async fn page(
    db: impl PgExecutor<'_>,
    edge: Edge,
    limit: i64,
) -> sqlx::Result<Vec<ListedUser>> {
    if let Edge::Above(above) = edge {
        let mut rows = sqlx::query_as!(
            ListedUser,
            r#"SELECT u.id, u.username, u.email, u.created_at,
                      (SELECT count(*) FROM urls l
                       WHERE l.user_id = u.id AND l.deleted_at IS NULL) AS "links!"
               FROM users u
               WHERE u.deleted_at IS NULL AND u.id > $1
               ORDER BY u.id ASC LIMIT $2"#,
            above,
            limit
        )
        .fetch_all(db)
        .await?;
        rows.reverse();
        return Ok(rows);
    }
    sqlx::query_as!(
        ListedUser,
        r#"SELECT u.id, u.username, u.email, u.created_at,
                  (SELECT count(*) FROM urls l
                   WHERE l.user_id = u.id AND l.deleted_at IS NULL) AS "links!"
           FROM users u
           WHERE u.deleted_at IS NULL AND u.id < $1
           ORDER BY u.id DESC LIMIT $2"#,
        edge.below(),
        limit
    )
    .fetch_all(db)
    .await
}
