//! Readiness: the redirector can serve when at least one of its lookup tiers
//! (Valkey, Postgres) answers.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;
use shared::valkey::Valkey;
use sqlx::PgPool;

use crate::respond::{self, Body};

/// The dependencies a readiness check pings.
#[derive(Clone)]
pub struct Probes {
    pub valkey: Valkey,
    /// `None` when the Postgres fallback is disabled.
    pub postgres: Option<PgPool>,
    pub timeout: Duration,
}

impl Probes {
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
        // The handle bounds connecting and each command by its own timeout.
        if self.valkey.ping().await {
            "ok"
        } else {
            "unreachable"
        }
    }

    async fn ping_postgres(&self) -> &'static str {
        let Some(pool) = &self.postgres else {
            return "disabled";
        };
        if shared::dependencies::postgres_answers(pool, self.timeout).await {
            "ok"
        } else {
            "unreachable"
        }
    }
}
