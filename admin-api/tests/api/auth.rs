//! API keys: required on every resource endpoint when configured, never on
//! the probes, metrics or docs; either key header may carry the valid key;
//! repeated failures from one address and writes past a key's rate get 429.

use std::net::SocketAddr;
use std::time::Duration;

use admin_api::{ApiKeys, Settings};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use shared::config::Rate;
use sqlx::PgPool;

use crate::support::{PUBLIC_BASE, TestApp, TestResponse};

pub const KEY_ONE: &str = "key-one-0123456789abcdef0123456789abcdef";
pub const KEY_TWO: &str = "key-two-0123456789abcdef0123456789abcdef";

fn get_with(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::builder().uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).expect("valid request")
}

/// Settings with both keys and the given limits.
fn keyed_settings(auth_failures: Rate, writes: Rate) -> Settings {
    let mut settings = Settings::new(PUBLIC_BASE);
    settings.api_keys = ApiKeys::new(vec![KEY_ONE.into(), KEY_TWO.into()]);
    settings.auth_failure_rate = auth_failures;
    settings.write_rate = writes;
    settings
}

/// `count` per hour: bursts of ten times that, then one every 3600/count s
/// (slow enough that no cell comes back while a test runs, however loaded
/// the machine).
fn per_hour(count: u32) -> Rate {
    Rate {
        count,
        per: Duration::from_secs(3600),
    }
}

/// A GET of `/users` from `peer` with `headers`, as the server sees a socket.
async fn get_from(app: &TestApp, peer: &str, headers: &[(&str, &str)]) -> TestResponse {
    let mut request = get_with("/users", headers);
    let peer: SocketAddr = peer.parse().expect("socket address");
    request.extensions_mut().insert(ConnectInfo(peer));
    app.send_request(request).await
}

