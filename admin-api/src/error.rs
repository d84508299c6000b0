//! The admin API's one error type. Every failure becomes the contract's JSON
//! error body; a 5xx body never carries internal text (the detail is logged
//! once, inside the request's span).

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_UNAVAILABLE_SECS: u64 = 5;

/// The error body of the HTTP contract (a superset of the old service's).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status as an integer.
    #[schema(example = 422)]
    pub code: u16,
    /// The status's reason phrase.
    #[schema(example = "Unprocessable Entity")]
    pub status: String,
    /// A message for a human.
    #[schema(example = "email: must be a valid email address")]
    pub message: String,
    /// A snake_case machine code.
    #[schema(example = "validation_failed")]
    pub error: String,
    /// For validation errors: what is wrong with each field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, String>>,
    /// For bulk imports: the 1-based data row (header not counted) at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
}

/// An error answered to the client in the contract's format.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    message: String,
    details: Option<BTreeMap<String, String>>,
    row: Option<u64>,
    /// Seconds for `Retry-After` (429, 503).
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
            details: None,
            row: None,
            retry_after: None,
        }
    }

    /// 400: the request is not what the endpoint reads (not JSON, bad query…).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: an API key is required and missing or wrong.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required (Authorization: Bearer <key> or X-API-Key)",
        )
    }

    /// 403: the key is valid but its role does not allow the request.
    pub fn forbidden(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 for a thing the client named.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 409: a uniqueness conflict on `field`.
    pub fn conflict(field: &str, problem: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{field}: {problem}"),
        )
        .with_detail(field, problem)
    }

    /// 413: the body is over the limit.
    pub fn payload_too_large(limit: &str) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {limit}"),
        )
    }

    /// 413: an import file holds more rows than one import may.
    pub fn too_many_rows(max_rows: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the file holds more than {max_rows} rows, the most one import takes; split it"
            ),
        )
    }

    /// 422: well-formed input that breaks the schema.
    pub fn validation(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("{field}: {problem}"),
        )
        .with_detail(field, &problem)
    }

    /// 408: the client took too long to send `what`.
    pub fn request_timeout(what: &str) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("{what} took too long to arrive"),
        )
    }

    /// 429 with `Retry-After`: the client may try again after `wait`
    /// (rounded up to whole seconds, at least one).
    pub fn rate_limited(message: &str, wait: std::time::Duration) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        error.retry_after =
            Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero()));
        error
    }

    /// 503: a dependency the request needs is down.
    pub fn unavailable(what: &str) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            format!("{what} is unavailable, try again shortly"),
        );
        error.retry_after = Some(RETRY_AFTER_UNAVAILABLE_SECS);
        error
    }

    /// 503: a query ran past the statement timeout.
    pub fn query_timed_out() -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "the database took too long to answer, try again shortly",
        );
        error.retry_after = Some(RETRY_AFTER_UNAVAILABLE_SECS);
        error
    }

    /// 500: logs the cause here, answers a body without it.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal server error",
        )
    }

    /// An error for any status, used to give framework-made responses our body.
    pub fn from_status(status: StatusCode) -> Self {
        let (error, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such resource"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "method not allowed on this path")
            }
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::BAD_REQUEST => {
                ("bad_request", "the request could not be read")
            }
            StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long"),
            StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests; slow down"),
            s if s.is_server_error() => ("internal_error", "internal server error"),
            _ => ("error", "the request failed"),
        };
        let status = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        Self::new(status, error, message)
    }

    /// Adds a field to `details`.
    pub fn with_detail(mut self, field: &str, problem: &str) -> Self {
        self.details
            .get_or_insert_with(BTreeMap::new)
            .insert(field.to_owned(), problem.to_owned());
        self
    }

    /// Names the import row at fault, in the body and the message.
    pub fn at_row(mut self, row: u64) -> Self {
        self.message = format!("row {row}: {}", self.message);
        self.row = Some(row);
        self
    }
}

/// The message a person reads (the command line prints it).
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// Whether the error is the caller's (4xx), not the service's.
    pub fn is_client_error(&self) -> bool {
        self.status.is_client_error()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The problem with each field, for validation errors.
    pub fn details(&self) -> Option<&BTreeMap<String, String>> {
        self.details.as_ref()
    }

    /// The import row at fault (1-based, header not counted), if any.
    pub fn row(&self) -> Option<u64> {
        self.row
    }

    /// Seconds for `Retry-After`, if the client may retry.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.status.as_u16(),
            status: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.message,
            error: self.error.to_owned(),
            details: self.details,
            row: self.row,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Maps a database failure: known constraints become the client's error
/// (one table here, keyed on constraint name), an unreachable database a 503,
/// anything else a logged 500.
impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if let Some(db_err) = err.as_database_error() {
            if let Some(mapped) = db_err.constraint().and_then(on_constraint) {
                return mapped;
            }
            // 57014: cancelled by the statement timeout (or an operator);
            // the query may succeed when the database is less busy.
            if db_err.code().as_deref() == Some("57014") {
                return Self::query_timed_out();
            }
            // SQLSTATE class 08 (connection exception) and 57P0x (shutdown).
            if db_err
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P0"))
            {
                return Self::unavailable("the database");
            }
        }
        match err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::unavailable("the database"),
            other => Self::internal(&other),
        }
    }
}

/// The client-facing error for a violated constraint, if it is one a client
/// can cause.
fn on_constraint(name: &str) -> Option<ApiError> {
    Some(match name {
        "users_email_key" => ApiError::conflict("email", "is already taken"),
        "urls_short_code_key" => ApiError::conflict("short_code", "is already taken"),
        "urls_user_id_fkey" | "api_keys_user_id_fkey" => ApiError::not_found("user"),
        "api_keys_name_key" => ApiError::conflict("name", "is already taken"),
        _ => return None,
    })
}

/// Handler result type.
pub type ApiResult<T> = Result<T, ApiError>;
