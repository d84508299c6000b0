//! Fault drills for link changes, with both real binaries on a private
//! Postgres and Valkey: a write-through owed when the admin API is killed is
//! replayed from the outbox by the next one, and a silent invalidation
//! subscription is noticed, renewed, and obeyed again.

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::deps::PrivateDeps;
use crate::system::{Role, System, eventually};

/// How long a replayed or renewed change may take to be obeyed.
const OBEYED_WITHIN: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_write_through_owed_when_the_admin_api_is_killed_is_replayed_from_the_outbox() {
    let deps = PrivateDeps::start();
    let mut system = System::start_on(&deps.server_url, &deps.redis_url).await;
    let link = system.create_link("https://example.com/owed").await;
    let code = link["short_code"].as_str().expect("code").to_owned();
    let path = format!("/{code}");
    assert_eq!(
        system.visit(Method::GET, &path).await.status,
        StatusCode::FOUND
    );
    let old_version = system.link_version(&code).await;

    deps.stop_valkey();
    // The change commits in Postgres with its outbox row; the write-through fails.
    system
        .update_link(&link["id"], &json!({"is_active": false}))
        .await;
    let new_version = system.link_version(&code).await;
    assert!(new_version > old_version, "the change bumped the version");
    assert!(
        system.outbox_rows(Some(&code)).await >= 1,
        "the write-through is owed in Postgres"
    );
    system.kill(Role::Admin).await;

    deps.start_valkey();
    let stale = system.valkey_record(&code).await.expect("the old record");
    assert_eq!(
        stale.version(),
        old_version,
        "Valkey still holds the version before the change"
    );
    let mut valkey = system.valkey().await.expect("connect to Valkey");
    let loaded: bool = redis::cmd("EXISTS")
        .arg(system.keys().loaded_marker(&code))
        .query_async(&mut valkey)
        .await
        .expect("EXISTS");
    assert!(
        loaded,
        "Valkey kept its data: only the outbox can bring the change"
    );

    system.launch(Role::Admin).await;
    let took = system
        .until_redirector_answers(&path, StatusCode::NOT_FOUND, OBEYED_WITHIN)
        .await;
    eprintln!("the owed deactivation was obeyed {took:?} after the restart");
    eventually(OBEYED_WITHIN, || async {
        system.outbox_rows(None).await == 0
    })
    .await;
    let record = system.valkey_record(&code).await.expect("a record");
    assert_eq!(
        record.version(),
        new_version,
        "Valkey holds the new version"
    );
    let record = record.live().expect("a live record, not a tombstone");
    assert!(!record.active, "the new version is inactive");
    assert_eq!(
        system.visit(Method::GET, &path).await.status,
        StatusCode::NOT_FOUND,
        "and stays obeyed"
    );
    system.stop().await;
}

#[tokio::test]
async fn a_silent_invalidation_subscription_is_renewed_and_obeyed_again() {
    let deps = PrivateDeps::start();
    let silence = vec![("REDIRECTOR_SUBSCRIPTION_SILENCE", "2s".to_owned())];
    let system = System::start_custom(&deps.server_url, &deps.redis_url, silence).await;
    let link = system.create_link("https://example.com/heard").await;
    let path = format!("/{}", link["short_code"].as_str().expect("code"));
    let silences = "redirector_invalidation_silences_total";
    let subscriptions = "redirector_invalidation_subscriptions_total";
    eventually(OBEYED_WITHIN, || async {
        system.redirector_metric(subscriptions).await >= 1.0
    })
    .await;
    let (silences_before, subscriptions_before) = (
        system.redirector_metric(silences).await,
        system.redirector_metric(subscriptions).await,
    );

    // Writes (PUBLISH among them, in Redis 7 and Valkey) wait for 5 s: the
    // subscription stays open but the heartbeat stops coming back.
    let mut valkey = system.valkey().await.expect("connect to Valkey");
    let paused_at = Instant::now();
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(5_000)
        .arg("WRITE")
        .query_async::<()>(&mut valkey)
        .await
        .expect("CLIENT PAUSE");
    eventually(Duration::from_secs(5), || async {
        system.redirector_metric(silences).await > silences_before
    })
    .await;
    assert!(
        paused_at.elapsed() < Duration::from_secs(5),
        "the silence was noticed while the pause lasted"
    );
    // A write returns once the pause is over.
    redis::cmd("SET")
        .arg(format!(
            "{}drill:unpaused",
            system.setting("VALKEY_NAMESPACE")
        ))
        .arg(1)
        .query_async::<()>(&mut valkey)
        .await
        .expect("SET after the pause");

    // Renewed, and its heartbeat comes back again (a subscription made during
    // the pause is itself given up once it hears nothing).
    eventually(OBEYED_WITHIN, || async {
        system.redirector_metric(subscriptions).await > subscriptions_before
            && system
                .redirector_metric("redirector_invalidation_subscription_live")
                .await
                == 1.0
    })
    .await;
    // The renewed subscription carries invalidations: a cached link...
    eventually(OBEYED_WITHIN, || async {
        system.visit(Method::GET, &path).await.status == StatusCode::FOUND
    })
    .await;
    let received = system
        .redirector_metric("redirector_invalidations_received_total")
        .await;
    // ...is deactivated, and the redirector obeys before the 200 came back.
    system
        .update_link(&link["id"], &json!({"is_active": false}))
        .await;
    assert_eq!(
        system.visit(Method::GET, &path).await.status,
        StatusCode::NOT_FOUND
    );
    // The change came through the subscription (not only a dropped cache).
    eventually(Duration::from_secs(5), || async {
        system
            .redirector_metric("redirector_invalidations_received_total")
            .await
            > received
    })
    .await;
    system.stop().await;
}
