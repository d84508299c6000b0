//! Redirects through both binaries: create → redirect, and every change
//! obeyed within a second.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::system::{System, eventually};

/// The contract: a change is obeyed by every redirector within 1 second.
pub const WITHIN: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_new_link_redirects_on_every_path_form_and_method() {
    let system = System::start().await;
    let link = system.create_link("https://example.com/landing?x=1").await;
    let code = link["short_code"].as_str().expect("code").to_owned();
    for path in [
        format!("/{code}"),
        format!("/urls/{code}"),
        format!("/urls/{code}/redirect"),
    ] {
        for method in [Method::GET, Method::HEAD] {
            let reply = system.visit(method.clone(), &path).await;
            assert_eq!(reply.status, StatusCode::FOUND, "{method} {path}");
            assert_eq!(reply.location(), Some("https://example.com/landing?x=1"));
            assert_eq!(reply.headers["cache-control"], "private, max-age=0");
            assert!(reply.body.is_empty());
            assert!(
                reply.headers.contains_key("x-request-id"),
                "every response carries a request id"
            );
        }
    }
    let unknown = system.visit(Method::GET, "/NoSuchCode").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["error"], "not_found");
    system.stop().await;
}

#[tokio::test]
async fn updates_deactivation_and_deletion_are_obeyed_within_a_second() {
    let system = System::start().await;
    let link = system.create_link("https://example.com/old").await;
    let (id, code) = (
        link["id"].clone(),
        link["short_code"].as_str().expect("code").to_owned(),
    );
    let path = format!("/{code}");
    assert_eq!(
        system.visit(Method::GET, &path).await.location(),
        Some("https://example.com/old"),
        "cached now"
    );

    let update = json!({"original_url": "https://example.com/new", "redirect_type": 308});
    system.update_link(&id, &update).await;
    eventually(WITHIN, || async {
        let reply = system.visit(Method::GET, &path).await;
        reply.status == StatusCode::PERMANENT_REDIRECT
            && reply.location() == Some("https://example.com/new")
    })
    .await;

    system.update_link(&id, &json!({"is_active": false})).await;
    system
        .until_redirector_answers(&path, StatusCode::NOT_FOUND, WITHIN)
        .await;

    system.update_link(&id, &json!({"is_active": true})).await;
    system
        .until_redirector_answers(&path, StatusCode::PERMANENT_REDIRECT, WITHIN)
        .await;

    assert_eq!(
        system.delete(&format!("/urls/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    system
        .until_redirector_answers(&path, StatusCode::NOT_FOUND, WITHIN)
        .await;
    system.stop().await;
}

#[tokio::test]
async fn links_of_a_deleted_user_stop_redirecting() {
    let system = System::start().await;
    let link = system.create_link("https://example.com/").await;
    let path = format!("/{}", link["short_code"].as_str().expect("code"));
    assert_eq!(
        system.visit(Method::GET, &path).await.status,
        StatusCode::FOUND
    );
    assert_eq!(
        system
            .delete(&format!("/users/{}", link["user_id"]))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    system
        .until_redirector_answers(&path, StatusCode::NOT_FOUND, WITHIN)
        .await;
    system.stop().await;
}

#[tokio::test]
async fn a_code_remembered_as_unknown_redirects_once_created() {
    let system = System::start().await;
    assert_eq!(
        system.visit(Method::GET, "/late-comer").await.status,
        StatusCode::NOT_FOUND
    );
    let user = system
        .post_json(
            "/users",
            &json!({"username": "u", "email": "late@example.com"}),
        )
        .await
        .json();
    let body = json!({"user_id": user["id"], "original_url": "https://example.com/late", "short_code": "late-comer"});
    assert_eq!(
        system.post_json("/urls", &body).await.status,
        StatusCode::CREATED
    );
    system
        .until_redirector_answers("/late-comer", StatusCode::FOUND, WITHIN)
        .await;
    system.stop().await;
}

#[tokio::test]
async fn an_expired_link_stops_redirecting() {
    let system = System::start().await;
    let user = system
        .post_json(
            "/users",
            &json!({"username": "u", "email": "exp@example.com"}),
        )
        .await
        .json();
    let expiry = chrono::Utc::now() + chrono::Duration::seconds(2);
    let body = json!({"user_id": user["id"], "original_url": "https://example.com/soon-gone",
                      "short_code": "soon-gone", "expires_at": expiry.to_rfc3339()});
    assert_eq!(
        system.post_json("/urls", &body).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        system.visit(Method::GET, "/soon-gone").await.status,
        StatusCode::FOUND
    );
    system
        .until_redirector_answers("/soon-gone", StatusCode::NOT_FOUND, Duration::from_secs(5))
        .await;
    system.stop().await;
}

#[tokio::test]
async fn with_not_found_redirect_unknown_and_deleted_codes_go_there_and_inactive_links_stay_404() {
    let system = System::start_with(vec![(
        "NOT_FOUND_REDIRECT",
        "https://home.example/lost".to_owned(),
    )])
    .await;
    let unknown = system.visit(Method::GET, "/NoSuchCode").await;
    assert_eq!(unknown.status, StatusCode::FOUND);
    assert_eq!(unknown.location(), Some("https://home.example/lost"));

    let deleted = system.create_link("https://example.com/deleted").await;
    let inactive = system.create_link("https://example.com/inactive").await;
    system.delete(&format!("/urls/{}", deleted["id"])).await;
    system
        .update_link(&inactive["id"], &json!({"is_active": false}))
        .await;
    let path =
        |link: &serde_json::Value| format!("/{}", link["short_code"].as_str().expect("code"));
    eventually(WITHIN, || async {
        system.visit(Method::GET, &path(&deleted)).await.location()
            == Some("https://home.example/lost")
    })
    .await;
    let reply = system.visit(Method::GET, &path(&inactive)).await;
    assert_eq!(
        reply.status,
        StatusCode::NOT_FOUND,
        "a link that exists keeps its 404"
    );
    // Paths that are no code at all are not sent anywhere.
    assert_eq!(
        system.visit(Method::GET, "/a/b/c/d").await.status,
        StatusCode::NOT_FOUND
    );
    system.stop().await;
}

#[tokio::test]
async fn a_flood_of_unknown_codes_is_limited_even_when_they_redirect_elsewhere() {
    let system = System::start_with(vec![
        ("NOT_FOUND_REDIRECT", "https://home.example/lost".to_owned()),
        ("REDIRECTOR_NOT_FOUND_RATE", "1/min".to_owned()),
    ])
    .await;
    let mut statuses = Vec::new();
    for i in 0..30 {
        statuses.push(
            system
                .visit(Method::GET, &format!("/flood{i:04}"))
                .await
                .status,
        );
    }
    assert!(
        statuses.iter().take(10).all(|s| *s == StatusCode::FOUND),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "the burst spent, the flood is refused: {statuses:?}"
    );
    system.stop().await;
}
