//! Queries on `urls`. Deleted links (soft-deleted) are invisible here, but
//! their codes stay taken.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::route::Route;
use sqlx::PgExecutor;
use sqlx::types::Json;

use crate::pagination::{EXACT_COUNT_LIMIT, Total, plan_rows};

/// A live link as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlRow {
    pub id: i64,
    pub user_id: i64,
    pub short_code: String,
    pub original_url: String,
    pub title: String,
    pub is_active: bool,
    pub redirect_type: i16,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tags: Vec<String>,
    /// Why the link is disabled (by the blocklist or by hand); `None`: it is not.
    pub disabled_reason: Option<String>,
    /// Where the link sends visitors when it does not redirect itself.
    pub fallback_url: Option<String>,
    /// At most this many GET redirects are served.
    pub max_visits: Option<i64>,
    /// Routing rules, first match wins.
    pub routes: Json<Vec<Route>>,
}

/// A link to create.
#[derive(Debug)]
pub struct NewUrl<'a> {
    pub user_id: i64,
    pub original_url: &'a str,
    pub title: &'a str,
    pub redirect_type: i16,
    pub expires_at: Option<DateTime<Utc>>,
    pub tags: &'a [String],
    pub disabled_reason: Option<&'a str>,
    pub fallback_url: Option<&'a str>,
    pub max_visits: Option<i64>,
    pub routes: &'a [Route],
}

/// The editable fields of a link, all set at once.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlFields {
    pub title: String,
    pub is_active: bool,
    pub original_url: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub redirect_type: i16,
    pub tags: Vec<String>,
    pub disabled_reason: Option<String>,
    pub fallback_url: Option<String>,
    pub max_visits: Option<i64>,
    pub routes: Vec<Route>,
}

impl UrlFields {
    /// The editable fields of a stored link.
    pub fn of(row: &UrlRow) -> Self {
        Self {
            title: row.title.clone(),
            is_active: row.is_active,
            original_url: row.original_url.clone(),
            expires_at: row.expires_at,
            redirect_type: row.redirect_type,
            tags: row.tags.clone(),
            disabled_reason: row.disabled_reason.clone(),
            fallback_url: row.fallback_url.clone(),
            max_visits: row.max_visits,
            routes: row.routes.0.clone(),
        }
    }

    /// The details of the `updated` events that a change from `self` to
    /// `new` writes: one `{"field", "new_value"}` per field that differs,
    /// values written as the contract wants them (booleans `"true"`/`"false"`,
    /// timestamps in the contract's format, null as `""`, tags joined by
    /// commas, which no tag holds, `disabled` as its reason or `""`).
    /// Empty: no change.
    /// `PUT /urls/{id}` and the URL import both write these.
    pub fn updated_details(&self, new: &UrlFields) -> Vec<Value> {
        let mut changes: Vec<(&str, String)> = Vec::new();
        if self.title != new.title {
            changes.push(("title", new.title.clone()));
        }
        if self.is_active != new.is_active {
            changes.push(("is_active", new.is_active.to_string()));
        }
        if self.original_url != new.original_url {
            changes.push(("original_url", new.original_url.clone()));
        }
        if self.expires_at != new.expires_at {
            let value = new.expires_at.as_ref().map(shared::time::format);
            changes.push(("expires_at", value.unwrap_or_default()));
        }
        if self.redirect_type != new.redirect_type {
            changes.push(("redirect_type", new.redirect_type.to_string()));
        }
        if self.tags != new.tags {
            changes.push(("tags", new.tags.join(",")));
        }
        if self.disabled_reason != new.disabled_reason {
            let value = new.disabled_reason.clone();
            changes.push(("disabled", value.unwrap_or_default()));
        }
        if self.fallback_url != new.fallback_url {
            changes.push(("fallback_url", new.fallback_url.clone().unwrap_or_default()));
        }
        if self.max_visits != new.max_visits {
            let value = new.max_visits.map(|max| max.to_string());
            changes.push(("max_visits", value.unwrap_or_default()));
        }
        if self.routes != new.routes {
            changes.push(("routes", routes_json(&new.routes).to_string()));
        }
        changes
            .into_iter()
            .map(|(field, value)| json!({"field": field, "new_value": value}))
            .collect()
    }
}

