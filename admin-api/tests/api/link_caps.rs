//! Visit caps on the admin side: `max_visits` checked (422 changes
//! nothing), stored, carried by the Valkey record, changed with an
//! `updated` event and removed with `null`, imported and exported. The
//! redirectors' counting is tested end to end (`redirects.rs`).

use axum::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::TestApp;

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_cap_is_checked_stored_carried_and_changed(pool: PgPool) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let body = json!({"user_id": ann, "original_url": "https://example.com/", "max_visits": 100});
    let link = app.post_json("/urls", &body).await.json();
    assert_eq!(link["max_visits"], 100);
    let code = link["short_code"].as_str().expect("code");
    assert_eq!(
        app.valkey_record(code).await.expect("a record").max_visits,
        Some(100)
    );
    let plain = app.create_url(ann, "https://example.com/plain").await;
    assert_eq!(plain["max_visits"], Value::Null);

    let before = app.row_counts().await;
    for bad in [
        json!(0),
        json!(-5),
        json!(1_000_000_000_001_i64),
        json!("ten"),
        json!(1.5),
    ] {
        let body =
            json!({"user_id": ann, "original_url": "https://example.com/", "max_visits": bad});
        let reply = app.post_json("/urls", &body).await;
        assert!(reply.status.is_client_error(), "{bad}: {}", reply.status);
        let changed = app
            .put_json(
                &format!("/urls/{}", link["id"]),
                &json!({"max_visits": bad}),
            )
            .await;
        assert!(changed.status.is_client_error(), "{bad}");
    }
    assert_eq!(app.row_counts().await, before);

    let id = &link["id"];
    let raised = app
        .put_json(&format!("/urls/{id}"), &json!({"max_visits": 250}))
        .await;
    assert_eq!(raised.json()["max_visits"], 250);
    let removed = app
        .put_json(&format!("/urls/{id}"), &json!({"max_visits": null}))
        .await;
    assert_eq!(removed.json()["max_visits"], Value::Null);
    assert_eq!(
        app.valkey_record(code).await.expect("a record").max_visits,
        None
    );
    let updates: Vec<Value> = app
        .get(&format!("/events?url_id={id}&event_type=updated"))
        .await
        .json()
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["details"].clone())
        .collect();
    assert_eq!(
        updates,
        [
            json!({"field": "max_visits", "new_value": "250"}),
            json!({"field": "max_visits", "new_value": ""})
        ]
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn caps_travel_through_export_and_import(pool: PgPool) {
    let app = TestApp::new(pool);
    let ann = app.create_user("ann", "ann@example.com").await;
    let csv = format!(
        "id,user_id,short_code,original_url,title,is_active,created_at,updated_at,max_visits\n\
         701,{ann},capped,https://example.com/1,,True,,,42\n\
         702,{ann},uncapped,https://example.com/2,,True,,,\n"
    );
    app.upload("/urls/bulk", &csv)
        .await
        .assert_status(StatusCode::CREATED);
    assert_eq!(app.get("/urls/701").await.json()["max_visits"], 42);
    assert_eq!(app.get("/urls/702").await.json()["max_visits"], Value::Null);
    let export = String::from_utf8(app.get("/urls/export").await.body).expect("UTF-8");
    assert!(
        export
            .lines()
            .next()
            .is_some_and(|h| h.ends_with(",max_visits,routes")),
        "{export}"
    );
    assert!(
        export.contains(",capped,") && export.contains(",42,\n"),
        "{export}"
    );
    let bad = format!(
        "id,user_id,short_code,original_url,title,is_active,created_at,updated_at,max_visits\n\
         703,{ann},zero,https://example.com/3,,True,,,0\n"
    );
    let error = app
        .upload("/urls/bulk", &bad)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(error["row"], 1, "{error}");
}
