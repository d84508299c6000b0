//! The events page: the audit trail, newest first, a page at a time, with
//! the JSON list's filters (type, actor, link, user). A caller bound to a
//! user sees only that user's events ([`Caller::visible`](crate::auth::Caller::visible)).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::guard::{Console, urlencode};
use super::page::{ConsoleResult, FieldErrors, Layout, Page, Stamp};
use super::paging::{self, FETCH, Pager};
use crate::auth::Visible;
use crate::db::events::{self, EventFilter, EventRow};
use crate::state::AppState;

/// The filters as typed (kept to fill the form again), and the page's edge.
#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    url_id: String,
    #[serde(default)]
    user_id: String,
    before: Option<i64>,
    after: Option<i64>,
}

impl EventsQuery {
    fn any(&self) -> bool {
        [&self.event_type, &self.actor, &self.url_id, &self.user_id]
            .iter()
            .any(|v| !v.is_empty())
    }

    /// The CSV export of the events these filters show.
    pub fn export_href(&self) -> String {
        super::export::href(
            "/ui/export/events",
            &[
                ("event_type", &self.event_type),
                ("actor", &self.actor),
                ("url_id", &self.url_id),
                ("user_id", &self.user_id),
            ],
        )
    }

    /// The list's path with its filters, for paging links.
    fn base(&self) -> String {
        format!(
            "/ui/events?event_type={}&actor={}&url_id={}&user_id={}",
            urlencode(&self.event_type),
            urlencode(&self.actor),
            urlencode(&self.url_id),
            urlencode(&self.user_id)
        )
    }
}

/// A row of the table.
pub struct Row {
    pub id: i64,
    pub time: Stamp,
    pub event_type: String,
    pub url_id: Option<i64>,
    pub user_id: Option<i64>,
    pub actor: String,
    /// The details as compact JSON text.
    pub details: String,
}

impl From<EventRow> for Row {
    fn from(event: EventRow) -> Self {
        Self {
            id: event.id,
            time: event.occurred_at.into(),
            event_type: event.event_type,
            url_id: event.url_id,
            user_id: event.user_id,
            actor: event.actor,
            details: event.details.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    layout: Layout,
    filters: EventsQuery,
    filtered: bool,
    errors: FieldErrors,
    events: Vec<Row>,
    pager: Pager,
}

/// An id filter: empty is none; anything but a whole number is a problem.
fn id_filter(value: &str, errors: &mut FieldErrors, field: &str, label: &str) -> Option<i64> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let parsed = value.parse::<i64>().ok();
    if parsed.is_none() {
        errors.insert(field, format!("{label} must be a whole number"));
    }
    parsed
}

/// `GET /ui/events`: the events the caller may see, newest first.
pub async fn list(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<EventsQuery>,
) -> ConsoleResult<Response> {
    let mut errors = FieldErrors::default();
    let url_id = id_filter(&query.url_id, &mut errors, "url_id", "Link id");
    let asked_user = id_filter(&query.user_id, &mut errors, "user_id", "User id");
    let text = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let invalid = errors.any();
    let edge = paging::edge(query.before, query.after);
    let mut rows = match console.caller.visible(asked_user) {
        Visible::Users(user_id) if !invalid => {
            let filter = EventFilter {
                url_id,
                user_id,
                event_type: text(&query.event_type),
                actor: text(&query.actor),
            };
            events::page(&state.pool, &filter, edge, FETCH).await?
        }
        _ => Vec::new(),
    };
    let pager = paging::pager(&mut rows, edge, &query.base(), |e| e.id);
    let status = if invalid {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = EventsPage {
        layout: Layout::of(&console, "events"),
        filtered: query.any(),
        filters: query,
        errors,
        events: rows.into_iter().map(Row::from).collect(),
        pager,
    };
    Ok(Page(status, page).into_response())
}
