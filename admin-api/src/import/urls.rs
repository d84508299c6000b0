//! Import of `urls.csv`
//! (`id,user_id,short_code,original_url,title,is_active,created_at,updated_at`,
//! optionally `expires_at` and `redirect_type`). New links get no `created`
//! events (the old service's `events.csv` already holds them); a row that
//! changes an existing link writes the `updated` events a `PUT` would, and a
//! row that revives a deleted link a `restored` event. Codes are permanent:
//! a row never changes the code of an existing id, nor takes another link's.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::{
    CsvUpload, ImportResult, check_id, first_duplicate, parse_bool, parse_timestamp, row_error,
};
use crate::db::events;
use crate::db::imports::{self, Table, UrlColumns};
use crate::error::{ApiError, ApiResult};
use crate::state::Settings;
use crate::validate;

/// Rows compared with the stored links per query, so that the comparison
/// holds one chunk of stored links in memory, not a whole file's.
const COMPARE_CHUNK: usize = 10_000;

#[derive(Debug, Deserialize)]
struct UrlRecord {
    id: i64,
    user_id: i64,
    short_code: String,
    original_url: String,
    #[serde(default)]
    title: Option<String>,
    is_active: String,
    created_at: Option<String>,
    updated_at: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    redirect_type: Option<i64>,
}

/// Checks every row, then upserts them all in one transaction; its events
/// record `actor` (`import:<key name>`). Also returns the codes of the links
/// that are new, changed or revived, for the write-through to Valkey.
pub async fn import(
    pool: &PgPool,
    upload: &CsvUpload,
    settings: &Settings,
    actor: &str,
) -> ApiResult<(ImportResult, Vec<String>)> {
    let rows = columns(upload, settings)?;
    if rows.ids.is_empty() {
        return Ok((ImportResult::of(0), Vec::new()));
    }
    let mut tx = pool.begin().await?;
    crate::db::set_local_statement_timeout(&mut *tx, settings.import_statement_timeout).await?;
    imports::lock(&mut *tx, Table::Urls).await?;
    if let Some(row) = imports::first_missing_user(&mut *tx, &rows.user_ids).await? {
        return Err(row_error(row as usize, "user_id", "names no existing user"));
    }
    if let Some(row) = imports::first_code_changed(&mut *tx, &rows).await? {
        let problem =
            "differs from the code of the existing link with this id (codes are permanent)";
        return Err(ApiError::conflict("short_code", problem).at_row(row as u64));
    }
    if let Some(row) = imports::first_code_taken(&mut *tx, &rows).await? {
        return Err(ApiError::conflict("short_code", "belongs to another link").at_row(row as u64));
    }
    let touched = write_change_events(&mut tx, &rows, actor).await?;
    imports::upsert_urls(&mut *tx, &rows).await?;
    imports::bump_id_sequence(&mut *tx, Table::Urls).await?;
    tx.commit().await?;
    Ok((ImportResult::of(rows.ids.len()), touched))
}

/// The audit events of an import, in one place: compares each row with the
/// stored link of its id and writes one `updated` event per changed field
/// (the same rule and details as `PUT /urls/{id}`) and a `restored` event
/// per revived link. Returns the codes of new, changed and revived links.
async fn write_change_events(
    db: &mut PgConnection,
    rows: &UrlColumns,
    actor: &str,
) -> ApiResult<Vec<String>> {
    let mut touched = Vec::new();
    for start in (0..rows.ids.len()).step_by(COMPARE_CHUNK) {
        let end = (start + COMPARE_CHUNK).min(rows.ids.len());
        let stored: HashMap<i64, imports::StoredUrl> =
            imports::stored_urls(&mut *db, &rows.ids[start..end])
                .await?
                .into_iter()
                .map(|link| (link.id, link))
                .collect();
        let mut updated = LinkEvents::default();
        let mut restored = LinkEvents::default();
        for i in start..end {
            let (id, user_id) = (rows.ids[i], rows.user_ids[i]);
            let new = rows.fields(i);
            match stored.get(&id) {
                None => {}
                Some(old) if old.deleted => {
                    let details = json!({"short_code": rows.short_codes[i], "original_url": new.original_url});
                    restored.push(id, user_id, details);
                }
                Some(old) => {
                    let details = old.fields.updated_details(&new);
                    if details.is_empty() && old.user_id == user_id {
                        continue;
                    }
                    for detail in details {
                        updated.push(id, user_id, detail);
                    }
                }
            }
            touched.push(rows.short_codes[i].clone());
        }
        updated.write(&mut *db, actor, "updated").await?;
        restored.write(&mut *db, actor, "restored").await?;
    }
    Ok(touched)
}

