//! Fault drills on a Valkey Cluster of the drill's own: a primary is killed
//! in the middle of a load, its replica takes over, and every redirect
//! served still becomes exactly one event; the primary of the invalidation
//! channels is killed, and a link deleted then still stops redirecting.

use std::time::Duration;

use hyper::{Method, StatusCode};
use shared::visit_stream::shard;

use crate::deps::PrivateCluster;
use crate::drills::Load;
use crate::system::{System, eventually};

/// Visit streams when `VISIT_STREAMS` is not set (its default).
const VISIT_STREAMS: usize = 4;

#[tokio::test]
async fn a_primary_killed_mid_load_fails_over_and_loses_and_doubles_nothing() {
    let cluster = PrivateCluster::start();
    let system = System::start_on_cluster(&cluster.nodes).await;
    let link = system
        .create_link("https://example.com/drill-cluster-primary")
        .await;
    let code = link["short_code"].as_str().expect("code").to_owned();
    let load = Load::start(format!("{}/{code}", system.redirector), 4);
    load.serve_more(300).await;

    // The primary that holds this link's visit stream dies.
    let stream = system.keys().visit_stream(shard(&code, VISIT_STREAMS));
    let primary = cluster.primary_of(&stream);
    cluster.kill(primary);
    // Redirects keep answering while the cluster notices and fails over.
    load.serve_more(300).await;
    cluster.until_whole();
    assert_ne!(
        cluster.primary_of(&stream),
        primary,
        "a replica took over the stream's slot"
    );
    load.serve_more(300).await;
    // The dead node comes back as a replica of its successor.
    cluster.restart(primary);
    load.serve_more(200).await;
    load.finish_exactly_once(&system, &link["id"]).await;
    system.stop().await;
}

#[tokio::test]
async fn a_link_deleted_after_the_invalidation_primary_died_stops_redirecting() {
    let cluster = PrivateCluster::start();
    let system = System::start_on_cluster(&cluster.nodes).await;
    let link = system
        .create_link("https://example.com/drill-cluster-channel")
        .await;
    let path = format!("/{}", link["short_code"].as_str().expect("code"));
    // Cached by the redirector.
    assert_eq!(
        system.visit(Method::GET, &path).await.status,
        StatusCode::FOUND
    );

    // The primary of the invalidation channels' slot dies; its replica
    // takes over, and the redirector's subscription ends with it.
    let primary = cluster.primary_of(&system.keys().invalidation_channel());
    cluster.kill(primary);
    cluster.until_whole();
    assert_eq!(
        system.delete(&format!("/urls/{}", link["id"])).await.status,
        StatusCode::NO_CONTENT
    );
    // The dead node returns as a replica (until then, writes on its former
    // shard wait for a replica's acknowledgement, from the outbox).
    cluster.restart(primary);
    eventually(Duration::from_secs(30), || async {
        system.visit(Method::GET, &path).await.status == StatusCode::NOT_FOUND
    })
    .await;
    system.stop().await;
}
