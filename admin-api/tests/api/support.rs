//! Test harness: drives the router in process and reads the database
//! directly to prove what a request did or did not change.

use admin_api::{ApiKeys, Settings};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::Value;
use shared::link::{Keys, LinkRecord, StoredLink};
use shared::valkey::Valkey;
use sqlx::PgPool;
use tower::ServiceExt;

/// Public base URL the tests configure (its host is the shortener's own).
pub const PUBLIC_BASE: &str = "http://sho.rt";

/// The app under test and its database.
pub struct TestApp {
    router: Router,
    /// Sent as `Authorization: Bearer` on every request that has no key of its own.
    key: Option<String>,
    pub pool: PgPool,
    /// The test's own corner of the shared Valkey.
    pub valkey: Valkey,
    pub state: admin_api::AppState,
}

impl TestApp {
    pub fn new(pool: PgPool) -> Self {
        Self::with_settings(pool, Settings::new(PUBLIC_BASE))
    }

    pub fn with_api_keys(pool: PgPool, keys: &[&str]) -> Self {
        let mut settings = Settings::new(PUBLIC_BASE);
        settings.api_keys = ApiKeys::new(keys.iter().map(|k| (*k).to_owned().into()).collect());
        Self::with_settings(pool, settings)
    }

    pub fn with_settings(pool: PgPool, settings: Settings) -> Self {
        let valkey = test_valkey();
        let state = admin_api::build_state(pool.clone(), valkey.clone(), settings);
        Self::with_state(pool, valkey, state)
    }

    /// The app over a state the test built itself.
    pub fn with_state(pool: PgPool, valkey: Valkey, state: admin_api::AppState) -> Self {
        Self {
            router: admin_api::router(state.clone()),
            key: None,
            pool,
            valkey,
            state,
        }
    }

    /// The same app, sending `key` on every request without a key of its own.
    pub fn signed_in(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    /// Sends a request with optional content type and body.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        self.send_request(request.body(body.into()).expect("valid request"))
            .await
    }

    pub async fn send_request(&self, mut request: Request<Body>) -> TestResponse {
        let headers = request.headers_mut();
        if let Some(key) = &self.key
            && !headers.contains_key("x-api-key")
            && !headers.contains_key(header::AUTHORIZATION)
        {
            let value = format!("Bearer {key}")
                .parse()
                .expect("a valid header value");
            headers.insert(header::AUTHORIZATION, value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body reads")
            .to_bytes()
            .to_vec();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// Requests as `key`, whatever key the app is signed in with.
    pub fn as_key<'a>(&'a self, key: &'a str) -> AsKey<'a> {
        AsKey { app: self, key }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(Method::GET, uri, None, Body::empty()).await
    }

    pub async fn delete(&self, uri: &str) -> TestResponse {
        self.send(Method::DELETE, uri, None, Body::empty()).await
    }

    pub async fn post_json(&self, uri: &str, json: &Value) -> TestResponse {
        self.send(
            Method::POST,
            uri,
            Some("application/json"),
            json.to_string(),
        )
        .await
    }

    pub async fn put_json(&self, uri: &str, json: &Value) -> TestResponse {
        self.send(Method::PUT, uri, Some("application/json"), json.to_string())
            .await
    }

    /// Uploads `content` as the multipart part `file`.
    pub async fn upload(&self, uri: &str, content: impl AsRef<[u8]>) -> TestResponse {
        let (content_type, body) = multipart(&[("file", content.as_ref())]);
        self.send(Method::POST, uri, Some(&content_type), body)
            .await
    }

    /// Creates a user and returns its id.
    pub async fn create_user(&self, username: &str, email: &str) -> i64 {
        let response = self
            .post_json(
                "/users",
                &serde_json::json!({"username": username, "email": email}),
            )
            .await;
        response.assert_status(StatusCode::CREATED);
        response.json()["id"].as_i64().expect("id")
    }

    /// Creates a link for `user_id` and returns its JSON.
    pub async fn create_url(&self, user_id: i64, original_url: &str) -> Value {
        let response = self
            .post_json(
                "/urls",
                &serde_json::json!({"user_id": user_id, "original_url": original_url}),
            )
            .await;
        response.assert_status(StatusCode::CREATED);
        response.json()
    }

    /// Issues a stored key through `POST /api-keys` (the app must be signed
    /// in with an admin key) and returns its id and secret.
    pub async fn create_api_key(
        &self,
        name: &str,
        role: &str,
        user_id: Option<i64>,
    ) -> (i64, String) {
        let mut body = serde_json::json!({"name": name, "role": role});
        if let Some(user_id) = user_id {
            body["user_id"] = user_id.into();
        }
        let response = self.post_json("/api-keys", &body).await;
        response.assert_status(StatusCode::CREATED);
        let created = response.json();
        let id = created["id"].as_i64().expect("id");
        let secret = created["key"].as_str().expect("the secret").to_owned();
        (id, secret)
    }

    /// The live record Valkey holds for `code`, if any (not a tombstone).
    pub async fn valkey_record(&self, code: &str) -> Option<LinkRecord> {
        self.valkey_stored(code).await.and_then(StoredLink::live)
    }

    /// What Valkey holds for `code`: a record, a tombstone, or nothing.
    pub async fn valkey_stored(&self, code: &str) -> Option<StoredLink> {
        let mut connection = self.valkey.connection().await.expect("Valkey is up");
        let raw: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.valkey.keys().link(code))
            .query_async(&mut connection)
            .await
            .expect("GET");
        raw.map(|bytes| StoredLink::decode(&bytes).expect("a valid record"))
    }

    /// Rows in each table, deleted ones included: what a failed request must
    /// leave unchanged.
    /// The stats of `link` (a URL object).
    pub async fn stats_of(&self, link: &Value) -> Value {
        let code = link["short_code"].as_str().expect("a link's code");
        let reply = self.get(&format!("/urls/{code}/stats")).await;
        reply.assert_status(StatusCode::OK);
        reply.json()
    }

    /// The details of link `url_id`'s events of `event_type`, oldest first.
    pub async fn event_details(&self, url_id: &Value, event_type: &str) -> Vec<Value> {
        let reply = self
            .get(&format!("/events?url_id={url_id}&event_type={event_type}"))
            .await;
        reply.assert_status(StatusCode::OK);
        let events = reply.json();
        events
            .as_array()
            .expect("a list")
            .iter()
            .map(|event| event["details"].clone())
            .collect()
    }

    pub async fn row_counts(&self) -> RowCounts {
        let count = |table: &'static str| {
            let pool = self.pool.clone();
            async move {
                // Table names come from the fixed list below, never from input.
                sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                    .fetch_one(&pool)
                    .await
                    .expect("count")
            }
        };
        RowCounts {
            users: count("users").await,
            urls: count("urls").await,
            events: count("events").await,
        }
    }
}

/// Requests to a [`TestApp`] as one key (`Authorization: Bearer`).
pub struct AsKey<'a> {
    app: &'a TestApp,
    key: &'a str,
}

