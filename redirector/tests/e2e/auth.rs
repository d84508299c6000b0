//! The admin API binary is closed by default: without a key (bootstrap or
//! stored, or an explicit ADMIN_ALLOW_OPEN=true) it exits 64, a short key
//! too; its key never shows up in a response or a log line.

use std::process::Stdio;

use hyper::{Method, StatusCode};
use tokio::process::Command;

use crate::system::{System, binary, fresh_database, send, send_as, try_send_with};

/// Runs `admin-api` with only `env`; returns its exit code and stderr.
/// Without a `DATABASE_URL` in `env`, the binary gets one where nothing
/// listens: it must stop before connecting.
async fn run_admin(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(binary("admin-api"))
        .env_clear()
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .envs(env.iter().copied())
        .env("ADMIN_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("run admin-api");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_admin_api_exits_64_without_a_key_naming_the_ways_out() {
    let (_, database_url) =
        fresh_database(&std::env::var("DATABASE_URL").expect("DATABASE_URL")).await;
    let redis_url = std::env::var("REDIS_URL").expect("REDIS_URL");
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("REDIS_URL", &redis_url),
    ];
    let (code, stderr) = run_admin(&env).await;
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("ADMIN_API_KEYS")
            && stderr.contains("ADMIN_ALLOW_OPEN")
            && stderr.contains("admin-api keys create"),
        "{stderr}"
    );
    let closed = [env[0], env[1], ("ADMIN_ALLOW_OPEN", "false")];
    let (code, stderr) = run_admin(&closed).await;
    assert_eq!(code, Some(64), "{stderr}");
}

#[tokio::test]
async fn the_admin_api_exits_64_on_a_short_key_without_printing_it() {
    let long = "a-long-enough-key-0123456789abcdef";
    let keys = format!("{long},short-secret-key");
    let (code, stderr) = run_admin(&[("ADMIN_API_KEYS", &keys)]).await;
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("32"), "{stderr}");
    assert!(
        !stderr.contains("short-secret-key") && !stderr.contains(long),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_key_never_appears_in_a_response_or_a_log_line() {
    let log = std::env::temp_dir().join(format!(
        "admin-auth-{}-{}.log",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let system =
        System::start_logging_admin(vec![("LOG_LEVEL", "debug".to_owned())], log.clone()).await;
    let key = system.admin_key.clone();
    let admin = system.admin.clone();
    let mut bodies = Vec::new();
    // Accepted in either header; the contract's 401 for anything else.
    let link = system
        .create_link("https://example.com/secret-keeping")
        .await;
    bodies.push(link.to_string());
    let by_header = try_send_with(
        Method::GET,
        &format!("{admin}/urls"),
        None,
        &[("x-api-key", &key)],
    )
    .await
    .expect("request");
    assert_eq!(by_header.status, StatusCode::OK);
    bodies.push(String::from_utf8_lossy(&by_header.body).into_owned());
    for wrong in [format!("{key}-and-more"), key[..key.len() - 1].to_owned()] {
        let reply = send_as(&wrong, Method::GET, &format!("{admin}/users"), None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        bodies.push(String::from_utf8_lossy(&reply.body).into_owned());
    }
    let anonymous = send(Method::GET, &format!("{admin}/events"), None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // The events name the key, not its value.
    let events = system.get("/events").await;
    assert!(
        events
            .json()
            .as_array()
            .is_some_and(|all| all.iter().all(|e| e["actor"] == "env-1"))
    );
    bodies.push(String::from_utf8_lossy(&events.body).into_owned());
    // A stored key: its secret is in the one response that issues it, and
    // nowhere else, whatever it is used for.
    let issued = system
        .post_json(
            "/api-keys",
            &serde_json::json!({"name": "reader", "role": "viewer"}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED);
    let issued = issued.json();
    let stored = issued["key"].as_str().expect("the secret").to_owned();
    let id = issued["id"].clone();
    for (method, path) in [
        (Method::GET, "/urls".to_owned()),
        (Method::POST, "/urls".to_owned()),
        (Method::GET, format!("/api-keys/{id}")),
    ] {
        let reply = send_as(&stored, method, &format!("{admin}{path}"), None).await;
        bodies.push(String::from_utf8_lossy(&reply.body).into_owned());
    }
    for wrong in [format!("{stored}x"), stored[..stored.len() - 1].to_owned()] {
        let reply = send_as(&wrong, Method::GET, &format!("{admin}/urls"), None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        bodies.push(String::from_utf8_lossy(&reply.body).into_owned());
    }
    for path in ["/api-keys".to_owned(), format!("/api-keys/{id}")] {
        bodies.push(String::from_utf8_lossy(&system.get(&path).await.body).into_owned());
    }
    let revoked = system.delete(&format!("/api-keys/{id}")).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = send_as(&stored, Method::GET, &format!("{admin}/urls"), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let metrics = send(Method::GET, &format!("{admin}/metrics"), None).await;
    bodies.push(String::from_utf8_lossy(&metrics.body).into_owned());
    system.stop().await;

    let logged = std::fs::read_to_string(&log).expect("the admin API's log");
    let _ = std::fs::remove_file(&log);
    assert!(
        logged.contains("admin-api listening"),
        "debug logging was on: {logged}"
    );
    let stored_secret = &stored[stored.len() - 32..];
    assert!(!logged.contains(&key), "a log line holds the key");
    assert!(
        !logged.contains(stored_secret),
        "a log line holds a stored key"
    );
    assert!(
        logged.contains("API key issued"),
        "issuing is logged: {logged}"
    );
    for body in bodies {
        assert!(!body.contains(&key), "a response holds the key: {body}");
        assert!(
            !body.contains(stored_secret),
            "a response holds a stored key: {body}"
        );
    }
}
