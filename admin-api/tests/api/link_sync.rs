//! Write-through: every link write lands in Valkey (the real one) after its
//! commit and is announced on the invalidation channel.

use axum::http::StatusCode;
use futures_util::StreamExt;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{TestApp, seed};

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn link_writes_are_written_through_to_valkey(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let body = json!({"user_id": user, "original_url": "https://example.com/a", "short_code": "wt-link",
                      "redirect_type": 301, "expires_at": "2099-01-01T00:00:00Z"});
    let link = app.post_json("/urls", &body).await.json();
    let record = app
        .valkey_record("wt-link")
        .await
        .expect("record written on create");
    assert_eq!(record.url_id, link["id"].as_i64().expect("id"));
    assert_eq!(
        (record.user_id, record.target.as_str(), record.active),
        (user, "https://example.com/a", true)
    );
    assert_eq!(
        (record.redirect_type, record.expires_at),
        (301, Some(4_070_908_800))
    );

    let path = format!("/urls/{}", link["id"]);
    app.put_json(
        &path,
        &json!({"is_active": false, "original_url": "https://example.com/b"}),
    )
    .await
    .assert_status(StatusCode::OK);
    let record = app
        .valkey_record("wt-link")
        .await
        .expect("record kept on update");
    assert_eq!(
        (record.active, record.target.as_str()),
        (false, "https://example.com/b")
    );

    app.delete(&path)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert_eq!(
        app.valkey_record("wt-link").await,
        None,
        "deleted links leave Valkey"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn deleting_a_user_removes_their_records(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com").await;
    let code = link["short_code"].as_str().expect("code").to_owned();
    assert!(app.valkey_record(&code).await.is_some());
    app.delete(&format!("/users/{user}"))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert_eq!(app.valkey_record(&code).await, None);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn changes_are_published_on_the_invalidation_channel(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let mut pubsub = app.valkey.pubsub().await.expect("pubsub connection");
    pubsub
        .subscribe(app.valkey.keys().invalidation_channel())
        .await
        .expect("subscribe");
    let body =
        json!({"user_id": user, "original_url": "https://example.com", "short_code": "announced"});
    let link = app.post_json("/urls", &body).await.json();
    app.put_json(&format!("/urls/{}", link["id"]), &json!({"title": "x"}))
        .await
        .assert_status(StatusCode::OK);
    let mut messages = pubsub.on_message();
    for _ in 0..2 {
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), messages.next())
            .await
            .expect("a message within 5 s")
            .expect("stream open");
        assert_eq!(message.get_payload::<String>().expect("text"), "announced");
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn imports_write_through_and_a_lost_valkey_is_reloaded(pool: PgPool) {
    let app = TestApp::new(pool);
    for (path, file) in [("/users/bulk", "users.csv"), ("/urls/bulk", "urls.csv")] {
        app.upload(path, std::fs::read(seed(file)).expect("seed"))
            .await
            .assert_status(StatusCode::CREATED);
    }
    let record = app
        .valkey_record("J1O697")
        .await
        .expect("imported link written through");
    assert_eq!((record.url_id, record.active), (1, false));

    // Valkey loses everything (restart without persistence): no marker, no records.
    let mut connection = app.valkey.connection().await.expect("Valkey is up");
    let mut del = redis::cmd("DEL");
    del.arg(app.valkey.keys().loaded_marker());
    for code in ["J1O697", "bwm6Ki"] {
        del.arg(app.valkey.keys().link(code));
    }
    del.query_async::<()>(&mut connection).await.expect("DEL");
    let written = app.state.links.reload_if_lost().await.expect("reload");
    assert_eq!(written, 2000);
    assert!(app.valkey_record("bwm6Ki").await.is_some());
    assert_eq!(
        app.state.links.reload_if_lost().await.expect("check"),
        0,
        "the marker prevents a second reload"
    );
}
