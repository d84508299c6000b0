//! Starts a whole system for one test: a fresh database, a Valkey namespace,
//! and both binaries on free ports; and a minimal HTTP client to drive them.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// How long a binary may take to answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A response, fully read.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }
}

/// Both binaries, running.
pub struct System {
    pub admin: String,
    pub redirector: String,
    children: Vec<Child>,
    database: String,
    server_url: String,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set (scripts/test.sh sets it)"))
}

/// A binary of the workspace, next to this crate's own.
fn binary(name: &str) -> PathBuf {
    let own = PathBuf::from(env!("CARGO_BIN_EXE_redirector"));
    let path = own.with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with --workspace",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("addr").port()
}

impl System {
    pub async fn start() -> Self {
        let server_url = env("DATABASE_URL");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let database = format!("e2e_{}_{nanos}", std::process::id());
        let mut connection = PgConnection::connect(&server_url)
            .await
            .expect("connect to Postgres");
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut connection)
            .await
            .expect("create database");
        let database_url = format!(
            "{}/{database}",
            server_url.rsplit_once('/').expect("URL with a database").0
        );
        let (admin_port, redirector_port) = (free_port(), free_port());
        let common = [
            ("DATABASE_URL", database_url),
            ("REDIS_URL", env("REDIS_URL")),
            ("VALKEY_NAMESPACE", format!("{database}:")),
            ("LOG_LEVEL", "warn".to_owned()),
            ("ADMIN_LISTEN", format!("127.0.0.1:{admin_port}")),
            ("REDIRECTOR_LISTEN", format!("127.0.0.1:{redirector_port}")),
            (
                "PUBLIC_BASE_URL",
                format!("http://127.0.0.1:{redirector_port}"),
            ),
        ];
        let spawn = |name: &str| {
            let mut command = Command::new(binary(name));
            command
                .env_clear()
                .envs(common.iter().cloned())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true);
            command
                .spawn()
                .unwrap_or_else(|e| panic!("start {name}: {e}"))
        };
        // The admin API migrates at start; the redirector needs the tables.
        let admin = spawn("admin-api");
        let system_admin = format!("http://127.0.0.1:{admin_port}");
        wait_healthy(&system_admin).await;
        let redirector = spawn("redirector");
        let system_redirector = format!("http://127.0.0.1:{redirector_port}");
        wait_healthy(&system_redirector).await;
        Self {
            admin: system_admin,
            redirector: system_redirector,
            children: vec![admin, redirector],
            database,
            server_url,
        }
    }

    /// Stops both binaries and drops the database.
    pub async fn stop(mut self) {
        for child in &mut self.children {
            let _ = child.kill().await;
        }
        if let Ok(mut connection) = PgConnection::connect(&self.server_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ))
            .execute(&mut connection)
            .await;
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        send(Method::GET, &format!("{}{path}", self.admin), None).await
    }

    /// How many events match the `/events` filter `query`.
    pub async fn count_events(&self, query: &str) -> u64 {
        let reply = self.get(&format!("/events?{query}&per_page=1")).await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.headers["x-total-count"]
            .to_str()
            .ok()
            .and_then(|n| n.parse().ok())
            .expect("X-Total-Count")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        send(
            Method::POST,
            &format!("{}{path}", self.admin),
            Some(body.to_string()),
        )
        .await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Reply {
        send(
            Method::PUT,
            &format!("{}{path}", self.admin),
            Some(body.to_string()),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        send(Method::DELETE, &format!("{}{path}", self.admin), None).await
    }

    /// A request to the redirector.
    pub async fn visit(&self, method: Method, path: &str) -> Reply {
        send(method, &format!("{}{path}", self.redirector), None).await
    }

    /// Updates link `id` and checks the admin API took it.
    pub async fn update_link(&self, id: &Value, body: &Value) {
        let reply = self.put_json(&format!("/urls/{id}"), body).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }

    /// Waits until a GET of `path` on the redirector answers `status`.
    pub async fn until_redirector_answers(
        &self,
        path: &str,
        status: StatusCode,
        within: Duration,
    ) -> Duration {
        eventually(within, || async {
            self.visit(Method::GET, path).await.status == status
        })
        .await
    }

    /// A GET to the redirector with extra headers.
    pub async fn visit_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        try_send_with(
            Method::GET,
            &format!("{}{path}", self.redirector),
            None,
            headers,
        )
        .await
        .unwrap_or_else(|e| panic!("request to {path} failed: {e}"))
    }

    /// Creates a user and a link to `target`; returns the link.
    pub async fn create_link(&self, target: &str) -> Value {
        let user = self.post_json("/users", &serde_json::json!({"username": "u", "email": format!("u{}@example.com", free_port())})).await;
        assert_eq!(user.status, StatusCode::CREATED, "{:?}", user.body);
        let link = self
            .post_json(
                "/urls",
                &serde_json::json!({"user_id": user.json()["id"], "original_url": target}),
            )
            .await;
        assert_eq!(link.status, StatusCode::CREATED, "{:?}", link.body);
        link.json()
    }
}

/// Polls `check` until it holds or `within` passes; returns how long it took.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < within,
            "condition did not hold within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

async fn wait_healthy(base: &str) {
    let started = Instant::now();
    loop {
        if let Ok(reply) = try_send(Method::GET, &format!("{base}/health"), None).await
            && reply.status == StatusCode::OK
        {
            return;
        }
        assert!(
            started.elapsed() < START_TIMEOUT,
            "{base} did not become healthy"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn send(method: Method, url: &str, json: Option<String>) -> Reply {
    try_send(method, url, json)
        .await
        .unwrap_or_else(|e| panic!("request to {url} failed: {e}"))
}

async fn try_send(
    method: Method,
    url: &str,
    json: Option<String>,
) -> Result<Reply, Box<dyn std::error::Error>> {
    try_send_with(method, url, json, &[]).await
}

async fn try_send_with(
    method: Method,
    url: &str,
    json: Option<String>,
    headers: &[(&str, &str)],
) -> Result<Reply, Box<dyn std::error::Error>> {
    let uri: hyper::Uri = url.parse()?;
    let authority = uri
        .authority()
        .ok_or("URL without host")?
        .as_str()
        .to_owned();
    let stream = TcpStream::connect(&authority).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header("host", authority);
    if json.is_some() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(json.unwrap_or_default())))?;
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await?.to_bytes(),
    })
}
