//! Fault drills on a private standalone Postgres and Valkey: each is stopped
//! in the middle of a load and started again, and every redirect served
//! still becomes exactly one event.

use std::time::Duration;

use hyper::{Method, StatusCode};

use crate::deps::PrivateDeps;
use crate::drills::{Load, assert_exactly_one_event_per_visit};
use crate::system::{System, eventually};

#[tokio::test]
async fn valkey_stopped_mid_load_and_restarted_loses_and_doubles_nothing() {
    let deps = PrivateDeps::start();
    let system = System::start_on(&deps.server_url, &deps.redis_url).await;
    let link = system.create_link("https://example.com/drill-valkey").await;
    let load = Load::start(
        format!(
            "{}/{}",
            system.redirector,
            link["short_code"].as_str().expect("code")
        ),
        4,
    );
    load.serve_more(200).await;
    deps.stop_valkey();
    let ready = system.visit(Method::GET, "/ready").await.json();
    assert_eq!(
        ready["checks"]["valkey"], "unreachable",
        "Valkey is really down: {ready}"
    );
    // Redirects keep answering from the cache and Postgres meanwhile.
    load.serve_more(300).await;
    deps.start_valkey();
    load.serve_more(200).await;
    load.finish_exactly_once(&system, &link["id"]).await;
    system.stop().await;
}

#[tokio::test]
async fn postgres_stopped_keeps_redirects_up_and_the_admin_api_answers_503_until_it_returns() {
    let deps = PrivateDeps::start();
    let system = System::start_on(&deps.server_url, &deps.redis_url).await;
    let cached = system.create_link("https://example.com/in-moka").await;
    let in_valkey = system.create_link("https://example.com/in-valkey").await;
    let path =
        |link: &serde_json::Value| format!("/{}", link["short_code"].as_str().expect("code"));
    assert_eq!(
        system.visit(Method::GET, &path(&cached)).await.status,
        StatusCode::FOUND
    );

    deps.stop_postgres();
    for link in [&cached, &in_valkey] {
        let reply = system.visit(Method::GET, &path(link)).await;
        assert_eq!(
            reply.status,
            StatusCode::FOUND,
            "redirects need no Postgres"
        );
    }
    let users = system.get("/users").await;
    assert_eq!(users.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(users.json()["error"], "service_unavailable");
    assert!(users.headers.contains_key("retry-after"));
    let ready = system.get("/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);

    deps.start_postgres();
    eventually(Duration::from_secs(30), || async {
        system.get("/users").await.status == StatusCode::OK
    })
    .await;
    // The visits made during the outage arrive once Postgres is back.
    assert_exactly_one_event_per_visit(&system, &cached["id"], 2).await;
    assert_exactly_one_event_per_visit(&system, &in_valkey["id"], 1).await;
    system.stop().await;
}
