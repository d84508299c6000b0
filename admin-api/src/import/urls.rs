//! Import of `urls.csv`
//! (`id,user_id,short_code,original_url,title,is_active,created_at,updated_at`,
//! optionally `expires_at`, `redirect_type`, `tags` (joined by commas) and
//! `fallback_url`, `max_visits` and `routes`, as JSON text). New links get no `created`
//! events (the old service's `events.csv` already holds them); a row that
//! changes an existing link writes the `updated` events a `PUT` would, and a
//! row that revives a deleted link a `restored` event. Codes are permanent:
//! a row never changes the code of an existing id, nor takes another link's.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;

use super::{
    CsvUpload, ImportResult, check_id, first_duplicate, parse_bool, parse_timestamp, row_error,
};
use crate::auth::Actor;
use crate::blocklist;
use crate::db::imports::{self, Table, UrlColumns};
use crate::error::{ApiError, ApiResult};
use crate::link_write::LinkWrite;
use crate::state::{AppState, Settings};
use crate::validate;

/// Rows compared with the stored links per query, so that the comparison
/// holds one chunk of stored links in memory, not a whole file's.
const COMPARE_CHUNK: usize = 10_000;

#[derive(Debug, Deserialize)]
struct UrlRecord {
    id: i64,
    user_id: i64,
    short_code: String,
    original_url: String,
    #[serde(default)]
    title: Option<String>,
    is_active: String,
    created_at: Option<String>,
    updated_at: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    redirect_type: Option<i64>,
    #[serde(default)]
    tags: Option<String>,
    #[serde(default)]
    fallback_url: Option<String>,
    #[serde(default)]
    max_visits: Option<i64>,
    #[serde(default)]
    routes: Option<String>,
}

/// Checks every row, then upserts them all in one [`LinkWrite`] whose events
/// record `actor` (`import:<key name>`); the links that are new, changed or
/// revived are published after the commit.
pub async fn import(state: &AppState, upload: &CsvUpload, actor: Actor) -> ApiResult<ImportResult> {
    let settings = &state.settings;
    let rows = columns(upload, settings)?;
    if rows.ids.is_empty() {
        return Ok(ImportResult::of(0));
    }
    let mut write = LinkWrite::begin(state, actor).await?;
    crate::db::set_local_statement_timeout(write.tx(), settings.import_statement_timeout).await?;
    imports::lock(write.tx(), Table::Urls).await?;
    if let Some(row) = imports::first_missing_user(write.tx(), &rows.user_ids).await? {
        return Err(row_error(row as usize, "user_id", "names no existing user"));
    }
    if let Some(row) = imports::first_code_changed(write.tx(), &rows).await? {
        let problem =
            "differs from the code of the existing link with this id (codes are permanent)";
        return Err(ApiError::conflict("short_code", problem).at_row(row as u64));
    }
    if let Some(row) = imports::first_code_taken(write.tx(), &rows).await? {
        return Err(ApiError::conflict("short_code", "belongs to another link").at_row(row as u64));
    }
    if let Some(blocked) = blocklist::first_blocked_row(write.tx(), rows.targets()).await? {
        let problem = format!("points at a blocked host ({})", blocked.pattern);
        return Err(row_error(blocked.row as usize, &blocked.field, problem));
    }
    write_change_events(&mut write, &rows).await?;
    imports::upsert_urls(write.tx(), &rows).await?;
    imports::bump_id_sequence(write.tx(), Table::Urls).await?;
    write.commit().await?;
    Ok(ImportResult::of(rows.ids.len()))
}

/// The audit events of an import, in one place: compares each row with the
/// stored link of its id and writes one `updated` event per changed field
/// (the same rule and details as `PUT /urls/{id}`) and a `restored` event
/// per revived link. Marks new, changed and revived links as touched.
async fn write_change_events(write: &mut LinkWrite, rows: &UrlColumns) -> ApiResult<()> {
    for start in (0..rows.ids.len()).step_by(COMPARE_CHUNK) {
        let end = (start + COMPARE_CHUNK).min(rows.ids.len());
        let stored: HashMap<i64, imports::StoredUrl> =
            imports::stored_urls(write.tx(), &rows.ids[start..end])
                .await?
                .into_iter()
                .map(|link| (link.id, link))
                .collect();
        let mut updated = LinkEvents::default();
        let mut restored = LinkEvents::default();
        for i in start..end {
            let (id, user_id) = (rows.ids[i], rows.user_ids[i]);
            let mut new = rows.fields(i);
            if let Some(old) = stored.get(&id) {
                new.disabled_reason = old.fields.disabled_reason.clone();
            }
            match stored.get(&id) {
                None => {}
                Some(old) if old.deleted => {
                    let details = json!({"short_code": rows.short_codes[i], "original_url": new.original_url});
                    restored.push(id, user_id, details);
                }
                Some(old) => {
                    let details = old.fields.updated_details(&new);
                    if details.is_empty() && old.user_id == user_id {
                        continue;
                    }
                    for detail in details {
                        updated.push(id, user_id, detail);
                    }
                }
            }
            write.touched(&rows.short_codes[i]);
        }
        updated.write(write, "updated").await?;
        restored.write(write, "restored").await?;
    }
    Ok(())
}

