//! The blocklist: entries (admins only, patterns checked and written as
//! hosts compare), 422 for links pointing at a blocked host (create,
//! change, import), disabling the links an entry catches (a `disabled`
//! event naming it, the Valkey record no longer active), removing an entry
//! leaving them disabled until enabled, and the console's page.

use axum::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::TestApp;

async fn add(app: &TestApp, pattern: &str, reason: &str) -> Value {
    let reply = app
        .post_json("/blocklist", &json!({"pattern": pattern, "reason": reason}))
        .await;
    reply.assert_status(StatusCode::CREATED);
    reply.json()
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn entries_are_checked_listed_and_removed_by_admins_only(pool: PgPool) {
    let app = TestApp::new(pool);
    let entry = add(&app, "*.Evil.Example.", "phishing").await;
    assert_eq!(entry["pattern"], "*.evil.example");
    assert_eq!(entry["reason"], "phishing");
    assert_eq!(entry["disabled_links"], 0);
    assert!(entry["created_at"].is_string());
    app.post_json("/blocklist", &json!({"pattern": "*.evil.example"}))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    let before = app.row_counts().await;
    for bad in [
        json!({"pattern": "https://evil.example/"}),
        json!({"pattern": ""}),
        json!({"pattern": "*.10.0.0.1"}),
        json!({"pattern": "x".repeat(300)}),
        json!({"pattern": "ok.example", "reason": "r".repeat(201)}),
        json!({"pattern": "ok.example", "reason": "a\nb"}),
    ] {
        app.post_json("/blocklist", &bad)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    app.post_json("/blocklist", &json!({"pattern": "a.example", "extra": 1}))
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.row_counts().await, before);
    let list = app.get("/blocklist").await;
    assert_eq!(list.header("x-total-count"), Some("1"));
    assert_eq!(list.json()[0]["id"], entry["id"]);
    let id = &entry["id"];
    app.delete(&format!("/blocklist/{id}"))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.delete(&format!("/blocklist/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.get("/blocklist").await.json(), json!([]));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn only_admin_keys_reach_the_blocklist(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[crate::browser::BOOT]).signed_in(crate::browser::BOOT);
    let ann = app.create_user("ann", "ann@example.com").await;
    let (_, editor) = app.create_api_key("ed", "editor", Some(ann)).await;
    let (_, viewer) = app.create_api_key("vi", "viewer", None).await;
    for key in [&editor, &viewer] {
        app.as_key(key)
            .get("/blocklist")
            .await
            .assert_status(StatusCode::FORBIDDEN);
        app.as_key(key)
            .post_json("/blocklist", &json!({"pattern": "evil.example"}))
            .await
            .assert_status(StatusCode::FORBIDDEN);
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn links_to_blocked_hosts_are_422_on_create_change_and_import(pool: PgPool) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let link = app.create_url(ann, "https://fine.example/").await;
    add(&app, "*.evil.example", "").await;
    add(&app, "bad.example", "").await;
    let before = app.row_counts().await;
    for url in [
        "https://evil.example/",
        "https://deep.sub.EVIL.example./x",
        "http://evil.example:8080/",
        "https://bad.example/path",
    ] {
        let created = app
            .post_json("/urls", &json!({"user_id": ann, "original_url": url}))
            .await;
        let error = created.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            error["details"]["original_url"]
                .as_str()
                .is_some_and(|m| m.contains("blocked")),
            "{url}: {error}"
        );
        app.put_json(
            &format!("/urls/{}", link["id"]),
            &json!({"original_url": url}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let csv = format!(
        "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n\
         901,{ann},okrow,https://fine.example/1,,True,,\n\
         902,{ann},badrow,https://x.evil.example/2,,True,,\n"
    );
    let refused = app.upload("/urls/bulk", &csv).await;
    let error = refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(error["row"], 2, "{error}");
    assert_eq!(app.row_counts().await, before);
    for url in [
        "https://sub.bad.example/",
        "https://notevil.example/",
        "https://evil.example.com/",
    ] {
        app.post_json("/urls", &json!({"user_id": ann, "original_url": url}))
            .await
            .assert_status(StatusCode::CREATED);
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_entry_disables_the_links_it_catches_and_removing_it_does_not_enable_them(pool: PgPool) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let caught = app.create_url(ann, "https://login.evil.example/x").await;
    let apex = app.create_url(ann, "https://EVIL.example").await;
    let spared = app
        .create_url(ann, "https://example.com/about/evil.example")
        .await;
    let code = caught["short_code"].as_str().expect("code");
    assert!(app.valkey_record(code).await.expect("a record").active);

    let entry = add(&app, "*.evil.example", "phishing").await;
    assert_eq!(entry["disabled_links"], 2);
    for link in [&caught, &apex] {
        let now = app.get(&format!("/urls/{}", link["id"])).await.json();
        let reason = now["disabled"]["reason"].as_str().expect("disabled");
        assert!(
            reason.contains("*.evil.example") && reason.contains("phishing"),
            "{reason}"
        );
        assert_eq!(
            now["is_active"], true,
            "is_active is the owner's switch, kept"
        );
        let events = app
            .get(&format!(
                "/events?url_id={}&event_type=disabled",
                link["id"]
            ))
            .await
            .json();
        assert_eq!(
            events[0]["details"],
            json!({"short_code": link["short_code"], "entry_id": entry["id"],
                   "pattern": "*.evil.example", "reason": "phishing"})
        );
    }
    assert!(
        !app.valkey_record(code).await.expect("a record").active,
        "the record no longer redirects, before the response"
    );
    let untouched = app.get(&format!("/urls/{}", spared["id"])).await.json();
    assert_eq!(
        untouched["disabled"],
        Value::Null,
        "the host is example.com"
    );

    // A change that leaves it disabled needs no check; enabling it does.
    app.put_json(
        &format!("/urls/{}", caught["id"]),
        &json!({"title": "kept"}),
    )
    .await
    .assert_status(StatusCode::OK);
    app.put_json(
        &format!("/urls/{}", caught["id"]),
        &json!({"disabled": null}),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    app.delete(&format!("/blocklist/{}", entry["id"]))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let still = app.get(&format!("/urls/{}", caught["id"])).await.json();
    assert!(
        still["disabled"].is_object(),
        "removing the entry enables nothing"
    );
    assert!(!app.valkey_record(code).await.expect("a record").active);

    let enabled = app
        .put_json(
            &format!("/urls/{}", caught["id"]),
            &json!({"disabled": null}),
        )
        .await;
    enabled.assert_status(StatusCode::OK);
    assert_eq!(enabled.json()["disabled"], Value::Null);
    assert!(app.valkey_record(code).await.expect("a record").active);
    let updates = app
        .get(&format!(
            "/events?event_type=updated&url_id={}",
            caught["id"]
        ))
        .await
        .json();
    assert!(
        updates
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["details"] == json!({"field": "disabled", "new_value": ""})),
        "{updates}"
    );

    // By hand: disabled with a reason, enabled again.
    let by_hand = app
        .put_json(
            &format!("/urls/{}", spared["id"]),
            &json!({"disabled": {"reason": "audit"}}),
        )
        .await;
    assert_eq!(by_hand.json()["disabled"], json!({"reason": "audit"}));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_console_blocks_a_host_and_shows_disabled_links(pool: PgPool) {
    use crate::browser::{BOOT, Browser, field_error, text};
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let ann = app.create_user("ann", "ann@example.com").await;
    let link = app.create_url(ann, "https://evil.example/").await;
    let mut browser = Browser::signed_in(&app, BOOT).await;
    let page = text(&browser.get("/ui/blocklist").await);
    assert!(
        page.contains(r#"<label for="pattern">Pattern</label>"#),
        "{page}"
    );
    let added = browser
        .post(
            "/ui/blocklist",
            &[("pattern", "evil.example"), ("reason", "spam")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", text(&added));
    let to = added
        .header("location")
        .expect("back to the list")
        .to_owned();
    let list = text(&browser.get(&to).await);
    assert!(
        list.contains("Added evil.example; 1 link disabled."),
        "{list}"
    );
    assert!(list.contains("<code>evil.example</code>") && list.contains("spam"));
    let shown = text(&browser.get(&format!("/ui/links/{}", link["id"])).await);
    assert!(
        shown.contains(r#"<span class="status disabled">Disabled</span>"#),
        "{shown}"
    );
    assert!(text(&browser.get("/ui/").await).contains(">Disabled</span>"));

    browser.get("/ui/blocklist").await;
    let refused = browser
        .post("/ui/blocklist", &[("pattern", "http://x/"), ("reason", "")])
        .await;
    let html = text(&refused);
    assert!(field_error(&html, "pattern").is_some(), "{html}");
    assert!(
        html.contains(r#"value="http://x/""#),
        "what was typed stays"
    );

    let id = app.get("/blocklist").await.json()[0]["id"].clone();
    let confirm = text(&browser.get(&format!("/ui/blocklist/{id}/remove")).await);
    assert!(confirm.contains("stay disabled"), "{confirm}");
    let removed = browser
        .post(&format!("/ui/blocklist/{id}/remove"), &[])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/blocklist").await.json(), json!([]));
}
