//! `/health`, `/ready`, `/metrics`, and what happens when Postgres is away.

use std::time::Duration;

use admin_api::Settings;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
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

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn metrics_are_prometheus_text_unless_openmetrics_is_asked_for(pool: PgPool) {
    let app = TestApp::new(pool);
    app.get("/health").await;
    let scrape = |accept: Option<&'static str>| {
        let mut request = Request::builder().uri("/metrics");
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        app.send_request(request.body(Body::empty()).expect("request"))
    };
    let sample = r#"admin_http_requests_total{method="GET",route="/health",status="200"} 1"#;

    for accept in [None, Some("text/plain;version=0.0.4"), Some("*/*")] {
        let response = scrape(accept).await;
        response.assert_status(StatusCode::OK);
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8"),
            "{accept:?}"
        );
        let text = String::from_utf8(response.body).expect("utf-8");
        assert!(text.contains(sample), "{text}");
        assert!(
            text.contains("# TYPE admin_http_requests_total counter\n"),
            "classic counters are declared under their sample name: {text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }

    for accept in [
        "application/openmetrics-text; version=1.0.0",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    ] {
        let response = scrape(Some(accept)).await;
        response.assert_status(StatusCode::OK);
        assert_eq!(
            response.header("content-type"),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            "{accept}"
        );
        let text = String::from_utf8(response.body).expect("utf-8");
        assert!(text.contains(sample), "{text}");
        assert!(
            text.contains("# TYPE admin_http_requests counter\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
