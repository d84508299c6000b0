//! `/health` (the process lives), `/ready` (Postgres answers) and `/metrics`.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// How long the readiness probe waits for Postgres.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .route("/metrics", axum::routing::get(crate::metrics::render))
}

/// Liveness: 200 while the process runs; touches no dependency.
#[utoipa::path(get, path = "/health", tag = "health", security(()),
    responses((status = 200, description = "`{\"status\":\"ok\"}`")))]
async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"status": "ok"}))
}

/// Readiness: 200 when Postgres answers, else 503 naming the failing check.
#[utoipa::path(get, path = "/ready", tag = "health", security(()),
    responses((status = 200, description = "Ready"), (status = 503, description = "A check failed")))]
async fn ready(State(state): State<AppState>) -> Response {
    match shared::dependencies::postgres_answers(&state.pool, READY_TIMEOUT).await {
        true => axum::Json(json!({"status": "ok", "checks": {"postgres": "ok"}})).into_response(),
        false => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "5")],
            axum::Json(json!({
                "code": 503,
                "status": "unavailable",
                "error": "not_ready",
                "message": "postgres is unreachable",
                "checks": {"postgres": "unreachable"}
            })),
        )
            .into_response(),
    }
}
