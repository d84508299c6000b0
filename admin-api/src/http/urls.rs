//! `/urls`: create, list, read, update, delete, bulk import. Every write goes
//! through a [`LinkWrite`]: with its audit events in one transaction, then
//! published.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{Caller, Visible};
use crate::blocklist;
use crate::db::link_list::{SEARCH_MIN_CHARS, contains_pattern};
use crate::db::urls::{NewUrl, UrlFields, UrlFilter, UrlRow};
use crate::db::{urls, users};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathId, Query};
use crate::import::{CsvUpload, ImportResult, UploadForm};
use crate::link_write::LinkWrite;
use crate::pagination::{Page, PageParams, Total, page_response};
use crate::patch::{InputTimestamp, nullable, present};
use crate::short_codes;
use crate::state::AppState;
use crate::validate;
use shared::route::Route;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_urls, create_url))
        .routes(routes!(get_url, update_url, delete_url))
}

pub(crate) fn bulk_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import_urls))
}

/// A link.
#[derive(Debug, Serialize, ToSchema)]
pub struct UrlResponse {
    id: i64,
    user_id: i64,
    short_code: String,
    original_url: String,
    title: String,
    is_active: bool,
    #[serde(with = "shared::time::serde_ts")]
    #[schema(value_type = String, example = "2025-09-28T22:57:23")]
    created_at: DateTime<Utc>,
    #[serde(with = "shared::time::serde_ts")]
    #[schema(value_type = String, example = "2025-09-28T22:57:23")]
    updated_at: DateTime<Utc>,
    #[serde(with = "shared::time::serde_ts_option")]
    #[schema(value_type = Option<String>)]
    expires_at: Option<DateTime<Utc>>,
    /// 301, 302, 307 or 308.
    redirect_type: i16,
    /// The public link: `PUBLIC_BASE_URL/{short_code}`.
    short_url: String,
    /// Labels the link is filed under.
    tags: Vec<String>,
    /// Set when the link is disabled (by the blocklist or by hand): it does
    /// not redirect until enabled again.
    disabled: Option<Disabled>,
    /// Where an inactive, expired or disabled link sends visitors (302)
    /// instead of a 404.
    fallback_url: Option<String>,
    /// At most this many GET redirects are served, across all redirectors;
    /// then the link answers as expired.
    max_visits: Option<i64>,
    /// Rules that send visitors elsewhere by device or country, first match
    /// wins: `[{"when": {"device": "ios"|"android"|"desktop"} | {"country": "DE"}, "url": str}]`.
    #[schema(value_type = Vec<Object>)]
    routes: Vec<Route>,
}

/// Why a link is disabled.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Disabled {
    /// Up to 200 characters.
    pub(crate) reason: String,
}

impl UrlResponse {
    fn new(row: UrlRow, state: &AppState) -> Self {
        let short_url = format!("{}/{}", state.settings.public_base, row.short_code);
        Self {
            id: row.id,
            user_id: row.user_id,
            short_code: row.short_code,
            original_url: row.original_url,
            title: row.title,
            is_active: row.is_active,
            created_at: row.created_at,
            updated_at: row.updated_at,
            expires_at: row.expires_at,
            redirect_type: row.redirect_type,
            short_url,
            tags: row.tags,
            disabled: row.disabled_reason.map(|reason| Disabled { reason }),
            fallback_url: row.fallback_url,
            max_visits: row.max_visits,
            routes: row.routes.0,
        }
    }
}

