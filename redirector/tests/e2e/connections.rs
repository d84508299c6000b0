//! Slow, silent, idle, oversized and too many clients against the real
//! redirector: none of them keeps it from answering, each is closed or
//! refused within its bound, and each is counted.

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::system::{System, eventually, send};

/// Enough connections to matter, well within the test's file descriptors.
const SLOW_CLIENTS: usize = 2000;

fn setting(name: &'static str, value: &str) -> (&'static str, String) {
    (name, value.to_owned())
}

async fn connect(system: &System) -> TcpStream {
    let addr = system.redirector.trim_start_matches("http://");
    TcpStream::connect(addr)
        .await
        .expect("connect to the redirector")
}

/// How long until the server closes `stream` (EOF or reset), reading and
/// dropping whatever it sends; fails after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), stream.read(&mut buf)).await {
            Err(_) => panic!("the connection was still open after {within:?}"),
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// Reads one response (head and `content-length` body) off `stream`.
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("a response within 10 s")
            .expect("read");
        assert!(read > 0, "closed before a whole response: {bytes:?}");
        bytes.extend_from_slice(&buf[..read]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_owned())
            })
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if body.len() >= length {
            let status = head[9..12].parse().expect("a status code");
            return (status, body.to_owned());
        }
    }
}

/// The value of one series (the sum over its label sets when `series` has
/// none of its own) in the redirector's `/metrics`.
pub async fn metric(system: &System, series: &str) -> f64 {
    let reply = send(Method::GET, &format!("{}/metrics", system.redirector), None).await;
    String::from_utf8_lossy(&reply.body)
        .lines()
        .filter(|line| line.starts_with(series))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn thousands_of_half_sent_requests_do_not_keep_health_from_answering() {
    let header_read = Duration::from_secs(6);
    let system = System::start_with(vec![setting("REDIRECTOR_HEADER_READ_TIMEOUT", "6s")]).await;
    let mut slow = Vec::with_capacity(SLOW_CLIENTS);
    for _ in 0..SLOW_CLIENTS {
        let mut stream = connect(&system).await;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: slow\r\nX-Never-Ends: ")
            .await
            .expect("write half a request");
        slow.push(stream);
    }
    let started = Instant::now();
    let health = send(Method::GET, &format!("{}/health", system.redirector), None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(
        started.elapsed() < header_read / 2,
        "/health took {:?} beside {SLOW_CLIENTS} slow clients",
        started.elapsed()
    );
    for stream in &mut slow {
        closed_within(stream, header_read * 4).await;
    }
    eventually(Duration::from_secs(10), || async {
        metric(
            &system,
            "redirector_connections_closed_total{reason=\"header_timeout\"}",
        )
        .await
            >= SLOW_CLIENTS as f64
    })
    .await;
    system.stop().await;
}

#[tokio::test]
async fn silent_and_dribbling_clients_are_closed_after_the_header_read_timeout() {
    let system = System::start_with(vec![setting("REDIRECTOR_HEADER_READ_TIMEOUT", "1s")]).await;
    let mut silent = connect(&system).await;
    let waited = closed_within(&mut silent, Duration::from_secs(10)).await;
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    // A byte every 100 ms is activity, but not a request head: same bound.
    let mut dribbling = connect(&system).await;
    let started = Instant::now();
    for byte in b"GET /health HTTP/1.1\r\nHost: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if dribbling.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    closed_within(&mut dribbling, Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a dribbling head was kept for {:?}",
        started.elapsed()
    );
    system.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_and_not_before() {
    let system = System::start_with(vec![
        setting("REDIRECTOR_KEEPALIVE_TIMEOUT", "1500ms"),
        setting("REDIRECTOR_HEADER_READ_TIMEOUT", "30s"),
    ])
    .await;
    let mut stream = connect(&system).await;
    let request = b"GET /health HTTP/1.1\r\nHost: idle\r\n\r\n";
    // Requests closer together than the idle timeout keep the connection.
    for _ in 0..3 {
        stream.write_all(request).await.expect("write");
        assert_eq!(read_response(&mut stream).await.0, 200);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    stream.write_all(request).await.expect("write");
    let (status, body) = read_response(&mut stream).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let waited = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(
        waited >= Duration::from_millis(1400),
        "closed after {waited:?}"
    );
    let idle = metric(
        &system,
        "redirector_connections_closed_total{reason=\"idle_timeout\"}",
    )
    .await;
    assert!(idle >= 1.0, "idle closes counted: {idle}");
    system.stop().await;
}

#[tokio::test]
async fn a_connection_over_the_cap_is_closed_at_once_and_counted() {
    let cap = 8;
    let system = System::start_with(vec![
        setting("REDIRECTOR_MAX_CONNECTIONS", &cap.to_string()),
        setting("REDIRECTOR_HEADER_READ_TIMEOUT", "30s"),
    ])
    .await;
    // Connections that have been answered once are surely accepted and open.
    let mut held = Vec::new();
    for _ in 0..cap {
        let mut stream = connect(&system).await;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: held\r\n\r\n")
            .await
            .expect("write");
        assert_eq!(read_response(&mut stream).await.0, 200);
        held.push(stream);
    }
    let mut over = connect(&system).await;
    let waited = closed_within(&mut over, Duration::from_secs(5)).await;
    assert!(
        waited < Duration::from_secs(2),
        "over the cap closed after {waited:?}"
    );
    drop(held);
    eventually(Duration::from_secs(10), || async {
        crate::system::try_send(Method::GET, &format!("{}/health", system.redirector), None)
            .await
            .is_ok_and(|reply| reply.status == StatusCode::OK)
    })
    .await;
    assert!(metric(&system, "redirector_connections_rejected_total").await >= 1.0);
    assert!(metric(&system, "redirector_connections_open").await <= cap as f64);
    system.stop().await;
}

#[tokio::test]
async fn oversized_heads_and_too_many_headers_get_431() {
    let system = System::start_with(vec![
        setting("REDIRECTOR_MAX_HEADER_BYTES", "16KiB"),
        setting("REDIRECTOR_MAX_HEADERS", "64"),
    ])
    .await;
    let names: Vec<String> = (0..70).map(|i| format!("x-extra-{i}")).collect();
    let headers = |count: usize| -> Vec<(&str, &str)> {
        names
            .iter()
            .take(count)
            .map(|name| (name.as_str(), "1"))
            .collect()
    };
    let fine = system.visit_with("/health", &headers(50)).await;
    assert_eq!(fine.status, StatusCode::OK, "50 headers are fine");
    let big = "a".repeat(20_000);
    for (what, reply) in [
        (
            "70 headers",
            system.visit_with("/health", &headers(70)).await,
        ),
        (
            "a 20 KB header",
            system.visit_with("/health", &[("x-big", &big)]).await,
        ),
    ] {
        assert_eq!(
            reply.status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{what}"
        );
        let body = reply.json();
        assert_eq!(body["code"], 431, "{what}: {body}");
        assert_eq!(body["error"], "header_fields_too_large", "{what}: {body}");
    }
    // Far over the limits hyper refuses the head itself before parsing it:
    // still a 431, with an empty body, and the connection closed.
    let many: String = (0..150).map(|i| format!("x-h{i}: 1\r\n")).collect();
    let huge = format!("x-huge: {}\r\n", "a".repeat(40_000));
    for extra in [many, huge] {
        let mut stream = connect(&system).await;
        let request = format!("GET /health HTTP/1.1\r\nHost: big\r\n{extra}\r\n");
        let _ = stream.write_all(request.as_bytes()).await;
        let mut answer = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 431"), "answer: {answer:?}");
    }
    let health = system.visit(Method::GET, "/health").await;
    assert_eq!(health.status, StatusCode::OK);
    system.stop().await;
}
