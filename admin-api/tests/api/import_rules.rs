//! The import rules that keep an import from breaking the system: ids a JSON
//! client can read, permanent codes, the audit trail of changed and revived
//! links, events never rewritten, empty files, and a row cap.

use admin_api::Settings;
use axum::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{PUBLIC_BASE, TestApp};

const URLS_HEADER: &str = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at,expires_at,redirect_type\n";
const EVENTS_HEADER: &str = "id,url_id,user_id,event_type,timestamp,details\n";

/// A user (id 1) and two links imported as `l1`/`l2` (ids 1 and 2).
async fn app_with_links(pool: PgPool) -> TestApp {
    let app = TestApp::new(pool);
    app.upload(
        "/users/bulk",
        "id,username,email,created_at\n1,alice,alice@example.com,2025-01-01 00:00:00\n",
    )
    .await
    .assert_status(StatusCode::CREATED);
    let urls = format!(
        "{URLS_HEADER}1,1,l1,https://e.com/1,one,True,2025-01-01 00:00:00,2025-01-01 00:00:00,,302\n\
         2,1,l2,https://e.com/2,two,True,2025-01-01 00:00:00,2025-01-01 00:00:00,,302\n"
    );
    app.upload("/urls/bulk", urls)
        .await
        .assert_status(StatusCode::CREATED);
    app
}

