//! Readiness: the redirector can serve when at least one of its lookup tiers
//! (Valkey, Postgres) answers.

use std::time::Duration;

use hyper::StatusCode;
use secrecy::ExposeSecret;
use serde_json::json;
use sqlx::PgPool;

use crate::respond::{self, Body};

/// The dependencies a readiness check pings.
#[derive(Clone)]
pub struct Probes {
    pub redis: redis::Client,
    /// `None` when the Postgres fallback is disabled.
    pub postgres: Option<PgPool>,
    pub timeout: Duration,
}

impl Probes {
    /// A Redis client for `url` (no connection is made yet).
    pub fn redis_client(url: &secrecy::SecretString) -> anyhow::Result<redis::Client> {
        Ok(redis::Client::open(url.expose_secret())?)
    }

    /// Pings both tiers at once and answers 200 when either answers.
    pub async fn check(&self) -> hyper::Response<Body> {
        let (valkey, postgres) = tokio::join!(self.ping_valkey(), self.ping_postgres());
        let ok = valkey == "ok" || postgres == "ok";
        let checks = json!({"valkey": valkey, "postgres": postgres});
        if ok {
            respond::json(
                StatusCode::OK,
                json!({"status": "ok", "checks": checks}).to_string(),
            )
        } else {
            let body = json!({
                "code": 503, "status": "unavailable", "error": "not_ready",
                "message": "no lookup tier answers", "checks": checks,
            });
            respond::json(StatusCode::SERVICE_UNAVAILABLE, body.to_string())
        }
    }

    async fn ping_valkey(&self) -> &'static str {
        let ping = async {
            let mut conn = self.redis.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        match tokio::time::timeout(self.timeout, ping).await {
            Ok(Ok(_)) => "ok",
            _ => "unreachable",
        }
    }

    async fn ping_postgres(&self) -> &'static str {
        let Some(pool) = &self.postgres else {
            return "disabled";
        };
        match tokio::time::timeout(self.timeout, sqlx::query("SELECT 1").execute(pool)).await {
            Ok(Ok(_)) => "ok",
            _ => "unreachable",
        }
    }
}
