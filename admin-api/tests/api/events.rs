//! `/events`: recording, filters, schema errors.

use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::support::TestApp;

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn create_event_returns_201_and_defaults_its_timestamp(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com").await;
    let body = json!({"url_id": link["id"], "user_id": user, "event_type": "shared", "details": {"via": "email"}});
    let response = app.post_json("/events", &body).await;
    response.assert_status(StatusCode::CREATED);
    let event = response.json();
    assert_eq!(event["event_type"], "shared");
    assert_eq!(event["details"], json!({"via": "email"}));
    assert_eq!(event["timestamp"].as_str().map(str::len), Some(19));
    let explicit = json!({"url_id": link["id"], "user_id": user, "event_type": "shared", "timestamp": "2025-01-02T03:04:05Z"});
    let event = app.post_json("/events", &explicit).await.json();
    assert_eq!(event["timestamp"], "2025-01-02T03:04:05");
    assert_eq!(event["details"], json!({}));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn events_for_unknown_links_or_users_are_404(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com").await;
    let before = app.row_counts().await;
    for body in [
        json!({"url_id": 999, "user_id": user, "event_type": "x"}),
        json!({"url_id": link["id"], "user_id": 999, "event_type": "x"}),
    ] {
        app.post_json("/events", &body)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn event_schema_errors_are_422(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com").await;
    let url_id = link["id"].clone();
    let before = app.row_counts().await;
    for (body, field) in [
        (
            json!({"url_id": url_id, "user_id": user, "event_type": "x", "details": "text"}),
            "details",
        ),
        (
            json!({"url_id": url_id, "user_id": user, "event_type": "x", "details": [1]}),
            "details",
        ),
        (json!({"url_id": url_id, "user_id": user}), "event_type"),
        (
            json!({"url_id": url_id, "user_id": user, "event_type": ""}),
            "event_type",
        ),
        (
            json!({"url_id": url_id, "user_id": user, "event_type": 5}),
            "event_type",
        ),
        (
            json!({"url_id": "1", "user_id": user, "event_type": "x"}),
            "url_id",
        ),
        (json!({"user_id": user, "event_type": "x"}), "url_id"),
        (
            json!({"url_id": url_id, "user_id": user, "event_type": "x", "timestamp": "later"}),
            "timestamp",
        ),
        (
            json!({"url_id": url_id, "user_id": user, "event_type": "x", "id": 1}),
            "id",
        ),
    ] {
        let error = app
            .post_json("/events", &body)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            error["details"][field].is_string(),
            "{body} should name {field}: {error}"
        );
    }
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn events_filter_by_link_user_and_type(pool: PgPool) {
    let app = TestApp::new(pool);
    let alice = app.create_user("alice", "alice@example.com").await;
    let bob = app.create_user("bob", "bob@example.com").await;
    let a = app.create_url(alice, "https://example.com/a").await;
    let b = app.create_url(bob, "https://example.com/b").await;
    app.put_json(&format!("/urls/{}", a["id"]), &json!({"title": "t"}))
        .await
        .assert_status(StatusCode::OK);
    let len = |r: crate::support::TestResponse| r.json().as_array().expect("array").len();
    assert_eq!(len(app.get("/events").await), 3);
    assert_eq!(
        len(app.get(&format!("/events?url_id={}", a["id"])).await),
        2
    );
    assert_eq!(len(app.get(&format!("/events?user_id={bob}")).await), 1);
    assert_eq!(len(app.get("/events?event_type=updated").await), 1);
    assert_eq!(
        len(app
            .get(&format!("/events?url_id={}&event_type=created", b["id"]))
            .await),
        1
    );
    let paged = app.get("/events?per_page=2").await;
    assert_eq!(paged.header("x-total-count"), Some("3"));
    assert!(
        paged
            .header("link")
            .is_some_and(|l| l.contains("rel=\"next\""))
    );
    for query in ["url_id=x", "user_id=1.5", "page=0"] {
        app.get(&format!("/events?{query}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
}
