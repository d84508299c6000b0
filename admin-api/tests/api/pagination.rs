//! Bounded reads: keyset paging with `after_id`, the bound on offset pages,
//! cheap counts on large tables, deep pages of a million events in well
//! under a second, and the statement timeout answering 503.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::support::{TestApp, TestResponse};

/// Generous bound on one list request against a million events.
const DEEP_PAGE_BOUND: Duration = Duration::from_secs(1);

fn ids(response: &TestResponse) -> Vec<i64> {
    response
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|item| item["id"].as_i64().expect("id"))
        .collect()
}

/// The `after_id` of the `rel="next"` link, if any.
fn next_after_id(response: &TestResponse) -> Option<i64> {
    let link = response.header("link")?;
    let next = link.split(", ").find(|l| l.ends_with("rel=\"next\""))?;
    let (_, rest) = next.split_once("after_id=")?;
    rest.split(['&', '>']).next()?.parse().ok()
}

async fn timed_get(app: &TestApp, uri: &str) -> TestResponse {
    let started = Instant::now();
    let response = app.get(uri).await;
    let took = started.elapsed();
    assert!(took < DEEP_PAGE_BOUND, "{uri} took {took:?}");
    response
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn after_id_pages_walk_every_item_once_in_id_order(pool: PgPool) {
    let app = TestApp::new(pool);
    let mut created = Vec::new();
    for i in 0..23 {
        created.push(
            app.create_user(&format!("u{i}"), &format!("u{i}@example.com"))
                .await,
        );
    }
    app.delete(&format!("/users/{}", created[4]))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    created.remove(4);
    let mut seen = Vec::new();
    let mut after_id = 0;
    loop {
        let page = app
            .get(&format!("/users?after_id={after_id}&per_page=5"))
            .await;
        page.assert_status(StatusCode::OK);
        assert_eq!(page.header("x-total-count"), Some("22"));
        seen.extend(ids(&page));
        match next_after_id(&page) {
            Some(next) => after_id = next,
            None => break,
        }
    }
    assert_eq!(seen, created, "every live user once, by id");
    // Filters apply as with page.
    let user = created[0];
    for n in 0..3 {
        app.create_url(user, &format!("https://example.com/{n}"))
            .await;
    }
    let links = app
        .get(&format!("/urls?user_id={user}&after_id=1&per_page=1"))
        .await;
    assert_eq!(ids(&links), [2]);
    assert_eq!(next_after_id(&links), Some(2));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn bad_paging_parameters_are_400(pool: PgPool) {
    let app = TestApp::new(pool);
    for uri in [
        "/users?after_id=-1",
        "/users?page=2&after_id=5",
        "/events?after_id=abc",
        "/urls?page=1002&per_page=100",
        "/events?page=102&per_page=1001",
    ] {
        app.get(uri)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    let error = app.get("/events?page=1002").await.json();
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("after_id")),
        "a page past the bound names after_id: {error}"
    );
    app.get("/events?page=1001&per_page=100")
        .await
        .assert_status(StatusCode::OK);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn deep_pages_of_a_million_events_answer_in_under_a_second(pool: PgPool) {
    sqlx::query(
        "INSERT INTO events (url_id, user_id, event_type, details)
         SELECT 1 + i % 1000, 1 + i % 7, CASE WHEN i % 100 = 0 THEN 'updated' ELSE 'redirect' END, '{}'
         FROM generate_series(1, 1000000) AS i",
    )
    .execute(&pool)
    .await
    .expect("fill");
    let app = TestApp::new(pool);

    let last_offset_page = timed_get(&app, "/events?page=1001&per_page=100").await;
    last_offset_page.assert_status(StatusCode::OK);
    assert_eq!(
        ids(&last_offset_page),
        (100_001..=100_100).collect::<Vec<_>>()
    );
    assert_eq!(
        next_after_id(&last_offset_page),
        Some(100_100),
        "onward by after_id"
    );
    let total: i64 = last_offset_page
        .header("x-total-count")
        .and_then(|t| t.parse().ok())
        .expect("X-Total-Count");
    assert!(
        total > 100_000,
        "an estimate above the exact bound: {total}"
    );
    assert_eq!(
        last_offset_page.header("x-total-count-exact"),
        Some("false")
    );

    let error = timed_get(&app, "/events?page=1002&per_page=100")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("after_id")),
        "{error}"
    );

    let deep = timed_get(&app, "/events?after_id=999000&per_page=1000").await;
    assert_eq!(ids(&deep), (999_001..=1_000_000).collect::<Vec<_>>());
    assert_eq!(next_after_id(&deep), None, "the end has no next page");
    let middle = timed_get(&app, "/events?after_id=500000").await;
    assert_eq!(ids(&middle).len(), 100);
    assert_eq!(next_after_id(&middle), Some(500_100));

    let by_type = timed_get(
        &app,
        "/events?event_type=redirect&after_id=900000&per_page=5",
    )
    .await;
    assert_eq!(ids(&by_type), [900_001, 900_002, 900_003, 900_004, 900_005]);
    assert_eq!(by_type.header("x-total-count-exact"), Some("false"));
    let by_link = timed_get(&app, "/events?url_id=6&after_id=990000").await;
    assert_eq!(
        by_link.header("x-total-count"),
        Some("1000"),
        "small counts stay exact"
    );
    assert_eq!(by_link.header("x-total-count-exact"), None);
    assert_eq!(ids(&by_link)[..2], [990_005, 991_005]);
    let updated = timed_get(&app, "/events?event_type=updated&after_id=990000").await;
    assert_eq!(updated.header("x-total-count"), Some("10000"));
    assert_eq!(ids(&updated)[0], 990_100);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_query_past_the_statement_timeout_is_503_with_retry_after(pool: PgPool) {
    let options = (*pool.connect_options()).clone();
    let bounded = PgPoolOptions::new().connect_lazy_with(admin_api::with_statement_timeout(
        options,
        Duration::from_millis(300),
    ));
    let app = TestApp::new(bounded);
    let user = app.create_user("alice", "alice@example.com").await;

    // Another session holds a lock that every write of users waits for.
    let mut blocker = pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE users IN SHARE MODE")
        .execute(&mut *blocker)
        .await
        .expect("lock");
    let started = Instant::now();
    let response = app
        .put_json(&format!("/users/{user}"), &json!({"username": "bob"}))
        .await;
    let body = response.assert_error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    assert!(started.elapsed() < Duration::from_secs(10), "{body}");
    assert!(response.header("retry-after").is_some(), "{body}");
    blocker.rollback().await.expect("rollback");

    let user_now = app.get(&format!("/users/{user}")).await.json();
    assert_eq!(
        user_now["username"], "alice",
        "the cancelled write changed nothing"
    );
    app.put_json(&format!("/users/{user}"), &json!({"username": "bob"}))
        .await
        .assert_status(StatusCode::OK);
}