/// Body of `POST /urls`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUrl {
    /// The owner; an editor key may omit it (its own user).
    #[serde(default)]
    pub(crate) user_id: Option<i64>,
    /// Absolute http(s) URL, at most 2048 bytes.
    pub(crate) original_url: String,
    #[serde(default)]
    pub(crate) title: Option<String>,
    /// Custom code `[A-Za-z0-9_-]{3,32}`, not all digits, not reserved; generated when absent.
    #[serde(default)]
    pub(crate) short_code: Option<String>,
    /// When the link stops redirecting; must be in the future.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2030-01-01T00:00:00")]
    pub(crate) expires_at: Option<InputTimestamp>,
    /// 301, 302 (default), 307 or 308.
    #[serde(default)]
    pub(crate) redirect_type: Option<i64>,
    /// Up to 10 labels, each `[A-Za-z0-9_-]{1,32}`, none twice.
    #[serde(default)]
    pub(crate) tags: Option<Vec<String>>,
    /// Create the link disabled, with this reason.
    #[serde(default)]
    pub(crate) disabled: Option<Disabled>,
    /// Where the link sends visitors while it does not redirect; validated
    /// like `original_url`.
    #[serde(default)]
    pub(crate) fallback_url: Option<String>,
    /// At most this many GET redirects (1 to 10^12).
    #[serde(default)]
    pub(crate) max_visits: Option<i64>,
    /// Up to 10 routing rules (see the URL object).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub(crate) routes: Option<Vec<Route>>,
}

/// Body of `PUT /urls/{id}`: any subset of the fields; `expires_at: null` clears the expiry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUrl {
    #[serde(default, deserialize_with = "present")]
    pub(crate) title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) is_active: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) original_url: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "2030-01-01T00:00:00")]
    pub(crate) expires_at: Option<Option<InputTimestamp>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) redirect_type: Option<i64>,
    /// The new tags, replacing the old ones (`[]` clears them).
    #[serde(default, deserialize_with = "present")]
    pub(crate) tags: Option<Vec<String>>,
    /// `{"reason"}` disables the link; `null` enables it again (422 while
    /// its destination is on the blocklist).
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) disabled: Option<Option<Disabled>>,
    /// The fallback; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) fallback_url: Option<Option<String>>,
    /// The cap; `null` removes it. Visits served so far keep counting.
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) max_visits: Option<Option<i64>>,
    /// The new rules, replacing the old ones (`[]` removes them).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub(crate) routes: Option<Vec<Route>>,
}

/// Filters of `GET /urls`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UrlQuery {
    /// Only this user's links.
    pub(crate) user_id: Option<i64>,
    /// Only active (`true`) or inactive (`false`) links.
    is_active: Option<bool>,
    /// Text anywhere in the code, title or destination, any case; 3 to 200
    /// characters (400 otherwise).
    q: Option<String>,
    /// Only links carrying this tag (exact, case-sensitive).
    tag: Option<String>,
}

impl UrlQuery {
    /// The filter these parameters ask for (the caller's visibility is
    /// applied on top): 400 for a bad `q` or `tag`.
    pub(crate) fn filter(self) -> ApiResult<UrlFilter> {
        Ok(UrlFilter {
            user_id: self.user_id,
            is_active: self.is_active,
            pattern: search_pattern(self.q.as_deref())?,
            tag: tag_filter(self.tag)?,
        })
    }
}

/// Longest `?q=`: longer than any code or title, and a bound on the work.
const SEARCH_MAX_CHARS: usize = 200;

/// `?q=` as a search pattern (the console's rule: at least three characters,
/// so that the trigram index can serve it); empty is no search.
fn search_pattern(q: Option<&str>) -> ApiResult<Option<String>> {
    let Some(q) = q.filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    let chars = q.chars().count();
    if !(SEARCH_MIN_CHARS..=SEARCH_MAX_CHARS).contains(&chars) {
        return Err(ApiError::bad_request(format!(
            "q takes {SEARCH_MIN_CHARS} to {SEARCH_MAX_CHARS} characters"
        )));
    }
    Ok(Some(contains_pattern(q)))
}

/// `?tag=` as a filter: a well-formed tag (400 otherwise); empty is none.
fn tag_filter(tag: Option<String>) -> ApiResult<Option<String>> {
    let Some(tag) = tag.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    validate::tag(&tag).map_err(|p| ApiError::bad_request(format!("tag: {p}")))?;
    Ok(Some(tag))
}

fn check_tags(values: &[String]) -> ApiResult<()> {
    validate::tags(values).map_err(|p| ApiError::validation("tags", p))
}

