//! Per-network rate limits at the redirector: unknown-code floods get 429
//! after their burst without reaching Postgres, other networks and known
//! links are untouched, and the visit limit is off unless configured.

use hyper::{Method, StatusCode};

use crate::connections::metric;
use crate::system::System;

fn from(ip: &str) -> [(&str, &str); 1] {
    [("x-forwarded-for", ip)]
}

/// Postgres-tier lookups so far (every outcome).
async fn postgres_lookups(system: &System) -> f64 {
    metric(system, "redirector_tier_lookups_total{tier=\"postgres\"").await
}

#[tokio::test]
async fn a_flood_of_unknown_codes_from_one_network_gets_429_and_never_reaches_postgres() {
    let system = System::start_with(vec![
        // Bursts of 10, then one a minute: the test never sees a refill.
        ("REDIRECTOR_NOT_FOUND_RATE", "1/min".to_owned()),
        ("REDIRECTOR_TRUSTED_PROXIES", "127.0.0.1/32".to_owned()),
    ])
    .await;
    let link = system.create_link("https://example.com/kept").await;
    let known = format!("/{}", link["short_code"].as_str().expect("code"));
    // Cached before the flood: a cached link never pays for the limit.
    let first = system.visit_with(&known, &from("192.0.2.1")).await;
    assert_eq!(first.status, StatusCode::FOUND);
    let before = postgres_lookups(&system).await;
    for i in 0..10 {
        let reply = system
            .visit_with(&format!("/Unknown{i}"), &from("203.0.113.7"))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "request {i} is within the burst"
        );
    }
    // The first 404 over the burst is looked up, then refused; from then on
    // the network's codes are refused before any lookup.
    let mut misses = 0.0;
    for (i, ip) in ["203.0.113.7", "203.0.113.200", "203.0.113.7"]
        .iter()
        .enumerate()
    {
        let reply = system.visit_with(&format!("/Flood{i}"), &from(ip)).await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{ip} is in the flooding /24"
        );
        let wait: u64 = reply.headers["retry-after"]
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
        let body = reply.json();
        assert_eq!(
            (body["code"].as_u64(), body["error"].as_str()),
            (Some(429), Some("rate_limited"))
        );
        if i == 0 {
            misses = metric(&system, "redirector_cache_misses_total").await;
        }
    }
    assert_eq!(
        metric(&system, "redirector_cache_misses_total").await,
        misses,
        "a refused network's codes are not even looked up"
    );
    let elsewhere = system.visit_with("/Unknown0", &from("198.51.100.7")).await;
    assert_eq!(
        elsewhere.status,
        StatusCode::NOT_FOUND,
        "another network has its own budget"
    );
    for _ in 0..2 {
        let reply = system.visit_with(&known, &from("203.0.113.7")).await;
        assert_eq!(
            reply.status,
            StatusCode::FOUND,
            "cached links still redirect"
        );
    }
    assert_eq!(
        postgres_lookups(&system).await,
        before,
        "unknown codes never reach Postgres"
    );
    let limited = metric(
        &system,
        "redirector_rate_limited_total{limit=\"not_found\"}",
    )
    .await;
    assert!(limited >= 2.0, "429s counted: {limited}");
    system.stop().await;
}

#[tokio::test]
async fn redirects_are_not_limited_by_default_and_get_429_over_a_set_visit_rate() {
    let unlimited = System::start().await;
    let link = unlimited.create_link("https://example.com/popular").await;
    let path = format!("/{}", link["short_code"].as_str().expect("code"));
    for _ in 0..50 {
        assert_eq!(
            unlimited.visit(Method::GET, &path).await.status,
            StatusCode::FOUND
        );
    }
    unlimited.stop().await;

    let limited = System::start_with(vec![
        ("REDIRECTOR_VISIT_RATE", "1/min".to_owned()),
        ("REDIRECTOR_TRUSTED_PROXIES", "127.0.0.1/32".to_owned()),
    ])
    .await;
    let link = limited.create_link("https://example.com/popular").await;
    let path = format!("/{}", link["short_code"].as_str().expect("code"));
    for i in 0..10 {
        let reply = limited.visit_with(&path, &from("203.0.113.7")).await;
        assert_eq!(
            reply.status,
            StatusCode::FOUND,
            "visit {i} is within the burst"
        );
    }
    let over = limited.visit_with(&path, &from("203.0.113.8")).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(over.headers.contains_key("retry-after"));
    let elsewhere = limited.visit_with(&path, &from("198.51.100.7")).await;
    assert_eq!(
        elsewhere.status,
        StatusCode::FOUND,
        "another network has its own budget"
    );
    let visits = metric(&limited, "redirector_rate_limited_total{limit=\"visit\"}").await;
    assert_eq!(visits, 1.0);
    limited.stop().await;
}
