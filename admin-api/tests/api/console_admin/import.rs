//! The import page: users, links and events imported through it as the
//! JSON API imports them (row errors as it reports them, the form token,
//! one import at a time).

use std::time::Duration;

use axum::http::{Method, StatusCode};
use sqlx::PgPool;

use crate::browser::{BOOT, Browser, text};
use crate::support::{TestApp, multipart, stalled_upload};

pub const USERS: &str = "id,username,email,created_at\n1,ann,ann@example.com,2025-01-01 00:00:00\n2,bob,bob@example.com,2025-01-02 00:00:00\n";
const LINKS: &str = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n1,1,abc,https://example.com/a,A link,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n";
const EVENTS: &str = "id,url_id,user_id,event_type,timestamp,details\n1,1,1,created,2025-01-01 00:00:00,{}\n2,1,1,updated,2025-01-02 00:00:00,{}\n3,,2,note,2025-01-03 00:00:00,{}\n";

async fn import(browser: &mut Browser<'_>, kind: &str, csv: &str) -> crate::support::TestResponse {
    browser.get("/ui/import").await;
    browser
        .post_multipart(
            "/ui/import",
            &[("kind", kind)],
            ("file", "data.csv", csv.as_bytes()),
        )
        .await
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_admin_imports_users_links_and_events_through_the_page(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]);
    let mut browser = Browser::signed_in(&app, BOOT).await;
    let form = browser.get("/ui/import").await;
    assert_eq!(form.status, StatusCode::OK);
    let html = text(&form);
    for part in [
        r#"<label for="file">CSV file</label>"#,
        r#"<label for="kind">Kind</label>"#,
        r#"<option value="users" selected>Users</option>"#,
        r#"<option value="links">Links</option>"#,
        r#"<option value="events">Events</option>"#,
        ">Import</button>",
        r#"enctype="multipart/form-data""#,
        "id,username,email,created_at",
        "id,user_id,short_code,original_url,title,is_active,created_at,updated_at",
        "id,url_id,user_id,event_type,timestamp,details",
    ] {
        assert!(html.contains(part), "{part} on the import page: {html}");
    }

    for (kind, csv, shown) in [
        ("users", USERS, "Imported 2 rows (Users)"),
        ("links", LINKS, "Imported 1 row (Links)"),
        ("events", EVENTS, "Imported 3 rows (Events)"),
    ] {
        let done = import(&mut browser, kind, csv).await;
        assert_eq!(
            done.status,
            StatusCode::SEE_OTHER,
            "{kind}: {}",
            text(&done)
        );
        let location = done.header("location").expect("to the result").to_owned();
        let page = text(&browser.get(&location).await);
        assert!(page.contains(shown), "{kind}: {page}");
        assert!(
            page.contains(&format!(r#"<option value="{kind}" selected>"#)),
            "the kind stays chosen"
        );
    }
    let counts = app.row_counts().await;
    assert_eq!((counts.users, counts.urls, counts.events), (2, 1, 3));
    let api = app.as_key(BOOT);
    assert_eq!(api.get("/urls/1").await.json()["short_code"], "abc");
    let imported = api.get("/events?actor=import:env-1").await.json();
    assert_eq!(
        imported.as_array().map(Vec::len),
        Some(3),
        "events imported through the page record import:<key name>: {imported}"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_bad_csv_shows_the_row_error_as_the_api_reports_it_and_imports_nothing(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]);
    let mut browser = Browser::signed_in(&app, BOOT).await;
    let bad = "id,username,email,created_at\n1,ann,ann@example.com,2025-01-01 00:00:00\n2,bob,not-an-email,2025-01-01 00:00:00\n";
    let api = app
        .as_key(BOOT)
        .send(
            Method::POST,
            "/users/bulk",
            Some(&multipart(&[("file", bad.as_bytes())]).0),
            multipart(&[("file", bad.as_bytes())]).1,
        )
        .await;
    assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = api.json()["message"]
        .as_str()
        .expect("a message")
        .to_owned();
    assert!(message.starts_with("row 2: email:"), "{message}");

    let page = import(&mut browser, "users", bad).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(&page);
    assert!(
        html.contains(&format!(
            r#"<p class="error" id="file-error" role="alert" data-row="2">{message}</p>"#
        )),
        "the API's message next to the file field: {html}"
    );
    assert!(html.contains(r#"aria-describedby="file-error""#), "{html}");
    assert!(html.contains(r#"<option value="users" selected>"#));
    assert_eq!(app.row_counts().await.users, 0, "all rows or none");

    let empty = import(&mut browser, "links", "").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(text(&empty).contains("the uploaded file is empty"));
    let no_kind = import(&mut browser, "people", USERS).await;
    assert_eq!(no_kind.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&no_kind).contains(r#"id="kind-error""#));
    assert_eq!(app.row_counts().await.users, 0);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_import_post_without_the_pages_token_is_refused(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[BOOT]);
    let mut browser = Browser::signed_in(&app, BOOT).await;
    browser.get("/ui/import").await;
    let file = ("file", "users.csv", USERS.as_bytes());
    let missing = browser
        .post_multipart_raw("/ui/import", &[("kind", "users")], file)
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let forged = browser
        .post_multipart_raw("/ui/import", &[("csrf", "forged"), ("kind", "users")], file)
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.row_counts().await.users, 0);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_import_page_upload_while_another_import_runs_gets_a_429_page(pool: PgPool) {
    let app = TestApp::new(pool);
    let mut browser = Browser::new(&app);
    let mut stalled = Box::pin(app.send_request(stalled_upload("/urls/bulk")));
    let still_waiting = tokio::time::timeout(Duration::from_millis(300), &mut stalled).await;
    assert!(still_waiting.is_err(), "the stalled upload cannot finish");
    let page = tokio::select! {
        response = &mut stalled => panic!("the stalled upload finished: {}", response.status),
        page = import(&mut browser, "users", USERS) => page,
    };
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    assert_eq!(page.header("retry-after"), Some("5"));
    drop(stalled);
    let done = import(&mut browser, "users", USERS).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "the slot is free again");
}
