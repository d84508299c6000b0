//! The binary's own assembly, in process: an [`Application`] built from a
//! parsed configuration on port 0 serves, and stops (tasks and all) when
//! asked.

use std::time::Duration;

use admin_api::{Application, Config};
use clap::Parser;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// `DATABASE_URL` pointed at the test's own database.
fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL must be set");
    let mut url = url::Url::parse(&base).expect("DATABASE_URL is a URL");
    let database = pool.connect_options().get_database().map(str::to_owned);
    url.set_path(&database.expect("the test database has a name"));
    url.to_string()
}

#[sqlx::test(migrator = "admin_api::MIGRATOR")]
async fn the_application_built_from_its_configuration_serves_health_and_stops_on_request(
    pool: PgPool,
) {
    let namespace = format!("test-app-{}:", std::process::id());
    let config = Config::try_parse_from([
        "admin-api",
        "--listen",
        "127.0.0.1:0",
        "--public-base-url",
        "http://sho.rt",
        "--admin-api-keys",
        "application-test-key-0123456789abcdef",
        "--database-url",
        &database_url(&pool),
        "--valkey-namespace",
        &namespace,
    ])
    .expect("the configuration parses");
    config.validate().expect("the configuration is valid");
    let application = Application::build(&config).await.expect("it builds");
    let port = application.port();
    assert_ne!(port, 0, "port 0 becomes a free port");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(application.run_until_stopped(shutdown.clone()));

    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
        .await
        .expect("/health answers within 10 s")
        .expect("read");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("it stops within 30 s of the request")
        .expect("the run task did not panic")
        .expect("it stops cleanly");
}
