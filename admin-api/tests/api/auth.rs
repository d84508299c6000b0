//! API keys: required on every resource endpoint when configured, never on
//! the probes, metrics or docs.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sqlx::PgPool;

use crate::support::TestApp;

fn get_with(uri: &str, header: (&str, &str)) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .header(header.0, header.1)
        .body(Body::empty())
        .expect("valid request")
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn resources_need_a_valid_key_when_keys_are_configured(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &["k-one", "k-two"]);
    for path in ["/users", "/urls", "/events", "/users/1"] {
        let response = app.get(path).await;
        response.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    for header in [
        ("authorization", "Bearer wrong"),
        ("x-api-key", "k-one-not"),
        ("authorization", "Basic k-one"),
    ] {
        app.send_request(get_with("/users", header))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    for header in [
        ("authorization", "Bearer k-one"),
        ("authorization", "bearer k-two"),
        ("x-api-key", "k-two"),
    ] {
        app.send_request(get_with("/users", header))
            .await
            .assert_status(StatusCode::OK);
    }
    let before = app.row_counts().await;
    let response = app
        .post_json(
            "/users",
            &serde_json::json!({"username": "a", "email": "a@example.com"}),
        )
        .await;
    response.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn probes_metrics_and_docs_stay_open(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &["secret"]);
    for path in [
        "/health",
        "/ready",
        "/metrics",
        "/apidocs/openapi.json",
        "/apidocs/",
    ] {
        app.get(path).await.assert_status(StatusCode::OK);
    }
}
