//! Stored API keys across processes: a first admin key from the command
//! line opens a closed API that has no bootstrap key; a key revoked on one
//! admin API replica stops working on another within a second.

use std::process::Stdio;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::system::{
    System, binary, eventually, free_port, fresh_database, send, send_as, wait_healthy,
};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"))
}

/// Runs `admin-api keys create` with `args` on `database_url`: exit code,
/// stdout, stderr.
async fn keys_create(database_url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(binary("admin-api"))
        .env_clear()
        .env("DATABASE_URL", database_url)
        .args(["keys", "create"])
        .args(args)
        .output()
        .await
        .expect("run admin-api keys create");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_first_admin_key_from_the_command_line_opens_an_api_without_bootstrap_keys() {
    let (database, database_url) = fresh_database(&env("DATABASE_URL")).await;
    let (code, _, stderr) =
        keys_create(&database_url, &["--name", "ops", "--role", "editor"]).await;
    assert_eq!(code, Some(64), "an editor needs a user: {stderr}");
    assert!(stderr.contains("user_id"), "{stderr}");

    let (code, stdout, stderr) =
        keys_create(&database_url, &["--name", "ops", "--role", "admin"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let key = stdout.trim().to_owned();
    assert!(
        key.len() >= 32 && !key.contains(char::is_whitespace),
        "{stdout:?}"
    );
    assert!(!stderr.contains(&key), "stderr shows the key: {stderr}");
    let (code, _, stderr) = keys_create(&database_url, &["--name", "ops", "--role", "admin"]).await;
    assert_eq!(code, Some(64), "the name is taken: {stderr}");

    let port = free_port();
    let admin = format!("http://127.0.0.1:{port}");
    let mut process = Command::new(binary("admin-api"))
        .env_clear()
        .env("DATABASE_URL", &database_url)
        .env("REDIS_URL", env("REDIS_URL"))
        .env("VALKEY_NAMESPACE", format!("{database}:"))
        .env("ADMIN_LISTEN", format!("127.0.0.1:{port}"))
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start admin-api");
    wait_healthy(&admin).await;
    let anonymous = send(Method::GET, &format!("{admin}/users"), None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let user = send_as(
        &key,
        Method::POST,
        &format!("{admin}/users"),
        Some(json!({"username": "ann", "email": "ann@example.com"}).to_string()),
    )
    .await;
    assert_eq!(user.status, StatusCode::CREATED);
    let events = send_as(&key, Method::GET, &format!("{admin}/api-keys"), None).await;
    assert_eq!(events.status, StatusCode::OK);
    assert_eq!(events.json()[0]["name"], "ops");
    process.kill().await.expect("stop admin-api");
}

#[tokio::test]
async fn a_key_revoked_on_one_replica_stops_working_on_another_within_a_second() {
    let system = System::start().await;
    let user = system
        .post_json(
            "/users",
            &json!({"username": "ann", "email": "ann@example.com"}),
        )
        .await
        .json()["id"]
        .clone();
    let issued = system
        .post_json(
            "/api-keys",
            &json!({"name": "ann-editor", "role": "editor", "user_id": user}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED);
    let issued: Value = issued.json();
    let key = issued["key"].as_str().expect("secret").to_owned();
    let (second, _process) = system.launch_second_admin().await;
    // The second replica knows (and caches) the key.
    let listed = send_as(&key, Method::GET, &format!("{second}/urls"), None).await;
    assert_eq!(listed.status, StatusCode::OK);

    let revoked = system.delete(&format!("/api-keys/{}", issued["id"])).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let since = Instant::now();
    eventually(Duration::from_secs(5), || async {
        send_as(&key, Method::GET, &format!("{second}/urls"), None)
            .await
            .status
            == StatusCode::UNAUTHORIZED
    })
    .await;
    let took = since.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "the second replica obeyed after {took:?}"
    );
    // And it stays revoked.
    for _ in 0..5 {
        let reply = send_as(&key, Method::GET, &format!("{second}/urls"), None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    system.stop().await;
}