/// A disabling reason as given, checked (an empty one says "disabled").
fn check_disabled(disabled: Option<Disabled>) -> ApiResult<Option<String>> {
    let Some(Disabled { reason }) = disabled else {
        return Ok(None);
    };
    blocklist::check_reason(&reason)?;
    Ok(Some(if reason.trim().is_empty() {
        "disabled".to_owned()
    } else {
        reason
    }))
}

fn check_max_visits(value: i64) -> ApiResult<i64> {
    validate::max_visits(value).map_err(|p| ApiError::validation("max_visits", p))
}

fn check_url(value: &str, state: &AppState) -> ApiResult<String> {
    check_target("original_url", value, state)
}

/// A URL a link sends visitors to, in `field`: its canonical form.
fn check_target(field: &str, value: &str, state: &AppState) -> ApiResult<String> {
    validate::target_url(value, state.settings.public_host.as_deref())
        .map_err(|p| ApiError::validation(field, p))
}

/// Every URL of a link that the blocklist must allow, with its field.
fn targets<'a>(
    original_url: &'a str,
    fallback_url: Option<&'a str>,
    routes: &'a [Route],
) -> Vec<(&'a str, &'a str)> {
    let mut targets = vec![("original_url", original_url)];
    targets.extend(fallback_url.map(|url| ("fallback_url", url)));
    targets.extend(routes.iter().map(|route| ("routes", route.url.as_str())));
    targets
}

fn check_routes(routes: Vec<Route>, state: &AppState) -> ApiResult<Vec<Route>> {
    validate::routes(routes, state.settings.public_host.as_deref())
        .map_err(|p| ApiError::validation("routes", p))
}

fn check_title(value: &str) -> ApiResult<()> {
    validate::title(value).map_err(|p| ApiError::validation("title", p))
}

fn check_redirect_type(value: i64) -> ApiResult<i16> {
    validate::redirect_type(value).map_err(|p| ApiError::validation("redirect_type", p))
}

fn check_expiry(value: InputTimestamp) -> ApiResult<DateTime<Utc>> {
    if value.0 <= Utc::now() {
        return Err(ApiError::validation("expires_at", "must be in the future"));
    }
    Ok(value.0)
}

/// List links.
#[utoipa::path(get, path = "/urls", tag = "urls", params(PageParams, UrlQuery),
    responses((status = 200, body = [UrlResponse], description = "Links by id",
            headers(("X-Total-Count" = i64, description = "Matching items: exact up to 100,000, above that the planner's estimate"),
                      ("X-Total-Count-Exact" = String, description = "`false` when X-Total-Count is an estimate (absent when exact)"),
                      ("Link" = String, description = "RFC 8288 `next` (by `page`, or by `after_id` on keyset pages and past offset 100,000) and `prev`"))),
              (status = 400, body = ErrorBody, description = "Bad paging parameters, or a page past offset 100,000 (use after_id)"),
              (status = 503, body = ErrorBody, description = "The database is down or the query ran past the statement timeout")))]
async fn list_urls(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    Query(params): Query<PageParams>,
    Query(query): Query<UrlQuery>,
) -> ApiResult<Response> {
    let page = Page::from_params(&params, None)?;
    let Visible::Users(user_id) = caller.visible(query.user_id) else {
        return Ok(page_response(
            Vec::<UrlResponse>::new(),
            Total::of(0, None),
            page,
            &uri,
            |u| u.id,
        ));
    };
    let filter = UrlFilter {
        user_id,
        ..query.filter()?
    };
    let rows = urls::list(
        &state.pool,
        &filter,
        page.after_id(),
        page.limit(),
        page.offset(),
    )
    .await?;
    let total = urls::count(&state.pool, &filter).await?;
    let items: Vec<UrlResponse> = rows
        .into_iter()
        .map(|r| UrlResponse::new(r, &state))
        .collect();
    Ok(page_response(items, total, page, &uri, |u| u.id))
}

/// Create a link (never de-duplicated: the same URL twice gets two codes).
#[utoipa::path(post, path = "/urls", tag = "urls", request_body = CreateUrl,
    responses((status = 201, body = UrlResponse), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "A key bound to another user"),
              (status = 404, body = ErrorBody, description = "Unknown user"),
              (status = 409, body = ErrorBody, description = "Custom code taken"), (status = 422, body = ErrorBody)))]
