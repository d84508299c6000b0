//! `GET /urls/export`, `GET /events/export`, `GET /users/export`: the lists
//! (same filters, same visibility) as CSV in the import formats, streamed
//! (see [`crate::csv_export`]), so that importing the three files into an
//! empty system, users first, reproduces it. Deleted users and links are
//! not exported (as in the lists); their events are.

use axum::extract::State;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Caller;
use crate::csv_export::{self, CHUNK_ROWS, CsvRow, boolean, timestamp};
use crate::db::events::{EventFilter, EventRow};
use crate::db::urls::{UrlFilter, UrlRow};
use crate::db::users::UserRow;
use crate::db::{events, urls, users};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Query;
use crate::http::events::EventQuery;
use crate::http::urls::UrlQuery;
use crate::limits::take_export;
use crate::state::AppState;

/// Columns of a link export: the import's, optional ones included.
const URL_HEADER: &[&str] = &[
    "id",
    "user_id",
    "short_code",
    "original_url",
    "title",
    "is_active",
    "created_at",
    "updated_at",
    "expires_at",
    "redirect_type",
    "tags",
    "fallback_url",
    "max_visits",
    "routes",
];

const EVENT_HEADER: &[&str] = &[
    "id",
    "url_id",
    "user_id",
    "event_type",
    "timestamp",
    "details",
];

const USER_HEADER: &[&str] = &["id", "username", "email", "created_at"];

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_urls))
        .routes(routes!(export_events))
}

pub(crate) fn users_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export_users))
}

impl CsvRow for UrlRow {
    fn id(&self) -> i64 {
        self.id
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.user_id.to_string(),
            self.short_code.clone(),
            self.original_url.clone(),
            self.title.clone(),
            boolean(self.is_active).to_owned(),
            timestamp(&self.created_at),
            timestamp(&self.updated_at),
            self.expires_at.as_ref().map(timestamp).unwrap_or_default(),
            self.redirect_type.to_string(),
            self.tags.join(","),
            self.fallback_url.clone().unwrap_or_default(),
            self.max_visits.map(|m| m.to_string()).unwrap_or_default(),
            match self.routes.0.as_slice() {
                [] => String::new(),
                routes => crate::db::urls::routes_json(routes).to_string(),
            },
        ]
    }
}

impl CsvRow for EventRow {
    fn id(&self) -> i64 {
        self.id
    }

    fn cells(&self) -> Vec<String> {
        let id = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        vec![
            self.id.to_string(),
            id(self.url_id),
            id(self.user_id),
            self.event_type.clone(),
            timestamp(&self.occurred_at),
            self.details.to_string(),
        ]
    }
}

impl CsvRow for UserRow {
    fn id(&self) -> i64 {
        self.id
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.username.clone(),
            self.email.clone(),
            timestamp(&self.created_at),
        ]
    }
}

/// Export links as CSV (the import format; same filters as `GET /urls`).
#[utoipa::path(get, path = "/urls/export", tag = "urls", params(UrlQuery),
    responses((status = 200, content_type = "text/csv", body = String,
               description = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at,expires_at,redirect_type,tags,fallback_url,max_visits,routes"),
              (status = 400, body = ErrorBody), (status = 429, body = ErrorBody, description = "Too many exports running"),
              (status = 503, body = ErrorBody)))]
async fn export_urls(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<UrlQuery>,
) -> ApiResult<Response> {
    urls_file(&state, &caller, query).await
}

/// The links `caller` may see that match `query`, as a streamed CSV file
/// (the JSON API and the console).
pub(crate) async fn urls_file(
    state: &AppState,
    caller: &Caller,
    query: UrlQuery,
) -> ApiResult<Response> {
    let asked = query.user_id;
    let mut filter: UrlFilter = query.filter()?;
    let filter = caller.visible(asked).narrow(|user_id| {
        filter.user_id = user_id;
        filter
    });
    visible_file(
        state,
        "urls",
        URL_HEADER,
        filter,
        |pool, filter, after| async move { urls::list(&pool, &filter, after, CHUNK_ROWS, 0).await },
    )
    .await
}

/// Export events as CSV (the import format; same filters as `GET /events`).
#[utoipa::path(get, path = "/events/export", tag = "events", params(EventQuery),
    responses((status = 200, content_type = "text/csv", body = String,
               description = "id,url_id,user_id,event_type,timestamp,details"),
              (status = 400, body = ErrorBody), (status = 429, body = ErrorBody, description = "Too many exports running"),
              (status = 503, body = ErrorBody)))]
async fn export_events(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<EventQuery>,
) -> ApiResult<Response> {
    events_file(&state, &caller, query).await
}

/// The events `caller` may see that match `query`, as a streamed CSV file
/// (the JSON API and the console).
pub(crate) async fn events_file(
    state: &AppState,
    caller: &Caller,
    query: EventQuery,
) -> ApiResult<Response> {
    let asked = query.user_id;
    let mut filter: EventFilter = query.filter();
    let filter = caller.visible(asked).narrow(|user_id| {
        filter.user_id = user_id;
        filter
    });
    visible_file(state, "events", EVENT_HEADER, filter, |pool, filter, after| async move {
        events::list(&pool, &filter, after, CHUNK_ROWS, 0).await
    })
    .await
}

/// The rows `filter` selects as a streamed file, `read` reading each chunk;
/// no filter (a caller who may see none of them): the header alone.
async fn visible_file<F, T, R, Fut>(
    state: &AppState,
    name: &str,
    header: &[&str],
    filter: Option<F>,
    read: R,
) -> ApiResult<Response>
where
    F: Clone + Send + Sync + 'static,
    T: CsvRow,
    R: Fn(sqlx::PgPool, F, i64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = sqlx::Result<Vec<T>>> + Send + 'static,
{
    let pool = state.pool.clone();
    csv_export::stream(take_export(state)?, name, header, move |after| {
        let chunk = filter
            .clone()
            .map(|filter| read(pool.clone(), filter, after));
        async move {
            match chunk {
                Some(chunk) => Ok(chunk.await?),
                None => Ok(Vec::new()),
            }
        }
    })
    .await
}

/// Export users as CSV (the import format).
#[utoipa::path(get, path = "/users/export", tag = "users",
    responses((status = 200, content_type = "text/csv", body = String,
               description = "id,username,email,created_at"),
              (status = 429, body = ErrorBody, description = "Too many exports running"),
              (status = 503, body = ErrorBody)))]
async fn export_users(State(state): State<AppState>) -> ApiResult<Response> {
    let pool = state.pool.clone();
    csv_export::stream(take_export(&state)?, "users", USER_HEADER, move |after| {
        let pool = pool.clone();
        async move { Ok(users::list(&pool, after, CHUNK_ROWS, 0).await?) }
    })
    .await
}
