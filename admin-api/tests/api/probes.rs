//! `/health`, `/ready`, `/metrics`, and what happens when Postgres is away.

use std::time::Duration;

use admin_api::Settings;
use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::support::{PUBLIC_BASE, TestApp};

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn health_and_ready_answer_ok(pool: PgPool) {
    let app = TestApp::new(pool);
    let health = app.get("/health").await;
    health.assert_status(StatusCode::OK);
    assert_eq!(health.json(), json!({"status": "ok"}));
    let ready = app.get("/ready").await;
    ready.assert_status(StatusCode::OK);
    assert_eq!(ready.json()["checks"]["postgres"], "ok");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn metrics_count_requests_by_route_template(pool: PgPool) {
    let app = TestApp::new(pool);
    app.get("/users/12345").await;
    let text = String::from_utf8(app.get("/metrics").await.body).expect("utf-8");
    assert!(
        text.contains(
            r#"admin_http_requests_total{method="GET",route="/users/{id}",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains("12345"), "raw ids never become labels");
}

#[tokio::test]
async fn an_unreachable_database_is_503_json_but_health_stays_200() {
    // A pool aimed at a port nothing listens on, failing fast.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")
        .expect("lazy pool");
    let app = TestApp::with_settings(pool, Settings::new(PUBLIC_BASE));
    let response = app.get("/users").await;
    response.assert_error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    assert!(response.header("retry-after").is_some());
    let response = app
        .post_json(
            "/users",
            &json!({"username": "a", "email": "a@example.com"}),
        )
        .await;
    response.assert_error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    app.get("/ready")
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE);
    app.get("/health").await.assert_status(StatusCode::OK);
}
