//! Tags on links: stored and returned, checked (422 changes nothing),
//! changed with one `updated` event, filtered by `?tag=` (with the other
//! filters), and carried by the link import's optional `tags` column.

use axum::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::TestApp;

async fn codes(app: &TestApp, uri: &str) -> Vec<String> {
    let reply = app.get(uri).await;
    reply.assert_status(StatusCode::OK);
    reply
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|u| u["short_code"].as_str().expect("code").to_owned())
        .collect()
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn tags_are_stored_changed_with_an_event_and_filter_the_list(pool: PgPool) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let bob = app.create_user("bob", "bob@example.com").await;
    for (user, code, tags) in [
        (ann, "spring", json!(["Q3", "launch-2026"])),
        (ann, "summer", json!(["q3"])),
        (bob, "autumn", json!(["Q3"])),
        (ann, "winter", json!([])),
    ] {
        let body = json!({"user_id": user, "original_url": "https://example.com/", "short_code": code, "tags": tags});
        let created = app.post_json("/urls", &body).await;
        created.assert_status(StatusCode::CREATED);
        assert_eq!(created.json()["tags"], tags);
    }
    let plain = app.create_url(ann, "https://example.com/plain").await;
    assert_eq!(plain["tags"], json!([]), "no tags given: none");

    assert_eq!(codes(&app, "/urls?tag=Q3").await, ["spring", "autumn"]);
    assert_eq!(codes(&app, "/urls?tag=q3").await, ["summer"], "case counts");
    assert_eq!(
        codes(&app, &format!("/urls?tag=Q3&user_id={ann}")).await,
        ["spring"]
    );
    assert_eq!(codes(&app, "/urls?tag=Q3&q=tum").await, ["autumn"]);
    assert_eq!(codes(&app, "/urls?tag=none").await, Vec::<String>::new());
    let total = app.get("/urls?tag=Q3&per_page=1").await;
    assert_eq!(total.header("x-total-count"), Some("2"));
    assert_eq!(total.json().as_array().map(Vec::len), Some(1));

    let id = &plain["id"];
    let changed = app
        .put_json(&format!("/urls/{id}"), &json!({"tags": ["a", "b"]}))
        .await;
    changed.assert_status(StatusCode::OK);
    assert_eq!(changed.json()["tags"], json!(["a", "b"]));
    let same = app
        .put_json(&format!("/urls/{id}"), &json!({"tags": ["a", "b"]}))
        .await;
    same.assert_status(StatusCode::OK);
    let cleared = app
        .put_json(&format!("/urls/{id}"), &json!({"tags": []}))
        .await;
    assert_eq!(cleared.json()["tags"], json!([]));
    let events = app
        .get(&format!("/events?url_id={id}&event_type=updated"))
        .await
        .json();
    let details: Vec<&Value> = events
        .as_array()
        .expect("events")
        .iter()
        .map(|e| &e["details"])
        .collect();
    assert_eq!(
        details,
        [
            &json!({"field": "tags", "new_value": "a,b"}),
            &json!({"field": "tags", "new_value": ""})
        ],
        "one event per change, none for the same tags again"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn bad_tags_are_422_and_change_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let link = app.create_url(ann, "https://example.com/").await;
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let huge: Vec<String> = (0..100_000).map(|i| format!("t{i}")).collect();
    let before = app.row_counts().await;
    for tags in [
        json!(eleven),
        json!(huge),
        json!(["a", "a"]),
        json!(["has space"]),
        json!(["x".repeat(33)]),
        json!([""]),
        json!("a,b"),
        json!([1]),
    ] {
        let body = json!({"user_id": ann, "original_url": "https://example.com/", "tags": tags});
        let created = app.post_json("/urls", &body).await;
        assert!(
            created.status.is_client_error(),
            "{tags}: {}",
            created.status
        );
        let changed = app
            .put_json(&format!("/urls/{}", link["id"]), &json!({"tags": tags}))
            .await;
        assert!(changed.status.is_client_error(), "{tags}");
    }
    let eleven = json!({"user_id": ann, "original_url": "https://example.com/", "tags": eleven});
    let refused = app.post_json("/urls", &eleven).await;
    let error = refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(error.to_string().contains("tags"), "{error}");
    assert_eq!(app.row_counts().await, before);
    for bad in ["has%20space", "a,b", &"x".repeat(33)] {
        app.get(&format!("/urls?tag={bad}"))
            .await
            .assert_status(StatusCode::BAD_REQUEST);
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_link_import_reads_and_checks_an_optional_tags_column(pool: PgPool) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let csv = format!(
        "id,user_id,short_code,original_url,title,is_active,created_at,updated_at,tags\n\
         501,{ann},tagged,https://example.com/1,One,True,2025-01-01 00:00:00,2025-01-01 00:00:00,\"Q3, launch\"\n\
         502,{ann},bare,https://example.com/2,Two,True,2025-01-01 00:00:00,2025-01-01 00:00:00,\n"
    );
    app.upload("/urls/bulk", &csv)
        .await
        .assert_status(StatusCode::CREATED);
    assert_eq!(
        app.get("/urls/501").await.json()["tags"],
        json!(["Q3", "launch"])
    );
    assert_eq!(app.get("/urls/502").await.json()["tags"], json!([]));
    assert_eq!(codes(&app, "/urls?tag=launch").await, ["tagged"]);

    let before = app.row_counts().await;
    let bad = format!(
        "id,user_id,short_code,original_url,title,is_active,created_at,updated_at,tags\n\
         503,{ann},other,https://example.com/3,Three,True,,,\"a,a\"\n"
    );
    let refused = app.upload("/urls/bulk", &bad).await;
    let error = refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(error.to_string().contains("tags"), "{error}");
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_console_sets_shows_and_filters_by_tags(pool: PgPool) {
    use crate::browser::{BOOT, Browser, field_error, text};
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let ann = app.create_user("ann", "ann@example.com").await.to_string();
    let mut browser = Browser::signed_in(&app, BOOT).await;
    for (code, tags) in [
        ("tagged", "Q3, launch"),
        ("untagged", ""),
        ("badtags", "ok, not+ok"),
    ] {
        browser.get("/ui/links/new").await;
        let form = [
            ("original_url", "https://example.com/"),
            ("short_code", code),
            ("tags", tags),
            ("redirect_type", "302"),
            ("user_id", &ann),
        ];
        let answer = browser.post("/ui/links/new", &form).await;
        if code == "badtags" {
            let html = text(&answer);
            assert!(field_error(&html, "tags").is_some(), "{html}");
            assert!(
                html.contains(r#"value="ok, not+ok""#),
                "what was typed stays: {html}"
            );
        } else {
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", text(&answer));
        }
    }
    assert_eq!(codes(&app, "/urls?tag=launch").await, ["tagged"]);
    let id = app.get("/urls?tag=launch").await.json()[0]["id"].clone();
    let page = text(&browser.get(&format!("/ui/links/{id}")).await);
    assert!(
        page.contains(r#"<a class="tag" href="/ui/?tag=Q3">Q3</a>"#),
        "{page}"
    );
    let list = text(&browser.get("/ui/?tag=Q3").await);
    assert!(
        list.contains("tagged") && !list.contains("untagged"),
        "{list}"
    );
    assert!(list.contains(r#"<label for="tag">Tag</label>"#));
}
