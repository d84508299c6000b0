//! Streamed CSV exports: the rows of a list, in an import format, read a
//! chunk at a time by id (each chunk its own short query, so an export of
//! millions of rows holds one chunk in memory and no connection between
//! chunks) and written to the client as they are read. The first chunk is
//! read before the response starts, so a database that is down is a 503
//! JSON error, not a broken file; a failure later ends the transfer
//! abruptly (the client sees an incomplete download, never a short file
//! that looks whole). The caller's export slot is held until the last chunk.

use std::future::Future;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::OwnedSemaphorePermit;

use crate::error::{ApiError, ApiResult};

/// Rows read per query.
pub const CHUNK_ROWS: i64 = 1_000;

/// Timestamps as the import files write them (`2025-09-28 22:57:23`).
const TIMESTAMP: &str = "%Y-%m-%d %H:%M:%S";

/// A row written as one record of an import format.
pub trait CsvRow: Send + 'static {
    /// The id chunks are read by.
    fn id(&self) -> i64;
    /// The record's cells, in the header's order.
    fn cells(&self) -> Vec<String>;
}

/// A timestamp cell.
pub fn timestamp(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format(TIMESTAMP).to_string()
}

/// A boolean cell, as the old service's files write it.
pub fn boolean(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// What an export needs between chunks.
struct Cursor<F> {
    fetch: F,
    /// The id the next chunk starts after; `None`: done.
    next: Option<i64>,
    _slot: OwnedSemaphorePermit,
}

/// Streams `header` and then every row `fetch` returns, as `name.csv`,
/// holding `slot` until done. `fetch(after_id)` reads up to [`CHUNK_ROWS`]
/// rows with ids above `after_id`, by id.
pub async fn stream<T, F, Fut>(
    slot: OwnedSemaphorePermit,
    name: &str,
    header: &[&str],
    mut fetch: F,
) -> ApiResult<Response>
where
    T: CsvRow,
    F: FnMut(i64) -> Fut + Send + 'static,
    Fut: Future<Output = ApiResult<Vec<T>>> + Send + 'static,
{
    let first = fetch(0).await?;
    let head = encode(Some(header), &first)?;
    let cursor = Cursor {
        fetch,
        next: next_after(&first),
        _slot: slot,
    };
    let rest = futures_util::stream::unfold(cursor, |mut cursor| async move {
        let after = cursor.next.take()?;
        let chunk = match (cursor.fetch)(after).await {
            Ok(rows) => {
                cursor.next = next_after(&rows);
                encode(None, &rows)
            }
            Err(err) => Err(err),
        };
        let chunk = chunk.map_err(|err| {
            tracing::warn!(error = %err, "export stopped part way; the client gets an incomplete transfer");
            std::io::Error::other(err.to_string())
        });
        Some((chunk, cursor))
    });
    let body = futures_util::stream::once(async move { Ok(head) }).chain(rest);
    let disposition = format!("attachment; filename=\"{name}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// The id after which the next chunk starts: none after a short chunk.
fn next_after<T: CsvRow>(rows: &[T]) -> Option<i64> {
    if rows.len() < CHUNK_ROWS as usize {
        return None;
    }
    rows.last().map(CsvRow::id)
}

/// The CSV text of `rows`, after `header` when given.
fn encode<T: CsvRow>(header: Option<&[&str]>, rows: &[T]) -> ApiResult<Bytes> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |err: csv::Error| ApiError::internal(&err);
    if let Some(header) = header {
        out.write_record(header).map_err(failed)?;
    }
    for row in rows {
        out.write_record(row.cells()).map_err(failed)?;
    }
    let bytes = out.into_inner().map_err(|err| ApiError::internal(&err))?;
    Ok(Bytes::from(bytes))
}
