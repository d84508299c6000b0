//! Redirects through both binaries: create → redirect, and every change
//! obeyed within a second.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::system::{System, eventually};

/// The contract: a change is obeyed by every redirector within 1 second.
const WITHIN: Duration = Duration::from_secs(1);

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

#[tokio::test]
async fn a_blocklist_entry_stops_its_links_redirecting_at_once_and_removing_it_does_not_restart_them()
 {
    let system = System::start().await;
    let link = system.create_link("https://promo.evil.example/win").await;
    let path = format!("/{}", link["short_code"].as_str().expect("code"));
    assert_eq!(
        system.visit(Method::GET, &path).await.status,
        StatusCode::FOUND,
        "cached now"
    );

    let added = system
        .post_json(
            "/blocklist",
            &json!({"pattern": "*.evil.example", "reason": "scam"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED);
    assert_eq!(added.json()["disabled_links"], 1);
    assert_eq!(
        system.visit(Method::GET, &path).await.status,
        StatusCode::NOT_FOUND,
        "obeyed before the response, as a PUT"
    );
    let removed = system
        .delete(&format!("/blocklist/{}", added.json()["id"]))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        system.visit(Method::GET, &path).await.status,
        StatusCode::NOT_FOUND,
        "still disabled"
    );
    system
        .update_link(&link["id"], &json!({"disabled": null}))
        .await;
    system
        .until_redirector_answers(&path, StatusCode::FOUND, WITHIN)
        .await;
    system.stop().await;
}

#[tokio::test]
async fn links_that_do_not_redirect_send_visitors_to_their_fallback_counted_apart() {
    let system = System::start().await;
    let link = system.create_link("https://example.com/live").await;
    let (id, code) = (
        link["id"].clone(),
        link["short_code"].as_str().expect("code").to_owned(),
    );
    let path = format!("/{code}");
    system
        .update_link(&id, &json!({"fallback_url": "https://example.com/sorry"}))
        .await;
    assert_eq!(
        system.visit(Method::GET, &path).await.location(),
        Some("https://example.com/live"),
        "a live link ignores its fallback"
    );
    system.update_link(&id, &json!({"is_active": false})).await;
    let reply = system.visit(Method::GET, &path).await;
    assert_eq!(
        (reply.status, reply.location()),
        (StatusCode::FOUND, Some("https://example.com/sorry"))
    );
    let head = system.visit(Method::HEAD, &path).await;
    assert_eq!(head.status, StatusCode::FOUND, "HEAD too, but not a visit");
    system.until_pipeline_idle().await;
    let stats = system.get(&format!("/urls/{code}/stats")).await.json();
    assert_eq!(
        (&stats["total_visits"], &stats["fallback_visits"]),
        (&json!(1), &json!(1))
    );
    system
        .update_link(&id, &json!({"fallback_url": null}))
        .await;
    assert_eq!(
        system.visit(Method::GET, &path).await.status,
        StatusCode::NOT_FOUND,
        "without a fallback, the contract's 404"
    );
    system.stop().await;
}

#[tokio::test]
async fn a_capped_link_serves_exactly_its_cap_however_many_visitors_race_then_its_fallback() {
    const CAP: usize = 7;
    let system = System::start().await;
    let link = system.create_link("https://example.com/limited").await;
    let (id, code) = (
        link["id"].clone(),
        link["short_code"].as_str().expect("code").to_owned(),
    );
    let path = format!("/{code}");
    system.update_link(&id, &json!({"max_visits": CAP})).await;
    assert_eq!(
        system.visit(Method::HEAD, &path).await.status,
        StatusCode::FOUND,
        "a HEAD takes nothing"
    );
    let replies =
        futures_util::future::join_all((0..40).map(|_| system.visit(Method::GET, &path))).await;
    let served = replies
        .iter()
        .filter(|r| r.status == StatusCode::FOUND)
        .count();
    let refused = replies
        .iter()
        .filter(|r| r.status == StatusCode::NOT_FOUND)
        .count();
    assert_eq!(
        (served, refused),
        (CAP, 40 - CAP),
        "exactly the cap, the rest as expired: {:?}",
        replies
            .iter()
            .map(|r| r.status.as_u16())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        system.visit(Method::HEAD, &path).await.status,
        StatusCode::NOT_FOUND
    );

    system
        .update_link(
            &id,
            &json!({"fallback_url": "https://example.com/sold-out"}),
        )
        .await;
    let reply = system.visit(Method::GET, &path).await;
    assert_eq!(reply.location(), Some("https://example.com/sold-out"));
    system.until_pipeline_idle().await;
    let stats = system.get(&format!("/urls/{code}/stats")).await.json();
    assert_eq!(
        (&stats["total_visits"], &stats["fallback_visits"]),
        (&json!(CAP), &json!(1)),
        "every served visit is one event: the cap's and the fallback's"
    );
    system
        .update_link(&id, &json!({"max_visits": CAP + 1}))
        .await;
    assert_eq!(
        system.visit(Method::GET, &path).await.location(),
        Some("https://example.com/limited"),
        "a raised cap lets visitors through again"
    );
    system.stop().await;
}

#[tokio::test]
async fn routing_rules_send_each_visitor_by_device_or_country_and_the_stats_say_which() {
    let dir = std::env::temp_dir().join(format!(
        "urlshortener-routes-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("a directory");
    // Loopback placed in Germany, for this test only (tor-geoipdb's format).
    std::fs::write(dir.join("geoip"), "2130706432,2147483647,DE\n").expect("geoip");
    let system = System::start_with(vec![("GEOIP_DIR", dir.display().to_string())]).await;
    let link = system.create_link("https://example.com/default").await;
    let (id, code) = (
        link["id"].clone(),
        link["short_code"].as_str().expect("code").to_owned(),
    );
    let path = format!("/{code}");
    let rules = json!([
        {"when": {"device": "ios"}, "url": "https://apps.example/ios"},
        {"when": {"country": "FR"}, "url": "https://example.fr/"},
        {"when": {"device": "android"}, "url": "https://apps.example/android"},
        {"when": {"country": "DE"}, "url": "https://example.de/"},
    ]);
    system.update_link(&id, &json!({"routes": rules})).await;
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15";
    let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120 Mobile";
    let desktop = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    for (agent, expected) in [
        (iphone, "https://apps.example/ios"),
        (android, "https://apps.example/android"),
        (desktop, "https://example.de/"),
    ] {
        let reply = system.visit_with(&path, &[("user-agent", agent)]).await;
        assert_eq!(
            (reply.status, reply.location()),
            (StatusCode::FOUND, Some(expected)),
            "{agent}"
        );
    }
    system
        .update_link(
            &id,
            &json!({"routes": [{"when": {"country": "FR"}, "url": "https://example.fr/"}]}),
        )
        .await;
    let reply = system.visit_with(&path, &[("user-agent", desktop)]).await;
    assert_eq!(
        reply.location(),
        Some("https://example.com/default"),
        "no rule matches"
    );
    system.until_pipeline_idle().await;
    let stats = system.get(&format!("/urls/{code}/stats")).await.json();
    let mut routes: Vec<(serde_json::Value, i64)> = stats["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| (r["route"].clone(), r["visits"].as_i64().expect("visits")))
        .collect();
    routes.sort_by_key(|(route, _)| route.to_string());
    assert_eq!(
        routes,
        [
            (json!(0), 1),
            (json!(2), 1),
            (json!(3), 1),
            (serde_json::Value::Null, 1)
        ]
    );
    system.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
