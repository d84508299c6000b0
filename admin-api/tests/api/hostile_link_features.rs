//! Hostile clients against this issue's link features: the largest bodies
//! and queries they can send are refused at once and change nothing; a
//! thousand clients that stop reading exports hold four slots while the API
//! keeps answering; the same visit delivered twice, and the same blocklist
//! entry posted twice, count once; and a blocklist entry whose write-through
//! is lost after its commit (the process dies between the two writes) still
//! stops its links, finished from the outbox by the next process.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use shared::valkey::Valkey;
use shared::visit::Visit;
use sqlx::PgPool;
use tower::ServiceExt;

use crate::drain::{app_and_drain, drain_until_idle, push_visits, visit};
use crate::support::{PUBLIC_BASE, TestApp, test_valkey};

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_largest_feature_bodies_and_queries_are_refused_at_once_and_change_nothing(
    pool: PgPool,
) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let link = app.create_url(ann, "https://example.com/").await;
    let before = app.row_counts().await;
    let started = std::time::Instant::now();
    // Over the 1 MiB JSON limit: a rule list, a blocklist pattern.
    let rule = json!({"when": {"device": "ios"}, "url": format!("https://example.com/{}", "r".repeat(1000))});
    let rules: Vec<Value> = (0..1500).map(|_| rule.clone()).collect();
    let body = json!({"user_id": ann, "original_url": "https://example.com/", "routes": rules});
    app.post_json("/urls", &body)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    app.post_json("/blocklist", &json!({"pattern": "p".repeat(2 << 20)}))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Just under it: as many rules as fit, refused by their count.
    let rules: Vec<Value> = (0..900).map(|_| rule.clone()).collect();
    app.put_json(&format!("/urls/{}", link["id"]), &json!({"routes": rules}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // As long a search as a request head may carry, on an export.
    let huge = "%25".repeat(20_000);
    app.get(&format!("/urls/export?q={huge}"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.row_counts().await, before);
    assert_eq!(
        app.get(&format!("/urls/{}", link["id"])).await.json()["routes"],
        json!([])
    );
    // A refused export took no slot: four run at once.
    let router = admin_api::router(app.state.clone());
    let mut held = Vec::new();
    for _ in 0..4 {
        let request = Request::get("/events/export")
            .body(Body::empty())
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        held.push(response);
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_thousand_clients_that_stop_reading_exports_hold_four_slots_and_the_api_answers(
    pool: PgPool,
) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    app.create_url(ann, "https://example.com/").await;
    let router = admin_api::router(app.state.clone());
    let answers = futures_util::future::join_all((0..1000).map(|_| {
        let router = router.clone();
        async move {
            let request = Request::get("/urls/export")
                .body(Body::empty())
                .expect("request");
            router.oneshot(request).await.expect("infallible")
        }
    }))
    .await;
    let open = answers
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    let refused = answers
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        (open, refused),
        (4, 996),
        "four held, the rest told to retry"
    );
    // Nobody reads the four; the API still answers everything else.
    app.get("/health").await.assert_status(StatusCode::OK);
    app.get("/urls").await.assert_status(StatusCode::OK);
    drop(answers);
    let file = app.get("/urls/export").await;
    file.assert_status(StatusCode::OK);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_fallback_or_routed_visit_delivered_twice_counts_once(pool: PgPool) {
    let (app, mut drain, valkey) = app_and_drain(pool, 5);
    let ann = app.create_user("ann", "ann@example.com").await;
    let link = app.create_url(ann, "https://example.com/").await;
    let visits = [
        Visit {
            fallback: true,
            ..visit("fb-1", &link)
        },
        Visit {
            route: Some(0),
            ..visit("rt-1", &link)
        },
    ];
    // The same push twice (a retry whose first reply was lost), drained
    // between and after.
    push_visits(&valkey, &visits).await.expect("XADD");
    drain_until_idle(&mut drain).await;
    push_visits(&valkey, &visits).await.expect("XADD");
    drain_until_idle(&mut drain).await;
    let stats = app.stats_of(&link).await;
    assert_eq!(
        (&stats["total_visits"], &stats["fallback_visits"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(stats["routes"], json!([{"route": 0, "visits": 1}]));
    assert_eq!(app.event_details(&link["id"], "redirect").await.len(), 2);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_same_blocklist_entry_posted_twice_disables_its_links_once(pool: PgPool) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let link = app.create_url(ann, "https://evil.example/").await;
    let entry = json!({"pattern": "evil.example", "reason": "spam"});
    let first = app.post_json("/blocklist", &entry).await;
    first.assert_status(StatusCode::CREATED);
    assert_eq!(first.json()["disabled_links"], 1);
    app.post_json("/blocklist", &entry)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    assert_eq!(app.event_details(&link["id"], "disabled").await.len(), 1);
    assert_eq!(
        app.get("/blocklist").await.json().as_array().map(Vec::len),
        Some(1)
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_entry_whose_write_through_was_lost_still_stops_its_links(pool: PgPool) {
    let live = test_valkey();
    let app = TestApp::with_state(
        pool.clone(),
        live.clone(),
        admin_api::build_state(
            pool.clone(),
            live.clone(),
            admin_api::Settings::new(PUBLIC_BASE),
        ),
    );
    let ann = app.create_user("ann", "ann@example.com").await;
    let link = app.create_url(ann, "https://evil.example/").await;
    let code = link["short_code"].as_str().expect("code").to_owned();
    assert!(app.valkey_record(&code).await.expect("a record").active);

    // A process whose Valkey is gone: the entry and the disabled link
    // commit, then the write-through fails, as if the process died between.
    let dead = Valkey::new(
        &"redis://127.0.0.1:1".to_owned().into(),
        live.keys().clone(),
        Duration::from_millis(50),
    )
    .expect("valid URL");
    let down_state =
        admin_api::build_state(pool.clone(), dead, admin_api::Settings::new(PUBLIC_BASE));
    let down = TestApp::with_state(pool.clone(), live.clone(), down_state);
    down.post_json("/blocklist", &json!({"pattern": "evil.example"}))
        .await
        .assert_status(StatusCode::CREATED);
    assert!(
        app.valkey_record(&code).await.expect("a record").active,
        "the lost write-through left the old record"
    );
    drop(down);

    // The next process finishes it from the outbox.
    let started = std::time::Instant::now();
    while app.valkey_record(&code).await.expect("a record").active {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never written through"
        );
        app.state.links.retry_overdue().await.expect("retry");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(app.get(&format!("/urls/{}", link["id"])).await.json()["disabled"].is_object());
}