/// Routing rules as the `routes` column holds them.
pub fn routes_json(routes: &[Route]) -> serde_json::Value {
    serde_json::to_value(routes).unwrap_or_else(|_| serde_json::json!([]))
}

/// Inserts a link under `short_code` unless the code is taken (then `None`:
/// the caller draws another code or answers 409).
pub async fn insert(
    db: impl PgExecutor<'_>,
    new: &NewUrl<'_>,
    short_code: &str,
) -> sqlx::Result<Option<UrlRow>> {
    sqlx::query_as!(
        UrlRow,
        "INSERT INTO urls (user_id, short_code, original_url, title, redirect_type, expires_at, tags,
                           disabled_reason, fallback_url, max_visits, routes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (short_code) DO NOTHING
         RETURNING id, user_id, short_code, original_url, title, is_active, redirect_type,
                   expires_at, created_at, updated_at, tags, disabled_reason, fallback_url, max_visits, routes AS \"routes: Json<Vec<Route>>\"",
        new.user_id,
        short_code,
        new.original_url,
        new.title,
        new.redirect_type,
        new.expires_at,
        new.tags,
        new.disabled_reason,
        new.fallback_url,
        new.max_visits,
        routes_json(new.routes)
    )
    .fetch_optional(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<UrlRow>> {
    sqlx::query_as!(
        UrlRow,
        "SELECT id, user_id, short_code, original_url, title, is_active, redirect_type,
                expires_at, created_at, updated_at, tags, disabled_reason, fallback_url, max_visits, routes AS \"routes: Json<Vec<Route>>\"
         FROM urls WHERE id = $1 AND deleted_at IS NULL",
        id
    )
    .fetch_optional(db)
    .await
}

/// Reads a live link and locks it until the transaction ends.
pub async fn get_for_update(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<UrlRow>> {
    sqlx::query_as!(
        UrlRow,
        "SELECT id, user_id, short_code, original_url, title, is_active, redirect_type,
                expires_at, created_at, updated_at, tags, disabled_reason, fallback_url, max_visits, routes AS \"routes: Json<Vec<Route>>\"
         FROM urls WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
        id
    )
    .fetch_optional(db)
    .await
}

/// Filters of `GET /urls`.
#[derive(Debug, Default, Clone)]
pub struct UrlFilter {
    pub user_id: Option<i64>,
    pub is_active: Option<bool>,
    /// A `LIKE` pattern over code, title and destination, any case (the
    /// trigram index's expression, so that a search is an index lookup).
    pub pattern: Option<String>,
    /// Only links carrying this tag (the tag index's lookup).
    pub tag: Option<String>,
}

/// Live links matching `filter` with ids above `after_id`, by id.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &UrlFilter,
    after_id: i64,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<UrlRow>> {
    sqlx::query_as!(
        UrlRow,
        "SELECT id, user_id, short_code, original_url, title, is_active, redirect_type,
                expires_at, created_at, updated_at, tags, disabled_reason, fallback_url, max_visits, routes AS \"routes: Json<Vec<Route>>\"
         FROM urls
         WHERE deleted_at IS NULL
           AND ($1::bigint IS NULL OR user_id = $1)
           AND ($2::boolean IS NULL OR is_active = $2)
           AND ($6::text IS NULL OR (short_code || ' ' || title || ' ' || original_url) ILIKE $6)
           AND ($7::text IS NULL OR tags @> ARRAY[$7::text])
           AND id > $3
         ORDER BY id LIMIT $4 OFFSET $5",
        filter.user_id,
        filter.is_active,
        after_id,
        limit,
        offset,
        filter.pattern.as_deref(),
        filter.tag.as_deref()
    )
    .fetch_all(db)
    .await
}

/// How many live links match `filter`: exact up to [`EXACT_COUNT_LIMIT`],
/// else the planner's estimate.
pub async fn count(db: impl PgExecutor<'_> + Copy, filter: &UrlFilter) -> sqlx::Result<Total> {
    let capped = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (
               SELECT 1 FROM urls
               WHERE deleted_at IS NULL
                 AND ($1::bigint IS NULL OR user_id = $1)
                 AND ($2::boolean IS NULL OR is_active = $2)
                 AND ($4::text IS NULL
                      OR (short_code || ' ' || title || ' ' || original_url) ILIKE $4)
                 AND ($5::text IS NULL OR tags @> ARRAY[$5::text])
               LIMIT $3) AS capped"#,
        filter.user_id,
        filter.is_active,
        EXACT_COUNT_LIMIT + 1,
        filter.pattern.as_deref(),
        filter.tag.as_deref()
    )
    .fetch_one(db)
    .await?;
    if capped <= EXACT_COUNT_LIMIT {
        return Ok(Total::of(capped, None));
    }
    let plan = sqlx::query_scalar!(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM urls
         WHERE deleted_at IS NULL
           AND ($1::bigint IS NULL OR user_id = $1)
           AND ($2::boolean IS NULL OR is_active = $2)
           AND ($3::text IS NULL OR (short_code || ' ' || title || ' ' || original_url) ILIKE $3)
           AND ($4::text IS NULL OR tags @> ARRAY[$4::text])",
        filter.user_id,
        filter.is_active,
        filter.pattern.as_deref(),
        filter.tag.as_deref()
    )
    .fetch_one(db)
    .await?;
    Ok(Total::of(capped, plan.as_ref().and_then(plan_rows)))
}

/// Writes the editable fields. `updated_at` strictly increases with every
/// change, even two within one second (the contract's precision), so a client
/// can always tell that a link changed.
pub async fn update(db: impl PgExecutor<'_>, id: i64, fields: &UrlFields) -> sqlx::Result<UrlRow> {
    sqlx::query_as!(
        UrlRow,
        "UPDATE urls SET title = $2, is_active = $3, original_url = $4, expires_at = $5,
                redirect_type = $6, tags = $7, disabled_reason = $8, fallback_url = $9, max_visits = $10, routes = $11,
                disabled_entry = CASE WHEN $8::text IS NOT DISTINCT FROM disabled_reason
                                      THEN disabled_entry END,
                updated_at = GREATEST(date_trunc('second', now()), updated_at + interval '1 second')
         WHERE id = $1
         RETURNING id, user_id, short_code, original_url, title, is_active, redirect_type,
                   expires_at, created_at, updated_at, tags, disabled_reason, fallback_url, max_visits, routes AS \"routes: Json<Vec<Route>>\"",
        id,
        fields.title,
        fields.is_active,
        fields.original_url,
        fields.expires_at,
        fields.redirect_type,
        &fields.tags,
        fields.disabled_reason.as_deref(),
        fields.fallback_url.as_deref(),
        fields.max_visits,
        routes_json(&fields.routes)
    )
    .fetch_one(db)
    .await
}

/// A link that was just deleted.
#[derive(Debug, Clone)]
pub struct DeletedUrl {
    pub id: i64,
    pub user_id: i64,
    pub short_code: String,
}

/// Soft-deletes a live link.
pub async fn soft_delete(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<DeletedUrl>> {
    sqlx::query_as!(
        DeletedUrl,
        "UPDATE urls SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL
         RETURNING id, user_id, short_code",
        id
    )
    .fetch_optional(db)
    .await
}

/// Soft-deletes every live link of a user.
pub async fn soft_delete_by_user(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Vec<DeletedUrl>> {
    sqlx::query_as!(
        DeletedUrl,
        "UPDATE urls SET deleted_at = now() WHERE user_id = $1 AND deleted_at IS NULL
         RETURNING id, user_id, short_code",
        user_id
    )
    .fetch_all(db)
    .await
}
