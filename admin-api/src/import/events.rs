//! Import of `events.csv` (`id,url_id,user_id,event_type,timestamp,details`,
//! `details` as JSON text).

use serde::Deserialize;
use sqlx::PgPool;

use super::{CsvUpload, ImportResult, first_duplicate, parse_timestamp, row_error};
use crate::db::imports::{self, EventColumns, Table};
use crate::error::ApiResult;
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

/// Checks every row, then upserts them all in one transaction, each row
/// recording `actor` (`import:<key name>`).
pub async fn import(pool: &PgPool, upload: &CsvUpload, actor: &str) -> ApiResult<ImportResult> {
    let records: Vec<EventRecord> = upload.records()?;
    let rows = columns(&records)?;
    let mut tx = pool.begin().await?;
    imports::lock(&mut *tx, Table::Events).await?;
    if let Some(row) = imports::first_missing_url(&mut *tx, &rows.url_ids).await? {
        return Err(row_error(row as usize, "url_id", "names no existing link"));
    }
    if let Some(row) = imports::first_missing_event_user(&mut *tx, &rows.user_ids).await? {
        return Err(row_error(row as usize, "user_id", "names no existing user"));
    }
    imports::upsert_events(&mut *tx, &rows, actor).await?;
    imports::bump_id_sequence(&mut *tx, Table::Events).await?;
    tx.commit().await?;
    Ok(ImportResult::of(records.len()))
}

fn columns(records: &[EventRecord]) -> ApiResult<EventColumns> {
    let mut rows = EventColumns::default();
    let now = chrono::Utc::now();
    for (index, r) in records.iter().enumerate() {
        let row = index + 1;
        if r.id < 1 {
            return Err(row_error(row, "id", "must be a positive integer"));
        }
        validate::event_type(&r.event_type).map_err(|p| row_error(row, "event_type", p))?;
        let occurred_at = match r.timestamp.as_deref().map(str::trim) {
            None | Some("") => now,
            Some(cell) => parse_timestamp(cell).map_err(|p| row_error(row, "timestamp", p))?,
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
        rows.event_types.push(r.event_type.clone());
        rows.occurred_at.push(occurred_at);
        rows.details.push(details);
    }
    if let Some((first, again)) = first_duplicate(rows.ids.iter()) {
        return Err(row_error(
            again,
            "id",
            format!("repeats the id of row {first}"),
        ));
    }
    Ok(rows)
}
