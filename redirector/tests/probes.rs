//! The redirector's probes and error answers, served by the real accept loop
//! on a real socket, against the real Valkey and Postgres the test command
//! starts (`REDIS_URL`, `DATABASE_URL`); and the size of the future that
//! answers a request, which hyper moves into place for every request.

use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use redirector::{
    App, Application, BufferLimits, Config, Parts, RequestLimits, ServerLimits, Timeouts,
    VisitMetrics,
};
use serde_json::Value;
use shared::link::Keys;
use shared::valkey::Valkey;
use sqlx::postgres::PgPoolOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A redirector serving on a free port until dropped.
struct Server {
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// The request handler over the real Valkey (and Postgres, when given).
fn app(redis_url: &str, database_url: Option<&str>) -> App {
    let postgres = database_url.map(|url| {
        PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_millis(500))
            .connect_lazy(url)
            .expect("valid database URL")
    });
    let valkey = Valkey::new(
        &redis_url.to_owned().into(),
        Keys::new("probes-test:"),
        Duration::from_millis(300),
    )
    .expect("valid redis URL");
    let mut registry = prometheus_client::registry::Registry::with_prefix("redirector");
    let limits = BufferLimits {
        visits: 16,
        bytes: 1 << 20,
    };
    let (visits, _pusher) =
        redirector::visit_buffer(limits, 1, VisitMetrics::register(&mut registry));
    let parts = Parts {
        valkey,
        postgres,
        cache_max_bytes: 1 << 20,
        cache_ttl: Duration::from_secs(60),
        negative_ttl: Duration::from_secs(1),
        ready_timeout: Duration::from_millis(500),
        subscription_silence: Duration::from_secs(3),
        visits,
        trusted_proxies: Vec::new(),
        limits: RequestLimits::default(),
        not_found_redirect: None,
        geoip_dir: std::path::PathBuf::from("/nonexistent"),
    };
    App::new(registry, parts)
}

impl Server {
    async fn start(redis_url: &str, database_url: Option<&str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(redirector::run(
            listener,
            app(redis_url, database_url),
            ServerLimits {
                max_connections: 64,
                timeouts: Timeouts {
                    header_read: Duration::from_secs(5),
                    idle: Duration::from_secs(60),
                },
                max_header_bytes: 16 << 10,
                max_headers: 64,
            },
            shutdown.clone(),
            Duration::from_secs(5),
        ));
        Self {
            addr,
            shutdown,
            task,
        }
    }

    /// The binary's own assembly: an [`Application`] built from a parsed
    /// configuration on port 0.
    async fn from_config(args: &[&str]) -> Self {
        let config =
            Config::try_parse_from(std::iter::once("redirector").chain(args.iter().copied()))
                .expect("the configuration parses");
        config.validate().expect("the configuration is valid");
        let application = Application::build(&config).await.expect("it builds");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], application.port()));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(application.run_until_stopped(shutdown.clone()));
        Self {
            addr,
            shutdown,
            task,
        }
    }

    async fn request(&self, method: Method, path: &str) -> (StatusCode, hyper::HeaderMap, Bytes) {
        self.request_with(method, path, &[]).await
    }

    async fn request_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, hyper::HeaderMap, Bytes) {
        let stream = TcpStream::connect(self.addr).await.expect("connect");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "test");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::<Bytes>::new()).expect("request");
        let response = sender.send_request(request).await.expect("response");
        let (parts, body) = response.into_parts();
        (
            parts.status,
            parts.headers,
            body.collect().await.expect("body").to_bytes(),
        )
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("server task")
            .expect("server ran cleanly");
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set (scripts/test.sh sets it)"))
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn the_application_built_from_its_configuration_serves_health_and_stops_on_request() {
    let (redis, database) = (env("REDIS_URL"), env("DATABASE_URL"));
    let server = Server::from_config(&[
        "--listen",
        "127.0.0.1:0",
        "--redis-url",
        &redis,
        "--database-url",
        &database,
        "--valkey-namespace",
        "application-test:",
    ])
    .await;
    assert_ne!(server.addr.port(), 0, "port 0 becomes a free port");
    let (status, _, body) = server.request(Method::GET, "/health").await;
    assert_eq!(
        (status, json(&body)),
        (StatusCode::OK, serde_json::json!({"status": "ok"}))
    );
    tokio::time::timeout(Duration::from_secs(30), server.stop())
        .await
        .expect("it stops (tasks and all) within 30 s of the request");
}

#[tokio::test]
async fn health_is_ok_and_ready_names_both_tiers() {
    let server = Server::start(&env("REDIS_URL"), Some(&env("DATABASE_URL"))).await;
    let (status, _, body) = server.request(Method::GET, "/health").await;
    assert_eq!(
        (status, json(&body)),
        (StatusCode::OK, serde_json::json!({"status": "ok"}))
    );
    let (status, _, body) = server.request(Method::GET, "/ready").await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(
        json(&body)["checks"],
        serde_json::json!({"valkey": "ok", "postgres": "ok"})
    );
    server.stop().await;
}

