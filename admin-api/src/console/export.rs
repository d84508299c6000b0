//! The console's export buttons: the JSON API's CSV exports (same filters,
//! same visibility, same streaming) under the console's session, and the
//! links to them that the lists build from their filters.

use axum::extract::State;
use axum::response::Response;

use super::guard::{Console, urlencode};
use super::page::ConsoleResult;
use crate::extract::Query;
use crate::http::events::EventQuery;
use crate::http::export::{events_file, urls_file};
use crate::http::urls::UrlQuery;
use crate::state::AppState;

/// `GET /ui/export/urls`: `GET /urls/export` for the signed-in caller.
pub async fn urls(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<UrlQuery>,
) -> ConsoleResult<Response> {
    Ok(urls_file(&state, &console.caller, query).await?)
}

/// `GET /ui/export/events`: `GET /events/export` for the signed-in caller.
pub async fn events(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<EventQuery>,
) -> ConsoleResult<Response> {
    Ok(events_file(&state, &console.caller, query).await?)
}

/// `path` with the parameters that have a value (an empty one would be a
/// bad number or a search too short).
pub fn href(path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", urlencode(value)))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}
