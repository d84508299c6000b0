//! Link features through both binaries: the blocklist disabling links at
//! once, fallbacks, exact visit caps under a race, routing rules by device
//! and country (with a range file of the test's own), tags, search and
//! export through the running admin API.

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::redirects::WITHIN;
use crate::system::{System, geoip_placing_loopback_in};

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
    let dir = geoip_placing_loopback_in("DE");
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

#[tokio::test]
async fn links_are_found_by_tag_and_text_and_exported_through_the_running_admin_api() {
    let system = System::start().await;
    let spring = system.create_link("https://shop.example/Spring-Sale").await;
    let other = system.create_link("https://example.com/other").await;
    system
        .update_link(
            &spring["id"],
            &json!({"tags": ["campaign", "Q2"], "title": "Spring"}),
        )
        .await;
    system
        .update_link(&other["id"], &json!({"tags": ["Q2"]}))
        .await;
    let codes = |reply: crate::system::Reply| -> Vec<String> {
        reply
            .json()
            .as_array()
            .expect("a list")
            .iter()
            .map(|link| link["short_code"].as_str().expect("code").to_owned())
            .collect()
    };
    let spring_code = spring["short_code"].as_str().expect("code").to_owned();
    assert_eq!(
        codes(system.get("/urls?tag=campaign").await),
        [spring_code.as_str()]
    );
    assert_eq!(codes(system.get("/urls?tag=Q2").await).len(), 2);
    assert_eq!(
        codes(system.get("/urls?q=spring-sale").await),
        [spring_code.as_str()]
    );
    assert_eq!(
        codes(system.get("/urls?q=SPRING&tag=Q2").await),
        [spring_code.as_str()]
    );
    let export = system.get("/urls/export?tag=campaign").await;
    let csv = String::from_utf8_lossy(&export.body).into_owned();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(&format!(",{spring_code},")), "{csv}");
    system.stop().await;
}
