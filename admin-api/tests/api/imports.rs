//! Bulk CSV import: the old service's seed files, all-or-nothing, idempotent
//! by id, errors naming the row.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{TestApp, multipart, seed};

async fn import_seeds(app: &TestApp) {
    for (path, file, rows) in [
        ("/users/bulk", "users.csv", 400),
        ("/urls/bulk", "urls.csv", 2000),
        ("/events/bulk", "events.csv", 3422),
    ] {
        let content = std::fs::read(seed(file)).expect("seed file exists");
        let response = app.upload(path, content).await;
        response.assert_status(StatusCode::CREATED);
        assert_eq!(
            response.json(),
            json!({"imported": rows, "count": rows}),
            "{file}"
        );
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn seed_files_import_twice_without_duplicates_and_new_ids_are_fresh(pool: PgPool) {
    let app = TestApp::new(pool);
    import_seeds(&app).await;
    let after_first = app.row_counts().await;
    assert_eq!(
        (after_first.users, after_first.urls, after_first.events),
        (400, 2000, 3422)
    );
    import_seeds(&app).await;
    assert_eq!(app.row_counts().await, after_first);

    let user = app.create_user("newcomer", "newcomer@example.com").await;
    assert_eq!(user, 401);
    let link = app.create_url(user, "https://example.com/new").await;
    assert_eq!(link["id"], 2001);
    let created = app.get("/events?url_id=2001").await.json();
    assert_eq!(created[0]["id"], 3423, "new events get fresh ids too");

    let first = app.get("/urls/1").await.json();
    assert_eq!(first["short_code"], "J1O697");
    assert_eq!(first["is_active"], false);
    assert_eq!(first["created_at"], "2025-09-28T22:57:23");
    let event = app.get("/events?per_page=1").await.json();
    assert_eq!(
        event[0]["details"],
        json!({"short_code": "J1O697", "original_url": "https://seeded.app/dawn/harvest/1"})
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_bad_row_is_422_naming_it_and_nothing_is_written(pool: PgPool) {
    let app = TestApp::new(pool);
    app.upload(
        "/users/bulk",
        "id,username,email,created_at\n1,a,a@example.com,2025-01-01 00:00:00\n",
    )
    .await
    .assert_status(StatusCode::CREATED);
    let before = app.row_counts().await;
    let cases = [
        (
            "/users/bulk",
            "id,username,email,created_at\n2,b,b@example.com,2025-01-01 00:00:00\n3,c,not-an-email,2025-01-01 00:00:00\n",
            2,
        ),
        (
            "/users/bulk",
            "id,username,email,created_at\n2,b,b@example.com,yesterday\n",
            1,
        ),
        (
            "/users/bulk",
            "id,username,email,created_at\nabc,b,b@example.com,2025-01-01 00:00:00\n",
            1,
        ),
        (
            "/users/bulk",
            "id,username,created_at\n2,b,2025-01-01 00:00:00\n",
            1,
        ),
        (
            "/users/bulk",
            "id,username,email,created_at\n2,b,b@example.com,2025-01-01 00:00:00\n2,c,c@example.com,2025-01-01 00:00:00\n",
            2,
        ),
        (
            "/users/bulk",
            "id,username,email,created_at\n2,,b@example.com,2025-01-01 00:00:00\n",
            1,
        ),
        (
            "/users/bulk",
            "id,username,email,created_at\n2,b,b@example.com\n",
            1,
        ),
        (
            "/urls/bulk",
            "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n1,1,abc,https://e.com,t,Maybe,2025-01-01 00:00:00,2025-01-01 00:00:00\n",
            1,
        ),
        (
            "/urls/bulk",
            "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n1,1,abc,https://e.com,t,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n2,99,abd,https://e.com,t,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n",
            2,
        ),
        (
            "/urls/bulk",
            "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n1,1,abc,javascript:x,t,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n",
            1,
        ),
        (
            "/urls/bulk",
            "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n1,1,health,https://e.com,t,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n",
            1,
        ),
        (
            "/events/bulk",
            "id,url_id,user_id,event_type,timestamp,details\n1,,1,created,2025-01-01 00:00:00,{not json\n",
            1,
        ),
        (
            "/events/bulk",
            "id,url_id,user_id,event_type,timestamp,details\n1,,1,created,2025-01-01 00:00:00,\"[1,2]\"\n",
            1,
        ),
        (
            "/events/bulk",
            "id,url_id,user_id,event_type,timestamp,details\n1,,1,created,2025-01-01 00:00:00,{}\n2,77,1,created,2025-01-01 00:00:00,{}\n",
            2,
        ),
    ];
    for (path, csv, row) in cases {
        let response = app.upload(path, csv).await;
        let error = response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(error["row"], row, "{path} {csv:?}: {error}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("row {row}:"))),
            "{error}"
        );
    }
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn taken_emails_and_codes_are_409_naming_the_row(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    app.post_json(
        "/urls",
        &json!({"user_id": user, "original_url": "https://e.com", "short_code": "taken"}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let before = app.row_counts().await;
    let cases = [
        (
            "/users/bulk",
            "id,username,email,created_at\n50,b,b@example.com,2025-01-01 00:00:00\n51,c,ALICE@example.com,2025-01-01 00:00:00\n",
            2,
        ),
        (
            "/users/bulk",
            "id,username,email,created_at\n50,b,b@example.com,2025-01-01 00:00:00\n51,c,B@example.com,2025-01-01 00:00:00\n",
            2,
        ),
        (
            "/urls/bulk",
            "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n50,1,taken,https://e.com,t,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n",
            1,
        ),
    ];
    for (path, csv, row) in cases {
        let error = app
            .upload(path, csv)
            .await
            .assert_error(StatusCode::CONFLICT, "conflict");
        assert_eq!(error["row"], row, "{csv:?}: {error}");
    }
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn missing_or_empty_files_are_400(pool: PgPool) {
    let app = TestApp::new(pool);
    for path in ["/users/bulk", "/urls/bulk", "/events/bulk"] {
        app.upload(path, "")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
        app.upload(path, " \n")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
        let (content_type, body) = multipart(&[("other", b"id\n1\n")]);
        app.send(Method::POST, path, Some(&content_type), body)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
        app.send(Method::POST, path, Some("application/json"), "{}")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
        app.send(Method::POST, path, None, "id\n1\n")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_eq!(app.row_counts().await.users, 0);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_upload_over_50_mib_is_413(pool: PgPool) {
    let app = TestApp::new(pool);
    let mut csv = b"id,username,email,created_at\n".to_vec();
    csv.resize(50 * 1024 * 1024 + 1024, b'x');
    app.upload("/users/bulk", csv)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}