async fn create_url(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateUrl>,
) -> ApiResult<Response> {
    let row = create_link(&state, &caller, body).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(UrlResponse::new(row, &state)),
    )
        .into_response())
}

/// Creates a link for `caller` (the JSON API and the console): the owner by
/// the caller's rules, every field validated, the row and its `created`
/// event in one [`LinkWrite`].
pub(crate) async fn create_link(
    state: &AppState,
    caller: &Caller,
    body: CreateUrl,
) -> ApiResult<UrlRow> {
    let user_id = caller.owner_of_new_link(body.user_id)?;
    let original_url = check_url(&body.original_url, state)?;
    let title = body.title.unwrap_or_default();
    check_title(&title)?;
    if let Some(code) = &body.short_code {
        shared::short_code::validate_custom(code)
            .map_err(|e| ApiError::validation("short_code", e.to_string()))?;
    }
    let redirect_type = check_redirect_type(body.redirect_type.unwrap_or(302))?;
    let expires_at = body.expires_at.map(check_expiry).transpose()?;
    let tags = body.tags.unwrap_or_default();
    check_tags(&tags)?;
    let disabled_reason = check_disabled(body.disabled)?;
    let fallback_url = body
        .fallback_url
        .as_deref()
        .map(|url| check_target("fallback_url", url, state))
        .transpose()?;
    let max_visits = body.max_visits.map(check_max_visits).transpose()?;
    let routes = check_routes(body.routes.unwrap_or_default(), state)?;

    let mut write = LinkWrite::begin(state, caller.actor().clone()).await?;
    if !users::lock_live(write.tx(), user_id).await? {
        return Err(ApiError::not_found("user"));
    }
    let to = targets(&original_url, fallback_url.as_deref(), &routes);
    blocklist::check(write.tx(), &to).await?;
    let new = NewUrl {
        user_id,
        original_url: &original_url,
        title: &title,
        redirect_type,
        expires_at,
        tags: &tags,
        disabled_reason: disabled_reason.as_deref(),
        fallback_url: fallback_url.as_deref(),
        max_visits,
        routes: &routes,
    };
    let row = match &body.short_code {
        Some(code) => urls::insert(write.tx(), &new, code)
            .await?
            .ok_or_else(|| ApiError::conflict("short_code", "is already taken"))?,
        None => short_codes::insert_with_generated_code(write.tx(), state, &new).await?,
    };
    let details = json!({"short_code": row.short_code, "original_url": row.original_url});
    write
        .event(
            "created",
            (row.id, row.user_id),
            details,
            Some(row.created_at),
        )
        .await?;
    write.touched(&row.short_code);
    write.commit().await?;
    Ok(row)
}

/// Read a link by id.
#[utoipa::path(get, path = "/urls/{id}", tag = "urls", params(("id" = i64, Path, description = "digits only")),
    responses((status = 200, body = UrlResponse), (status = 404, body = ErrorBody)))]
async fn get_url(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<axum::Json<UrlResponse>> {
    let row = urls::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("url"))?;
    caller.check_sees(row.user_id, "url")?;
    Ok(axum::Json(UrlResponse::new(row, &state)))
}

