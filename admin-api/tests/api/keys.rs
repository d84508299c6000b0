//! Stored API keys: issued once with their secret, stored as a digest only,
//! listed and read without it, revoked at once on this replica, used no more
//! than once a minute in `last_used_at`, each with its own write rate when
//! it has one; every rule of a new key answers the contract's error.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::support::{TestApp, TestResponse};

const BOOT: &str = "bootstrap-admin-key-0123456789abcdef";

fn app(pool: PgPool) -> TestApp {
    TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT)
}

/// Issues a key and returns the response body (with its `key`).
async fn issue(app: &TestApp, body: Value) -> Value {
    let response = app.post_json("/api-keys", &body).await;
    response.assert_status(StatusCode::CREATED);
    response.json()
}

async fn get_as(app: &TestApp, key: &str, uri: &str) -> TestResponse {
    let request = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header("x-api-key", key)
        .body(Body::empty())
        .expect("request");
    app.send_request(request).await
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_issued_key_is_shown_once_and_stored_only_as_its_digest(pool: PgPool) {
    let app = app(pool);
    let created = issue(&app, json!({"name": "ops", "role": "admin"})).await;
    let key = created["key"].as_str().expect("the secret").to_owned();
    let prefix = created["prefix"].as_str().expect("prefix").to_owned();
    assert!(key.starts_with(&format!("{prefix}_")), "{key} / {prefix}");
    let secret = &key[prefix.len() + 1..];
    assert!(secret.len() >= 32, "at least 32 secret characters");
    assert_eq!(created["role"], "admin");
    assert_eq!(created["user_id"], Value::Null);
    assert_eq!(created["last_used_at"], Value::Null);
    assert_eq!(created["rate_limit_per_minute"], Value::Null);

    let id = created["id"].as_i64().expect("id");
    let read = app.get(&format!("/api-keys/{id}")).await;
    read.assert_status(StatusCode::OK);
    let mut expected = created.clone();
    expected.as_object_mut().expect("object").remove("key");
    assert_eq!(read.json(), expected, "the same object, without the secret");
    let listed = app.get("/api-keys").await;
    assert_eq!(listed.json(), json!([expected]));
    assert_eq!(listed.header("x-total-count"), Some("1"));

    let (digest, whole_row): (Vec<u8>, String) =
        sqlx::query_as("SELECT digest, row_to_json(k)::text FROM api_keys k WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .expect("the stored key");
    assert_eq!(digest, Sha256::digest(key.as_bytes()).to_vec());
    let secret = &key[prefix.len() + 1..];
    assert!(
        !whole_row.contains(secret),
        "the secret is stored: {whole_row}"
    );

    let used = get_as(&app, &key, "/urls").await;
    used.assert_status(StatusCode::OK);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_revoked_key_stops_working_at_once_and_its_name_stays_taken(pool: PgPool) {
    let app = app(pool);
    let created = issue(&app, json!({"name": "ci", "role": "viewer"})).await;
    let key = created["key"].as_str().expect("secret");
    let id = created["id"].as_i64().expect("id");
    get_as(&app, key, "/urls")
        .await
        .assert_status(StatusCode::OK);

    app.delete(&format!("/api-keys/{id}"))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    get_as(&app, key, "/urls")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get(&format!("/api-keys/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&format!("/api-keys/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.get("/api-keys").await.json(), json!([]));
    // Events keep naming the revoked key: its name means it for good.
    app.post_json("/api-keys", &json!({"name": "ci", "role": "viewer"}))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_new_key_breaking_a_rule_gets_the_contracts_error_and_nothing_is_stored(pool: PgPool) {
    let app = app(pool);
    let user = app.create_user("ann", "ann@example.com").await;
    let cases = [
        (
            json!({"name": "e", "role": "editor"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_id",
        ),
        (
            json!({"name": "a", "role": "admin", "user_id": user}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_id",
        ),
        (
            json!({"name": "r", "role": "root"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "role",
        ),
        (
            json!({"name": "", "role": "viewer"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "x".repeat(65), "role": "viewer"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "system", "role": "viewer"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "env-1", "role": "admin"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "v", "role": "viewer", "rate_limit_per_minute": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rate_limit_per_minute",
        ),
        (
            json!({"name": "v", "role": "viewer", "secret": "mine"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secret",
        ),
        (
            json!({"name": 5, "role": "viewer"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "e", "role": "editor", "user_id": user + 100}),
            StatusCode::NOT_FOUND,
            "",
        ),
    ];
    for (body, status, field) in cases {
        let response = app.post_json("/api-keys", &body).await;
        assert_eq!(
            response.status,
            status,
            "{body}: {}",
            String::from_utf8_lossy(&response.body)
        );
        if !field.is_empty() {
            assert!(
                response.json()["details"].get(field).is_some(),
                "{body}: {}",
                response.json()
            );
        }
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(stored, 0);
    let viewer = issue(
        &app,
        json!({"name": "v", "role": "viewer", "user_id": user}),
    )
    .await;
    assert_eq!(viewer["user_id"], user);
    let editor = issue(
        &app,
        json!({"name": "e", "role": "editor", "user_id": user}),
    )
    .await;
    assert_eq!(editor["role"], "editor");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn last_used_at_is_written_on_first_use_and_not_again_within_a_minute(pool: PgPool) {
    let app = app(pool);
    let created = issue(&app, json!({"name": "reader", "role": "viewer"})).await;
    let (key, id) = (
        created["key"].as_str().expect("secret"),
        created["id"].as_i64().expect("id"),
    );
    get_as(&app, key, "/urls")
        .await
        .assert_status(StatusCode::OK);
    let first = app.get(&format!("/api-keys/{id}")).await.json();
    assert!(first["last_used_at"].is_string(), "{first}");
    // Pretend the use was long ago: a write per request would overwrite it.
    sqlx::query("UPDATE api_keys SET last_used_at = '2000-01-01' WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .expect("backdate");
    for _ in 0..5 {
        get_as(&app, key, "/urls")
            .await
            .assert_status(StatusCode::OK);
    }
    let later = app.get(&format!("/api-keys/{id}")).await.json();
    assert_eq!(later["last_used_at"], "2000-01-01T00:00:00");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_key_with_its_own_rate_is_limited_by_it_alone(pool: PgPool) {
    // The test settings leave ADMIN_WRITE_RATE off: only the key's own rate limits.
    let app = app(pool);
    let user = app.create_user("ann", "ann@example.com").await;
    let slow = issue(
        &app,
        json!({"name": "slow", "role": "editor", "user_id": user, "rate_limit_per_minute": 1}),
    )
    .await;
    let fast = issue(
        &app,
        json!({"name": "fast", "role": "editor", "user_id": user}),
    )
    .await;
    let post = |key: &str, n: usize| {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/urls")
            .header("x-api-key", key)
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"original_url": format!("https://example.com/{n}")}).to_string(),
            ))
            .expect("request");
        app.send_request(request)
    };
    let slow_key = slow["key"].as_str().expect("secret");
    // Bursts of ten times the rate, then 429 with Retry-After.
    for n in 0..10 {
        post(slow_key, n).await.assert_status(StatusCode::CREATED);
    }
    let refused = post(slow_key, 10).await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(refused.header("retry-after").is_some());
    let fast_key = fast["key"].as_str().expect("secret");
    for n in 0..20 {
        post(fast_key, 100 + n)
            .await
            .assert_status(StatusCode::CREATED);
    }
}
