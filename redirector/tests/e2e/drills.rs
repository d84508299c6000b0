//! Fault drills: each stops a part of the system in the middle of a load and
//! asserts, at the end, that every redirect served became exactly one event.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hyper::{Method, StatusCode};
use tokio::task::JoinHandle;

use crate::deps::PrivateDeps;
use crate::system::{Role, System, eventually, try_send};

/// Clients visiting one link in a loop, counting what they got.
struct Load {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    other: Arc<AtomicU64>,
    workers: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(url: String, workers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let other = Arc::new(AtomicU64::new(0));
        let workers = (0..workers)
            .map(|_| {
                let (stop, served, other, url) =
                    (stop.clone(), served.clone(), other.clone(), url.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        match try_send(Method::GET, &url, None).await {
                            Ok(reply) if reply.status == StatusCode::FOUND => {
                                served.fetch_add(1, Ordering::SeqCst)
                            }
                            Ok(_) => other.fetch_add(1, Ordering::SeqCst),
                            // A refused connection (the redirector is gone) served nothing.
                            Err(_) => {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                                0
                            }
                        };
                    }
                })
            })
            .collect();
        Self {
            stop,
            served,
            other,
            workers,
        }
    }

    fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }

    /// Waits until `more` further redirects were served.
    async fn serve_more(&self, more: u64) {
        let target = self.served() + more;
        eventually(Duration::from_secs(30), || async {
            self.served() >= target
        })
        .await;
    }

    /// Stops the clients; returns (redirects served, other answers).
    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        for worker in self.workers {
            worker.await.expect("load worker");
        }
        (
            self.served.load(Ordering::SeqCst),
            self.other.load(Ordering::SeqCst),
        )
    }
}

async fn assert_exactly_one_event_per_visit(
    system: &System,
    url_id: &serde_json::Value,
    served: u64,
) {
    let query = format!("url_id={url_id}&event_type=redirect");
    // Nothing pending anywhere first, then equality: a visit written twice,
    // however late, fails this.
    system.until_pipeline_idle().await;
    assert_eq!(
        system.count_events(&query).await,
        served,
        "exactly one event per served redirect"
    );
    let stats = system
        .get(&format!(
            "/urls/{}/stats",
            system_code(system, url_id).await
        ))
        .await
        .json();
    assert_eq!(
        stats["total_visits"].as_u64(),
        Some(served),
        "the stats agree"
    );
}

async fn system_code(system: &System, url_id: &serde_json::Value) -> String {
    system.get(&format!("/urls/{url_id}")).await.json()["short_code"]
        .as_str()
        .expect("code")
        .to_owned()
}

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
    let (served, other) = load.finish().await;
    assert_eq!(other, 0, "every request was redirected");
    assert_exactly_one_event_per_visit(&system, &link["id"], served).await;
    system.stop().await;
}

#[tokio::test]
async fn admin_killed_mid_drain_and_restarted_loses_and_doubles_nothing() {
    let mut system = System::start().await;
    let link = system.create_link("https://example.com/drill-admin").await;
    let load = Load::start(
        format!(
            "{}/{}",
            system.redirector,
            link["short_code"].as_str().expect("code")
        ),
        4,
    );
    load.serve_more(300).await;
    system.kill(Role::Admin).await;
    assert!(
        try_send(Method::GET, &format!("{}/health", system.admin), None)
            .await
            .is_err(),
        "the admin API is down"
    );
    load.serve_more(300).await;
    system.launch(Role::Admin).await;
    load.serve_more(200).await;
    let (served, other) = load.finish().await;
    assert_eq!(other, 0);
    assert_exactly_one_event_per_visit(&system, &link["id"], served).await;
    system.stop().await;
}

#[tokio::test]
async fn redirector_terminated_mid_load_flushes_every_visit() {
    let mut system = System::start().await;
    let link = system
        .create_link("https://example.com/drill-sigterm")
        .await;
    let load = Load::start(
        format!(
            "{}/{}",
            system.redirector,
            link["short_code"].as_str().expect("code")
        ),
        8,
    );
    load.serve_more(500).await;
    let status = system.terminate(Role::Redirector).await;
    assert!(status.success(), "a clean exit on SIGTERM: {status}");
    let (served, other) = load.finish().await;
    assert_eq!(other, 0);
    assert_exactly_one_event_per_visit(&system, &link["id"], served).await;
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
