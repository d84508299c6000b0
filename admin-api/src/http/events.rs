//! `/events`: list with filters, record one, bulk import.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{Caller, Visible};
use crate::db::events::{self, EventFilter, EventRow, NewEvent};
use crate::db::{urls, users};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, Query};
use crate::import::{CsvUpload, ImportResult, UploadForm};
use crate::pagination::{Page, PageParams, Total, page_response};
use crate::patch::InputTimestamp;
use crate::state::AppState;
use crate::validate;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events, create_event))
}

pub(crate) fn bulk_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import_events))
}

/// An event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResponse {
    id: i64,
    url_id: Option<i64>,
    user_id: Option<i64>,
    /// `created`, `updated`, `deleted`, `redirect`, or a client's own type.
    event_type: String,
    #[serde(with = "shared::time::serde_ts")]
    #[schema(value_type = String, example = "2025-09-28T22:57:23")]
    timestamp: DateTime<Utc>,
    #[schema(value_type = Object)]
    details: serde_json::Value,
    /// Who caused it: an API key's name, `open` (no keys configured),
    /// `import:<key name>` for imported rows, `system` for visits and what
    /// the system does by itself.
    actor: String,
}

impl From<EventRow> for EventResponse {
    fn from(row: EventRow) -> Self {
        Self {
            id: row.id,
            url_id: row.url_id,
            user_id: row.user_id,
            event_type: row.event_type,
            timestamp: row.occurred_at,
            details: row.details,
            actor: row.actor,
        }
    }
}

/// Body of `POST /events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    url_id: i64,
    user_id: i64,
    /// 1 to 64 of `[A-Za-z0-9_.-]`.
    event_type: String,
    /// A JSON object (default `{}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
    /// Defaults to now.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2025-09-28T22:57:23")]
    timestamp: Option<InputTimestamp>,
}

/// Filters of `GET /events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    url_id: Option<i64>,
    pub(crate) user_id: Option<i64>,
    event_type: Option<String>,
    /// Only events caused by this actor (`env-1`, `open`, `system`, `import:env-1`, …).
    actor: Option<String>,
}

/// List events, oldest first.
impl EventQuery {
    /// The filter these parameters ask for (the caller's visibility is
    /// applied on top).
    pub(crate) fn filter(self) -> EventFilter {
        EventFilter {
            url_id: self.url_id,
            user_id: self.user_id,
            event_type: self.event_type,
            actor: self.actor,
        }
    }
}

#[utoipa::path(get, path = "/events", tag = "events", params(PageParams, EventQuery),
    responses((status = 200, body = [EventResponse], description = "Events by id",
            headers(("X-Total-Count" = i64, description = "Matching items: exact up to 100,000, above that the planner's estimate"),
                      ("X-Total-Count-Exact" = String, description = "`false` when X-Total-Count is an estimate (absent when exact)"),
                      ("Link" = String, description = "RFC 8288 `next` (by `page`, or by `after_id` on keyset pages and past offset 100,000) and `prev`"))),
              (status = 400, body = ErrorBody, description = "Bad paging parameters, or a page past offset 100,000 (use after_id)"),
              (status = 503, body = ErrorBody, description = "The database is down or the query ran past the statement timeout")))]
async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    Query(params): Query<PageParams>,
    Query(query): Query<EventQuery>,
) -> ApiResult<Response> {
    let page = Page::from_params(&params, None)?;
    let Visible::Users(user_id) = caller.visible(query.user_id) else {
        let none = Vec::<EventResponse>::new();
        return Ok(page_response(none, Total::of(0, None), page, &uri, |e| {
            e.id
        }));
    };
    let filter = EventFilter {
        user_id,
        ..query.filter()
    };
    let rows = events::list(
        &state.pool,
        &filter,
        page.after_id(),
        page.limit(),
        page.offset(),
    )
    .await?;
    let total = events::count(&state.pool, &filter).await?;
    let items: Vec<EventResponse> = rows.into_iter().map(Into::into).collect();
    Ok(page_response(items, total, page, &uri, |e| e.id))
}

/// Record an event for a link and a user.
#[utoipa::path(post, path = "/events", tag = "events", request_body = CreateEvent,
    responses((status = 201, body = EventResponse), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "Unknown url or user"), (status = 422, body = ErrorBody)))]
async fn create_event(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateEvent>,
) -> ApiResult<Response> {
    validate::event_type(&body.event_type).map_err(|p| ApiError::validation("event_type", p))?;
    let details = body.details.unwrap_or_else(|| serde_json::json!({}));
    validate::details(&details).map_err(|p| ApiError::validation("details", p))?;
    let url = urls::get(&state.pool, body.url_id).await?;
    if !url.is_some_and(|url| caller.sees(url.user_id)) {
        return Err(ApiError::not_found("url"));
    }
    caller.check_sees(body.user_id, "user")?;
    if users::get(&state.pool, body.user_id).await?.is_none() {
        return Err(ApiError::not_found("user"));
    }
    let event = NewEvent {
        url_id: Some(body.url_id),
        user_id: Some(body.user_id),
        event_type: &body.event_type,
        details,
        occurred_at: body.timestamp.map(|t| t.0),
        actor: caller.actor().name(),
    };
    let row = events::insert(&state.pool, &event).await?;
    Ok((StatusCode::CREATED, axum::Json(EventResponse::from(row))).into_response())
}

/// Import events from a CSV file in the old service's format (`details` as
/// JSON text): all rows or none, upserted by id.
#[utoipa::path(post, path = "/events/bulk", tag = "events",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = ImportResult), (status = 400, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn import_events(
    State(state): State<AppState>,
    actor: crate::auth::Actor,
    upload: CsvUpload,
) -> ApiResult<Response> {
    let result =
        crate::import::events::import(&state.pool, &upload, &state.settings, actor.import().name())
            .await?;
    Ok((StatusCode::CREATED, axum::Json(result)).into_response())
}
