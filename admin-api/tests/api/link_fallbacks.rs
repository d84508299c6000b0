//! Per-link fallbacks: stored, checked like destinations (422 changes
//! nothing, the blocklist included), changed with an `updated` event,
//! carried by the Valkey record (never for a link the blocklist disabled),
//! imported and exported; visits to a fallback counted apart.

use axum::http::StatusCode;
use serde_json::{Value, json};
use shared::visit::Visit;
use sqlx::PgPool;

use crate::drain::{app_and_drain, drain_until_idle, push_visits, visit};
use crate::support::TestApp;

async fn link_with_fallback(app: &TestApp, user: i64, fallback: &str) -> Value {
    let body = json!({"user_id": user, "original_url": "https://example.com/offer", "fallback_url": fallback});
    let created = app.post_json("/urls", &body).await;
    created.assert_status(StatusCode::CREATED);
    created.json()
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_fallback_is_checked_stored_changed_and_carried_by_the_record(pool: PgPool) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let link = link_with_fallback(&app, ann, "https://Example.com/sorry").await;
    assert_eq!(
        link["fallback_url"], "https://example.com/sorry",
        "canonical, as destinations"
    );
    let code = link["short_code"].as_str().expect("code");
    let record = app.valkey_record(code).await.expect("a record");
    assert_eq!(
        record.fallback.as_deref(),
        Some("https://example.com/sorry")
    );

    app.post_json("/blocklist", &json!({"pattern": "blocked.example"}))
        .await
        .assert_status(StatusCode::CREATED);
    let before = app.row_counts().await;
    for bad in [
        "javascript:alert(1)",
        "http://sho.rt/loop",
        "https://blocked.example/x",
        "no url",
    ] {
        let body =
            json!({"user_id": ann, "original_url": "https://example.com/", "fallback_url": bad});
        let error = app
            .post_json("/urls", &body)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            error["details"]["fallback_url"].is_string(),
            "{bad}: {error}"
        );
        app.put_json(
            &format!("/urls/{}", link["id"]),
            &json!({"fallback_url": bad}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    assert_eq!(app.row_counts().await, before);

    let id = &link["id"];
    let cleared = app
        .put_json(&format!("/urls/{id}"), &json!({"fallback_url": null}))
        .await;
    assert_eq!(cleared.json()["fallback_url"], Value::Null);
    assert_eq!(
        app.valkey_record(code).await.expect("a record").fallback,
        None
    );
    let updates = app.event_details(id, "updated").await;
    assert_eq!(
        updates[0],
        json!({"field": "fallback_url", "new_value": ""})
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_link_the_blocklist_disables_loses_its_fallback_one_disabled_by_hand_keeps_it(
    pool: PgPool,
) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let by_hand = link_with_fallback(&app, ann, "https://example.com/paused").await;
    let body = json!({"user_id": ann, "original_url": "https://fine.example/", "fallback_url": "https://evil.example/"});
    let caught = app.post_json("/urls", &body).await.json();
    app.put_json(
        &format!("/urls/{}", by_hand["id"]),
        &json!({"disabled": {"reason": "paused"}}),
    )
    .await
    .assert_status(StatusCode::OK);
    let entry = app
        .post_json("/blocklist", &json!({"pattern": "evil.example"}))
        .await
        .json();
    assert_eq!(entry["disabled_links"], 1, "caught by its fallback");
    let record = |link: &Value| {
        let code = link["short_code"].as_str().expect("code").to_owned();
        let app = &app;
        async move { app.valkey_record(&code).await.expect("a record") }
    };
    let paused = record(&by_hand).await;
    assert!(!paused.active);
    assert_eq!(
        paused.fallback.as_deref(),
        Some("https://example.com/paused")
    );
    let blocked = record(&caught).await;
    assert!(!blocked.active);
    assert_eq!(
        blocked.fallback, None,
        "never sends visitors to what the entry blocks"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn visits_to_a_fallback_are_counted_apart(pool: PgPool) {
    let (app, mut drain, valkey) = app_and_drain(pool, 5);
    let ann = app.create_user("ann", "ann@example.com").await;
    let link = link_with_fallback(&app, ann, "https://example.com/sorry").await;
    let visits: Vec<Visit> = (0..3)
        .map(|i| Visit {
            fallback: i > 0,
            ..visit(&format!("v-{i}"), &link)
        })
        .collect();
    push_visits(&valkey, &visits).await.expect("XADD");
    drain_until_idle(&mut drain).await;
    let stats = app.stats_of(&link).await;
    assert_eq!(
        (&stats["total_visits"], &stats["fallback_visits"]),
        (&json!(1), &json!(2))
    );
    let events = app
        .get(&format!(
            "/events?url_id={}&event_type=redirect",
            link["id"]
        ))
        .await
        .json();
    let flags: Vec<&Value> = events
        .as_array()
        .expect("events")
        .iter()
        .map(|e| &e["details"]["fallback"])
        .collect();
    assert_eq!(flags.iter().filter(|f| ***f == json!(true)).count(), 2);
}
