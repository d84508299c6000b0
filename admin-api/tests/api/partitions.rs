//! The visit history in day partitions: visits land in their day's
//! partition and count once however often they are delivered, `GET /events`
//! reads across partitions in id order, retention drops whole days and
//! never an audit event or a stat, and an installation from before
//! partitioning migrates with its events.

use std::time::Duration;

use admin_api::{Drain, Settings};
use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::valkey::Valkey;
use shared::visit::Visit;
use sqlx::PgPool;

use crate::drain::{app_and_drain, drain_until_idle, push_visits, total_visits, visit};
use crate::support::{PUBLIC_BASE, TestApp, test_valkey};

const DAY_MS: i64 = 86_400_000;

/// A visit of `link` `days` from now (before it when negative), pushed and
/// drained.
async fn drain_visit_on_day(
    valkey: &Valkey,
    drain: &mut Drain,
    link: &Value,
    id: &str,
    days: i64,
) -> Visit {
    let mut one = visit(id, link);
    one.at_ms += days * DAY_MS;
    push_visits(valkey, std::slice::from_ref(&one))
        .await
        .expect("XADD");
    drain_until_idle(drain).await;
    one
}

/// The partition each of the link's visits is in, by visit id.
async fn partitions_of_visits(app: &TestApp, link: &Value) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT visit_id, tableoid::regclass::text FROM events
         WHERE event_type = 'redirect' AND url_id = $1 ORDER BY visit_id",
    )
    .bind(link["id"].as_i64())
    .fetch_all(&app.pool)
    .await
    .expect("visits")
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn visits_land_in_their_days_partition_and_count_once_however_often_delivered(pool: PgPool) {
    let (app, mut drain, valkey) = app_and_drain(pool, 5);
    let now = Utc::now();
    let done = app.state.partitions.maintain(now).await.expect("maintain");
    assert!(done.ran && done.added.len() >= 7, "a week ahead: {done:?}");
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com/days").await;
    let mut later = visit("v-later", &link);
    later.at_ms += 3 * DAY_MS;
    let mut earlier = visit("v-earlier", &link);
    earlier.at_ms -= 400 * DAY_MS;
    let visits = [visit("v-now", &link), later.clone(), earlier.clone()];
    push_visits(&valkey, &visits).await.expect("XADD");
    // Delivered again (a push repeated after a failover, say).
    push_visits(&valkey, &[later.clone(), earlier])
        .await
        .expect("XADD");
    drain_until_idle(&mut drain).await;

    let placed = partitions_of_visits(&app, &link).await;
    let day_of = |at_ms: i64| {
        let at = DateTime::from_timestamp_millis(at_ms).expect("time");
        format!("events_visits_p{}", at.format("%Y%m%d"))
    };
    assert_eq!(
        placed,
        [
            ("v-earlier".to_owned(), "events_visits_before".to_owned()),
            ("v-later".to_owned(), day_of(later.at_ms)),
            ("v-now".to_owned(), day_of(now.timestamp_millis())),
        ],
        "the history before partitioning ends when the migration ran"
    );
    assert_eq!(total_visits(&app, &link).await, 3);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn events_are_listed_in_id_order_across_partitions(pool: PgPool) {
    let (app, mut drain, valkey) = app_and_drain(pool, 5);
    app.state
        .partitions
        .maintain(Utc::now())
        .await
        .expect("maintain");
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com/order").await;
    // Pushed one at a time, so that ids follow this order while the days
    // jump between partitions.
    for (i, days) in [5_i64, -300, 2, 0, 6].into_iter().enumerate() {
        drain_visit_on_day(&valkey, &mut drain, &link, &format!("v-{i}"), days).await;
    }
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .get(&format!(
                "/events?url_id={}&after_id={after}&per_page=2",
                link["id"]
            ))
            .await
            .json();
        let page = page.as_array().expect("a list").clone();
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().expect("id");
        seen.extend(page);
    }
    let ids: Vec<i64> = seen.iter().map(|e| e["id"].as_i64().expect("id")).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted, "id order, nothing twice");
    let visits: Vec<&str> = seen
        .iter()
        .filter(|e| e["event_type"] == "redirect")
        .map(|e| e["details"]["short_code"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(visits.len(), 5, "every day's visit: {seen:?}");
    assert!(seen.iter().any(|e| e["event_type"] == "created"));
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn retention_drops_whole_days_of_visits_and_keeps_audit_events_and_stats(pool: PgPool) {
    let valkey = test_valkey();
    let mut settings = Settings::new(PUBLIC_BASE);
    settings.events_retention = Some(Duration::from_secs(30 * 86_400));
    let (state, drain) = admin_api::build(
        pool.clone(),
        valkey.clone(),
        settings,
        Some((valkey.separate(), crate::drain::drain_settings())),
    );
    let mut drain = drain.expect("a drain");
    let app = TestApp::with_state(pool, valkey.clone(), state);
    let now = Utc::now();
    app.state.partitions.maintain(now).await.expect("maintain");
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com/kept-stats").await;
    let mut ahead = visit("v-ahead", &link);
    ahead.at_ms += 5 * DAY_MS;
    push_visits(&valkey, &[visit("v-now", &link), ahead])
        .await
        .expect("XADD");
    drain_until_idle(&mut drain).await;
    assert_eq!(partitions_of_visits(&app, &link).await.len(), 2);

    // Sixty days on, both days are past the thirty kept.
    let later = now + chrono::Duration::days(60);
    let done = app
        .state
        .partitions
        .maintain(later)
        .await
        .expect("maintain");
    assert!(
        done.dropped.contains(&"events_visits_before".to_owned()),
        "{done:?}"
    );
    assert!(partitions_of_visits(&app, &link).await.is_empty());
    // A visit of a dropped day arriving late is kept apart, then cleared.
    drain_visit_on_day(&valkey, &mut drain, &link, "v-late", 1).await;
    assert_eq!(
        partitions_of_visits(&app, &link).await,
        [("v-late".to_owned(), "events_visits_default".to_owned())]
    );
    let done = app
        .state
        .partitions
        .maintain(later)
        .await
        .expect("maintain");
    assert_eq!(done.cleared, 1);

    let audit = app
        .get(&format!("/events?url_id={}", link["id"]))
        .await
        .json();
    assert_eq!(
        audit
            .as_array()
            .map(|a| a.iter().all(|e| e["event_type"] == "created")),
        Some(true),
        "the audit trail stays: {audit}"
    );
    assert_eq!(
        total_visits(&app, &link).await,
        3,
        "the stats keep every visit"
    );
}

#[sqlx::test(migrations = false)]
async fn an_installation_from_before_partitioning_migrates_with_its_events(pool: PgPool) {
    let mut before = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations"
    )))
    .await
    .expect("the migrations");
    before
        .migrations
        .to_mut()
        .retain(|m| m.version < 20261203000100);
    before
        .run(&pool)
        .await
        .expect("the schema before partitioning");
    sqlx::raw_sql(
        "INSERT INTO users (id, username, email) VALUES (1, 'ann', 'ann@example.com');
         INSERT INTO urls (id, user_id, short_code, original_url) VALUES (1, 1, 'old1', 'https://example.com/');
         INSERT INTO events (url_id, user_id, event_type, occurred_at, details, visit_id)
             SELECT 1, 1, 'redirect', now() - i * interval '1 day', '{}', 'old-' || i
             FROM generate_series(1, 50) AS i;
         INSERT INTO events (url_id, user_id, event_type, actor) VALUES (1, 1, 'created', 'key-a');",
    )
    .execute(&pool)
    .await
    .expect("an installation's data");
    let last_before: i64 = sqlx::query_scalar("SELECT max(id) FROM events")
        .fetch_one(&pool)
        .await
        .expect("max id");

    admin_api::MIGRATOR.run(&pool).await.expect("migrate");

    let placed: Vec<(String, i64)> = sqlx::query_as(
        "SELECT tableoid::regclass::text, count(*) FROM events GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("counts");
    assert_eq!(
        placed,
        [
            ("events_audit".to_owned(), 1),
            ("events_visits_before".to_owned(), 50)
        ]
    );
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO events (url_id, user_id, event_type) VALUES (1, 1, 'updated') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("a new event");
    assert!(next > last_before, "ids go on: {next} after {last_before}");
    let again = sqlx::query(
        "INSERT INTO events_visits (url_id, user_id, event_type, occurred_at, visit_id)
         SELECT url_id, user_id, event_type, occurred_at, visit_id FROM events WHERE visit_id = 'old-7'
         ON CONFLICT (visit_id, occurred_at) DO NOTHING",
    )
    .execute(&pool)
    .await
    .expect("a redelivered old visit");
    assert_eq!(again.rows_affected(), 0, "an old visit still counts once");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn visits_kept_for_a_day_without_a_partition_move_into_it_when_it_is_added(pool: PgPool) {
    let (app, mut drain, valkey) = app_and_drain(pool, 5);
    let now = Utc::now();
    app.state.partitions.maintain(now).await.expect("maintain");
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com/far-ahead").await;
    // Twenty days ahead: past the week of partitions made so far.
    let ahead = drain_visit_on_day(&valkey, &mut drain, &link, "v-ahead", 20).await;
    assert_eq!(
        partitions_of_visits(&app, &link).await,
        [("v-ahead".to_owned(), "events_visits_default".to_owned())]
    );
    // Two weeks on, the round adds that day and takes its visit along.
    let done = app
        .state
        .partitions
        .maintain(now + chrono::Duration::days(14))
        .await
        .expect("maintain");
    let day = DateTime::from_timestamp_millis(ahead.at_ms).expect("time");
    let name = format!("events_visits_p{}", day.format("%Y%m%d"));
    assert!(done.added.contains(&name), "{done:?}");
    assert_eq!(
        partitions_of_visits(&app, &link).await,
        [("v-ahead".to_owned(), name)]
    );
    assert_eq!(total_visits(&app, &link).await, 1);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_round_that_fails_half_way_leaves_nothing_behind_and_the_next_one_finishes(pool: PgPool) {
    let (app, mut drain, valkey) = app_and_drain(pool, 5);
    let now = Utc::now();
    app.state.partitions.maintain(now).await.expect("maintain");
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com/half-way").await;
    let ahead = drain_visit_on_day(&valkey, &mut drain, &link, "v-ahead", 10).await;
    // A table in the way of the second partition to add: the round adds the
    // first, moves nothing yet, then fails on the second.
    let blocked = now + chrono::Duration::days(9);
    let name = format!("events_visits_p{}", blocked.format("%Y%m%d"));
    sqlx::query(&format!("CREATE TABLE {name} (x int)"))
        .execute(&app.pool)
        .await
        .expect("a table in the way");
    let listed = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events_visits'::regclass",
        )
        .fetch_one(&app.pool)
        .await
        .expect("partitions")
    };
    let partitions_before = listed().await;
    let later = now + chrono::Duration::days(3);
    assert!(app.state.partitions.maintain(later).await.is_err());
    assert_eq!(listed().await, partitions_before, "no partition half-added");
    assert_eq!(
        partitions_of_visits(&app, &link).await,
        [("v-ahead".to_owned(), "events_visits_default".to_owned())],
        "the waiting visit did not move"
    );
    sqlx::query(&format!("DROP TABLE {name}"))
        .execute(&app.pool)
        .await
        .expect("drop");
    app.state
        .partitions
        .maintain(later)
        .await
        .expect("the next round");
    let day = DateTime::from_timestamp_millis(ahead.at_ms).expect("time");
    assert_eq!(
        partitions_of_visits(&app, &link).await,
        [(
            "v-ahead".to_owned(),
            format!("events_visits_p{}", day.format("%Y%m%d"))
        )]
    );
    assert_eq!(total_visits(&app, &link).await, 1, "counted once");
}
