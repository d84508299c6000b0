//! Request extractors that turn every malformed input into the contract's
//! error: a JSON body (400 when it is not a JSON object, 413 when too big,
//! 422 when it breaks the schema), query strings (400) and path ids (404).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest JSON body accepted, in bytes (the contract's 1 MiB).
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// A JSON object body deserialized into `T` (which should deny unknown fields).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !has_json_content_type(req.headers()) {
            return Err(ApiError::bad_request(
                "Content-Type must be application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large("1 MiB")
            } else {
                ApiError::bad_request("the request body could not be read")
            }
        })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|err| ApiError::bad_request(format!("the body is not valid JSON: {err}")))?;
        if !value.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        serde_path_to_error::deserialize(value)
            .map(JsonBody)
            .map_err(schema_error)
    }
}

fn has_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Turns a serde error into a 422 naming the field at fault.
fn schema_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let message = err.inner().to_string();
    // Missing and unknown fields are reported against the parent object, with
    // the field's name in backticks.
    if let Some(field) = backticked(&message, "missing field `") {
        return ApiError::validation(&join_path(&path, field), "is required");
    }
    if let Some(field) = backticked(&message, "unknown field `") {
        // Unlike a missing field, an unknown one is already in the path.
        let field_path = if path == field || path.ends_with(&format!(".{field}")) {
            path.clone()
        } else {
            join_path(&path, field)
        };
        return ApiError::validation(&field_path, "is not a known field");
    }
    let problem = message.split(" at line ").next().unwrap_or(&message);
    ApiError::validation(&path, problem)
}

fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

fn join_path(parent: &str, field: &str) -> String {
    if parent == "." {
        field.to_owned()
    } else {
        format!("{parent}.{field}")
    }
}

/// A query string deserialized into `T`; anything unparseable is a 400.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// A numeric id in the path. Anything that is not a positive integer names no
/// resource, so it is a 404, as the contract asks (`/users/abc`).
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("resource"))?;
        parse_id(&raw)
            .map(PathId)
            .ok_or_else(|| ApiError::not_found("resource"))
    }
}

/// Parses a positive id written in plain digits.
pub fn parse_id(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_are_positive_plain_integers() {
        let cases = [
            ("1", Some(1)),
            ("0042", Some(42)),
            ("9223372036854775807", Some(i64::MAX)),
            ("9223372036854775808", None),
            ("0", None),
            ("-1", None),
            ("+1", None),
            ("abc", None),
            ("1e3", None),
            ("", None),
            (" 1", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_id(raw), expected, "path id {raw:?}");
        }
    }
}
