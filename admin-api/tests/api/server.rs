//! The real server on a socket: request heads past the size cap get 431, a
//! client that never finishes its head is cut off, and the router sees each
//! connection's peer address (the per-address limits depend on it).

use std::net::SocketAddr;
use std::time::Duration;

use admin_api::{ApiKeys, ServerLimits, Settings};
use shared::config::Rate;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::auth::KEY_ONE;
use crate::support::{PUBLIC_BASE, TestApp};

/// The app served on a free port with small limits; stops when the token does.
async fn serve(app: &TestApp, shutdown: &CancellationToken) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let limits = ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        max_header_bytes: 8 * 1024,
    };
    tokio::spawn(admin_api::serve(
        listener,
        app.state.clone(),
        limits,
        shutdown.clone().cancelled_owned(),
    ));
    addr
}

/// Sends `request` bytes and reads until the server closes the connection.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
        .await
        .expect("the server answers or closes within 10 s")
        .ok();
    String::from_utf8_lossy(&reply).into_owned()
}

fn get(path: &str, headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{headers}\r\n").into_bytes()
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn an_oversized_request_head_gets_431(pool: PgPool) {
    let app = TestApp::new(pool);
    let shutdown = CancellationToken::new();
    let addr = serve(&app, &shutdown).await;
    let big = format!("X-Filler: {}\r\n", "a".repeat(16 * 1024));
    let reply = exchange(addr, &get("/health", &big)).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    let reply = exchange(addr, &get("/health", "")).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    shutdown.cancel();
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn a_client_that_never_finishes_its_head_is_cut_off(pool: PgPool) {
    let app = TestApp::new(pool);
    let shutdown = CancellationToken::new();
    let addr = serve(&app, &shutdown).await;
    let started = std::time::Instant::now();
    let reply = exchange(addr, b"GET /health HTTP/1.1\r\nHost: test\r\n").await;
    assert!(!reply.contains("200 OK"), "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    shutdown.cancel();
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_router_sees_each_connections_peer_address(pool: PgPool) {
    // Behind a trusted proxy on 127.0.0.0/8, X-Forwarded-For names the
    // client; that works only if the server hands the router the peer.
    let mut settings = Settings::new(PUBLIC_BASE);
    settings.api_keys = ApiKeys::new(vec![KEY_ONE.into()]);
    settings.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    settings.auth_failure_rate = Rate {
        count: 1,
        per: Duration::from_secs(3600),
    };
    let app = TestApp::with_settings(pool, settings);
    let shutdown = CancellationToken::new();
    let addr = serve(&app, &shutdown).await;
    let from = |client: &str| get("/users", &format!("X-Forwarded-For: {client}\r\n"));
    for _ in 0..10 {
        let reply = exchange(addr, &from("203.0.113.7")).await;
        assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    }
    let reply = exchange(addr, &from("203.0.113.7")).await;
    assert!(reply.starts_with("HTTP/1.1 429"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("retry-after:"),
        "{reply}"
    );
    let reply = exchange(addr, &from("203.0.113.8")).await;
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    shutdown.cancel();
}
