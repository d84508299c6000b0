//! Import of `users.csv` (`id,username,email,created_at`).

use serde::Deserialize;
use sqlx::PgPool;

use super::{CsvUpload, ImportResult, check_id, first_duplicate, parse_timestamp, row_error};
use crate::db::imports::{self, Table, UserColumns};
use crate::error::{ApiError, ApiResult};
use crate::state::Settings;
use crate::validate;

#[derive(Debug, Deserialize)]
struct UserRecord {
    id: i64,
    username: String,
    email: String,
    /// Empty means now.
    created_at: Option<String>,
}

/// Checks every row, then upserts them all in one transaction.
pub async fn import(
    pool: &PgPool,
    upload: &CsvUpload,
    settings: &Settings,
) -> ApiResult<ImportResult> {
    let rows = columns(upload, settings.import_max_rows)?;
    if rows.ids.is_empty() {
        return Ok(ImportResult::of(0));
    }
    let mut tx = pool.begin().await?;
    crate::db::set_local_statement_timeout(&mut *tx, settings.import_statement_timeout).await?;
    imports::lock(&mut *tx, Table::Users).await?;
    if let Some(row) = imports::first_email_taken(&mut *tx, &rows).await? {
        return Err(ApiError::conflict("email", "belongs to another user").at_row(row as u64));
    }
    imports::upsert_users(&mut *tx, &rows).await?;
    imports::bump_id_sequence(&mut *tx, Table::Users).await?;
    tx.commit().await?;
    Ok(ImportResult::of(rows.ids.len()))
}

fn columns(upload: &CsvUpload, max_rows: usize) -> ApiResult<UserColumns> {
    let mut rows = UserColumns::default();
    let now = chrono::Utc::now();
    upload.for_each_record(max_rows, |row, record: UserRecord| {
        check_id(row, "id", record.id)?;
        validate::username(&record.username).map_err(|p| row_error(row, "username", p))?;
        validate::email(&record.email).map_err(|p| row_error(row, "email", p))?;
        let created_at = match record.created_at.as_deref().map(str::trim) {
            None | Some("") => now,
            Some(cell) => parse_timestamp(cell).map_err(|p| row_error(row, "created_at", p))?,
        };
        rows.ids.push(record.id);
        rows.usernames.push(record.username);
        rows.emails.push(record.email);
        rows.created_at.push(created_at);
        Ok(())
    })?;
    if let Some((first, again)) = first_duplicate(rows.ids.iter()) {
        return Err(row_error(
            again,
            "id",
            format!("repeats the id of row {first}"),
        ));
    }
    if let Some((first, again)) = first_duplicate(rows.emails.iter().map(|e| e.to_lowercase())) {
        return Err(
            ApiError::conflict("email", &format!("repeats the email of row {first}"))
                .at_row(again as u64),
        );
    }
    Ok(rows)
}