fn retry_after(response: &TestResponse) -> u64 {
    response
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds, got {:?}", response.headers))
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn resources_need_a_valid_key_when_keys_are_configured(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[KEY_ONE, KEY_TWO]);
    for path in ["/users", "/urls", "/events", "/users/1"] {
        let response = app.get(path).await;
        response.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    let wrong_one = format!("{KEY_ONE}-not");
    let basic = format!("Basic {KEY_ONE}");
    for header in [
        ("authorization", "Bearer wrong"),
        ("x-api-key", wrong_one.as_str()),
        ("authorization", basic.as_str()),
    ] {
        let response = app.send_request(get_with("/users", &[header])).await;
        response.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    let bearer_one = format!("Bearer {KEY_ONE}");
    let lower_two = format!("bearer {KEY_TWO}");
    for header in [
        ("authorization", bearer_one.as_str()),
        ("authorization", lower_two.as_str()),
        ("x-api-key", KEY_TWO),
    ] {
        app.send_request(get_with("/users", &[header]))
            .await
            .assert_status(StatusCode::OK);
    }
    let before = app.row_counts().await;
    let response = app
        .post_json(
            "/users",
            &json!({"username": "a", "email": "a@example.com"}),
        )
        .await;
    response.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_wrong_x_api_key_does_not_hide_a_right_bearer_key(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[KEY_ONE]);
    let bearer = format!("Bearer {KEY_ONE}");
    let wrong_then_right = [
        ("x-api-key", "not-the-key"),
        ("authorization", bearer.as_str()),
    ];
    app.send_request(get_with("/users", &wrong_then_right))
        .await
        .assert_status(StatusCode::OK);
    let right_then_wrong = [
        ("x-api-key", KEY_ONE),
        ("authorization", "Bearer not-the-key"),
    ];
    app.send_request(get_with("/users", &right_then_wrong))
        .await
        .assert_status(StatusCode::OK);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn probes_metrics_and_docs_stay_open(pool: PgPool) {
    let app = TestApp::with_api_keys(pool, &[KEY_ONE]);
    for path in [
        "/health",
        "/ready",
        "/metrics",
        "/apidocs/openapi.json",
        "/apidocs/",
    ] {
        app.get(path).await.assert_status(StatusCode::OK);
    }
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn repeated_failures_from_one_address_get_429_with_retry_after(pool: PgPool) {
    // One failure an hour: a burst of ten, then 429.
    let app = TestApp::with_settings(pool, keyed_settings(per_hour(1), Rate::OFF));
    let guesser = "203.0.113.7:40000";
    for attempt in 1..=10 {
        let response = get_from(&app, guesser, &[("x-api-key", "guess")]).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let throttled = get_from(&app, guesser, &[("x-api-key", "guess")]).await;
    throttled.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait = retry_after(&throttled);
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
    // The same address with no key at all is a failure too.
    get_from(&app, guesser, &[])
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another address has its own budget; a valid key from the throttled
    // address still works (only failures count, so a shared NAT keeps working).
    get_from(&app, "198.51.100.1:40000", &[("x-api-key", "guess")])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    get_from(&app, guesser, &[("x-api-key", KEY_ONE)])
        .await
        .assert_status(StatusCode::OK);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn failures_behind_a_trusted_proxy_count_per_forwarded_client(pool: PgPool) {
    let mut settings = keyed_settings(per_hour(1), Rate::OFF);
    settings.trusted_proxies = vec!["10.0.0.0/8".parse().expect("cidr")];
    let app = TestApp::with_settings(pool, settings);
    let proxy = "10.0.0.2:40000";
    for _ in 0..10 {
        get_from(&app, proxy, &[("x-forwarded-for", "203.0.113.7")])
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    get_from(&app, proxy, &[("x-forwarded-for", "203.0.113.7")])
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not throttled.
    get_from(&app, proxy, &[("x-forwarded-for", "203.0.113.8")])
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn writes_past_a_keys_rate_get_429_and_reads_go_on(pool: PgPool) {
    let app =
        TestApp::with_settings(pool, keyed_settings(Rate::OFF, per_hour(1))).signed_in(KEY_ONE);
    for n in 0..10 {
        let body = json!({"username": "u", "email": format!("u{n}@example.com")});
        app.post_json("/users", &body)
            .await
            .assert_status(StatusCode::CREATED);
    }
    let before = app.row_counts().await;
    let throttled = app
        .post_json(
            "/users",
            &json!({"username": "u", "email": "late@example.com"}),
        )
        .await;
    throttled.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!((1..=3600).contains(&retry_after(&throttled)));
    assert_eq!(
        app.row_counts().await,
        before,
        "a refused write changes nothing"
    );
    app.delete("/users/1")
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    app.get("/users").await.assert_status(StatusCode::OK);
    // The other key has its own budget.
    let other = format!("Bearer {KEY_TWO}");
    let request = Request::builder()
        .method(Method::DELETE)
        .uri("/users/1")
        .header("authorization", other)
        .body(Body::empty())
        .expect("valid request");
    app.send_request(request)
        .await
        .assert_status(StatusCode::NO_CONTENT);
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn open_mode_limits_writes_per_client_address(pool: PgPool) {
    let mut settings = Settings::new(PUBLIC_BASE);
    settings.write_rate = per_hour(1);
    let app = TestApp::with_settings(pool, settings);
    let post_from = |peer: &'static str, n: u32| {
        let body = json!({"username": "u", "email": format!("u{n}@example.com")}).to_string();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/users")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("valid request");
        let peer: SocketAddr = peer.parse().expect("socket address");
        request.extensions_mut().insert(ConnectInfo(peer));
        app.send_request(request)
    };
    for n in 0..10 {
        post_from("203.0.113.7:1", n)
            .await
            .assert_status(StatusCode::CREATED);
    }
    post_from("203.0.113.7:2", 10)
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    post_from("198.51.100.1:1", 11)
        .await
        .assert_status(StatusCode::CREATED);
}
