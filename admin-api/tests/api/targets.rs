//! Link targets are what they look like: no user names or passwords in
//! them, no link to the shortener's own host in any spelling, and the stored
//! target is the canonical form the redirector serves. Each rule holds for
//! `POST /urls`, `PUT /urls/{id}` and `POST /urls/bulk` alike.

use axum::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::TestApp;

const CSV_HEADER: &str = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at";

/// Sends each of `targets` through all three write paths and asserts each is a 422
/// naming `original_url` with `problem` in its details, changing nothing.
async fn refused_everywhere(app: &TestApp, targets: &[&str], problem: &str) {
    let user = app.create_user("owner", "owner@example.com").await;
    let link = app.create_url(user, "https://example.com/kept").await;
    for target in targets {
        refused_on_every_path(app, user, &link, target, problem).await;
    }
}

async fn refused_on_every_path(
    app: &TestApp,
    user: i64,
    link: &Value,
    target: &str,
    problem: &str,
) {
    let before = app.row_counts().await;
    let created = app
        .post_json("/urls", &json!({"user_id": user, "original_url": target}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let updated = app
        .put_json(
            &format!("/urls/{}", link["id"]),
            &json!({"original_url": target}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let csv = format!("{CSV_HEADER}\n90001,{user},imp0rt,{target},t,True,,\n");
    let imported = app
        .upload("/urls/bulk", csv)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    for (path, error) in [("POST", created), ("PUT", updated), ("bulk", imported)] {
        let details = error["details"]["original_url"]
            .as_str()
            .unwrap_or_default();
        assert!(
            details.contains(problem),
            "{path} {target:?}: {problem:?} not in {error}"
        );
    }
    assert_eq!(app.row_counts().await, before, "{target:?} changed nothing");
    let kept = app.get(&format!("/urls/{}", link["id"])).await.json();
    assert_eq!(kept["original_url"], "https://example.com/kept");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_target_with_a_user_name_or_password_is_422_everywhere(pool: PgPool) {
    let targets = [
        "https://bank.example@evil.example/",
        "https://user:pw@x.example/",
    ];
    refused_everywhere(&TestApp::new(pool), &targets, "user name or password").await;
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_target_on_the_shortener_own_host_is_422_in_every_spelling(pool: PgPool) {
    let targets = [
        "http://sho.rt./x",
        "http://SHO.RT/x",
        "https://Sho.Rt.:8443/x",
        "http://sho.rt:80",
    ];
    refused_everywhere(&TestApp::new(pool), &targets, "shortener itself").await;
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_stored_target_is_the_canonical_form_valkey_serves(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("owner", "owner@example.com").await;
    let check = |link: &Value, canonical: &str| {
        assert_eq!(link["original_url"], canonical, "{link}");
    };

    let link = app
        .create_url(user, r"HTTPS://Bücher.DE:443/a/../b\c?q=ü")
        .await;
    check(&link, "https://xn--bcher-kva.de/b/c?q=%C3%BC");
    let code = link["short_code"].as_str().expect("code");
    let record = app.valkey_record(code).await.expect("written through");
    assert_eq!(record.target, "https://xn--bcher-kva.de/b/c?q=%C3%BC");

    let bare = app.create_url(user, "https://Example.com").await;
    check(&bare, "https://example.com");

    let updated = app
        .put_json(
            &format!("/urls/{}", link["id"]),
            &json!({"original_url": "http://EXAMPLE.org:80/x"}),
        )
        .await;
    updated.assert_status(StatusCode::OK);
    check(&updated.json(), "http://example.org/x");
    let record = app.valkey_record(code).await.expect("written through");
    assert_eq!(record.target, "http://example.org/x");

    let csv = format!("{CSV_HEADER}\n90001,{user},imp0rt,HTTPS://Example.NET./p,t,True,,\n");
    app.upload("/urls/bulk", csv)
        .await
        .assert_status(StatusCode::CREATED);
    check(
        &app.get("/urls/90001").await.json(),
        "https://example.net./p",
    );
    let record = app.valkey_record("imp0rt").await.expect("written through");
    assert_eq!(record.target, "https://example.net./p");
}