impl AsKey<'_> {
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> TestResponse {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.key));
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(body.into()).expect("valid request");
        self.app.send_request(request).await
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(Method::GET, uri, None, Body::empty()).await
    }

    pub async fn delete(&self, uri: &str) -> TestResponse {
        self.send(Method::DELETE, uri, None, Body::empty()).await
    }

    pub async fn post_json(&self, uri: &str, json: &Value) -> TestResponse {
        let body = json.to_string();
        self.send(Method::POST, uri, Some("application/json"), body)
            .await
    }

    pub async fn put_json(&self, uri: &str, json: &Value) -> TestResponse {
        let body = json.to_string();
        self.send(Method::PUT, uri, Some("application/json"), body)
            .await
    }
}

/// Row counts of the three tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCounts {
    pub users: i64,
    pub urls: i64,
    pub events: i64,
}

/// A handle on the Valkey that the test command started (`REDIS_URL`), under
/// a namespace of this test's own, so that parallel tests never share keys.
pub fn test_valkey() -> Valkey {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL must be set (scripts/test.sh sets it)");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let namespace = format!("test-{}-{nanos}:", std::process::id());
    Valkey::new(
        &url.into(),
        Keys::new(&namespace),
        std::time::Duration::from_secs(2),
    )
    .expect("valid REDIS_URL")
}

/// A multipart/form-data body with the given parts.
pub fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}.csv\"\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(b"Content-Type: text/csv\r\n\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A multipart upload whose body sends its first part and then stalls, as a
/// client trickling a file (or gone silent) does.
pub fn stalled_upload(uri: &str) -> Request<Body> {
    let (content_type, body) = multipart(&[("file", b"id,username,email,created_at\n")]);
    let head = axum::body::Bytes::from(body[..body.len() / 2].to_vec());
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) })
        .chain(futures_util::stream::pending());
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("content-type", content_type)
        .body(Body::from_stream(stream))
        .expect("valid request")
}

/// A response, fully read.
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn assert_status(&self, expected: StatusCode) {
        assert_eq!(
            self.status,
            expected,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
    }

    /// Asserts the contract's error body for `status` with machine code `error`.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, error: &str) -> Value {
        self.assert_status(status);
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "error responses are JSON, got {:?}",
            self.header("content-type")
        );
        let body = self.json();
        assert_eq!(body["code"], status.as_u16(), "{body}");
        assert_eq!(
            body["status"],
            status.canonical_reason().expect("known status"),
            "{body}"
        );
        assert_eq!(body["error"], error, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        body
    }
}

/// Path of a seed file in the repository.
pub fn seed(name: &str) -> String {
    format!("{}/../seeds/{name}", env!("CARGO_MANIFEST_DIR"))
}
