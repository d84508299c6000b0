//! `/api-keys` (admin keys only): issue a key (its secret shown in that one
//! response), list and read keys (never a secret), revoke a key (it stops
//! working on every replica within a second).

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::issue::{self, KeyRequest};
use crate::auth::{Actor, Role};
use crate::db::api_keys::{self, KeyRow};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathId, Query};
use crate::pagination::{Page, PageParams, Total, page_response};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, revoke_key))
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResponse {
    id: i64,
    name: String,
    role: Role,
    /// The user an editor (or a bound viewer) is limited to.
    user_id: Option<i64>,
    /// The key's first characters, which identify it (not a secret).
    prefix: String,
    #[serde(with = "shared::time::serde_ts")]
    #[schema(value_type = String, example = "2026-12-02T09:00:00")]
    created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    #[serde(with = "shared::time::serde_ts_option")]
    #[schema(value_type = Option<String>)]
    last_used_at: Option<DateTime<Utc>>,
    /// Writes per minute this key may make instead of `ADMIN_WRITE_RATE`.
    rate_limit_per_minute: Option<i32>,
}

impl From<KeyRow> for KeyResponse {
    fn from(row: KeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            // The table's check constraint allows only the three roles.
            role: Role::parse(&row.role).unwrap_or(Role::Viewer),
            user_id: row.user_id,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            rate_limit_per_minute: row.rate_limit_per_minute,
        }
    }
}

/// A new key: the key object and the key itself, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    key: KeyResponse,
    /// The secret key: send it as `Authorization: Bearer <key>`. It is not
    /// stored and cannot be shown again.
    #[serde(rename = "key")]
    secret: String,
}

/// Body of `POST /api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// 1 to 64 characters, unique; events name it as their actor.
    name: String,
    /// `admin`, `editor` (needs `user_id`) or `viewer` (may have one).
    role: String,
    #[serde(default)]
    user_id: Option<i64>,
    /// Writes per minute instead of `ADMIN_WRITE_RATE` (bursts of 10×).
    #[serde(default)]
    rate_limit_per_minute: Option<i64>,
}

/// List the live keys.
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", params(PageParams),
    responses((status = 200, body = [KeyResponse], description = "Live keys by id"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody, description = "Not an admin key")))]
async fn list_keys(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Query(params): Query<PageParams>,
) -> ApiResult<Response> {
    let page = Page::from_params(&params, None)?;
    let rows = api_keys::list(&state.pool, page.after_id(), page.limit(), page.offset()).await?;
    let total = Total::of(api_keys::count(&state.pool).await?, None);
    let items: Vec<KeyResponse> = rows.into_iter().map(Into::into).collect();
    Ok(page_response(items, total, page, &uri, |k| k.id))
}

/// Issue a key; the answer is the only time its secret is shown.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Not an admin key"),
              (status = 404, body = ErrorBody, description = "Unknown user"),
              (status = 409, body = ErrorBody, description = "Name taken"), (status = 422, body = ErrorBody)))]
async fn create_key(
    State(state): State<AppState>,
    actor: Actor,
    JsonBody(body): JsonBody<CreateKey>,
) -> ApiResult<Response> {
    let request = KeyRequest {
        name: body.name,
        role: body.role,
        user_id: body.user_id,
        rate_limit_per_minute: body.rate_limit_per_minute,
    };
    let issued = issue::issue(&state.pool, &request).await?;
    tracing::info!(key_id = issued.row.id, prefix = %issued.row.prefix, role = %issued.row.role,
        by = actor.name(), "API key issued");
    let created = CreatedKey {
        secret: issued.secret.reveal().to_owned(),
        key: issued.row.into(),
    };
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

/// Read a live key (never its secret).
#[utoipa::path(get, path = "/api-keys/{id}", tag = "api-keys", params(("id" = i64, Path)),
    responses((status = 200, body = KeyResponse), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_key(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> ApiResult<axum::Json<KeyResponse>> {
    let row = api_keys::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("api key"))?;
    Ok(axum::Json(row.into()))
}

/// Revoke a key: it stops working on every admin API replica within a second.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_key(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    issue::revoke(&state.pool, &state.keys, id, actor.name()).await?;
    Ok(StatusCode::NO_CONTENT)
}
