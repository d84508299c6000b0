//! CSV exports: the import formats, so that the three files imported into
//! an emptied system export again byte for byte; the lists' filters and
//! visibility; many chunks; bad filters as JSON errors; a bound on exports
//! running at once.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use tower::ServiceExt;

use crate::support::TestApp;

async fn export(app: &TestApp, uri: &str) -> String {
    let reply = app.get(uri).await;
    reply.assert_status(StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert!(
        reply
            .header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment")),
        "downloads as a file"
    );
    String::from_utf8(reply.body.clone()).expect("UTF-8")
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_export_imported_into_an_emptied_system_exports_the_same(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let ann = app.create_user("ann", "ann@example.com").await;
    let bob = app
        .create_user("bob, \"the builder\"", "bob@example.com")
        .await;
    let link = app.create_url(ann, "https://example.com/a?x=1,2").await;
    for body in [
        json!({"user_id": bob, "original_url": "https://example.com/b", "title": "Comma, \"quote\" and more",
               "tags": ["Q3", "launch"], "expires_at": "2099-01-02T03:04:05", "redirect_type": 308,
               "fallback_url": "https://example.com/sorry"}),
        json!({"user_id": ann, "original_url": "https://example.com/c", "short_code": "custom-1"}),
    ] {
        app.post_json("/urls", &body)
            .await
            .assert_status(StatusCode::CREATED);
    }
    app.put_json(
        &format!("/urls/{}", link["id"]),
        &json!({"is_active": false}),
    )
    .await
    .assert_status(StatusCode::OK);
    app.post_json(
        "/events",
        &json!({"url_id": link["id"], "user_id": ann, "event_type": "shared",
                "details": {"to": "a, \"b\"", "n": [1, 2]}}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    // A visit as the drain writes it: a timestamp finer than a second.
    sqlx::raw_sql(&format!(
        "INSERT INTO events_visits (url_id, user_id, event_type, occurred_at, details, actor, visit_id)
         VALUES ({}, {ann}, 'redirect', now() - interval '1.234567 seconds',
                 '{{\"short_code\": \"x\"}}', 'system', 'v-1')",
        link["id"]
    ))
    .execute(&pool)
    .await
    .expect("a visit");

    let files = [
        export(&app, "/users/export").await,
        export(&app, "/urls/export").await,
        export(&app, "/events/export").await,
    ];
    assert!(
        files[0].starts_with("id,username,email,created_at\n"),
        "{}",
        files[0]
    );
    assert!(
        files[1].starts_with(
            "id,user_id,short_code,original_url,title,is_active,created_at,updated_at,expires_at,redirect_type,tags,fallback_url,max_visits,routes\n"
        ),
        "{}",
        files[1]
    );
    assert!(
        files[1].contains(",2099-01-02 03:04:05,308,\"Q3,launch\",https://example.com/sorry,,\n"),
        "{}",
        files[1]
    );
    assert!(files[1].contains(",False,"), "{}", files[1]);
    assert!(files[2].starts_with("id,url_id,user_id,event_type,timestamp,details\n"));
    assert_eq!(files[2].matches(",created,").count(), 3, "{}", files[2]);

    // The same export imports again into the same system as a no-op.
    for (path, file) in ["/users/bulk", "/urls/bulk", "/events/bulk"]
        .iter()
        .zip(&files)
    {
        app.upload(path, file)
            .await
            .assert_status(StatusCode::CREATED);
    }
    sqlx::raw_sql("TRUNCATE users, urls, events RESTART IDENTITY CASCADE")
        .execute(&pool)
        .await
        .expect("emptied");
    assert_eq!(
        export(&app, "/urls/export").await.lines().count(),
        1,
        "only the header"
    );
    for (path, file) in ["/users/bulk", "/urls/bulk", "/events/bulk"]
        .iter()
        .zip(&files)
    {
        let reply = app.upload(path, file).await;
        reply.assert_status(StatusCode::CREATED);
    }
    let again = [
        export(&app, "/users/export").await,
        export(&app, "/urls/export").await,
        export(&app, "/events/export").await,
    ];
    assert_eq!(again, files);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn exports_take_the_lists_filters_and_visibility_and_many_chunks(pool: PgPool) {
    let app = TestApp::with_api_keys(pool.clone(), &[crate::browser::BOOT])
        .signed_in(crate::browser::BOOT);
    let ann = app.create_user("ann", "ann@example.com").await;
    let bob = app.create_user("bob", "bob@example.com").await;
    sqlx::raw_sql(&format!(
        "INSERT INTO urls (user_id, short_code, original_url, title, tags)
         SELECT CASE WHEN n % 2 = 0 THEN {ann} ELSE {bob} END, 'code' || n,
                'https://example.com/' || n, 'title ' || n,
                CASE WHEN n % 10 = 0 THEN ARRAY['tenth'] ELSE ARRAY[]::text[] END
         FROM generate_series(1, 2500) AS n"
    ))
    .execute(&pool)
    .await
    .expect("links");
    let all = export(&app, "/urls/export").await;
    let ids: Vec<i64> = all
        .lines()
        .skip(1)
        .map(|line| {
            line.split(',')
                .next()
                .and_then(|id| id.parse().ok())
                .expect("an id")
        })
        .collect();
    assert_eq!(ids.len(), 2500, "every row, across three chunks");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "by id, none twice");
    let tenth = export(&app, &format!("/urls/export?tag=tenth&user_id={ann}")).await;
    assert_eq!(tenth.lines().count(), 1 + 250);
    let found = export(&app, "/urls/export?q=title%20123").await;
    assert_eq!(found.lines().count(), 1 + 11, "123 and 1230..1239");

    let (_, editor_key) = app.create_api_key("ann-editor", "editor", Some(ann)).await;
    let own = app.as_key(&editor_key).get("/urls/export").await;
    own.assert_status(StatusCode::OK);
    assert_eq!(String::from_utf8_lossy(&own.body).lines().count(), 1 + 1250);
    let others = app
        .as_key(&editor_key)
        .get(&format!("/urls/export?user_id={bob}"))
        .await;
    assert_eq!(
        String::from_utf8_lossy(&others.body).lines().count(),
        1,
        "nothing of bob's"
    );
    app.as_key(&editor_key)
        .get("/users/export")
        .await
        .assert_status(StatusCode::FORBIDDEN);

    for bad in [
        "/urls/export?q=ab",
        "/urls/export?tag=a,b",
        "/urls/export?user_id=x",
        "/events/export?url_id=-",
    ] {
        let reply = app.get(bad).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn exports_held_open_by_slow_readers_are_bounded(pool: PgPool) {
    let app = TestApp::new(pool);
    let router = admin_api::router(app.state.clone());
    let open = |uri: &'static str| {
        let router = router.clone();
        async move {
            let request = Request::get(uri).body(Body::empty()).expect("request");
            router.oneshot(request).await.expect("infallible")
        }
    };
    // Responses whose bodies nobody reads, as from clients that stopped reading.
    let mut held = Vec::new();
    for _ in 0..4 {
        let response = open("/urls/export").await;
        assert_eq!(response.status(), StatusCode::OK);
        held.push(response);
    }
    let refused = app.get("/events/export").await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(refused.header("retry-after").is_some());
    drop(held);
    export(&app, "/events/export").await;
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_console_exports_what_its_lists_show(pool: PgPool) {
    use crate::browser::{BOOT, Browser, text};
    let app = TestApp::with_api_keys(pool, &[BOOT]).signed_in(BOOT);
    let ann = app.create_user("ann", "ann@example.com").await;
    for (code, tags) in [("tagged", json!(["Q3"])), ("other", json!([]))] {
        let body = json!({"user_id": ann, "original_url": "https://example.com/", "short_code": code, "tags": tags});
        app.post_json("/urls", &body)
            .await
            .assert_status(StatusCode::CREATED);
    }
    let mut browser = Browser::signed_in(&app, BOOT).await;
    let list = text(&browser.get("/ui/?tag=Q3&active=").await);
    let href = r#"href="/ui/export/urls?tag=Q3" download>Export CSV</a>"#;
    assert!(
        list.contains(href),
        "the button carries the filters set: {list}"
    );
    let file = browser.get("/ui/export/urls?tag=Q3").await;
    assert_eq!(file.status, StatusCode::OK);
    let csv = text(&file);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(",tagged,"), "{csv}");

    let events = text(&browser.get("/ui/events?event_type=created").await);
    assert!(
        events.contains(r#"href="/ui/export/events?event_type=created" download>Export CSV</a>"#)
    );
    let file = text(&browser.get("/ui/export/events?event_type=created").await);
    assert_eq!(file.lines().count(), 3, "{file}");

    let mut stranger = Browser::new(&app);
    let refused = stranger.get("/ui/export/urls").await;
    assert_ne!(
        refused.status,
        StatusCode::OK,
        "no export without signing in"
    );
}