/// Events of one type for links, as parallel columns.
#[derive(Debug, Default)]
struct LinkEvents {
    url_ids: Vec<i64>,
    user_ids: Vec<i64>,
    details: Vec<serde_json::Value>,
}

impl LinkEvents {
    fn push(&mut self, url_id: i64, user_id: i64, details: serde_json::Value) {
        self.url_ids.push(url_id);
        self.user_ids.push(user_id);
        self.details.push(details);
    }

    async fn write(&self, write: &mut LinkWrite, event_type: &str) -> ApiResult<()> {
        write
            .events(event_type, &self.url_ids, &self.user_ids, &self.details)
            .await
    }
}

fn columns(upload: &CsvUpload, settings: &Settings) -> ApiResult<UrlColumns> {
    let own_host = settings.public_host.as_deref();
    let mut rows = UrlColumns::default();
    let now = chrono::Utc::now();
    upload.for_each_record(settings.import_max_rows, |row, r: UrlRecord| {
        check_id(row, "id", r.id)?;
        check_id(row, "user_id", r.user_id)?;
        shared::short_code::validate_imported(&r.short_code)
            .map_err(|e| row_error(row, "short_code", e.to_string()))?;
        let url = validate::target_url(&r.original_url, own_host)
            .map_err(|p| row_error(row, "original_url", p))?;
        let title = r.title.unwrap_or_default();
        validate::title(&title).map_err(|p| row_error(row, "title", p))?;
        let is_active = parse_bool(&r.is_active).map_err(|p| row_error(row, "is_active", p))?;
        let redirect_type = validate::redirect_type(r.redirect_type.unwrap_or(302))
            .map_err(|p| row_error(row, "redirect_type", p))?;
        let timestamp = |cell: &Option<String>, column: &str| match cell.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(cell) => parse_timestamp(cell)
                .map(Some)
                .map_err(|p| row_error(row, column, p)),
        };
        let created_at = timestamp(&r.created_at, "created_at")?.unwrap_or(now);
        let updated_at = timestamp(&r.updated_at, "updated_at")?.unwrap_or(created_at);
        let expires_at = timestamp(&r.expires_at, "expires_at")?;
        let tags = imports::split_tags(r.tags.as_deref().unwrap_or_default());
        validate::tags(&tags).map_err(|p| row_error(row, "tags", p))?;
        let fallback_url = match r.fallback_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => Some(
                validate::target_url(url, own_host)
                    .map_err(|p| row_error(row, "fallback_url", p))?,
            ),
        };
        rows.ids.push(r.id);
        rows.user_ids.push(r.user_id);
        rows.short_codes.push(r.short_code);
        rows.original_urls.push(url);
        rows.titles.push(title);
        rows.is_active.push(is_active);
        rows.redirect_types.push(redirect_type);
        rows.expires_at.push(expires_at);
        rows.created_at.push(created_at);
        rows.updated_at.push(updated_at);
        rows.tags.push(tags.join(","));
        rows.fallback_urls.push(fallback_url);
        let max_visits = r
            .max_visits
            .map(validate::max_visits)
            .transpose()
            .map_err(|p| row_error(row, "max_visits", p))?;
        rows.max_visits.push(max_visits);
        let routes = match r.routes.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| row_error(row, "routes", format!("must be JSON rules: {e}")))
                .and_then(|routes| {
                    validate::routes(routes, own_host).map_err(|p| row_error(row, "routes", p))
                })?,
        };
        rows.routes.push(routes);
        Ok(())
    })?;
    if let Some((first, again)) = first_duplicate(rows.ids.iter()) {
        return Err(row_error(
            again,
            "id",
            format!("repeats the id of row {first}"),
        ));
    }
    if let Some((first, again)) = first_duplicate(rows.short_codes.iter()) {
        return Err(
            ApiError::conflict("short_code", &format!("repeats the code of row {first}"))
                .at_row(again as u64),
        );
    }
    Ok(rows)
}