/// Events of one type for links, as parallel columns.
#[derive(Debug, Default)]
struct LinkEvents {
    url_ids: Vec<i64>,
    user_ids: Vec<i64>,
    details: Vec<serde_json::Value>,
}

impl LinkEvents {
    fn push(&mut self, url_id: i64, user_id: i64, details: serde_json::Value) {
        self.url_ids.push(url_id);
        self.user_ids.push(user_id);
        self.details.push(details);
    }

    async fn write(
        &self,
        db: &mut PgConnection,
        actor: &str,
        event_type: &str,
    ) -> sqlx::Result<()> {
        if self.url_ids.is_empty() {
            return Ok(());
        }
        let (url_ids, user_ids) = (&self.url_ids, &self.user_ids);
        events::insert_for_links(db, actor, event_type, url_ids, user_ids, &self.details)
            .await
            .map(drop)
    }
}

fn columns(upload: &CsvUpload, settings: &Settings) -> ApiResult<UrlColumns> {
    let own_host = settings.public_host.as_deref();
    let mut rows = UrlColumns::default();
    let now = chrono::Utc::now();
    upload.for_each_record(settings.import_max_rows, |row, r: UrlRecord| {
        check_id(row, "id", r.id)?;
        check_id(row, "user_id", r.user_id)?;
        shared::short_code::validate_imported(&r.short_code)
            .map_err(|e| row_error(row, "short_code", e.to_string()))?;
        let url = validate::target_url(&r.original_url, own_host)
            .map_err(|p| row_error(row, "original_url", p))?;
        let title = r.title.unwrap_or_default();
        validate::title(&title).map_err(|p| row_error(row, "title", p))?;
        let is_active = parse_bool(&r.is_active).map_err(|p| row_error(row, "is_active", p))?;
        let redirect_type = validate::redirect_type(r.redirect_type.unwrap_or(302))
            .map_err(|p| row_error(row, "redirect_type", p))?;
        let timestamp = |cell: &Option<String>, column: &str| match cell.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(cell) => parse_timestamp(cell)
                .map(Some)
                .map_err(|p| row_error(row, column, p)),
        };
        let created_at = timestamp(&r.created_at, "created_at")?.unwrap_or(now);
        let updated_at = timestamp(&r.updated_at, "updated_at")?.unwrap_or(created_at);
        let expires_at = timestamp(&r.expires_at, "expires_at")?;
        rows.ids.push(r.id);
        rows.user_ids.push(r.user_id);
        rows.short_codes.push(r.short_code);
        rows.original_urls.push(url);
        rows.titles.push(title);
        rows.is_active.push(is_active);
        rows.redirect_types.push(redirect_type);
        rows.expires_at.push(expires_at);
        rows.created_at.push(created_at);
        rows.updated_at.push(updated_at);
        Ok(())
    })?;
    if let Some((first, again)) = first_duplicate(rows.ids.iter()) {
        return Err(row_error(
            again,
            "id",
            format!("repeats the id of row {first}"),
        ));
    }
    if let Some((first, again)) = first_duplicate(rows.short_codes.iter()) {
        return Err(
            ApiError::conflict("short_code", &format!("repeats the code of row {first}"))
                .at_row(again as u64),
        );
    }
    Ok(rows)
}