/// Update a link; one `updated` event per changed field.
#[utoipa::path(put, path = "/urls/{id}", tag = "urls", params(("id" = i64, Path)), request_body = UpdateUrl,
    responses((status = 200, body = UrlResponse), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_url(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    JsonBody(body): JsonBody<UpdateUrl>,
) -> ApiResult<axum::Json<UrlResponse>> {
    let row = update_link(&state, &caller, id, body).await?;
    Ok(axum::Json(UrlResponse::new(row, &state)))
}

/// Changes link `id` for `caller` (the JSON API and the console): the
/// given fields validated, one `updated` event per changed field; another
/// user's link is a 404. Nothing changed: the row as it is, no write.
pub(crate) async fn update_link(
    state: &AppState,
    caller: &Caller,
    id: i64,
    body: UpdateUrl,
) -> ApiResult<UrlRow> {
    let original_url = body
        .original_url
        .as_deref()
        .map(|u| check_url(u, state))
        .transpose()?;
    if let Some(title) = &body.title {
        check_title(title)?;
    }
    let redirect_type = body.redirect_type.map(check_redirect_type).transpose()?;
    let expires_at = body
        .expires_at
        .map(|e| e.map(check_expiry).transpose())
        .transpose()?;
    if let Some(tags) = &body.tags {
        check_tags(tags)?;
    }
    let disabled = body.disabled.map(check_disabled).transpose()?;
    let fallback_url = body
        .fallback_url
        .map(|f| {
            f.map(|url| check_target("fallback_url", &url, state))
                .transpose()
        })
        .transpose()?;
    let max_visits = body
        .max_visits
        .map(|m| m.map(check_max_visits).transpose())
        .transpose()?;
    let routes = body.routes.map(|r| check_routes(r, state)).transpose()?;

    let mut write = LinkWrite::begin(state, caller.actor().clone()).await?;
    let current = urls::get_for_update(write.tx(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("url"))?;
    caller.check_sees(current.user_id, "url")?;
    let old = UrlFields::of(&current);
    let new = UrlFields {
        title: body.title.unwrap_or_else(|| old.title.clone()),
        is_active: body.is_active.unwrap_or(old.is_active),
        original_url: original_url.unwrap_or_else(|| old.original_url.clone()),
        expires_at: expires_at.unwrap_or(old.expires_at),
        redirect_type: redirect_type.unwrap_or(old.redirect_type),
        tags: body.tags.unwrap_or_else(|| old.tags.clone()),
        disabled_reason: disabled.unwrap_or_else(|| old.disabled_reason.clone()),
        fallback_url: fallback_url.unwrap_or_else(|| old.fallback_url.clone()),
        max_visits: max_visits.unwrap_or(old.max_visits),
        routes: routes.unwrap_or_else(|| old.routes.clone()),
    };
    let details = old.updated_details(&new);
    if details.is_empty() {
        return Ok(current);
    }
    if new.original_url != old.original_url
        || new.fallback_url != old.fallback_url
        || new.routes != old.routes
        || new.disabled_reason.is_none()
    {
        let targets = targets(&new.original_url, new.fallback_url.as_deref(), &new.routes);
        blocklist::check(write.tx(), &targets).await?;
    }
    let row = urls::update(write.tx(), id, &new).await?;
    let n = details.len();
    write
        .events("updated", &vec![row.id; n], &vec![row.user_id; n], &details)
        .await?;
    write.touched(&row.short_code);
    write.commit().await?;
    Ok(row)
}

/// Delete a link; its code stops redirecting and is never reused; its events stay.
#[utoipa::path(delete, path = "/urls/{id}", tag = "urls", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_url(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    delete_link(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes link `id` for `caller` (the JSON API and the console): a
/// `deleted` event, the code never reused; another user's link is a 404.
pub(crate) async fn delete_link(state: &AppState, caller: &Caller, id: i64) -> ApiResult<()> {
    let mut write = LinkWrite::begin(state, caller.actor().clone()).await?;
    let current = urls::get_for_update(write.tx(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("url"))?;
    caller.check_sees(current.user_id, "url")?;
    let deleted = urls::soft_delete(write.tx(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("url"))?;
    let details = json!({"short_code": deleted.short_code, "reason": "user_requested"});
    write
        .event("deleted", (deleted.id, deleted.user_id), details, None)
        .await?;
    write.touched(deleted.short_code);
    write.commit().await?;
    Ok(())
}

/// Import links from a CSV file in the old service's format: all rows or
/// none, upserted by id.
#[utoipa::path(post, path = "/urls/bulk", tag = "urls",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = ImportResult), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn import_urls(
    State(state): State<AppState>,
    actor: crate::auth::Actor,
    upload: CsvUpload,
) -> ApiResult<Response> {
    let result = crate::import::urls::import(&state, &upload, actor.import()).await?;
    Ok((StatusCode::CREATED, axum::Json(result)).into_response())
}
