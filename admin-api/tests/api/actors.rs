//! Every event names its actor: the key that caused it, `open` without keys,
//! `import:<key>` for imported rows, `system` for visits; `?actor=` filters.

use axum::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::auth::{KEY_ONE, KEY_TWO};
use crate::support::{TestApp, seed};

/// The actors of the events `query` lists, in id order.
async fn actors(app: &TestApp, query: &str) -> Vec<(String, String)> {
    let response = app.get(&format!("/events?{query}")).await;
    response.assert_status(StatusCode::OK);
    response
        .json()
        .as_array()
        .expect("an array")
        .iter()
        .map(|event: &Value| {
            (
                event["event_type"].as_str().expect("type").to_owned(),
                event["actor"]
                    .as_str()
                    .expect("every event has an actor")
                    .to_owned(),
            )
        })
        .collect()
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn link_writes_record_the_key_that_made_them(pool: PgPool) {
    let one = TestApp::with_api_keys(pool.clone(), &[KEY_ONE, KEY_TWO]).signed_in(KEY_ONE);
    let two = TestApp::with_api_keys(pool, &[KEY_ONE, KEY_TWO]).signed_in(KEY_TWO);
    let user = one.create_user("alice", "alice@example.com").await;
    let link = one.create_url(user, "https://example.com/a").await;
    let id = &link["id"];
    two.put_json(
        &format!("/urls/{id}"),
        &json!({"title": "T", "is_active": false}),
    )
    .await
    .assert_status(StatusCode::OK);
    one.delete(&format!("/urls/{id}"))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let other = one.create_url(user, "https://example.com/b").await;
    let recorded = json!({"url_id": other["id"], "user_id": user, "event_type": "shared"});
    two.post_json("/events", &recorded)
        .await
        .assert_status(StatusCode::CREATED);
    two.delete(&format!("/users/{user}"))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let expected: Vec<(String, String)> = [
        ("created", "env-1"),
        ("updated", "env-2"),
        ("updated", "env-2"),
        ("deleted", "env-1"),
        ("created", "env-1"),
        ("shared", "env-2"),
        ("deleted", "env-2"),
    ]
    .iter()
    .map(|(t, a)| ((*t).to_owned(), (*a).to_owned()))
    .collect();
    assert_eq!(actors(&one, "per_page=100").await, expected);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_open_api_records_open_and_a_201_shows_the_actor(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com/a").await;
    let body = json!({"url_id": link["id"], "user_id": user, "event_type": "shared"});
    let event = app.post_json("/events", &body).await.json();
    assert_eq!(event["actor"], "open");
    assert_eq!(
        actors(&app, "").await,
        [
            ("created".to_owned(), "open".to_owned()),
            ("shared".to_owned(), "open".to_owned())
        ]
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn imported_events_record_import_and_the_key(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[KEY_ONE, KEY_TWO]).signed_in(KEY_TWO);
    for kind in ["users", "urls", "events"] {
        let file = std::fs::read(seed(&format!("{kind}.csv"))).expect("seed file");
        app.upload(&format!("/{kind}/bulk"), file)
            .await
            .assert_status(StatusCode::CREATED);
    }
    let imported: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert!(imported > 0);
    let by_import: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE actor = 'import:env-2'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(
        by_import, imported,
        "every imported event names the import and its key"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn events_are_filtered_by_actor(pool: PgPool) {
    let one = TestApp::with_api_keys(pool.clone(), &[KEY_ONE, KEY_TWO]).signed_in(KEY_ONE);
    let two = TestApp::with_api_keys(pool.clone(), &[KEY_ONE, KEY_TWO]).signed_in(KEY_TWO);
    let user = one.create_user("alice", "alice@example.com").await;
    one.create_url(user, "https://example.com/a").await;
    two.create_url(user, "https://example.com/b").await;
    two.create_url(user, "https://example.com/c").await;
    // A visit, as the drain writes it: no actor named, so `system`.
    sqlx::query("INSERT INTO events (url_id, user_id, event_type, visit_id) VALUES (1, $1, 'redirect', 'v-1')")
        .bind(user)
        .execute(&pool)
        .await
        .expect("insert a visit");
    assert_eq!(actors(&one, "actor=env-1").await.len(), 1);
    let response = one.get("/events?actor=env-2&per_page=1").await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.header("x-total-count"), Some("2"));
    assert_eq!(
        actors(&one, "actor=system").await,
        [("redirect".to_owned(), "system".to_owned())]
    );
    assert!(actors(&one, "actor=nobody").await.is_empty());
    assert_eq!(
        actors(&one, "actor=env-2&event_type=created").await.len(),
        2
    );
}