#[tokio::test]
async fn ready_holds_while_one_tier_answers_and_fails_when_none_does() {
    let dead_redis = "redis://127.0.0.1:1";
    let dead_postgres = "postgres://postgres@127.0.0.1:1/none";
    let server = Server::start(dead_redis, Some(&env("DATABASE_URL"))).await;
    let (status, _, body) = server.request(Method::GET, "/ready").await;
    assert_eq!(status, StatusCode::OK, "Postgres alone is enough: {body:?}");
    assert_eq!(json(&body)["checks"]["valkey"], "unreachable");
    server.stop().await;

    let server = Server::start(&env("REDIS_URL"), None).await;
    let (status, _, body) = server.request(Method::GET, "/ready").await;
    assert_eq!(status, StatusCode::OK, "Valkey alone is enough: {body:?}");
    assert_eq!(json(&body)["checks"]["postgres"], "disabled");
    server.stop().await;

    let server = Server::start(dead_redis, Some(dead_postgres)).await;
    let (status, _, body) = server.request(Method::GET, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body = json(&body);
    assert_eq!(
        body["checks"],
        serde_json::json!({"valkey": "unreachable", "postgres": "unreachable"})
    );
    let (status, _, _) = server.request(Method::GET, "/health").await;
    assert_eq!(status, StatusCode::OK, "health never touches a dependency");
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_json_and_other_methods_405() {
    let server = Server::start(&env("REDIS_URL"), None).await;
    for path in ["/urls/abc/def/ghi", "/", "/urls/123", "/users"] {
        let (status, headers, body) = server.request(Method::GET, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .is_ok_and(|c| c.starts_with("application/json"))
        );
        assert_eq!(json(&body)["error"], "not_found");
    }
    for path in ["/%00", "/a%0Ab", "/a.b", &format!("/{}", "x".repeat(40))] {
        let (status, _, body) = server.request(Method::GET, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(json(&body)["error"], "bad_request");
    }
    let (status, headers, body) = server.request(Method::POST, "/health").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET, HEAD");
    assert_eq!(json(&body)["code"], 405);
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_class() {
    let server = Server::start(&env("REDIS_URL"), None).await;
    server.request(Method::GET, "/health").await;
    server.request(Method::GET, "/urls/1/2/3").await;
    for _ in 0..2 {
        let (status, _, _) = server.request(Method::GET, "/unknown-code").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _, body) = server.request(Method::GET, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).expect("utf-8");
    assert!(
        text.contains(r#"redirector_http_requests_total{route="health",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"redirector_http_requests_total{route="other",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"redirector_http_requests_total{route="redirect",status="404"} 2"#),
        "{text}"
    );
    assert!(text.contains("redirector_cache_misses_total 1\n"), "{text}");
    assert!(
        text.contains("redirector_negative_cache_hits_total 1\n"),
        "the second miss is remembered: {text}"
    );
    assert!(
        text.contains(r#"redirector_tier_lookups_total{tier="valkey",outcome="miss"} 1"#),
        "{text}"
    );
    assert!(
        !text.contains("1/2/3") && !text.contains("unknown-code"),
        "paths never become labels"
    );
    server.stop().await;
}

/// The `Accept` header Prometheus 2.x scrapes with.
const PROMETHEUS_SCRAPE_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

#[tokio::test]
async fn metrics_are_prometheus_text_unless_openmetrics_is_asked_for() {
    let server = Server::start(&env("REDIS_URL"), None).await;
    server.request(Method::GET, "/health").await;
    let sample = r#"redirector_http_requests_total{route="health",status="200"} 1"#;

    for accept in [None, Some("text/plain"), Some("*/*")] {
        let headers: Vec<_> = accept.map(|a| ("accept", a)).into_iter().collect();
        let (status, headers, body) = server.request_with(Method::GET, "/metrics", &headers).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers["content-type"], "text/plain; version=0.0.4; charset=utf-8",
            "{accept:?}"
        );
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(text.contains(sample), "{text}");
        assert!(
            text.contains("# TYPE redirector_http_requests_total counter\n"),
            "classic counters are declared under their sample name: {text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }

    for accept in ["application/openmetrics-text", PROMETHEUS_SCRAPE_ACCEPT] {
        let (status, headers, body) = server
            .request_with(Method::GET, "/metrics", &[("accept", accept)])
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8",
            "{accept}"
        );
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(text.contains(sample), "{text}");
        assert!(
            text.contains("# TYPE redirector_http_requests counter\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
    server.stop().await;
}

/// hyper stores each request's future in place, copying it there: a large
/// future (the cold paths' state inlined) costs a large copy per request.
/// The cold paths (lookups past the cache, readiness, metrics) are boxed so
/// that a cache hit's future stays small.
#[tokio::test]
async fn the_future_that_answers_a_request_stays_small() {
    let redis_url = std::env::var("REDIS_URL").expect("REDIS_URL");
    let app = app(&redis_url, None);
    let request = Request::get("/abc1234").body(()).expect("request");
    let future = app.handle(request, std::net::Ipv4Addr::LOCALHOST.into());
    let size = std::mem::size_of_val(&future);
    assert!(size <= 1024, "the request future holds {size} bytes");
    eprintln!("the request future holds {size} bytes");
}
