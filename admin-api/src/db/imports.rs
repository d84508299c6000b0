//! Queries of the bulk CSV import: table locks, conflict checks that name the
//! first offending row, set-based upserts by id, and the id sequences moved
//! past imported ids so that new rows never collide with them.
//!
//! Rows travel as parallel arrays through `UNNEST`, one statement per table
//! however many rows a file holds. Row numbers are the arrays' 1-based
//! ordinality, which is the file's data-row number.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;

use crate::db::urls::UrlFields;

/// Users of one file, as parallel columns.
#[derive(Debug, Default)]
pub struct UserColumns {
    pub ids: Vec<i64>,
    pub usernames: Vec<String>,
    pub emails: Vec<String>,
    pub created_at: Vec<DateTime<Utc>>,
}

/// Links of one file, as parallel columns.
#[derive(Debug, Default)]
pub struct UrlColumns {
    pub ids: Vec<i64>,
    pub user_ids: Vec<i64>,
    pub short_codes: Vec<String>,
    pub original_urls: Vec<String>,
    pub titles: Vec<String>,
    pub is_active: Vec<bool>,
    pub redirect_types: Vec<i16>,
    pub expires_at: Vec<Option<DateTime<Utc>>>,
    pub created_at: Vec<DateTime<Utc>>,
    pub updated_at: Vec<DateTime<Utc>>,
    /// Each row's tags joined by commas (no tag holds one): arrays of
    /// arrays do not travel through `UNNEST`.
    pub tags: Vec<String>,
    pub fallback_urls: Vec<Option<String>>,
    pub max_visits: Vec<Option<i64>>,
    pub routes: Vec<Vec<shared::route::Route>>,
}

impl UrlColumns {
    /// The editable fields of row `i` (0-based).
    pub fn fields(&self, i: usize) -> UrlFields {
        UrlFields {
            title: self.titles[i].clone(),
            is_active: self.is_active[i],
            original_url: self.original_urls[i].clone(),
            expires_at: self.expires_at[i],
            redirect_type: self.redirect_types[i],
            tags: split_tags(&self.tags[i]),
            // An import neither enables nor disables: see write_change_events.
            disabled_reason: None,
            fallback_url: self.fallback_urls[i].clone(),
            max_visits: self.max_visits[i],
            routes: self.routes[i].clone(),
        }
    }
}

impl UrlColumns {
    /// Every URL a row sends visitors to, with its 1-based row and its
    /// column: the destination, the fallback, each rule's.
    pub fn targets(&self) -> impl Iterator<Item = (usize, &str, &str)> {
        (0..self.ids.len()).flat_map(move |i| {
            let fallback = self.fallback_urls[i]
                .as_deref()
                .map(|url| ("fallback_url", url));
            let routes = self.routes[i]
                .iter()
                .map(|rule| ("routes", rule.url.as_str()));
            std::iter::once(("original_url", self.original_urls[i].as_str()))
                .chain(fallback)
                .chain(routes)
                .map(move |(field, url)| (i + 1, field, url))
        })
    }
}

/// Tags joined by commas, apart again (spaces around each and empty ones
/// dropped).
pub fn split_tags(joined: &str) -> Vec<String> {
    joined
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A link as an import finds it before writing (deleted or not).
#[derive(Debug)]
pub struct StoredUrl {
    pub id: i64,
    pub user_id: i64,
    pub deleted: bool,
    pub fields: UrlFields,
}

/// Events of one file, as parallel columns.
#[derive(Debug, Default)]
pub struct EventColumns {
    pub ids: Vec<i64>,
    pub url_ids: Vec<Option<i64>>,
    pub user_ids: Vec<Option<i64>>,
    pub event_types: Vec<String>,
    /// `None`: now (and, against an existing event, any time matches).
    pub occurred_at: Vec<Option<DateTime<Utc>>>,
    pub details: Vec<Value>,
}

/// Which table an import writes; each has its own lock and sequence.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    Users,
    Urls,
    Events,
}

