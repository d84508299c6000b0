//! The ingress for real: Debian's nginx runs `deploy/nginx/nginx.conf` (its
//! upstreams pointed at this test's binaries) and each route class must land
//! on the right binary, with `X-Forwarded-For` and `X-Request-Id` passed on.

use std::path::PathBuf;
use std::time::Duration;

use hyper::{Method, StatusCode};
use tokio::process::{Child, Command};

use crate::system::{System, eventually, send, send_as, try_send_with};

/// nginx serving the repository's config in front of `system`.
struct Nginx {
    base: String,
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// A fast shutdown (SIGTERM) of the master, which stops its workers.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nginx_binary() -> String {
    std::env::var("NGINX_BIN").unwrap_or_else(|_| "/usr/sbin/nginx".to_owned())
}

/// Replaces `from` with `to`, insisting that the config still has `from`.
fn swap(config: String, from: &str, to: &str) -> String {
    assert!(
        config.contains(from),
        "deploy/nginx/nginx.conf no longer contains {from:?}"
    );
    config.replace(from, to)
}

async fn start_nginx(system: &System) -> Nginx {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir =
        std::env::temp_dir().join(format!("urlshortener-nginx-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("nginx dir");
    // Worker processes may run as another user; they need the temp paths.
    let _ = std::process::Command::new("chmod")
        .arg("777")
        .arg(&dir)
        .status();
    let config = std::fs::read_to_string(format!(
        "{}/../deploy/nginx/nginx.conf",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("config");
    let host = |url: &str| url.trim_start_matches("http://").to_owned();
    let config = swap(
        config,
        "server redirector:8080;",
        &format!("server {};", host(&system.redirector)),
    );
    let config = swap(
        config,
        "server admin-api:8081;",
        &format!("server {};", host(&system.admin)),
    );
    let config = swap(config, "listen 80;", &format!("listen 127.0.0.1:{port};"));
    let config = swap(
        config,
        "pid /tmp/nginx.pid;",
        &format!("pid {}/nginx.pid;", dir.display()),
    );
    let temp_paths = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .map(|kind| format!("    {kind}_temp_path {}/{kind};\n", dir.display()))
        .concat();
    let config = swap(config, "http {\n", &format!("http {{\n{temp_paths}"));
    std::fs::write(dir.join("nginx.conf"), config).expect("write config");
    let child = Command::new(nginx_binary())
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-g")
        .arg("daemon off;")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start nginx (scripts/test.sh installs it)");
    let base = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(10), || async {
        try_send_with(Method::GET, &format!("{base}/health"), None, &[])
            .await
            .is_ok()
    })
    .await;
    Nginx { base, child, dir }
}

#[tokio::test]
async fn every_route_class_reaches_the_right_binary_through_nginx() {
    let system =
        System::start_with(vec![("REDIRECTOR_TRUSTED_PROXIES", "127.0.0.1".to_owned())]).await;
    let link = system
        .create_link("https://example.com/through-nginx")
        .await;
    let (id, code) = (
        link["id"].clone(),
        link["short_code"].as_str().expect("code").to_owned(),
    );
    let nginx = start_nginx(&system).await;
    let get = |path: String| {
        let url = format!("{}{path}", nginx.base);
        let key = system.admin_key.clone();
        async move { send_as(&key, Method::GET, &url, None).await }
    };

    // Redirect paths: only the redirector answers them with a redirect.
    for path in [
        format!("/{code}"),
        format!("/urls/{code}"),
        format!("/urls/{code}/redirect"),
    ] {
        let reply = get(path.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::FOUND,
            "{path} goes to the redirector"
        );
    }
    // Admin paths.
    assert_eq!(
        get(format!("/urls/{id}")).await.json()["short_code"],
        code.as_str(),
        "/urls/{{id}} is admin"
    );
    let qr = get(format!("/urls/{id}/qr")).await;
    assert_eq!(
        qr.headers["content-type"], "image/svg+xml",
        "/urls/{{id}}/qr is admin"
    );
    assert!(
        get(format!("/urls/{code}/stats")).await.json()["total_visits"].is_number(),
        "stats are admin"
    );
    for path in ["/urls", "/users", "/events"] {
        assert!(
            get(path.to_owned()).await.json().is_array(),
            "{path} is admin"
        );
    }
    assert_eq!(
        get(format!("/users/{}", link["user_id"])).await.json()["id"],
        link["user_id"]
    );
    let bulk = send_as(
        &system.admin_key,
        Method::POST,
        &format!("{}/urls/bulk", nginx.base),
        None,
    )
    .await;
    assert_eq!(
        (bulk.status, bulk.json()["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "bulk is admin"
    );
    for (path, header) in [
        ("/urls/export", "id,user_id,short_code,"),
        ("/events/export", "id,url_id,user_id,"),
        ("/users/export", "id,username,email,"),
    ] {
        let file = get(path.to_owned()).await;
        assert!(
            String::from_utf8_lossy(&file.body).starts_with(header),
            "{path} is admin, streamed through"
        );
    }
    assert!(String::from_utf8_lossy(&get("/apidocs/".to_owned()).await.body).contains("swagger"));
    let console = get("/ui/login".to_owned()).await;
    assert!(
        String::from_utf8_lossy(&console.body).contains("API key"),
        "the console is admin"
    );
    assert_eq!(get("/health".to_owned()).await.json()["status"], "ok");

    // Request ids pass through both ways; the client address reaches the visit.
    let traced = try_send_with(
        Method::GET,
        &format!("{}/{code}", nginx.base),
        None,
        &[
            ("x-request-id", "trace-42"),
            ("x-forwarded-for", "203.0.113.9"),
        ],
    )
    .await
    .expect("request");
    assert_eq!(traced.headers["x-request-id"], "trace-42");
    let made_up = get("/users".to_owned()).await;
    assert!(
        made_up
            .headers
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty()),
        "nginx makes an id when none is sent"
    );
    let query = format!("/events?url_id={id}&event_type=redirect&per_page=1000");
    eventually(Duration::from_secs(5), || async {
        let events = system.get(&query).await.json();
        events.as_array().is_some_and(|e| {
            e.iter()
                .any(|e| e["details"]["ip_prefix"] == "203.0.113.0/24")
        })
    })
    .await;
    nginx.stop().await;
    system.stop().await;
}

#[tokio::test]
async fn nginx_hides_internal_paths_and_bounds_bodies() {
    let system = System::start().await;
    let nginx = start_nginx(&system).await;

    // Probes and metrics are for the cluster, not the public: 404 JSON at
    // the ingress, while each process still serves them on its own port.
    for path in ["/metrics", "/ready", "/metrics?x=1"] {
        let reply = send(Method::GET, &format!("{}{path}", nginx.base), None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.json()["error"], "not_found", "{path}");
        assert!(
            !String::from_utf8_lossy(&reply.body).contains("_total"),
            "{path} leaks metrics"
        );
    }
    let direct = send(Method::GET, &format!("{}/metrics", system.admin), None).await;
    assert_eq!(
        direct.status,
        StatusCode::OK,
        "the admin API still serves it"
    );

    // JSON bodies stop at 1 MiB at the ingress; bulk uploads may be larger.
    let big = format!("{{\"username\":\"{}\"}}", "x".repeat(1024 * 1024 + 1));
    let reply = send(Method::POST, &format!("{}/users", nginx.base), Some(big)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json()["error"], "payload_too_large");
    // A 2 MiB CSV of bad rows, which the admin API reads and refuses.
    let upload = format!(
        "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nid,username,email,created_at\r\n{}\r\n--B--\r\n",
        "x,".repeat(1024 * 1024)
    );
    let reply = try_send_with(
        Method::POST,
        &format!("{}/users/bulk", nginx.base),
        Some(upload),
        &[
            ("content-type", "multipart/form-data; boundary=B"),
            ("x-api-key", &system.admin_key),
        ],
    )
    .await
    .expect("the upload is answered");
    assert_ne!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "2 MiB reaches the admin API on a bulk path"
    );
    assert!(reply.json()["error"].is_string(), "the admin API answered");

    nginx.stop().await;
    system.stop().await;
}
