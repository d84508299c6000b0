//! Import of `urls.csv`
//! (`id,user_id,short_code,original_url,title,is_active,created_at,updated_at`,
//! optionally `expires_at` and `redirect_type`). No `created` events are
//! written: the old service's `events.csv` already holds them.

use serde::Deserialize;
use sqlx::PgPool;

use super::{CsvUpload, ImportResult, first_duplicate, parse_bool, parse_timestamp, row_error};
use crate::db::imports::{self, Table, UrlColumns};
use crate::error::{ApiError, ApiResult};
use crate::validate;

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

/// Checks every row, then upserts them all in one transaction. Also returns
/// the imported codes, for the write-through to Valkey.
pub async fn import(
    pool: &PgPool,
    upload: &CsvUpload,
    own_host: Option<&str>,
) -> ApiResult<(ImportResult, Vec<String>)> {
    let records: Vec<UrlRecord> = upload.records()?;
    let rows = columns(&records, own_host)?;
    let mut tx = pool.begin().await?;
    imports::lock(&mut *tx, Table::Urls).await?;
    if let Some(row) = imports::first_missing_user(&mut *tx, &rows.user_ids).await? {
        return Err(row_error(row as usize, "user_id", "names no existing user"));
    }
    if let Some(row) = imports::first_code_taken(&mut *tx, &rows).await? {
        return Err(ApiError::conflict("short_code", "belongs to another link").at_row(row as u64));
    }
    imports::upsert_urls(&mut *tx, &rows).await?;
    imports::bump_id_sequence(&mut *tx, Table::Urls).await?;
    tx.commit().await?;
    Ok((ImportResult::of(records.len()), rows.short_codes))
}

fn columns(records: &[UrlRecord], own_host: Option<&str>) -> ApiResult<UrlColumns> {
    let mut rows = UrlColumns::default();
    let now = chrono::Utc::now();
    for (index, r) in records.iter().enumerate() {
        let row = index + 1;
        if r.id < 1 {
            return Err(row_error(row, "id", "must be a positive integer"));
        }
        shared::short_code::validate_imported(&r.short_code)
            .map_err(|e| row_error(row, "short_code", e.to_string()))?;
        let url = validate::target_url(&r.original_url, own_host)
            .map_err(|p| row_error(row, "original_url", p))?;
        let title = r.title.clone().unwrap_or_default();
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
        rows.short_codes.push(r.short_code.clone());
        rows.original_urls.push(url);
        rows.titles.push(title);
        rows.is_active.push(is_active);
        rows.redirect_types.push(redirect_type);
        rows.expires_at.push(expires_at);
        rows.created_at.push(created_at);
        rows.updated_at.push(updated_at);
    }
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
