//! The visit drain, driven round by round (`drain_once`) against the real
//! Postgres and Valkey: poison visits are isolated and dead-lettered without
//! stopping the drain, duplicates count once, and the backlog gauges rise
//! while the drain is stuck.

use std::time::Duration;

use admin_api::{Drain, DrainSettings, Settings};
use serde_json::Value;
use shared::valkey::Valkey;
use shared::visit::Visit;
use shared::visit_stream::{EncodedVisit, STREAM_FIELD, push};
use sqlx::PgPool;

use crate::support::{PUBLIC_BASE, TestApp, test_valkey};

const STREAMS: usize = 2;

/// The settings of a test's drain: one worker on `STREAMS` streams.
pub fn drain_settings() -> DrainSettings {
    DrainSettings {
        consumer: "test-drain".into(),
        workers: 1,
        streams: STREAMS,
        batch: 16,
        claim_idle: Duration::from_secs(30),
        max_deliveries: 5,
        countries: Default::default(),
    }
}

/// An app and a drain on the same database and Valkey namespace.
pub fn app_and_drain(pool: PgPool, max_deliveries: u32) -> (TestApp, Drain, Valkey) {
    let settings = DrainSettings {
        max_deliveries,
        ..drain_settings()
    };
    app_and_drain_with(pool, settings)
}

/// An app and a drain with `settings`, on the same database and namespace.
pub fn app_and_drain_with(pool: PgPool, settings: DrainSettings) -> (TestApp, Drain, Valkey) {
    let valkey = test_valkey();
    let (state, drain) = admin_api::build(
        pool.clone(),
        valkey.clone(),
        Settings::new(PUBLIC_BASE),
        Some((valkey.separate(), settings)),
    );
    let app = TestApp::with_state(pool, valkey.clone(), state);
    (app, drain.expect("a drain was asked for"), valkey)
}

pub fn visit(id: &str, link: &Value) -> Visit {
    Visit {
        visit_id: id.into(),
        short_code: link["short_code"].as_str().expect("code").into(),
        url_id: link["id"].as_i64().expect("id"),
        user_id: link["user_id"].as_i64().expect("user"),
        at_ms: chrono::Utc::now().timestamp_millis(),
        referrer: None,
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0".into(),
        ),
        ip_prefix: Some("192.0.2.0/24".into()),
        fallback: false,
        route: None,
    }
}

/// Rounds until one reads nothing; returns what they did, failed rounds
/// included (as a drain's loop would retry them).
pub async fn drain_until_idle(drain: &mut Drain) -> (u64, u64, usize) {
    let (mut written, mut dead, mut failures) = (0, 0, 0);
    for _ in 0..100 {
        match drain.drain_once().await {
            Ok(round) if round.entries == 0 => return (written, dead, failures),
            Ok(round) => {
                written += round.written;
                dead += round.dead_lettered;
            }
            Err(_) => failures += 1,
        }
    }
    panic!("the drain never went idle");
}

async fn redirect_events(app: &TestApp, link: &Value) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'redirect' AND url_id = $1")
        .bind(link["id"].as_i64())
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

pub async fn total_visits(app: &TestApp, link: &Value) -> i64 {
    let stats = app
        .get(&format!(
            "/urls/{}/stats",
            link["short_code"].as_str().expect("code")
        ))
        .await
        .json();
    stats["total_visits"].as_i64().expect("total")
}