/// The events of a type, oldest first, as (url_id, details).
async fn events(app: &TestApp, event_type: &str) -> Vec<(i64, Value)> {
    let list = app
        .get(&format!("/events?event_type={event_type}&per_page=1000"))
        .await
        .json();
    list.as_array()
        .expect("array")
        .iter()
        .map(|e| (e["url_id"].as_i64().expect("url_id"), e["details"].clone()))
        .collect()
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_file_with_a_header_and_no_rows_imports_nothing_and_answers_201(pool: PgPool) {
    let app = TestApp::new(pool);
    for (path, header) in [
        ("/users/bulk", "id,username,email,created_at\n"),
        ("/urls/bulk", URLS_HEADER),
        ("/events/bulk", EVENTS_HEADER),
        (
            "/events/bulk",
            "id,url_id,user_id,event_type,timestamp,details",
        ),
    ] {
        let response = app.upload(path, header).await;
        response.assert_status(StatusCode::CREATED);
        assert_eq!(
            response.json(),
            json!({"imported": 0, "count": 0}),
            "{path}"
        );
    }
    let counts = app.row_counts().await;
    assert_eq!((counts.users, counts.urls, counts.events), (0, 0, 0));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn ids_above_2_pow_53_are_422_naming_the_row(pool: PgPool) {
    let app = app_with_links(pool).await;
    let before = app.row_counts().await;
    let cases = [
        (
            "/users/bulk",
            "id,username,email,created_at\n9007199254740992,b,b@example.com,\n9007199254740993,c,c@example.com,\n"
                .to_owned(),
            2,
            "id",
        ),
        (
            "/urls/bulk",
            format!("{URLS_HEADER}3,1,l3,https://e.com/3,t,True,,,,\n9007199254740993,1,l4,https://e.com/4,t,True,,,,\n"),
            2,
            "id",
        ),
        (
            "/urls/bulk",
            format!("{URLS_HEADER}3,9223372036854775807,l3,https://e.com/3,t,True,,,,\n"),
            1,
            "user_id",
        ),
        (
            "/events/bulk",
            format!("{EVENTS_HEADER}1,1,1,created,,{{}}\n2,1,1,created,,{{}}\n9007199254740993,1,1,created,,{{}}\n"),
            3,
            "id",
        ),
        (
            "/events/bulk",
            format!("{EVENTS_HEADER}1,9007199254740993,1,created,,{{}}\n"),
            1,
            "url_id",
        ),
    ];
    for (path, csv, row, column) in cases {
        let error = app
            .upload(path, &csv)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(error["row"], row, "{csv:?}: {error}");
        assert!(error["details"][column].is_string(), "{csv:?}: {error}");
    }
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn codes_are_permanent_an_import_never_changes_or_reuses_one(pool: PgPool) {
    let app = app_with_links(pool).await;
    app.delete("/urls/2")
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let before = app.row_counts().await;
    let cases = [
        // Link 1 under another code.
        format!(
            "{URLS_HEADER}3,1,l3,https://e.com/3,t,True,,,,\n1,1,renamed,https://e.com/1,one,True,,,,\n"
        ),
        // A new id taking the code of deleted link 2.
        format!("{URLS_HEADER}3,1,l2,https://e.com/3,t,True,,,,\n"),
        // Deleted link 2 revived under another code.
        format!("{URLS_HEADER}2,1,other,https://e.com/2,two,True,,,,\n"),
    ];
    let rows = [2, 1, 1];
    for (csv, row) in cases.iter().zip(rows) {
        let error = app
            .upload("/urls/bulk", csv)
            .await
            .assert_error(StatusCode::CONFLICT, "conflict");
        assert_eq!(error["row"], row, "{csv:?}: {error}");
        assert!(error["details"]["short_code"].is_string(), "{error}");
    }
    assert_eq!(
        app.row_counts().await,
        before,
        "a refused import writes nothing"
    );
    assert_eq!(app.get("/urls/1").await.json()["short_code"], "l1");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_import_that_changes_a_link_writes_the_events_a_put_would_and_writes_it_through(
    pool: PgPool,
) {
    let app = app_with_links(pool).await;
    // The same change by PUT on link 1 and by import on link 2.
    let change = json!({"title": "new", "is_active": false, "original_url": "https://e.com/x",
                        "expires_at": "2099-01-01T00:00:00", "redirect_type": 301});
    app.put_json("/urls/1", &change)
        .await
        .assert_status(StatusCode::OK);
    let csv = format!(
        "{URLS_HEADER}1,1,l1,https://e.com/x,new,False,2025-01-01 00:00:00,2025-01-01 00:00:00,2099-01-01 00:00:00,301\n\
         2,1,l2,https://e.com/x,new,False,2025-01-01 00:00:00,2025-01-01 00:00:00,2099-01-01 00:00:00,301\n"
    );
    app.upload("/urls/bulk", &csv)
        .await
        .assert_status(StatusCode::CREATED);
    let updated = events(&app, "updated").await;
    let by_put: Vec<&Value> = updated
        .iter()
        .filter(|(u, _)| *u == 1)
        .map(|(_, d)| d)
        .collect();
    let by_import: Vec<&Value> = updated
        .iter()
        .filter(|(u, _)| *u == 2)
        .map(|(_, d)| d)
        .collect();
    assert_eq!(by_put.len(), 5, "{updated:?}");
    assert_eq!(by_import, by_put, "the import writes what the PUT wrote");

    let record = app
        .valkey_record("l2")
        .await
        .expect("record written through");
    assert_eq!(
        (record.active, record.target.as_str(), record.redirect_type),
        (false, "https://e.com/x", 301)
    );

    // Importing the same file again changes nothing and writes no event.
    let before = app.row_counts().await;
    app.upload("/urls/bulk", &csv)
        .await
        .assert_status(StatusCode::CREATED);
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_import_that_revives_a_deleted_link_writes_a_restored_event(pool: PgPool) {
    let app = app_with_links(pool).await;
    app.delete("/urls/2")
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert_eq!(app.valkey_record("l2").await, None);
    let csv = format!("{URLS_HEADER}2,1,l2,https://e.com/2,two,True,,,,\n");
    app.upload("/urls/bulk", &csv)
        .await
        .assert_status(StatusCode::CREATED);
    assert_eq!(
        events(&app, "restored").await,
        [(
            2,
            json!({"short_code": "l2", "original_url": "https://e.com/2"})
        )]
    );
    assert!(events(&app, "updated").await.is_empty());
    app.get("/urls/2").await.assert_status(StatusCode::OK);
    let record = app
        .valkey_record("l2")
        .await
        .expect("revived link written through");
    assert!(record.active);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_events_import_never_rewrites_an_event(pool: PgPool) {
    let app = app_with_links(pool).await;
    let csv = format!(
        "{EVENTS_HEADER}1,1,1,created,2025-01-01 00:00:00,\"{{\"\"short_code\"\": \"\"l1\"\"}}\"\n\
         2,2,1,created,,{{}}\n"
    );
    app.upload("/events/bulk", &csv)
        .await
        .assert_status(StatusCode::CREATED);
    let before = app.get("/events").await.json();
    let response = app.upload("/events/bulk", &csv).await;
    response.assert_status(StatusCode::CREATED);
    assert_eq!(response.json(), json!({"imported": 2, "count": 2}));
    assert_eq!(
        app.get("/events").await.json(),
        before,
        "identical re-import is a no-op"
    );

    let changed = [
        format!("{EVENTS_HEADER}3,1,1,custom,,{{}}\n1,1,1,created,2025-01-01 00:00:00,{{}}\n"),
        format!("{EVENTS_HEADER}2,2,1,deleted,,{{}}\n"),
        format!("{EVENTS_HEADER}2,1,1,created,,{{}}\n"),
        format!(
            "{EVENTS_HEADER}1,1,1,created,2025-01-02 00:00:00,\"{{\"\"short_code\"\": \"\"l1\"\"}}\"\n"
        ),
    ];
    for (csv, row) in changed.iter().zip([2, 1, 1, 1]) {
        let error = app
            .upload("/events/bulk", csv)
            .await
            .assert_error(StatusCode::CONFLICT, "conflict");
        assert_eq!(error["row"], row, "{csv:?}: {error}");
    }
    assert_eq!(
        app.get("/events").await.json(),
        before,
        "nothing rewritten or added"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_file_over_the_row_cap_is_413_and_writes_nothing(pool: PgPool) {
    let mut settings = Settings::new(PUBLIC_BASE);
    settings.import_max_rows = 3;
    let app = TestApp::with_settings(pool, settings);
    let header = "id,username,email,created_at\n";
    let three: String = (1..=3)
        .map(|i| format!("{i},u{i},u{i}@example.com,\n"))
        .collect();
    app.upload("/users/bulk", format!("{header}{three}"))
        .await
        .assert_status(StatusCode::CREATED);
    let four = format!("{header}{three}4,u4,u4@example.com,\n");
    let error = app
        .upload("/users/bulk", four)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains('3')),
        "{error}"
    );
    assert_eq!(app.row_counts().await.users, 3);
}
