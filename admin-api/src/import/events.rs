//! Import of `events.csv` (`id,url_id,user_id,event_type,timestamp,details`,
//! `details` as JSON text). Events are an audit trail: an import adds the
//! rows whose ids are new and never rewrites an existing event (an identical
//! row is a no-op, a different one a 409).

use serde::Deserialize;
use sqlx::PgPool;

use super::{CsvUpload, ImportResult, check_id, first_duplicate, parse_timestamp, row_error};
use crate::db::imports::{self, EventColumns, Table};
use crate::error::{ApiError, ApiResult};
use crate::state::Settings;
use crate::validate;

#[derive(Debug, Deserialize)]
struct EventRecord {
    id: i64,
    url_id: Option<i64>,
    user_id: Option<i64>,
    event_type: String,
    timestamp: Option<String>,
    details: Option<String>,
}

/// Checks every row, then inserts the new ones in one transaction, each
/// recording `actor` (`import:<key name>`).
pub async fn import(
    pool: &PgPool,
    upload: &CsvUpload,
    settings: &Settings,
    actor: &str,
) -> ApiResult<ImportResult> {
    let rows = columns(upload, settings.import_max_rows)?;
    if rows.ids.is_empty() {
        return Ok(ImportResult::of(0));
    }
    let mut tx = pool.begin().await?;
    crate::db::set_local_statement_timeout(&mut *tx, settings.import_statement_timeout).await?;
    imports::lock(&mut *tx, Table::Events).await?;
    if let Some(row) = imports::first_missing_url(&mut *tx, &rows.url_ids).await? {
        return Err(row_error(row as usize, "url_id", "names no existing link"));
    }
    if let Some(row) = imports::first_missing_event_user(&mut *tx, &rows.user_ids).await? {
        return Err(row_error(row as usize, "user_id", "names no existing user"));
    }
    if let Some(row) = imports::first_event_rewritten(&mut *tx, &rows).await? {
        return Err(ApiError::conflict(
            "id",
            "belongs to an existing event with other content (events are never rewritten)",
        )
        .at_row(row as u64));
    }
    imports::insert_new_events(&mut *tx, &rows, actor).await?;
    imports::bump_id_sequence(&mut *tx, Table::Events).await?;
    tx.commit().await?;
    Ok(ImportResult::of(rows.ids.len()))
}

fn columns(upload: &CsvUpload, max_rows: usize) -> ApiResult<EventColumns> {
    let mut rows = EventColumns::default();
    upload.for_each_record(max_rows, |row, r: EventRecord| {
        check_id(row, "id", r.id)?;
        if let Some(id) = r.url_id {
            check_id(row, "url_id", id)?;
        }
        if let Some(id) = r.user_id {
            check_id(row, "user_id", id)?;
        }
        validate::event_type(&r.event_type).map_err(|p| row_error(row, "event_type", p))?;
        let occurred_at = match r.timestamp.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(cell) => Some(parse_timestamp(cell).map_err(|p| row_error(row, "timestamp", p))?),
        };
        let details = match r.details.as_deref().map(str::trim) {
            None | Some("") => serde_json::json!({}),
            Some(cell) => serde_json::from_str(cell)
                .map_err(|_| row_error(row, "details", "must be JSON text"))?,
        };
        validate::details(&details).map_err(|p| row_error(row, "details", p))?;
        rows.ids.push(r.id);
        rows.url_ids.push(r.url_id);
        rows.user_ids.push(r.user_id);
        rows.event_types.push(r.event_type);
        rows.occurred_at.push(occurred_at);
        rows.details.push(details);
        Ok(())
    })?;
    if let Some((first, again)) = first_duplicate(rows.ids.iter()) {
        return Err(row_error(
            again,
            "id",
            format!("repeats the id of row {first}"),
        ));
    }
    Ok(rows)
}
