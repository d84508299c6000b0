//! Fault drills: each stops a part of the system in the middle of a load and
//! asserts, at the end, that every redirect served became exactly one event.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hyper::{Method, StatusCode};
use tokio::task::JoinHandle;

use crate::system::{Role, System, eventually, try_send};

/// Clients visiting one link in a loop, counting what they got.
pub struct Load {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    other: Arc<AtomicU64>,
    workers: Vec<JoinHandle<()>>,
}

impl Load {
    pub fn start(url: String, workers: usize) -> Self {
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
    pub async fn serve_more(&self, more: u64) {
        let target = self.served() + more;
        eventually(Duration::from_secs(30), || async {
            self.served() >= target
        })
        .await;
    }

    /// Stops the clients, checks that every request was redirected, and
    /// that every redirect served became exactly one event of `url_id`.
    pub async fn finish_exactly_once(self, system: &System, url_id: &serde_json::Value) {
        let (served, other) = self.finish().await;
        assert_eq!(other, 0, "every request was redirected");
        assert_exactly_one_event_per_visit(system, url_id, served).await;
    }

    /// Stops the clients; returns (redirects served, other answers).
    pub async fn finish(self) -> (u64, u64) {
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

pub async fn assert_exactly_one_event_per_visit(
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
    load.finish_exactly_once(&system, &link["id"]).await;
    system.stop().await;
}

#[tokio::test]
async fn redirector_terminated_mid_load_flushes_every_visit() {
    // Four serving threads whatever the machine: each pushes its own
    // buffer, and each must flush it before the process ends.
    let mut system = System::start_with(vec![("REDIRECTOR_WORKERS", "4".to_owned())]).await;
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
    load.finish_exactly_once(&system, &link["id"]).await;
    system.stop().await;
}
