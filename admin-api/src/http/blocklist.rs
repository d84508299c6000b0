//! `/blocklist` (admin keys only): list, add (disabling the links the entry
//! catches) and remove entries; the rules are [`crate::blocklist`]'s.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Actor;
use crate::blocklist;
use crate::db::blocklist::{self as db, Entry};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathId, Query};
use crate::pagination::{Page, PageParams, Total, page_response};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_entries, add_entry))
        .routes(routes!(remove_entry))
}

/// A blocklist entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryResponse {
    id: i64,
    /// A host (`evil.example`) or a domain with its subdomains (`*.evil.example`).
    pattern: String,
    reason: String,
    #[serde(with = "shared::time::serde_ts")]
    #[schema(value_type = String, example = "2026-12-02T09:00:00")]
    created_at: DateTime<Utc>,
}

impl From<Entry> for EntryResponse {
    fn from(entry: Entry) -> Self {
        Self {
            id: entry.id,
            pattern: entry.pattern,
            reason: entry.reason,
            created_at: entry.created_at,
        }
    }
}

/// A new entry and how many links it disabled.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddedEntry {
    #[serde(flatten)]
    entry: EntryResponse,
    /// Links disabled because their destination matched.
    disabled_links: usize,
}

/// Body of `POST /blocklist`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddEntry {
    /// `evil.example` or `*.evil.example` (any case; IDN allowed).
    pattern: String,
    /// Up to 200 characters; shown on the links it disables.
    #[serde(default)]
    reason: String,
}

/// List the entries.
#[utoipa::path(get, path = "/blocklist", tag = "blocklist", params(PageParams),
    responses((status = 200, body = [EntryResponse], description = "Entries by id"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody, description = "Not an admin key")))]
async fn list_entries(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Query(params): Query<PageParams>,
) -> ApiResult<Response> {
    let page = Page::from_params(&params, None)?;
    let rows = db::list(&state.pool, page.after_id(), page.limit(), page.offset()).await?;
    let total = Total::of(db::count(&state.pool).await?, None);
    let items: Vec<EntryResponse> = rows.into_iter().map(Into::into).collect();
    Ok(page_response(items, total, page, &uri, |e| e.id))
}

/// Add an entry: links whose destination it matches are disabled at once
/// (a `disabled` event each) and stop redirecting before the response.
#[utoipa::path(post, path = "/blocklist", tag = "blocklist", request_body = AddEntry,
    responses((status = 201, body = AddedEntry), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Not an admin key"),
              (status = 409, body = ErrorBody, description = "Pattern already listed"),
              (status = 422, body = ErrorBody)))]
async fn add_entry(
    State(state): State<AppState>,
    actor: Actor,
    JsonBody(body): JsonBody<AddEntry>,
) -> ApiResult<Response> {
    let added = blocklist::add(&state, actor, &body.pattern, &body.reason).await?;
    let body = AddedEntry {
        entry: added.entry.into(),
        disabled_links: added.disabled,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Remove an entry; the links it disabled stay disabled until enabled one by one.
#[utoipa::path(delete, path = "/blocklist/{id}", tag = "blocklist", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_entry(State(state): State<AppState>, PathId(id): PathId) -> ApiResult<StatusCode> {
    blocklist::remove(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
