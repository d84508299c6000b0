//! `/users`: every status code of the contract, and bad input that changes nothing.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::TestApp;

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn create_user_returns_201_with_the_user(pool: PgPool) {
    let app = TestApp::new(pool);
    let response = app
        .post_json(
            "/users",
            &json!({"username": "alice", "email": "alice@example.com"}),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    let user = response.json();
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    assert!(user["id"].as_i64().is_some_and(|id| id > 0));
    let created_at = user["created_at"].as_str().expect("timestamp string");
    assert_eq!(
        created_at.len(),
        19,
        "YYYY-MM-DDTHH:MM:SS, got {created_at}"
    );
    assert_eq!(&created_at[10..11], "T");
    let read = app.get(&format!("/users/{}", user["id"])).await;
    read.assert_status(StatusCode::OK);
    assert_eq!(read.json(), user);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn duplicate_email_in_another_case_is_409_and_writes_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    app.create_user("alice", "alice@example.com").await;
    let before = app.row_counts().await;
    let response = app
        .post_json(
            "/users",
            &json!({"username": "alice2", "email": "ALICE@Example.com"}),
        )
        .await;
    let body = response.assert_error(StatusCode::CONFLICT, "conflict");
    assert!(body["details"]["email"].is_string(), "{body}");
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn usernames_need_not_be_unique(pool: PgPool) {
    let app = TestApp::new(pool);
    app.create_user("same", "one@example.com").await;
    app.create_user("same", "two@example.com").await;
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn schema_errors_are_422_naming_the_field_and_write_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let long = "x".repeat(65);
    let cases = [
        (json!({"email": "a@example.com"}), "username"),
        (json!({"username": "a"}), "email"),
        (json!({"username": 5, "email": "a@example.com"}), "username"),
        (
            json!({"username": true, "email": "a@example.com"}),
            "username",
        ),
        (
            json!({"username": null, "email": "a@example.com"}),
            "username",
        ),
        (
            json!({"username": "a", "email": ["a@example.com"]}),
            "email",
        ),
        (
            json!({"username": "", "email": "a@example.com"}),
            "username",
        ),
        (
            json!({"username": "   ", "email": "a@example.com"}),
            "username",
        ),
        (
            json!({"username": long, "email": "a@example.com"}),
            "username",
        ),
        (json!({"username": "a", "email": "not-an-email"}), "email"),
        (
            json!({"username": "a", "email": "a@example.com", "role": "admin"}),
            "role",
        ),
        (
            json!({"username": "nul\u{0}", "email": "a@example.com"}),
            "username",
        ),
    ];
    let before = app.row_counts().await;
    for (body, field) in cases {
        let response = app.post_json("/users", &body).await;
        let error = response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            error["details"][field].is_string(),
            "body {body} should name {field}: {error}"
        );
    }
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn unreadable_bodies_are_400_and_write_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let cases: [(Option<&str>, &str); 9] = [
        (Some("application/json"), "{not json"),
        (Some("application/json"), "[1, 2]"),
        (Some("application/json"), "\"a string\""),
        (Some("application/json"), "42"),
        (Some("application/json"), ""),
        (
            Some("application/x-www-form-urlencoded"),
            "username=a&email=a%40example.com",
        ),
        (
            Some("text/plain"),
            r#"{"username":"a","email":"a@example.com"}"#,
        ),
        (None, r#"{"username":"a","email":"a@example.com"}"#),
        (Some("application/json"), "null"),
    ];
    let before = app.row_counts().await;
    for (content_type, body) in cases {
        let response = app.send(Method::POST, "/users", content_type, body).await;
        response.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_body_over_one_mib_is_413(pool: PgPool) {
    let app = TestApp::new(pool);
    let huge = format!(
        r#"{{"username":"a","email":"a@example.com","pad":"{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    let response = app
        .send(Method::POST, "/users", Some("application/json"), huge)
        .await;
    response.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(app.row_counts().await.users, 0);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn list_without_page_returns_every_user_with_count(pool: PgPool) {
    let app = TestApp::new(pool);
    for i in 0..3 {
        app.create_user("u", &format!("u{i}@example.com")).await;
    }
    let response = app.get("/users").await;
    response.assert_status(StatusCode::OK);
    let users = response.json();
    let ids: Vec<i64> = users
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ordered by id: {ids:?}"
    );
    assert_eq!(response.header("x-total-count"), Some("3"));
    assert_eq!(response.header("link"), None);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn pages_carry_total_and_link_headers(pool: PgPool) {
    let app = TestApp::new(pool);
    for i in 0..5 {
        app.create_user("u", &format!("u{i}@example.com")).await;
    }
    let response = app.get("/users?page=2&per_page=2").await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.json().as_array().expect("array").len(), 2);
    assert_eq!(response.header("x-total-count"), Some("5"));
    let link = response.header("link").expect("link header");
    assert!(
        link.contains(r#"</users?page=3&per_page=2>; rel="next""#),
        "{link}"
    );
    assert!(
        link.contains(r#"</users?page=1&per_page=2>; rel="prev""#),
        "{link}"
    );
    let clamped = app.get("/users?per_page=5000").await;
    clamped.assert_status(StatusCode::OK);
    assert_eq!(clamped.json().as_array().expect("array").len(), 5);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn bad_page_parameters_are_400(pool: PgPool) {
    let app = TestApp::new(pool);
    for query in [
        "page=0",
        "page=-1",
        "per_page=0",
        "per_page=-3",
        "page=abc",
        "per_page=1.5",
        "page=",
    ] {
        let response = app.get(&format!("/users?{query}")).await;
        response.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn unknown_or_malformed_ids_are_404(pool: PgPool) {
    let app = TestApp::new(pool);
    for path in [
        "/users/999",
        "/users/abc",
        "/users/0",
        "/users/-1",
        "/users/99999999999999999999",
        "/users/1.0",
    ] {
        app.get(path)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
        app.put_json(path, &json!({"username": "x"}))
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
        app.delete(path)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn update_user_changes_only_the_given_fields(pool: PgPool) {
    let app = TestApp::new(pool);
    let id = app.create_user("alice", "alice@example.com").await;
    let response = app
        .put_json(&format!("/users/{id}"), &json!({"username": "alicia"}))
        .await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.json()["username"], "alicia");
    assert_eq!(response.json()["email"], "alice@example.com");
    let response = app
        .put_json(
            &format!("/users/{id}"),
            &json!({"email": "new@example.com"}),
        )
        .await;
    assert_eq!(response.json()["email"], "new@example.com");
    let unchanged = app.put_json(&format!("/users/{id}"), &json!({})).await;
    unchanged.assert_status(StatusCode::OK);
    assert_eq!(unchanged.json(), response.json());
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn update_user_refuses_conflicts_and_bad_fields(pool: PgPool) {
    let app = TestApp::new(pool);
    app.create_user("alice", "alice@example.com").await;
    let bob = app.create_user("bob", "bob@example.com").await;
    let path = format!("/users/{bob}");
    app.put_json(&path, &json!({"email": "Alice@example.com"}))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    for body in [
        json!({"username": ""}),
        json!({"username": null}),
        json!({"email": "x"}),
        json!({"id": 5}),
        json!({"email": 3}),
    ] {
        app.put_json(&path, &body)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    app.send(Method::PUT, &path, Some("application/json"), "[]")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let read = app.get(&path).await.json();
    assert_eq!(
        (read["username"].as_str(), read["email"].as_str()),
        (Some("bob"), Some("bob@example.com"))
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn deleting_a_user_deletes_their_links_and_keeps_history(pool: PgPool) {
    let app = TestApp::new(pool);
    let id = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(id, "https://example.com/a").await;
    app.delete(&format!("/users/{id}"))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.get(&format!("/users/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("/urls/{}", link["id"]))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&format!("/users/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let events = app
        .get(&format!("/events?url_id={}", link["id"]))
        .await
        .json();
    let types: Vec<&str> = events
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["event_type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["created", "deleted"]);
    assert_eq!(
        events[1]["details"],
        json!({"short_code": link["short_code"], "reason": "user_deleted"})
    );
    // The email is free again for a new account.
    app.create_user("alice again", "alice@example.com").await;
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn wrong_methods_are_405_with_allow(pool: PgPool) {
    let app = TestApp::new(pool);
    let response = app
        .send(Method::PATCH, "/users", Some("application/json"), "{}")
        .await;
    response.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let allow = response.header("allow").expect("Allow header");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let response = app
        .send(Method::POST, "/users/1", Some("application/json"), "{}")
        .await;
    response.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn unknown_paths_are_404_json_and_request_ids_are_echoed(pool: PgPool) {
    let app = TestApp::new(pool);
    let response = app.get("/nothing/here").await;
    response.assert_error(StatusCode::NOT_FOUND, "not_found");
    assert!(
        response
            .header("x-request-id")
            .is_some_and(|id| !id.is_empty()),
        "a request id is generated"
    );
    let request = axum::http::Request::builder()
        .uri("/users")
        .header("x-request-id", "trace-me-42")
        .body(axum::body::Body::empty())
        .expect("valid request");
    let response = app.send_request(request).await;
    assert_eq!(response.header("x-request-id"), Some("trace-me-42"));
}
