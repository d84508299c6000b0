//! The redirector's responses, built in one place: JSON bodies in the
//! contract's error format, probes, metrics.

use std::sync::LazyLock;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use shared::exposition::Format;

/// The body type of every response.
pub type Body = Full<Bytes>;

const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");

/// A JSON response.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}

/// A contract error body for `status`.
pub fn error(status: StatusCode, error: &str, message: &str) -> Response<Body> {
    json(status, error_body(status, error, message))
}

fn error_body(status: StatusCode, error: &str, message: &str) -> Bytes {
    let body = serde_json::json!({
        "code": status.as_u16(),
        "status": status.canonical_reason().unwrap_or("Error"),
        "message": message,
        "error": error,
    });
    Bytes::from(body.to_string())
}

/// 404 for a path that names nothing (a flood of unknown codes is answered
/// from one shared body).
pub fn not_found() -> Response<Body> {
    static BODY: LazyLock<Bytes> =
        LazyLock::new(|| error_body(StatusCode::NOT_FOUND, "not_found", "no such link"));
    json(StatusCode::NOT_FOUND, BODY.clone())
}

/// 400 for a path segment that can never be a code.
pub fn malformed() -> Response<Body> {
    error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "the path cannot name a link",
    )
}

/// 503 when no lookup tier answers.
pub fn unavailable() -> Response<Body> {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
        "link storage is unavailable, try again shortly",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// A redirect to `location` with the link's status; never cached by clients
/// (a link can change or be deleted at any time).
pub fn redirect(status: StatusCode, location: &HeaderValue) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location.clone());
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=0"),
    );
    response
}

/// 405 with the allowed methods.
pub fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this path",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// `GET /health`.
pub fn healthy() -> Response<Body> {
    json(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#))
}

/// A metrics exposition, `text` in `format`.
pub fn metrics(format: Format, text: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

/// 429 for a client prefix over a rate limit, with the seconds to wait (a
/// flood is answered from one shared body).
pub fn too_many_requests(retry_after: std::num::NonZeroU32) -> Response<Body> {
    static BODY: LazyLock<Bytes> = LazyLock::new(|| {
        error_body(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests from your network, slow down",
        )
    });
    let mut response = json(StatusCode::TOO_MANY_REQUESTS, BODY.clone());
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.get()));
    response
}

/// 431 for a request head over the configured size or header count.
pub fn header_fields_too_large() -> Response<Body> {
    error(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "header_fields_too_large",
        "the request's headers are too large or too many",
    )
}
