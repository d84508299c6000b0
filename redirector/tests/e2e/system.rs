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
/// How long the admin API may take to mark Valkey loaded after it answers
/// `/health` (its first reconciliation: an empty database's writes only the
/// loaded markers, one per cluster slot).
const LOADED_TIMEOUT: Duration = Duration::from_secs(30);

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

/// One of the two binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Redirector,
}

impl Role {
    fn binary(self) -> &'static str {
        match self {
            Role::Admin => "admin-api",
            Role::Redirector => "redirector",
        }
    }
}

/// Both binaries, running.
pub struct System {
    pub admin: String,
    /// The admin API's key (`ADMIN_API_KEYS`); every admin request sends it.
    pub admin_key: String,
    pub redirector: String,
    admin_process: Option<Child>,
    redirector_process: Option<Child>,
    environment: Vec<(&'static str, String)>,
    database: String,
    server_url: String,
    /// Where the admin API's output goes, when a test reads it.
    admin_log: Option<PathBuf>,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set (scripts/test.sh sets it)"))
}

/// A binary of the workspace, next to this crate's own.
pub fn binary(name: &str) -> PathBuf {
    let own = PathBuf::from(env!("CARGO_BIN_EXE_redirector"));
    let path = own.with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with --workspace",
        path.display()
    );
    path
}

/// A new empty database on the Postgres server at `server_url`: its name
/// and URL.
pub async fn fresh_database(server_url: &str) -> (String, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let database = format!("e2e_{}_{nanos}", std::process::id());
    let mut connection = PgConnection::connect(server_url)
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
    (database, database_url)
}

/// A fresh directory holding an IP-to-country range file in tor-geoipdb's
/// format that places loopback (where every test visit comes from) in
/// `country`: what `GEOIP_DIR` names, for one test.
pub fn geoip_placing_loopback_in(country: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "urlshortener-geoip-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("a directory");
    // 127.0.0.0/8 as the integers of its first and last address.
    std::fs::write(
        dir.join("geoip"),
        format!("2130706432,2147483647,{country}\n"),
    )
    .expect("geoip");
    dir
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("addr").port()
}

impl System {
    /// A system on the Postgres and Valkey the test command started.
    pub async fn start() -> Self {
        Self::start_with(Vec::new()).await
    }

    /// A system on the Postgres server at `server_url` (its maintenance
    /// database) and the Valkey at `redis_url`.
    pub async fn start_on(server_url: &str, redis_url: &str) -> Self {
        Self::start_custom(server_url, redis_url, Vec::new()).await
    }

    /// A system on the test command's Postgres and the cluster reachable
    /// through `nodes` (a drill's private one).
    pub async fn start_on_cluster(nodes: &str) -> Self {
        let seed = nodes.split(',').next().expect("a node");
        let valkey = vec![
            ("REDIS_URL", format!("redis://{seed}")),
            ("REDIS_CLUSTER_NODES", nodes.to_owned()),
            ("VALKEY_REPLICA_ACKS", "1".to_owned()),
        ];
        Self::start_full(&env("DATABASE_URL"), valkey, None).await
    }

