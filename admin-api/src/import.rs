//! Bulk CSV import (`POST /users/bulk`, `/urls/bulk`, `/events/bulk`) of the
//! old service's file formats: the multipart upload, CSV decoding with row
//! numbers in every error, and the cell formats (`True`/`False`, timestamps
//! with a space and no offset). Each resource's rules live in its submodule;
//! every import is one transaction, all rows or none.

pub mod events;
pub mod urls;
pub mod users;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Largest CSV upload, in bytes (the contract's 50 MiB).
pub const CSV_BODY_LIMIT: usize = 50 * 1024 * 1024;

/// The multipart form of an import, for the API docs.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The CSV file, with a header row.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// What an import answers: `imported` and `count` are both the number of rows
/// in the file (both names, because old clients read either).
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct ImportResult {
    pub imported: u64,
    pub count: u64,
}

impl ImportResult {
    pub(crate) fn of(rows: usize) -> Self {
        Self {
            imported: rows as u64,
            count: rows as u64,
        }
    }
}

/// The `file` part of a `multipart/form-data` upload.
#[derive(Debug)]
pub struct CsvUpload {
    bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for CsvUpload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let mut form = open_multipart(req, state).await?;
        loop {
            let field = form.next_field().await.map_err(multipart_error)?;
            let Some(field) = field else {
                return Err(ApiError::bad_request("the form has no `file` part"));
            };
            if field.name() == Some("file") {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                return Self::from_file(bytes);
            }
        }
    }
}

/// Reads `req` as a `multipart/form-data` body (400 if it is not one).
pub(crate) async fn open_multipart<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<Multipart, ApiError> {
    Multipart::from_request(req, state).await.map_err(|_| {
        ApiError::bad_request("expected a multipart/form-data body with a `file` part")
    })
}

/// A multipart body that could not be read: 413 past the limit, else 400.
pub(crate) fn multipart_error(err: axum::extract::multipart::MultipartError) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large("50 MiB")
    } else {
        ApiError::bad_request(format!(
            "the multipart body could not be read: {}",
            err.body_text()
        ))
    }
}

impl CsvUpload {
    /// The upload of a `file` part's bytes: 400 when it holds nothing.
    pub(crate) fn from_file(bytes: Bytes) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("the uploaded file is empty"));
        }
        Ok(Self { bytes })
    }

    /// Decodes the data rows into `T` one at a time, numbering rows from 1
    /// (the header is not a row), and hands each to `each`, which moves its
    /// cells into the import's columns. No second copy of the file is held:
    /// memory is the upload plus the columns being built. A row that does
    /// not decode is a 422 naming it and its column; a file of more than
    /// `max_rows` rows is a 413. Returns the number of rows (zero for a file
    /// with a header and no rows).
    pub fn for_each_record<T: DeserializeOwned>(
        &self,
        max_rows: usize,
        mut each: impl FnMut(usize, T) -> Result<(), ApiError>,
    ) -> Result<usize, ApiError> {
        let data = self
            .bytes
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&self.bytes);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(data);
        let headers = reader
            .headers()
            .map_err(|err| {
                ApiError::validation("file", format!("the header row cannot be read: {err}"))
            })?
            .clone();
        let mut rows = 0;
        for record in reader.deserialize::<T>() {
            rows += 1;
            if rows > max_rows {
                return Err(ApiError::too_many_rows(max_rows));
            }
            let record = record.map_err(|err| csv_error(&err, &headers).at_row(rows as u64))?;
            each(rows, record)?;
        }
        Ok(rows)
    }
}

fn csv_error(err: &csv::Error, headers: &csv::StringRecord) -> ApiError {
    match err.kind() {
        csv::ErrorKind::Deserialize { err: de, .. } => {
            let column = de
                .field()
                .and_then(|i| headers.get(i as usize))
                .unwrap_or("row")
                .to_owned();
            let message = de.to_string();
            let problem = message
                .split_once(": ")
                .map_or(message.as_str(), |(_, p)| p);
            ApiError::validation(&column, problem)
        }
        csv::ErrorKind::UnequalLengths { .. } => {
            ApiError::validation("row", "has a different number of columns than the header")
        }
        csv::ErrorKind::Utf8 { .. } => ApiError::validation("row", "is not valid UTF-8"),
        _ => ApiError::validation("row", "cannot be read as CSV"),
    }
}

/// A boolean cell: `True`/`False` as the old service wrote them, or
/// `true`/`false`/`1`/`0`.
pub fn parse_bool(cell: &str) -> Result<bool, String> {
    match cell.trim() {
        "True" | "true" | "TRUE" | "1" => Ok(true),
        "False" | "false" | "FALSE" | "0" => Ok(false),
        _ => Err("must be True or False".into()),
    }
}

/// A timestamp cell in any accepted form (`2025-09-28 22:57:23` included).
pub fn parse_timestamp(cell: &str) -> Result<DateTime<Utc>, String> {
    shared::time::parse(cell).map_err(|e| e.to_string())
}

/// Largest id an import accepts: 2^53, the largest integer that every JSON
/// client (JavaScript's `Number` included) reads exactly.
pub const MAX_ID: i64 = 1 << 53;

/// Checks an id cell (`id`, or an id that a row refers to): positive and at
/// most [`MAX_ID`], else a 422 naming the row.
pub fn check_id(row: usize, column: &str, id: i64) -> Result<i64, ApiError> {
    if id < 1 {
        return Err(row_error(row, column, "must be a positive integer"));
    }
    if id > MAX_ID {
        return Err(row_error(
            row,
            column,
            format!("must be at most {MAX_ID} (2^53)"),
        ));
    }
    Ok(id)
}

/// Turns a row's problem into the 422 the import answers.
pub fn row_error(row: usize, column: &str, problem: impl Into<String>) -> ApiError {
    ApiError::validation(column, problem).at_row(row as u64)
}

/// Finds the first row whose key was already seen, for in-file duplicates.
pub fn first_duplicate<K: std::hash::Hash + Eq>(
    keys: impl IntoIterator<Item = K>,
) -> Option<(usize, usize)> {
    let mut seen = std::collections::HashMap::new();
    for (index, key) in keys.into_iter().enumerate() {
        if let Some(first) = seen.insert(key, index + 1) {
            return Some((first, index + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_in_the_old_and_new_spellings() {
        let cases = [
            ("True", Some(true)),
            ("False", Some(false)),
            ("true", Some(true)),
            ("0", Some(false)),
            ("yes", None),
            ("", None),
        ];
        for (cell, expected) in cases {
            assert_eq!(parse_bool(cell).ok(), expected, "cell {cell:?}");
        }
    }

    #[test]
    fn first_duplicate_names_both_rows() {
        assert_eq!(first_duplicate([1, 2, 3, 2, 1]), Some((2, 4)));
        assert_eq!(first_duplicate([1, 2, 3]), None);
    }

    #[test]
    fn ids_must_be_positive_and_at_most_2_pow_53() {
        let cases = [
            (1, true),
            (MAX_ID, true),
            (MAX_ID + 1, false),
            (i64::MAX, false),
            (0, false),
            (-3, false),
        ];
        for (id, ok) in cases {
            assert_eq!(check_id(4, "id", id).is_ok(), ok, "id {id}");
        }
    }
}
