//! Write-through: every link write lands in Valkey (the real one) after its
//! commit and is announced on the invalidation channel.

use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use std::time::Duration;

use admin_api::Settings;
use shared::link::{LinkRecord, StoredLink};
use shared::valkey::Valkey;

use crate::support::{PUBLIC_BASE, TestApp, seed, test_valkey};

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
    let mut subscription = app
        .valkey
        .subscribe(&[app.valkey.keys().invalidation_channel()])
        .await
        .expect("subscribe");
    let body =
        json!({"user_id": user, "original_url": "https://example.com", "short_code": "announced"});
    let link = app.post_json("/urls", &body).await.json();
    app.put_json(&format!("/urls/{}", link["id"]), &json!({"title": "x"}))
        .await
        .assert_status(StatusCode::OK);
    for _ in 0..2 {
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), subscription.next())
            .await
            .expect("a message within 5 s")
            .expect("subscription open");
        let payload = String::from_utf8(message.payload).expect("text");
        let invalidation = shared::link::Invalidation::decode(&payload);
        assert_eq!(invalidation.codes, ["announced"]);
        assert!(
            !invalidation.id.is_empty(),
            "redirectors confirm by this id"
        );
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
    del.arg(app.valkey.keys().loaded_marker("J1O697"));
    for code in ["J1O697", "bwm6Ki"] {
        del.arg(app.valkey.keys().link(code));
    }
    del.query_async::<()>(&mut connection).await.expect("DEL");
    let written = app.state.links.reload_if_lost().await.expect("reload");
    assert_eq!(
        written, 2,
        "the two lost records are rewritten, the rest is checked"
    );
    assert!(app.valkey_record("bwm6Ki").await.is_some());
    assert_eq!(
        app.state.links.reload_if_lost().await.expect("check"),
        0,
        "the marker prevents a second reload"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn records_are_versioned_and_valkey_never_takes_an_older_one(pool: PgPool) {
    let app = TestApp::new(pool);
    let user = app.create_user("alice", "alice@example.com").await;
    let body = json!({"user_id": user, "original_url": "https://example.com/v", "short_code": "versioned"});
    let link = app.post_json("/urls", &body).await.json();
    let path = format!("/urls/{}", link["id"]);
    let first = app
        .valkey_record("versioned")
        .await
        .expect("written")
        .version;
    app.put_json(&path, &json!({"title": "two"}))
        .await
        .assert_status(StatusCode::OK);
    let second = app
        .valkey_record("versioned")
        .await
        .expect("written")
        .version;
    assert!(
        second > first,
        "a change bumps the version ({first} → {second})"
    );

    // A newer version already in Valkey (another replica's later write):
    // this replica's write-through of what it read earlier is refused.
    let mut newer = app.valkey_record("versioned").await.expect("written");
    newer.version += 10;
    newer.target = "https://example.com/newer".into();
    let mut connection = app.valkey.connection().await.expect("Valkey is up");
    redis::cmd("SET")
        .arg(app.valkey.keys().link("versioned"))
        .arg(newer.encode())
        .query_async::<()>(&mut connection)
        .await
        .expect("SET");
    app.state.links.publish(vec!["versioned".into()]).await;
    assert_eq!(app.valkey_record("versioned").await, Some(newer));

    // A delete leaves a tombstone with its version, which no older write
    // replaces.
    redis::cmd("DEL")
        .arg(app.valkey.keys().link("versioned"))
        .query_async::<()>(&mut connection)
        .await
        .expect("DEL");
    app.delete(&path)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let tombstone = app.valkey_stored("versioned").await.expect("a tombstone");
    assert!(
        matches!(tombstone, StoredLink::Deleted { version } if version > second),
        "{tombstone:?}"
    );
    let stale = LinkRecord {
        version: second,
        url_id: link["id"].as_i64().expect("id"),
        user_id: user,
        target: "https://example.com/v".into(),
        active: true,
        expires_at: None,
        redirect_type: 302,
        fallback: None,
        max_visits: None,
        routes: Vec::new(),
    };
    let refused: i64 = redis::cmd("EVAL")
        .arg(admin_api::WRITE_IF_NEWER)
        .arg(1)
        .arg(app.valkey.keys().link("versioned"))
        .arg(stale.version)
        .arg(stale.encode())
        .arg(0)
        .arg("0")
        .query_async(&mut connection)
        .await
        .expect("EVAL");
    assert_eq!(refused, 0, "the tombstone's version is newer");
    assert!(app.valkey_record("versioned").await.is_none());
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_write_through_valkey_missed_is_finished_from_postgres_by_the_next_process(pool: PgPool) {
    // A process whose Valkey is unreachable: the change commits with its
    // outbox row; the write-through fails and nothing is kept in memory.
    let live = test_valkey();
    let dead = Valkey::new(
        &"redis://127.0.0.1:1".to_owned().into(),
        live.keys().clone(),
        Duration::from_millis(50),
    )
    .expect("valid URL");
    let state = admin_api::build_state(pool.clone(), dead, Settings::new(PUBLIC_BASE));
    let down = TestApp::with_state(pool.clone(), live.clone(), state);
    let user = down.create_user("alice", "alice@example.com").await;
    let body =
        json!({"user_id": user, "original_url": "https://example.com/o", "short_code": "owed"});
    down.post_json("/urls", &body)
        .await
        .assert_status(StatusCode::CREATED);
    assert!(down.valkey_record("owed").await.is_none());
    let owed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM link_outbox WHERE short_code = 'owed'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(owed, 1, "the write-through is owed in Postgres");
    drop(down);

    // The next process (a restart, or another replica) finishes it.
    let state = admin_api::build_state(pool.clone(), live.clone(), Settings::new(PUBLIC_BASE));
    let next = TestApp::with_state(pool.clone(), live, state);
    let started = std::time::Instant::now();
    while next.valkey_record("owed").await.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never written through"
        );
        next.state.links.retry_overdue().await.expect("retry");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let owed: i64 = sqlx::query_scalar("SELECT count(*) FROM link_outbox")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(owed, 0, "the outbox is settled");
}
