//! `/users`: create, list, read, update, delete, bulk import.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Actor;
use crate::db::{api_keys, urls, users};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathId, Query};
use crate::import::{CsvUpload, ImportResult, UploadForm};
use crate::link_write::LinkWrite;
use crate::pagination::{Page, PageParams, page_response};
use crate::patch::present;
use crate::state::AppState;
use crate::validate;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
}

pub(crate) fn bulk_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import_users))
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    id: i64,
    username: String,
    email: String,
    /// UTC, `YYYY-MM-DDTHH:MM:SS`.
    #[serde(with = "shared::time::serde_ts")]
    #[schema(value_type = String, example = "2025-07-18T23:45:12")]
    created_at: DateTime<Utc>,
}

impl From<users::UserRow> for UserResponse {
    fn from(row: users::UserRow) -> Self {
        Self {
            id: row.id,
            username: row.username,
            email: row.email,
            created_at: row.created_at,
        }
    }
}

/// Body of `POST /users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 1 to 64 characters; need not be unique.
    username: String,
    /// Unique, compared case-insensitively.
    email: String,
}

/// Body of `PUT /users/{id}`: any subset of the fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default, deserialize_with = "present")]
    username: Option<String>,
    #[serde(default, deserialize_with = "present")]
    email: Option<String>,
}

pub(crate) fn check_username(value: &str) -> ApiResult<()> {
    validate::username(value).map_err(|p| ApiError::validation("username", p))
}

pub(crate) fn check_email(value: &str) -> ApiResult<()> {
    validate::email(value).map_err(|p| ApiError::validation("email", p))
}

/// List users (all of them, up to a cap, when no page is asked for).
#[utoipa::path(get, path = "/users", tag = "users", params(PageParams),
    responses((status = 200, body = [UserResponse], description = "Users by id",
            headers(("X-Total-Count" = i64, description = "Matching items: exact up to 100,000, above that the planner's estimate"),
                      ("X-Total-Count-Exact" = String, description = "`false` when X-Total-Count is an estimate (absent when exact)"),
                      ("Link" = String, description = "RFC 8288 `next` (by `page`, or by `after_id` on keyset pages and past offset 100,000) and `prev`"))),
              (status = 400, body = ErrorBody, description = "Bad paging parameters, or a page past offset 100,000 (use after_id)"),
              (status = 503, body = ErrorBody, description = "The database is down or the query ran past the statement timeout")))]
async fn list_users(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Query(params): Query<PageParams>,
) -> ApiResult<Response> {
    let page = Page::from_params(&params, Some(state.settings.users_list_cap))?;
    let rows = users::list(&state.pool, page.after_id(), page.limit(), page.offset()).await?;
    let total = users::count(&state.pool).await?;
    let items: Vec<UserResponse> = rows.into_iter().map(Into::into).collect();
    Ok(page_response(items, total, page, &uri, |u| u.id))
}

/// Create a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserResponse), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Email taken"), (status = 422, body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateUser>,
) -> ApiResult<Response> {
    let row = create(&state, &body.username, &body.email).await?;
    Ok((StatusCode::CREATED, axum::Json(UserResponse::from(row))).into_response())
}

/// Creates a user after checking its fields (409 when the email is taken);
/// `POST /users` and the console's form.
pub(crate) async fn create(
    state: &AppState,
    username: &str,
    email: &str,
) -> ApiResult<users::UserRow> {
    check_username(username)?;
    check_email(email)?;
    Ok(users::insert(&state.pool, username, email).await?)
}

/// Read a user.
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserResponse), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> ApiResult<axum::Json<UserResponse>> {
    let row = users::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(axum::Json(row.into()))
}

/// Update a user's username and/or email. An empty object changes nothing.
#[utoipa::path(put, path = "/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = UpdateUser,
    responses((status = 200, body = UserResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    PathId(id): PathId,
    JsonBody(body): JsonBody<UpdateUser>,
) -> ApiResult<axum::Json<UserResponse>> {
    let row = update(&state, id, body.username.as_deref(), body.email.as_deref()).await?;
    Ok(axum::Json(row.into()))
}

/// Sets a user's given fields after checking them (`None` keeps one; 404
/// for no live user, 409 when the email is taken); `PUT /users/{id}` and
/// the console's form.
pub(crate) async fn update(
    state: &AppState,
    id: i64,
    username: Option<&str>,
    email: Option<&str>,
) -> ApiResult<users::UserRow> {
    if let Some(username) = username {
        check_username(username)?;
    }
    if let Some(email) = email {
        check_email(email)?;
    }
    users::update(&state.pool, id, username, email)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

/// Delete a user. Their links are deleted with them (each gets a `deleted`
/// event with reason `user_deleted`) and stop redirecting; past events stay;
/// API keys bound to them are revoked.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    delete(&state, actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a user as `actor`: their links with them (a `deleted` event each,
/// reason `user_deleted`, and they stop redirecting), their API keys
/// revoked; 404 for no live user. `DELETE /users/{id}` and the console.
pub(crate) async fn delete(state: &AppState, actor: Actor, id: i64) -> ApiResult<()> {
    let mut write = LinkWrite::begin(state, actor).await?;
    if !users::soft_delete(write.tx(), id).await? {
        return Err(ApiError::not_found("user"));
    }
    let deleted = urls::soft_delete_by_user(write.tx(), id).await?;
    let url_ids: Vec<i64> = deleted.iter().map(|d| d.id).collect();
    let user_ids: Vec<i64> = deleted.iter().map(|d| d.user_id).collect();
    let details: Vec<serde_json::Value> = deleted
        .iter()
        .map(|d| serde_json::json!({"short_code": d.short_code, "reason": "user_deleted"}))
        .collect();
    write
        .events("deleted", &url_ids, &user_ids, &details)
        .await?;
    let revoked = api_keys::revoke_for_user(write.tx(), id).await?;
    write.touched_all(deleted.into_iter().map(|d| d.short_code));
    write.commit().await?;
    for key in &revoked {
        state.keys.forget(key.id, &key.prefix);
    }
    Ok(())
}

/// Import users from a CSV file (`id,username,email,created_at`): all rows
/// or none, upserted by id.
#[utoipa::path(post, path = "/users/bulk", tag = "users",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = ImportResult), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn import_users(State(state): State<AppState>, upload: CsvUpload) -> ApiResult<Response> {
    let result = crate::import::users::import(&state.pool, &upload, &state.settings).await?;
    Ok((StatusCode::CREATED, axum::Json(result)).into_response())
}