    /// A system on the test command's Postgres and on the Valkey it names in
    /// `VALKEY_UNDER_TEST`: `cluster` for its local cluster, else the
    /// standalone one.
    pub async fn start_on_shared(
        extra: Vec<(&'static str, String)>,
        admin_log: Option<PathBuf>,
    ) -> Self {
        let mut valkey = vec![("REDIS_URL", env("REDIS_URL"))];
        if std::env::var("VALKEY_UNDER_TEST").as_deref() == Ok("cluster") {
            valkey.push(("REDIS_CLUSTER_NODES", env("REDIS_CLUSTER_NODES")));
            // Every write of visits and records is on a replica before it
            // counts, so that a failover loses none.
            valkey.push(("VALKEY_REPLICA_ACKS", "1".to_owned()));
        }
        valkey.extend(extra);
        Self::start_full(&env("DATABASE_URL"), valkey, admin_log).await
    }

    /// A system on the test command's dependencies with extra settings.
    pub async fn start_with(extra: Vec<(&'static str, String)>) -> Self {
        Self::start_on_shared(extra, None).await
    }

    /// A system whose admin API writes its output (stdout and stderr) to `admin_log`.
    pub async fn start_logging_admin(
        extra: Vec<(&'static str, String)>,
        admin_log: PathBuf,
    ) -> Self {
        Self::start_on_shared(extra, Some(admin_log)).await
    }

    /// A system on the Postgres server at `server_url` and the Valkey at
    /// `redis_url` (a drill's private ones) with extra settings.
    pub async fn start_custom(
        server_url: &str,
        redis_url: &str,
        extra: Vec<(&'static str, String)>,
    ) -> Self {
        let mut settings = vec![("REDIS_URL", redis_url.to_owned())];
        settings.extend(extra);
        Self::start_full(server_url, settings, None).await
    }

    async fn start_full(
        server_url: &str,
        extra: Vec<(&'static str, String)>,
        admin_log: Option<PathBuf>,
    ) -> Self {
        let (database, database_url) = fresh_database(server_url).await;
        let (admin_port, redirector_port) = (free_port(), free_port());
        let admin_key = format!("key-for-{database}-0123456789abcdef");
        let mut environment = vec![
            ("ADMIN_API_KEYS", admin_key.clone()),
            // Tests write in bursts on purpose; the write limit has its own tests.
            ("ADMIN_WRITE_RATE", "0".to_owned()),
            ("DATABASE_URL", database_url),
            ("VALKEY_NAMESPACE", format!("{database}:")),
            ("LOG_LEVEL", "warn".to_owned()),
            ("ADMIN_LISTEN", format!("127.0.0.1:{admin_port}")),
            ("REDIRECTOR_LISTEN", format!("127.0.0.1:{redirector_port}")),
            (
                "PUBLIC_BASE_URL",
                format!("http://127.0.0.1:{redirector_port}"),
            ),
            // Fault drills restart the admin API; its consumer name must stay.
            ("DRAIN_CONSUMER", "drain-under-test".to_owned()),
            // Tests make many 404s from one address; the limit has its own
            // tests (limits.rs), which turn it on.
            ("REDIRECTOR_NOT_FOUND_RATE", "0".to_owned()),
        ];
        environment.extend(extra);
        let mut system = Self {
            admin: format!("http://127.0.0.1:{admin_port}"),
            admin_key,
            redirector: format!("http://127.0.0.1:{redirector_port}"),
            admin_process: None,
            redirector_process: None,
            environment,
            database,
            server_url: server_url.to_owned(),
            admin_log,
        };
        // The admin API migrates at start; the redirector needs the tables.
        system.launch(Role::Admin).await;
        system.until_valkey_is_loaded().await;
        system.launch(Role::Redirector).await;
        system
    }

    /// Waits until the admin API has marked Valkey as holding every link
    /// (its first reconciliation, just after start): until then a Valkey
    /// miss is not final and the redirector asks Postgres.
    async fn until_valkey_is_loaded(&self) {
        let valkey = self.valkey_handle();
        eventually(LOADED_TIMEOUT, || async {
            let loaded = shared::link::fully_loaded(&valkey).await.unwrap_or(false);
            if !loaded {
                // A check is one command per cluster slot: give the admin
                // API room to write the markers it checks.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            loaded
        })
        .await;
    }

    /// The value the binaries were started with for `name` (empty if unset).
    pub fn setting(&self, name: &str) -> String {
        self.environment
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Starts `role`'s binary and waits until it answers `/health`.
    pub async fn launch(&mut self, role: Role) {
        let mut command = Command::new(binary(role.binary()));
        command
            .env_clear()
            .envs(self.environment.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let (Role::Admin, Some(path)) = (role, &self.admin_log) {
            let log = std::fs::File::options()
                .create(true)
                .append(true)
                .open(path)
                .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
            // Logs go to stdout, errors before logging starts to stderr.
            command.stdout(Stdio::from(log.try_clone().expect("clone the log handle")));
            command.stderr(Stdio::from(log));
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", role.binary()));
        let base = match role {
            Role::Admin => {
                self.admin_process = Some(child);
                self.admin.clone()
            }
            Role::Redirector => {
                self.redirector_process = Some(child);
                self.redirector.clone()
            }
        };
        wait_healthy(&base).await;
    }

    /// A second admin API on the same database and Valkey (another
    /// replica); returns its base URL and process.
    pub async fn launch_second_admin(&self) -> (String, Child) {
        let port = free_port();
        let mut command = Command::new(binary("admin-api"));
        command
            .env_clear()
            .envs(self.environment.iter().cloned())
            .env("ADMIN_LISTEN", format!("127.0.0.1:{port}"))
            .env("DRAIN_CONSUMER", "second-admin")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = command.spawn().expect("start a second admin-api");
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(&base).await;
        (base, child)
    }

    /// Whether the redirector was started and not since stopped by the test.
    pub fn redirector_running(&self) -> bool {
        self.redirector_process.is_some()
    }

    fn process(&mut self, role: Role) -> Option<Child> {
        match role {
            Role::Admin => self.admin_process.take(),
            Role::Redirector => self.redirector_process.take(),
        }
    }

    /// `kill -9` of `role`'s binary.
    pub async fn kill(&mut self, role: Role) {
        if let Some(mut child) = self.process(role) {
            child.kill().await.expect("SIGKILL");
        }
    }

    /// SIGTERM to `role`'s binary; returns once it exited, with its status.
    pub async fn terminate(&mut self, role: Role) -> std::process::ExitStatus {
        let mut child = self.process(role).expect("running");
        let pid = child.id().expect("pid").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("exits within 30 s")
            .expect("wait")
    }

    /// Stops both binaries and drops the database.
    pub async fn stop(mut self) {
        for role in [Role::Redirector, Role::Admin] {
            self.kill(role).await;
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
        self.admin_request(Method::GET, path, None).await
    }

    /// A request to the admin API, with its key.
    pub async fn admin_request(&self, method: Method, path: &str, json: Option<String>) -> Reply {
        send_as(
            &self.admin_key,
            method,
            &format!("{}{path}", self.admin),
            json,
        )
        .await
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
        self.admin_request(Method::POST, path, Some(body.to_string()))
            .await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Reply {
        self.admin_request(Method::PUT, path, Some(body.to_string()))
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.admin_request(Method::DELETE, path, None).await
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
        // A free port is no unique number (the kernel hands the same one out
        // again); a counter of this process is.
        static USERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = USERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let email = format!("u{}-{n}@example.com", std::process::id());
        let user = self
            .post_json(
                "/users",
                &serde_json::json!({"username": "u", "email": email}),
            )
            .await;
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

pub async fn wait_healthy(base: &str) {
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

/// A request with `key` as `Authorization: Bearer`.
pub async fn send_as(key: &str, method: Method, url: &str, json: Option<String>) -> Reply {
    let bearer = format!("Bearer {key}");
    try_send_with(method, url, json, &[("authorization", &bearer)])
        .await
        .unwrap_or_else(|e| panic!("request to {url} failed: {e}"))
}

pub async fn try_send(
    method: Method,
    url: &str,
    json: Option<String>,
) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
    try_send_with(method, url, json, &[]).await
}

pub async fn try_send_with(
    method: Method,
    url: &str,
    json: Option<String>,
    headers: &[(&str, &str)],
) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
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
    let typed = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if json.is_some() && !typed {
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
