//! Visits through both binaries: every GET redirect becomes exactly one
//! `redirect` event, quickly; HEAD is not a visit; bots are flagged.

use std::time::Duration;

use futures_util::StreamExt;
use hyper::{Method, StatusCode};

use crate::system::{System, eventually};

#[tokio::test]
async fn a_visit_is_readable_in_events_at_once() {
    let system = System::start().await;
    let link = system
        .create_link("https://example.com/read-after-redirect")
        .await;
    let code = link["short_code"].as_str().expect("code").to_owned();
    let query = format!("url_id={}&event_type=redirect", link["id"]);
    let reply = system
        .visit_with(
            &format!("/{code}"),
            &[
                ("referer", "https://news.example/item"),
                (
                    "user-agent",
                    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
                ),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FOUND);
    // The contract's 250 ms (p99) is the benchmark's visibility figure; here,
    // on a busy test machine (a debug build, a cluster pass), a generous
    // bound that still catches a visit that waits for a batch to fill.
    let took = eventually(Duration::from_secs(2), || async {
        system.count_events(&query).await == 1
    })
    .await;
    eprintln!("visit visible after {took:?}");
    system.until_pipeline_idle().await;
    assert_eq!(system.count_events(&query).await, 1, "exactly one event");
    let events = system.get(&format!("/events?{query}")).await.json();
    let details = &events[0]["details"];
    assert_eq!(details["short_code"], code.as_str());
    assert_eq!(
        details["original_url"],
        "https://example.com/read-after-redirect"
    );
    assert_eq!(details["referrer"], "https://news.example/item");
    assert_eq!(
        (
            details["browser"].as_str(),
            details["os"].as_str(),
            details["device"].as_str()
        ),
        (Some("Firefox"), Some("Linux"), Some("desktop"))
    );
    assert_eq!(details["is_bot"], false);
    assert_eq!(
        details["ip_prefix"], "127.0.0.0/24",
        "only the network, never the address"
    );
    assert_eq!(events[0]["user_id"], link["user_id"]);
    system.stop().await;
}

#[tokio::test]
async fn a_thousand_concurrent_visits_become_exactly_a_thousand_events() {
    let system = System::start().await;
    let link = system.create_link("https://example.com/popular").await;
    let path = format!("/{}", link["short_code"].as_str().expect("code"));
    let statuses: Vec<StatusCode> = futures_util::stream::iter(0..1000)
        .map(|_| async { system.visit(Method::GET, &path).await.status })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::FOUND));
    let query = format!("url_id={}&event_type=redirect", link["id"]);
    // Nothing pending anywhere first, then equality: a visit written twice,
    // however late, fails this.
    system.until_pipeline_idle().await;
    assert_eq!(system.count_events(&query).await, 1000);
    let stats_path = format!("/urls/{}/stats", link["short_code"].as_str().expect("code"));
    assert_eq!(system.get(&stats_path).await.json()["total_visits"], 1000);
    system.stop().await;
}

#[tokio::test]
async fn head_requests_are_not_visits_and_bots_are_flagged() {
    let system = System::start().await;
    let link = system.create_link("https://example.com/checked").await;
    let path = format!("/{}", link["short_code"].as_str().expect("code"));
    assert_eq!(
        system.visit(Method::HEAD, &path).await.status,
        StatusCode::FOUND
    );
    let bot = system
        .visit_with(
            &path,
            &[(
                "user-agent",
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            )],
        )
        .await;
    assert_eq!(bot.status, StatusCode::FOUND);
    let query = format!("url_id={}&event_type=redirect", link["id"]);
    system.until_pipeline_idle().await;
    assert_eq!(system.count_events(&query).await, 1, "the HEAD is no visit");
    let events = system.get(&format!("/events?{query}")).await.json();
    assert_eq!(
        events[0]["details"]["is_bot"], true,
        "the one event is the bot's GET, not the HEAD"
    );
    system.stop().await;
}

