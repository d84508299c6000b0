//! Read-your-writes across the fleet, with both real binaries: a link write
//! is obeyed by the redirector before the admin API answers it, and two
//! admin API replicas racing a change against a delete never leave a
//! deleted link redirecting.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::system::{System, send_as};

#[tokio::test]
async fn deactivating_then_redirecting_at_once_never_gets_a_redirect() {
    let system = System::start().await;
    let link = system.create_link("https://example.com/toggled").await;
    let path = format!("/{}", link["short_code"].as_str().expect("code"));
    for round in 0..1000 {
        // The redirector has the link cached as active...
        system
            .update_link(&link["id"], &json!({"is_active": true}))
            .await;
        let served = system.visit(Method::GET, &path).await.status;
        assert_eq!(served, StatusCode::FOUND, "round {round}: activated");
        // ...and obeys the deactivation before the 200 came back.
        system
            .update_link(&link["id"], &json!({"is_active": false}))
            .await;
        let served = system.visit(Method::GET, &path).await.status;
        assert_eq!(served, StatusCode::NOT_FOUND, "round {round}: deactivated");
    }
    system.stop().await;
}

#[tokio::test]
async fn a_put_racing_a_delete_on_two_admin_replicas_never_leaves_a_deleted_link_redirecting() {
    let system = System::start().await;
    let (second, _second_process) = system.launch_second_admin().await;
    for round in 0..40 {
        let link = system
            .create_link(&format!("https://example.com/raced/{round}"))
            .await;
        let path = format!("/{}", link["short_code"].as_str().expect("code"));
        assert_eq!(
            system.visit(Method::GET, &path).await.status,
            StatusCode::FOUND
        );
        let id = &link["id"];
        let change =
            json!({"original_url": format!("https://example.com/changed/{round}"), "title": "x"});
        let (put_path, delete_url) = (format!("/urls/{id}"), format!("{second}/urls/{id}"));
        let (put, delete) = tokio::join!(
            system.put_json(&put_path, &change),
            send_as(&system.admin_key, Method::DELETE, &delete_url, None),
        );
        assert!(
            matches!(put.status, StatusCode::OK | StatusCode::NOT_FOUND),
            "round {round}: PUT answered {}",
            put.status
        );
        assert_eq!(delete.status, StatusCode::NO_CONTENT, "round {round}");
        // The DELETE succeeded: the link is gone at once, and stays gone.
        for _ in 0..2 {
            let served = system.visit(Method::GET, &path).await.status;
            assert_eq!(
                served,
                StatusCode::NOT_FOUND,
                "round {round}: {}",
                put.status
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    system.stop().await;
}