/// Blocks other writers of the table until the import commits, so that the
/// conflict checks below stay true and no concurrent insert takes an id the
/// import is about to use. Readers are not blocked.
pub async fn lock(db: impl PgExecutor<'_>, table: Table) -> sqlx::Result<()> {
    match table {
        Table::Users => {
            sqlx::query!("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                .execute(db)
                .await?
        }
        Table::Urls => {
            sqlx::query!("LOCK TABLE urls IN SHARE ROW EXCLUSIVE MODE")
                .execute(db)
                .await?
        }
        Table::Events => {
            sqlx::query!("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE")
                .execute(db)
                .await?
        }
    };
    Ok(())
}

/// Moves the table's id sequence past its largest id.
pub async fn bump_id_sequence(db: impl PgExecutor<'_>, table: Table) -> sqlx::Result<()> {
    match table {
        Table::Users => sqlx::query!(
            "SELECT setval('users_id_seq', GREATEST((SELECT max(id) FROM users), (SELECT last_value FROM users_id_seq)))"
        )
        .fetch_one(db)
        .await
        .map(drop),
        Table::Urls => sqlx::query!(
            "SELECT setval('urls_id_seq', GREATEST((SELECT max(id) FROM urls), (SELECT last_value FROM urls_id_seq)))"
        )
        .fetch_one(db)
        .await
        .map(drop),
        Table::Events => sqlx::query!(
            "SELECT setval('events_id_seq', GREATEST((SELECT max(id) FROM events), (SELECT last_value FROM events_id_seq)))"
        )
        .fetch_one(db)
        .await
        .map(drop),
    }
}

/// The first row whose email belongs to a live user outside the file.
pub async fn first_email_taken(
    db: impl PgExecutor<'_>,
    rows: &UserColumns,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"SELECT r.ord AS "ord!" FROM UNNEST($1::bigint[], $2::text[]) WITH ORDINALITY AS r(id, email, ord)
           WHERE EXISTS (SELECT 1 FROM users u
                         WHERE lower(u.email) = lower(r.email) AND u.deleted_at IS NULL
                           AND u.id <> ALL($1::bigint[]))
           ORDER BY r.ord LIMIT 1"#,
        &rows.ids,
        &rows.emails
    )
    .fetch_optional(db)
    .await
}

pub async fn upsert_users(db: impl PgExecutor<'_>, rows: &UserColumns) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "INSERT INTO users (id, username, email, created_at)
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::timestamptz[])
         ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, email = EXCLUDED.email,
             created_at = EXCLUDED.created_at, deleted_at = NULL",
        &rows.ids,
        &rows.usernames,
        &rows.emails,
        &rows.created_at
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The first row naming a user that does not exist (or was deleted).
pub async fn first_missing_user(
    db: impl PgExecutor<'_>,
    user_ids: &[i64],
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"SELECT r.ord AS "ord!" FROM UNNEST($1::bigint[]) WITH ORDINALITY AS r(id, ord)
           WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = r.id AND u.deleted_at IS NULL)
           ORDER BY r.ord LIMIT 1"#,
        user_ids
    )
    .fetch_optional(db)
    .await
}

/// The first row whose code another link (live or deleted) holds.
pub async fn first_code_taken(
    db: impl PgExecutor<'_>,
    rows: &UrlColumns,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"SELECT r.ord AS "ord!" FROM UNNEST($1::bigint[], $2::text[]) WITH ORDINALITY AS r(id, code, ord)
           WHERE EXISTS (SELECT 1 FROM urls u WHERE u.short_code = r.code AND u.id <> r.id)
           ORDER BY r.ord LIMIT 1"#,
        &rows.ids,
        &rows.short_codes
    )
    .fetch_optional(db)
    .await
}

/// The first row that gives an existing link (live or deleted) another code.
pub async fn first_code_changed(
    db: impl PgExecutor<'_>,
    rows: &UrlColumns,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"SELECT r.ord AS "ord!" FROM UNNEST($1::bigint[], $2::text[]) WITH ORDINALITY AS r(id, code, ord)
           JOIN urls u ON u.id = r.id
           WHERE u.short_code <> r.code
           ORDER BY r.ord LIMIT 1"#,
        &rows.ids,
        &rows.short_codes
    )
    .fetch_optional(db)
    .await
}

/// The stored links (live or deleted) among `ids`.
pub async fn stored_urls(db: impl PgExecutor<'_>, ids: &[i64]) -> sqlx::Result<Vec<StoredUrl>> {
    let rows = sqlx::query!(
        r#"SELECT id, user_id, title, is_active, original_url, expires_at, redirect_type, tags,
                  disabled_reason, fallback_url, max_visits,
                  routes AS "routes: sqlx::types::Json<Vec<shared::route::Route>>",
                  deleted_at IS NOT NULL AS "deleted!"
           FROM urls WHERE id = ANY($1::bigint[])"#,
        ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoredUrl {
            id: r.id,
            user_id: r.user_id,
            deleted: r.deleted,
            fields: UrlFields {
                title: r.title,
                is_active: r.is_active,
                original_url: r.original_url,
                expires_at: r.expires_at,
                redirect_type: r.redirect_type,
                tags: r.tags,
                disabled_reason: r.disabled_reason,
                fallback_url: r.fallback_url,
                max_visits: r.max_visits,
                routes: r.routes.0,
            },
        })
        .collect())
}