#[tokio::test]
async fn stats_count_humans_bots_and_visitors_within_two_seconds() {
    let system = System::start().await;
    let link = system.create_link("https://example.com/counted").await;
    let code = link["short_code"].as_str().expect("code").to_owned();
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    for headers in [
        &[
            ("user-agent", firefox),
            ("referer", "https://news.example/a"),
        ][..],
        &[
            ("user-agent", firefox),
            ("referer", "https://news.example/b"),
        ],
        &[("user-agent", firefox)],
        &[("user-agent", googlebot)],
    ] {
        assert_eq!(
            system.visit_with(&format!("/{code}"), headers).await.status,
            StatusCode::FOUND
        );
    }
    let stats_path = format!("/urls/{code}/stats");
    eventually(Duration::from_secs(2), || async {
        let stats = system.get(&stats_path).await.json();
        stats["total_visits"] == 3 && stats["bot_visits"] == 1
    })
    .await;
    system.until_pipeline_idle().await;
    let stats = system.get(&stats_path).await.json();
    assert_eq!(
        (&stats["total_visits"], &stats["bot_visits"]),
        (&serde_json::json!(3), &serde_json::json!(1))
    );
    assert_eq!(stats["short_code"], code.as_str());
    assert_eq!(stats["url_id"], link["id"]);
    assert_eq!(stats["unique_visitors"], 1, "one network, one user agent");
    assert_eq!(
        stats["top_referrers"],
        serde_json::json!([{"referrer": "news.example", "visits": 2}, {"referrer": "direct", "visits": 1}])
    );
    assert_eq!(
        stats["browsers"],
        serde_json::json!([{"browser": "Firefox", "visits": 3}])
    );
    assert_eq!(
        stats["operating_systems"],
        serde_json::json!([{"os": "Linux", "visits": 3}])
    );
    assert_eq!(
        stats["devices"],
        serde_json::json!([{"device": "desktop", "visits": 3}])
    );
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(
        stats["visits_by_day"],
        serde_json::json!([{"date": today, "visits": 3}])
    );
    assert!(stats["last_visit_at"].is_string());
    let unknown = system.get("/urls/NoSuchCode/stats").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    system.stop().await;
}

#[tokio::test]
async fn huge_user_agents_and_referrers_are_cut_before_they_are_stored() {
    let system = System::start().await;
    let link = system.create_link("https://example.com/huge").await;
    let path = format!("/{}", link["short_code"].as_str().expect("code"));
    // 5 KB each: under the server's header limits, far over what a visit keeps.
    let agent = format!("Mozilla/5.0 {}", "é".repeat(2_500));
    let referrer = format!("https://ref.example/{}", "r".repeat(5_000));
    let reply = system
        .visit_with(&path, &[("user-agent", &agent), ("referer", &referrer)])
        .await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let query = format!("url_id={}&event_type=redirect", link["id"]);
    system.until_pipeline_idle().await;
    assert_eq!(system.count_events(&query).await, 1);
    let events = system.get(&format!("/events?{query}")).await.json();
    let details = &events[0]["details"];
    let stored_agent = details["user_agent"].as_str().expect("user agent");
    let stored_referrer = details["referrer"].as_str().expect("referrer");
    assert!(
        stored_agent.len() <= 512 && stored_agent.starts_with("Mozilla/5.0 é"),
        "user agent cut to 512 bytes at a character boundary: {} bytes",
        stored_agent.len()
    );
    assert_eq!(stored_referrer.len(), 1024, "referrer cut to 1024 bytes");
    assert_eq!(details["original_url"], "https://example.com/huge");
    system.stop().await;
}

#[tokio::test]
async fn visits_get_the_country_of_their_network_from_the_installed_range_files() {
    let dir = std::env::temp_dir().join(format!(
        "urlshortener-geoip-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("a directory");
    // tor-geoipdb's format: loopback placed in Germany, for this test only.
    std::fs::write(dir.join("geoip"), "# test\n2130706432,2147483647,DE\n").expect("geoip");
    let system = System::start_with(vec![("GEOIP_DIR", dir.display().to_string())]).await;
    let link = system.create_link("https://example.com/where").await;
    let code = link["short_code"].as_str().expect("code").to_owned();
    assert_eq!(
        system.visit(Method::GET, &format!("/{code}")).await.status,
        StatusCode::FOUND
    );
    let query = format!("url_id={}&event_type=redirect", link["id"]);
    eventually(Duration::from_secs(10), || async {
        system.count_events(&query).await == 1
    })
    .await;
    let events = system.get(&format!("/events?{query}")).await.json();
    assert_eq!(events[0]["details"]["country"], "DE", "{events}");
    let stats = system.get(&format!("/urls/{code}/stats")).await.json();
    assert_eq!(
        stats["countries"],
        serde_json::json!([{"country": "DE", "visits": 1}])
    );
    system.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// A suffix that keeps parallel tests' directories apart.
fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
