//! Hostile clients against the keys and the console: the largest bodies they
//! can send are refused with a clear answer and change nothing, a flood of
//! wrong keys at the console's sign-in is throttled like the API's, and the
//! same form sent twice does not write twice what must be unique.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use shared::config::Rate;
use sqlx::PgPool;

use crate::browser::{BOOT, Browser, HOST, field_error, text};
use crate::support::{PUBLIC_BASE, TestApp};

async fn key_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(pool)
        .await
        .expect("count")
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_oversized_key_request_is_413_and_stores_nothing(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let name = "n".repeat(2 * 1024 * 1024);
    let response = app
        .post_json("/api-keys", &json!({"name": name, "role": "viewer"}))
        .await;
    response.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(key_rows(&app.pool).await, 0);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn oversized_console_forms_are_refused_without_a_server_error(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]);
    let huge = "k".repeat(2 * 1024 * 1024);
    let mut anonymous = Browser::new(&app);
    let sign_in = anonymous
        .post_raw(
            "/ui/login",
            &[("key", &huge)],
            Some(&format!("http://{HOST}")),
        )
        .await;
    assert!(sign_in.status.is_client_error(), "{}", sign_in.status);
    assert!(!anonymous.has_session());
    let mut browser = Browser::signed_in(&app, BOOT).await;
    browser.get("/ui/keys").await;
    let create = browser
        .post("/ui/keys", &[("name", &huge), ("role", "viewer")])
        .await;
    assert!(create.status.is_client_error(), "{}", create.status);
    assert_eq!(key_rows(&app.pool).await, 0);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_flood_of_wrong_keys_at_the_console_sign_in_gets_429(pool: PgPool) {
    let mut settings = admin_api::Settings::new(PUBLIC_BASE);
    settings.api_keys = admin_api::ApiKeys::new(vec![BOOT.into()]);
    settings.auth_failure_rate = Rate {
        count: 2,
        per: Duration::from_secs(3600),
    };
    let app = TestApp::with_settings(pool, settings);
    let mut browser = Browser::new(&app);
    let mut statuses = Vec::new();
    for attempt in 0..1000 {
        let wrong = format!("wrong-key-{attempt}");
        statuses.push(browser.sign_in(&wrong).await.status);
    }
    // Bursts of ten times the rate, then refused before the key is looked at.
    assert!(
        statuses[..20]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED)
    );
    assert!(
        statuses[20..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    assert!(!browser.has_session());
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_same_key_form_sent_twice_issues_one_key(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]);
    let mut browser = Browser::signed_in(&app, BOOT).await;
    browser.get("/ui/keys").await;
    let fields = [("name", "deploy"), ("role", "viewer")];
    let first = browser.post("/ui/keys", &fields).await;
    assert!(first.status.is_success(), "{}", first.status);
    browser.get("/ui/keys").await;
    let again = browser.post("/ui/keys", &fields).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        field_error(&text(&again), "name").is_some(),
        "{}",
        text(&again)
    );
    assert_eq!(key_rows(&app.pool).await, 1);
}
