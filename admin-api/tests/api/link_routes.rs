//! Routing rules on the admin side: checked (422 changes nothing, the
//! blocklist included), stored in their canonical form, carried by the
//! Valkey record, changed with an `updated` event, imported and exported,
//! and written in the console's form. The redirectors' matching is tested
//! end to end (`redirects.rs`).

use axum::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::TestApp;

fn rules() -> Value {
    json!([{"when": {"device": "ios"}, "url": "https://Apps.Apple.com/app"},
           {"when": {"country": "DE"}, "url": "https://example.de/"}])
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn rules_are_checked_stored_carried_and_changed(pool: PgPool) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let body = json!({"user_id": ann, "original_url": "https://example.com/", "routes": rules()});
    let link = app.post_json("/urls", &body).await.json();
    assert_eq!(
        link["routes"][0]["url"], "https://apps.apple.com/app",
        "canonical"
    );
    assert_eq!(
        link["routes"][1],
        json!({"when": {"country": "DE"}, "url": "https://example.de/"})
    );
    let code = link["short_code"].as_str().expect("code");
    assert_eq!(
        app.valkey_record(code)
            .await
            .expect("a record")
            .routes
            .len(),
        2
    );

    app.post_json("/blocklist", &json!({"pattern": "blocked.example"}))
        .await
        .assert_status(StatusCode::CREATED);
    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"when": {"device": "ios"}, "url": "https://example.com/"}))
        .collect();
    let before = app.row_counts().await;
    for bad in [
        json!(eleven),
        json!([{"when": {"country": "de"}, "url": "https://example.com/"}]),
        json!([{"when": {"country": "DEU"}, "url": "https://example.com/"}]),
        json!([{"when": {"device": "tv"}, "url": "https://example.com/"}]),
        json!([{"when": {"device": "ios"}, "url": "javascript:alert(1)"}]),
        json!([{"when": {"device": "ios"}, "url": "https://blocked.example/"}]),
        json!([{"when": {"device": "ios"}}]),
        json!({"when": {"device": "ios"}, "url": "https://example.com/"}),
    ] {
        let body = json!({"user_id": ann, "original_url": "https://example.com/", "routes": bad});
        let reply = app.post_json("/urls", &body).await;
        assert!(reply.status.is_client_error(), "{bad}: {}", reply.status);
        let changed = app
            .put_json(&format!("/urls/{}", link["id"]), &json!({"routes": bad}))
            .await;
        assert!(changed.status.is_client_error(), "{bad}");
    }
    assert_eq!(app.row_counts().await, before);

    let id = &link["id"];
    let cleared = app
        .put_json(&format!("/urls/{id}"), &json!({"routes": []}))
        .await;
    assert_eq!(cleared.json()["routes"], json!([]));
    assert!(
        app.valkey_record(code)
            .await
            .expect("a record")
            .routes
            .is_empty()
    );
    let updates = app.event_details(id, "updated").await;
    assert_eq!(updates[0], json!({"field": "routes", "new_value": "[]"}));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn rules_travel_through_export_and_import_and_the_console_form(pool: PgPool) {
    use crate::browser::{BOOT, Browser, text};
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let ann = app.create_user("ann", "ann@example.com").await;
    let body = json!({"user_id": ann, "original_url": "https://example.com/", "short_code": "routed", "routes": rules()});
    app.post_json("/urls", &body)
        .await
        .assert_status(StatusCode::CREATED);
    let export = String::from_utf8(app.get("/urls/export").await.body).expect("UTF-8");
    assert!(
        export
            .lines()
            .next()
            .is_some_and(|h| h.ends_with(",routes")),
        "{export}"
    );
    let reimported = app.upload("/urls/bulk", &export).await;
    reimported.assert_status(StatusCode::CREATED);
    let row = export
        .replace(",routed,", ",copied,")
        .replace("\n1,", "\n2,");
    app.upload("/urls/bulk", &row)
        .await
        .assert_status(StatusCode::CREATED);
    assert_eq!(
        app.get("/urls/2").await.json()["routes"],
        app.get("/urls/1").await.json()["routes"]
    );

    let mut browser = Browser::signed_in(&app, BOOT).await;
    let form = text(&browser.get("/ui/links/1/edit").await);
    assert!(
        form.contains("ios https://apps.apple.com/app\nDE https://example.de/"),
        "{form}"
    );
    let user = ann.to_string();
    let saved = browser
        .post(
            "/ui/links/1/edit",
            &[
                ("original_url", "https://example.com/"),
                ("title", ""),
                ("redirect_type", "302"),
                ("user_id", &user),
                (
                    "routes",
                    "android https://play.example/app\n\nFR https://example.fr/",
                ),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", text(&saved));
    assert_eq!(
        app.get("/urls/1").await.json()["routes"],
        json!([{"when": {"device": "android"}, "url": "https://play.example/app"},
               {"when": {"country": "FR"}, "url": "https://example.fr/"}])
    );
    browser.get("/ui/links/1/edit").await;
    let refused = browser
        .post(
            "/ui/links/1/edit",
            &[
                ("original_url", "https://example.com/"),
                ("redirect_type", "302"),
                ("routes", "nonsense"),
            ],
        )
        .await;
    assert!(
        crate::browser::field_error(&text(&refused), "routes").is_some(),
        "{}",
        text(&refused)
    );
}
