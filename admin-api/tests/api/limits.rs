//! Time and concurrency bounds: a request past `ADMIN_REQUEST_TIMEOUT` and an
//! upload past `ADMIN_BODY_TIMEOUT` get 408 JSON and change nothing; a second
//! bulk import while one runs gets 429 with `Retry-After`.

use std::time::Duration;

use admin_api::Settings;
use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{PUBLIC_BASE, TestApp, TestResponse, seed, stalled_upload};

async fn upload_users(app: &TestApp) -> TestResponse {
    let file = std::fs::read(seed("users.csv")).expect("seed file");
    app.upload("/users/bulk", file).await
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_request_past_the_request_timeout_gets_408_json_and_changes_nothing(pool: PgPool) {
    let mut settings = Settings::new(PUBLIC_BASE);
    settings.request_timeout = Duration::from_millis(300);
    let app = TestApp::with_settings(pool.clone(), settings);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com").await;
    // Another transaction holds the link's row, so the update cannot finish.
    let mut blocker = pool.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM urls WHERE id = $1 FOR UPDATE")
        .bind(link["id"].as_i64())
        .execute(&mut *blocker)
        .await
        .expect("lock the row");
    let before = app.row_counts().await;
    let response = app
        .put_json(&format!("/urls/{}", link["id"]), &json!({"title": "late"}))
        .await;
    response.assert_error(StatusCode::REQUEST_TIMEOUT, "request_timeout");
    blocker.rollback().await.expect("rollback");
    let after = app.get(&format!("/urls/{}", link["id"])).await.json();
    assert_eq!(after["title"], "", "the timed-out update was rolled back");
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_upload_trickling_past_the_body_timeout_gets_408_and_imports_nothing(pool: PgPool) {
    let mut settings = Settings::new(PUBLIC_BASE);
    settings.body_timeout = Duration::from_millis(300);
    let app = TestApp::with_settings(pool, settings);
    let before = app.row_counts().await;
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        app.send_request(stalled_upload("/users/bulk")),
    )
    .await
    .expect("the server gives up on the upload, not the test");
    response.assert_error(StatusCode::REQUEST_TIMEOUT, "request_timeout");
    assert_eq!(app.row_counts().await, before);
    // The import slot is free again.
    upload_users(&app).await.assert_status(StatusCode::CREATED);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_second_concurrent_import_gets_429_with_retry_after(pool: PgPool) {
    let app = TestApp::new(pool);
    let mut stalled = Box::pin(app.send_request(stalled_upload("/urls/bulk")));
    // Driven alone for a while, the stalled import takes the slot and waits
    // for the rest of its upload.
    let still_waiting = tokio::time::timeout(Duration::from_millis(300), &mut stalled).await;
    assert!(still_waiting.is_err(), "the stalled upload cannot finish");
    let response = tokio::select! {
        response = &mut stalled => panic!("the stalled upload finished: {}", response.status),
        response = upload_users(&app) => response,
    };
    response.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(response.header("retry-after"), Some("5"));
    // The client behind the stalled import gives up; the slot is free again.
    drop(stalled);
    upload_users(&app).await.assert_status(StatusCode::CREATED);
}
