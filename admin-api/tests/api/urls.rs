//! `/urls`: creation rules, filters, updates with their events, deletion.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::TestApp;

async fn events_of(app: &TestApp, url_id: &Value) -> Vec<Value> {
    app.get(&format!("/events?url_id={url_id}"))
        .await
        .json()
        .as_array()
        .expect("array")
        .clone()
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn create_url_generates_a_code_and_writes_a_created_event(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app
        .create_url(user, "https://example.com/some/page?q=1")
        .await;
    let code = link["short_code"].as_str().expect("code");
    assert_eq!(code.len(), 7, "{code}");
    assert!(
        code.bytes().all(|b| b.is_ascii_alphanumeric())
            && !code.bytes().all(|b| b.is_ascii_digit())
    );
    assert_eq!(link["short_url"], format!("http://sho.rt/{code}"));
    assert_eq!(
        (link["is_active"].as_bool(), link["redirect_type"].as_i64()),
        (Some(true), Some(302))
    );
    assert_eq!(
        (link["title"].as_str(), link["expires_at"].is_null()),
        (Some(""), true)
    );
    assert_eq!(link["created_at"], link["updated_at"]);
    let events = events_of(&app, &link["id"]).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "created");
    assert_eq!(events[0]["user_id"], user);
    assert_eq!(
        events[0]["details"],
        json!({"short_code": code, "original_url": "https://example.com/some/page?q=1"})
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_same_url_twice_gets_two_links(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let a = app.create_url(user, "https://example.com/").await;
    let b = app.create_url(user, "https://example.com/").await;
    assert_ne!(a["short_code"], b["short_code"]);
    assert_ne!(a["id"], b["id"]);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn custom_codes_are_checked_and_unique(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let body = |code: &str| json!({"user_id": user, "original_url": "https://example.com", "short_code": code});
    let created = app.post_json("/urls", &body("my-link_1")).await;
    created.assert_status(StatusCode::CREATED);
    assert_eq!(created.json()["short_code"], "my-link_1");
    let before = app.row_counts().await;
    app.post_json("/urls", &body("my-link_1"))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    for bad in [
        "ab",
        "12345",
        "has space",
        "health",
        "API",
        "urls",
        "ünï",
        &"x".repeat(33),
    ] {
        let error = app
            .post_json("/urls", &body(bad))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(error["details"]["short_code"].is_string(), "{bad}: {error}");
    }
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn bad_links_are_422_and_write_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let long = format!("https://example.com/{}", "a".repeat(2048));
    let cases = [
        (
            json!({"user_id": user, "original_url": "javascript:alert(1)"}),
            "original_url",
        ),
        (
            json!({"user_id": user, "original_url": "data:text/html,x"}),
            "original_url",
        ),
        (
            json!({"user_id": user, "original_url": "ftp://example.com"}),
            "original_url",
        ),
        (
            json!({"user_id": user, "original_url": "/relative"}),
            "original_url",
        ),
        (
            json!({"user_id": user, "original_url": "https://exa mple.com"}),
            "original_url",
        ),
        (
            json!({"user_id": user, "original_url": "https://example.com/\u{1}"}),
            "original_url",
        ),
        (
            json!({"user_id": user, "original_url": "http://sho.rt/loop"}),
            "original_url",
        ),
        (
            json!({"user_id": user, "original_url": long}),
            "original_url",
        ),
        (json!({"user_id": user, "original_url": 5}), "original_url"),
        (json!({"user_id": user}), "original_url"),
        (json!({"original_url": "https://example.com"}), "user_id"),
        (
            json!({"user_id": "1", "original_url": "https://example.com"}),
            "user_id",
        ),
        (
            json!({"user_id": user, "original_url": "https://example.com", "redirect_type": 200}),
            "redirect_type",
        ),
        (
            json!({"user_id": user, "original_url": "https://example.com", "redirect_type": "301"}),
            "redirect_type",
        ),
        (
            json!({"user_id": user, "original_url": "https://example.com", "expires_at": "2001-01-01T00:00:00"}),
            "expires_at",
        ),
        (
            json!({"user_id": user, "original_url": "https://example.com", "expires_at": "soon"}),
            "expires_at",
        ),
        (
            json!({"user_id": user, "original_url": "https://example.com", "title": 7}),
            "title",
        ),
        (
            json!({"user_id": user, "original_url": "https://example.com", "clicks": 7}),
            "clicks",
        ),
    ];
    let before = app.row_counts().await;
    for (body, field) in cases {
        let error = app
            .post_json("/urls", &body)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            error["details"][field].is_string(),
            "{body} should name {field}: {error}"
        );
    }
    app.send(Method::POST, "/urls", Some("application/json"), "[]")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_link_for_an_unknown_user_is_404(pool: PgPool) {
    let app = TestApp::new(pool);
    let response = app
        .post_json(
            "/urls",
            &json!({"user_id": 12345, "original_url": "https://example.com"}),
        )
        .await;
    response.assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.row_counts().await.urls, 0);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn optional_fields_are_stored_and_expiry_accepts_offsets(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let body = json!({"user_id": user, "original_url": "https://example.com", "title": "Docs",
                      "redirect_type": 308, "expires_at": "2099-06-01T12:00:00+02:00"});
    let response = app.post_json("/urls", &body).await;
    response.assert_status(StatusCode::CREATED);
    let link = response.json();
    assert_eq!(link["title"], "Docs");
    assert_eq!(link["redirect_type"], 308);
    assert_eq!(link["expires_at"], "2099-06-01T10:00:00");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn list_filters_by_user_and_active_flag(pool: PgPool) {
    let app = TestApp::new(pool);
    let alice = app.create_user("alice", "alice@example.com").await;
    let bob = app.create_user("bob", "bob@example.com").await;
    let a1 = app.create_url(alice, "https://example.com/1").await;
    app.create_url(alice, "https://example.com/2").await;
    app.create_url(bob, "https://example.com/3").await;
    app.put_json(&format!("/urls/{}", a1["id"]), &json!({"is_active": false}))
        .await
        .assert_status(StatusCode::OK);
    let count = |r: crate::support::TestResponse| r.json().as_array().expect("array").len();
    assert_eq!(count(app.get("/urls").await), 3);
    assert_eq!(count(app.get(&format!("/urls?user_id={alice}")).await), 2);
    assert_eq!(
        count(
            app.get(&format!("/urls?user_id={alice}&is_active=true"))
                .await
        ),
        1
    );
    let inactive = app.get("/urls?is_active=false").await;
    assert_eq!(inactive.header("x-total-count"), Some("1"));
    assert_eq!(inactive.json()[0]["id"], a1["id"]);
    for query in ["is_active=maybe", "user_id=abc", "page=0", "per_page=0"] {
        app.get(&format!("/urls?{query}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn get_url_by_id_and_404s(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com").await;
    let read = app.get(&format!("/urls/{}", link["id"])).await;
    read.assert_status(StatusCode::OK);
    assert_eq!(read.json(), link);
    for path in ["/urls/999", "/urls/abc", "/urls/0"] {
        app.get(path)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn update_writes_one_event_per_changed_field(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com/old").await;
    let path = format!("/urls/{}", link["id"]);
    let body = json!({"title": "New", "is_active": false, "original_url": "https://example.com/new",
                      "expires_at": "2099-01-01T00:00:00", "redirect_type": 301});
    let response = app.put_json(&path, &body).await;
    response.assert_status(StatusCode::OK);
    let updated = response.json();
    assert_eq!(updated["title"], "New");
    assert_eq!(updated["is_active"], false);
    assert_eq!(updated["original_url"], "https://example.com/new");
    assert_eq!(updated["redirect_type"], 301);
    assert_ne!(
        updated["updated_at"], link["updated_at"],
        "updated_at moves"
    );
    let changes: Vec<Value> = events_of(&app, &link["id"])
        .await
        .into_iter()
        .skip(1)
        .map(|e| e["details"].clone())
        .collect();
    assert_eq!(
        changes,
        [
            json!({"field": "title", "new_value": "New"}),
            json!({"field": "is_active", "new_value": "false"}),
            json!({"field": "original_url", "new_value": "https://example.com/new"}),
            json!({"field": "expires_at", "new_value": "2099-01-01T00:00:00"}),
            json!({"field": "redirect_type", "new_value": "301"}),
        ]
    );
    // Sending current values changes nothing and writes no event.
    let same = app
        .put_json(&path, &json!({"title": "New", "is_active": false}))
        .await;
    assert_eq!(same.json(), updated);
    // Clearing the expiry is a change, written as "".
    let cleared = app
        .put_json(&path, &json!({"expires_at": null}))
        .await
        .json();
    assert!(cleared["expires_at"].is_null());
    let events = events_of(&app, &link["id"]).await;
    assert_eq!(events.len(), 7);
    assert_eq!(
        events[6]["details"],
        json!({"field": "expires_at", "new_value": ""})
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn bad_updates_are_rejected_and_change_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com").await;
    let path = format!("/urls/{}", link["id"]);
    let before = app.row_counts().await;
    for body in [
        json!({"title": null}),
        json!({"is_active": "yes"}),
        json!({"is_active": null}),
        json!({"original_url": "javascript:x"}),
        json!({"redirect_type": 200}),
        json!({"expires_at": "2000-01-01T00:00:00"}),
        json!({"short_code": "other"}),
        json!({"user_id": 2}),
    ] {
        app.put_json(&path, &body)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    app.send(Method::PUT, &path, Some("text/plain"), "{}")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    app.put_json("/urls/999", &json!({"title": "x"}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.row_counts().await, before);
    assert_eq!(app.get(&path).await.json(), link);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn delete_hides_the_link_keeps_its_events_and_never_reuses_its_code(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let body =
        json!({"user_id": user, "original_url": "https://example.com", "short_code": "keepme"});
    let link = app.post_json("/urls", &body).await.json();
    let path = format!("/urls/{}", link["id"]);
    app.delete(&path)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.get(&path)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&path)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let events = events_of(&app, &link["id"]).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["event_type"], "deleted");
    assert_eq!(
        events[1]["details"],
        json!({"short_code": "keepme", "reason": "user_requested"})
    );
    app.post_json("/urls", &body)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn stats_of_an_unvisited_link_are_zero_and_unknown_codes_404(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com").await;
    let code = link["short_code"].as_str().expect("code");
    let stats = app.get(&format!("/urls/{code}/stats")).await;
    stats.assert_status(StatusCode::OK);
    assert_eq!(
        stats.json(),
        json!({"short_code": code, "url_id": link["id"], "total_visits": 0, "unique_visitors": 0,
               "last_visit_at": null, "visits_by_day": [], "top_referrers": [], "browsers": [],
               "operating_systems": [], "devices": [], "countries": [], "routes": [], "bot_visits": 0,
               "fallback_visits": 0})
    );
    app.get("/urls/nope-nope/stats")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&format!("/urls/{}", link["id"]))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.get(&format!("/urls/{code}/stats"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn qr_codes_come_as_svg_or_png(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com").await;
    let svg = app.get(&format!("/urls/{}/qr", link["id"])).await;
    svg.assert_status(StatusCode::OK);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(String::from_utf8_lossy(&svg.body).contains("<svg"));
    let png = app
        .get(&format!("/urls/{}/qr?format=png", link["id"]))
        .await;
    png.assert_status(StatusCode::OK);
    assert_eq!(png.header("content-type"), Some("image/png"));
    assert!(
        png.body.starts_with(b"\x89PNG\r\n\x1a\n"),
        "a PNG signature"
    );
    app.get(&format!("/urls/{}/qr?format=gif", link["id"]))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    app.get("/urls/999/qr")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn q_searches_code_title_and_destination_in_any_case_with_the_other_filters(pool: PgPool) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let bob = app.create_user("bob", "bob@example.com").await;
    for (user, body) in [
        (
            ann,
            json!({"original_url": "https://shop.example/Winter-Sale", "title": "coats"}),
        ),
        (
            ann,
            json!({"original_url": "https://example.com/a", "title": "The WINTER list"}),
        ),
        (
            ann,
            json!({"original_url": "https://example.com/b", "short_code": "winterX"}),
        ),
        (
            bob,
            json!({"original_url": "https://example.com/winter", "title": "bob's"}),
        ),
        (
            ann,
            json!({"original_url": "https://example.com/c", "title": "50% off"}),
        ),
        (
            ann,
            json!({"original_url": "https://example.com/d", "title": "500 offers"}),
        ),
    ] {
        let mut body = body;
        body["user_id"] = json!(user);
        app.post_json("/urls", &body)
            .await
            .assert_status(StatusCode::CREATED);
    }
    let found = |uri: String| {
        let app = &app;
        async move {
            let reply = app.get(&uri).await;
            reply.assert_status(StatusCode::OK);
            let total = reply.header("x-total-count").map(str::to_owned);
            let urls: Vec<String> = reply
                .json()
                .as_array()
                .expect("a list")
                .iter()
                .map(|u| u["original_url"].as_str().expect("url").to_owned())
                .collect();
            (urls, total)
        }
    };
    let (all, total) = found("/urls?q=wInTeR".into()).await;
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(total.as_deref(), Some("4"));
    let (anns, _) = found(format!("/urls?q=winter&user_id={ann}&per_page=2")).await;
    assert_eq!(
        anns,
        ["https://shop.example/Winter-Sale", "https://example.com/a"],
        "a page of ann's, in id order"
    );
    let (percent, _) = found("/urls?q=0%25%20off".into()).await;
    assert_eq!(percent, ["https://example.com/c"], "% is taken literally");
    for short in ["/urls?q=ab", &format!("/urls?q={}", "x".repeat(201))] {
        let reply = app.get(short).await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        assert!(
            reply.json()["message"]
                .as_str()
                .is_some_and(|m| m.contains("3 to 200")),
            "{short}"
        );
    }
    let (everything, _) = found("/urls?q=".into()).await;
    assert_eq!(everything.len(), 6, "an empty q is no search");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_largest_search_a_client_can_send_is_refused_at_once_and_changes_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let before = app.row_counts().await;
    // As long as a request head may be (64 KiB), in characters that escape.
    let huge = "%25".repeat(20_000);
    let started = std::time::Instant::now();
    let reply = app.get(&format!("/urls?q={huge}")).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(app.row_counts().await, before);
}