pub async fn upsert_urls(db: impl PgExecutor<'_>, rows: &UrlColumns) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "INSERT INTO urls (id, user_id, short_code, original_url, title, is_active, redirect_type,
                           expires_at, created_at, updated_at, tags, fallback_url,
                           max_visits, routes)
         SELECT id, user_id, code, url, title, active, redirect, expires, created, updated,
                string_to_array(tags, ','), fallback, max_visits, routes
         FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                     $6::boolean[], $7::smallint[], $8::timestamptz[], $9::timestamptz[],
                     $10::timestamptz[], $11::text[], $12::text[], $13::bigint[], $14::jsonb[])
              AS r(id, user_id, code, url, title, active, redirect, expires, created, updated, tags,
                   fallback, max_visits, routes)
         ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, short_code = EXCLUDED.short_code,
             original_url = EXCLUDED.original_url, title = EXCLUDED.title,
             is_active = EXCLUDED.is_active, redirect_type = EXCLUDED.redirect_type,
             expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at,
             updated_at = EXCLUDED.updated_at, tags = EXCLUDED.tags,
             fallback_url = EXCLUDED.fallback_url, max_visits = EXCLUDED.max_visits,
             routes = EXCLUDED.routes,
             deleted_at = NULL",
        &rows.ids,
        &rows.user_ids,
        &rows.short_codes,
        &rows.original_urls,
        &rows.titles,
        &rows.is_active,
        &rows.redirect_types,
        &rows.expires_at as &[Option<DateTime<Utc>>],
        &rows.created_at,
        &rows.updated_at,
        &rows.tags,
        &rows.fallback_urls as &[Option<String>],
        &rows.max_visits as &[Option<i64>],
        &rows.routes.iter().map(|r| crate::db::urls::routes_json(r)).collect::<Vec<_>>()
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The first row naming a link id that does not exist (deleted links count
/// as existing: their history may be imported).
pub async fn first_missing_url(
    db: impl PgExecutor<'_>,
    url_ids: &[Option<i64>],
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"SELECT r.ord AS "ord!" FROM UNNEST($1::bigint[]) WITH ORDINALITY AS r(id, ord)
           WHERE r.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM urls u WHERE u.id = r.id)
           ORDER BY r.ord LIMIT 1"#,
        url_ids as &[Option<i64>]
    )
    .fetch_optional(db)
    .await
}

/// The first row naming a user id that does not exist (deleted users count).
pub async fn first_missing_event_user(
    db: impl PgExecutor<'_>,
    user_ids: &[Option<i64>],
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"SELECT r.ord AS "ord!" FROM UNNEST($1::bigint[]) WITH ORDINALITY AS r(id, ord)
           WHERE r.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = r.id)
           ORDER BY r.ord LIMIT 1"#,
        user_ids as &[Option<i64>]
    )
    .fetch_optional(db)
    .await
}

/// The first row whose id belongs to an existing event with other content
/// (an empty timestamp cell matches any time).
pub async fn first_event_rewritten(
    db: impl PgExecutor<'_>,
    rows: &EventColumns,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"SELECT r.ord AS "ord!"
           FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[],
                       $6::jsonb[]) WITH ORDINALITY
                AS r(id, url_id, user_id, event_type, occurred_at, details, ord)
           JOIN events e ON e.id = r.id
           WHERE e.url_id IS DISTINCT FROM r.url_id OR e.user_id IS DISTINCT FROM r.user_id
              OR e.event_type <> r.event_type OR e.details <> r.details
              OR (r.occurred_at IS NOT NULL
                  AND date_trunc('second', e.occurred_at) <> r.occurred_at)
           ORDER BY r.ord LIMIT 1"#,
        &rows.ids,
        &rows.url_ids as &[Option<i64>],
        &rows.user_ids as &[Option<i64>],
        &rows.event_types,
        &rows.occurred_at as &[Option<DateTime<Utc>>],
        &rows.details
    )
    .fetch_optional(db)
    .await
}

/// Inserts the rows whose ids are new; existing events are left as they are
/// (the caller has checked that they match). The import's event writes are
/// all here.
/// Each row records `actor`, the import's (`import:<key name>`). A
/// partitioned table has no unique key on the id alone: the check for an
/// existing id runs under the import's lock on `events`.
pub async fn insert_new_events(
    db: impl PgExecutor<'_>,
    rows: &EventColumns,
    actor: &str,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "INSERT INTO events (id, url_id, user_id, event_type, occurred_at, details, actor)
         SELECT r.id, r.url_id, r.user_id, r.event_type,
                COALESCE(r.occurred_at, date_trunc('second', now())), r.details, $7
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[],
                     $5::timestamptz[], $6::jsonb[])
              AS r(id, url_id, user_id, event_type, occurred_at, details)
         WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = r.id)",
        &rows.ids,
        &rows.url_ids as &[Option<i64>],
        &rows.user_ids as &[Option<i64>],
        &rows.event_types,
        &rows.occurred_at as &[Option<DateTime<Utc>>],
        &rows.details,
        actor
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