async fn dead_letters(valkey: &Valkey) -> Vec<redis::streams::StreamId> {
    let mut connection = valkey.connection().await.expect("Valkey");
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(valkey.keys().dead_letter_stream())
        .arg("-")
        .arg("+")
        .query_async(&mut connection)
        .await
        .expect("XRANGE");
    reply.ids
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_visit_postgres_refuses_is_dead_lettered_and_the_rest_is_written(pool: PgPool) {
    let (app, mut drain, valkey) = app_and_drain(pool, 3);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com/poison").await;
    // A time Postgres cannot store (about 250,000 BC), and a user agent with
    // a character jsonb refuses: each would fail every batch it is in.
    let mut ancient = visit("poison-1", &link);
    ancient.at_ms = -8_000_000_000_000_000;
    let mut nul = visit("poison-2", &link);
    nul.user_agent = Some("bad\u{0}agent".into());
    let good: Vec<Visit> = (0..5).map(|i| visit(&format!("good-{i}"), &link)).collect();
    let mut batch = good.clone();
    batch.insert(2, ancient);
    batch.push(nul);
    push_visits(&valkey, &batch).await.expect("XADD");
    // And a later push of good visits, in entries of their own.
    let later: Vec<Visit> = (0..3)
        .map(|i| visit(&format!("later-{i}"), &link))
        .collect();
    push_visits(&valkey, &later).await.expect("XADD");

    let (_, dead, failed_rounds) = drain_until_idle(&mut drain).await;

    assert_eq!(dead, 2, "both poison visits are dead-lettered");
    assert_eq!(
        failed_rounds, 2,
        "a refused visit is retried until its third attempt"
    );
    assert_eq!(redirect_events(&app, &link).await, 8);
    assert_eq!(total_visits(&app, &link).await, 8);
    let letters = dead_letters(&valkey).await;
    assert_eq!(letters.len(), 2);
    let reasons: Vec<String> = letters
        .iter()
        .map(|l| l.get::<String>("reason").expect("a reason"))
        .collect();
    assert!(reasons.iter().all(|r| !r.is_empty()), "{reasons:?}");
    let payload: String = letters[0].get(STREAM_FIELD).expect("the visit");
    assert!(payload.contains("poison-"), "{payload}");
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_unreadable_entry_is_dead_lettered_at_once(pool: PgPool) {
    let (app, mut drain, valkey) = app_and_drain(pool, 5);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com/x").await;
    let mut connection = valkey.connection().await.expect("Valkey");
    let _: String = redis::cmd("XADD")
        .arg(valkey.keys().visit_stream(0))
        .arg("*")
        .arg(STREAM_FIELD)
        .arg("{not json")
        .query_async(&mut connection)
        .await
        .expect("XADD");
    push_visits(&valkey, &[visit("v-1", &link)])
        .await
        .expect("XADD");

    let (written, dead, failed_rounds) = drain_until_idle(&mut drain).await;

    assert_eq!((written, dead, failed_rounds), (1, 1, 0));
    assert_eq!(dead_letters(&valkey).await.len(), 1);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_visit_pushed_twice_counts_once_in_events_and_stats(pool: PgPool) {
    let (app, mut drain, valkey) = app_and_drain(pool, 5);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com/twice").await;
    let once = visit("dup-1", &link);
    // Twice in one entry, and again in a second entry of the same batch (a
    // retried XADD whose first reply was lost).
    push_visits(&valkey, &[once.clone(), once.clone()])
        .await
        .expect("XADD");
    push_visits(&valkey, std::slice::from_ref(&once))
        .await
        .expect("XADD");

    drain_until_idle(&mut drain).await;
    // And once more after it was written.
    push_visits(&valkey, &[once]).await.expect("XADD");
    drain_until_idle(&mut drain).await;

    assert_eq!(redirect_events(&app, &link).await, 1);
    assert_eq!(total_visits(&app, &link).await, 1);
    let events = app
        .get(&format!(
            "/events?url_id={}&event_type=redirect",
            link["id"]
        ))
        .await
        .json();
    assert_eq!(
        events[0]["details"]["original_url"], "https://example.com/twice",
        "the drain takes the target from the link"
    );
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_push_cut_off_after_some_of_its_streams_and_retried_counts_each_visit_once(pool: PgPool) {
    let (app, mut drain, valkey) = app_and_drain(pool, 5);
    let user = app.create_user("alice", "alice@example.com").await;
    let mut links = Vec::new();
    // Fixed codes, so that the batch spans both streams on every run
    // (eight random codes land in one stream once in 128 runs).
    for n in 0..8 {
        let body = serde_json::json!({"user_id": user, "original_url": format!("https://example.com/cut/{n}"),
                                      "short_code": format!("cutcode{n}")});
        let created = app.post_json("/urls", &body).await;
        created.assert_status(axum::http::StatusCode::CREATED);
        links.push(created.json());
    }
    let batch: Vec<Visit> = links
        .iter()
        .enumerate()
        .map(|(n, link)| visit(&format!("cut-{n}"), link))
        .collect();
    let encoded: Vec<EncodedVisit> = batch.iter().map(|v| EncodedVisit::of(v, STREAMS)).collect();
    // The pipelined XADDs of one push, cut off after the first stream's
    // (the redirector died or lost the reply): only that stream took its
    // visits. The retry pushes the whole batch again.
    let first_stream: Vec<Visit> = batch
        .iter()
        .filter(|v| shared::visit_stream::shard(&v.short_code, STREAMS) == 0)
        .cloned()
        .collect();
    assert!(
        !first_stream.is_empty() && first_stream.len() < batch.len(),
        "the batch spans both streams"
    );
    push_visits(&valkey, &first_stream).await.expect("XADD");
    push(&valkey, STREAMS, &encoded).await.expect("XADD");

    drain_until_idle(&mut drain).await;

    for link in &links {
        assert_eq!(redirect_events(&app, link).await, 1);
        assert_eq!(total_visits(&app, link).await, 1);
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_lag_gauge_rises_while_the_drain_is_stuck(pool: PgPool) {
    let (app, mut drain, valkey) = app_and_drain(pool.clone(), 5);
    let user = app.create_user("alice", "alice@example.com").await;
    let link = app.create_url(user, "https://example.com/stuck").await;
    push_visits(&valkey, &[visit("s-1", &link)])
        .await
        .expect("XADD");
    // Postgres goes away for the drain: every write fails.
    pool.close().await;

    let started = std::time::Instant::now();
    let mut last_lag = 0;
    while started.elapsed() < Duration::from_secs(20) {
        let _ = drain.drain_once().await;
        let lag = app_metric(&app, "admin_drain_lag_milliseconds").await;
        if lag >= 2_000 && lag > last_lag && last_lag > 0 {
            assert!(app_metric(&app, "admin_visit_stream_entries").await >= 1);
            return;
        }
        last_lag = last_lag.max(lag);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the lag gauge did not rise past 2 s while the drain was stuck (last {last_lag})");
}

/// The value of an unlabelled metric on the app's `/metrics`.
async fn app_metric(app: &TestApp, name: &str) -> i64 {
    let text = String::from_utf8(app.get("/metrics").await.body).expect("UTF-8");
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .parse::<f64>()
                .ok()
        })
        .map_or(-1, |v| v as i64)
}

/// Pushes owned visits the way the redirector pushes its encoded ones.
pub async fn push_visits(valkey: &Valkey, visits: &[Visit]) -> redis::RedisResult<()> {
    let encoded: Vec<EncodedVisit> = visits
        .iter()
        .map(|v| EncodedVisit::of(v, STREAMS))
        .collect();
    push(valkey, STREAMS, &encoded).await
}
