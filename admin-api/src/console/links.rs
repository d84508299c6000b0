//! The links pages: the list (search, filters, keyset paging, visit
//! counts). What a caller sees follows its role, as in the JSON API.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::guard::{Console, urlencode};
use super::page::{ConsoleError, ConsoleResult, Layout, Page};
use super::paging::{self, FETCH, Pager};
use crate::auth::Visible;
use crate::db::link_list::{self, ListFilter, ListedLink, SEARCH_MIN_CHARS};
use crate::error::ApiError;
use crate::state::AppState;

/// The list's query string, as typed (kept to fill the form again).
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    active: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    tag: String,
    before: Option<i64>,
    after: Option<i64>,
}

/// The filters as the form shows them.
#[derive(Debug, Default)]
pub struct Filters {
    pub q: String,
    pub active: String,
    pub user: String,
    pub tag: String,
}

impl Filters {
    /// Whether any filter is set (an empty list then says so).
    pub fn any(&self) -> bool {
        !(self.q.is_empty()
            && self.active.is_empty()
            && self.user.is_empty()
            && self.tag.is_empty())
    }

    /// The CSV export of the links these filters show.
    pub fn export_href(&self) -> String {
        super::export::href(
            "/ui/export/urls",
            &[
                ("q", &self.q),
                ("tag", &self.tag),
                ("is_active", &self.active),
                ("user_id", &self.user),
            ],
        )
    }

    /// The list's path with its filters, for paging links.
    fn base(&self) -> String {
        format!(
            "/ui/?q={}&active={}&user={}&tag={}",
            urlencode(&self.q),
            urlencode(&self.active),
            urlencode(&self.user),
            urlencode(&self.tag)
        )
    }
}

/// A row of the table.
pub struct Row {
    pub id: i64,
    pub short_code: String,
    pub original_url: String,
    pub title: String,
    pub visits: i64,
    pub status: &'static str,
}

impl From<ListedLink> for Row {
    fn from(link: ListedLink) -> Self {
        let status = status_of(link.is_active, link.disabled, link.expires_at);
        Self {
            id: link.id,
            short_code: link.short_code,
            original_url: link.original_url,
            title: link.title,
            visits: link.visits,
            status,
        }
    }
}

/// A link's status as the console shows it: `Disabled`, `Inactive`,
/// `Expired` or `Active`.
pub(super) fn status_of(
    is_active: bool,
    disabled: bool,
    expires_at: Option<DateTime<Utc>>,
) -> &'static str {
    if disabled {
        "Disabled"
    } else if !is_active {
        "Inactive"
    } else if expires_at.is_some_and(|at| at <= Utc::now()) {
        "Expired"
    } else {
        "Active"
    }
}

#[derive(Template)]
#[template(path = "links.html")]
struct ListPage {
    layout: Layout,
    filters: Filters,
    search_error: Option<String>,
    links: Vec<Row>,
    pager: Pager,
}

/// `GET /ui/`: the links the caller may see, newest first.
pub async fn list(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<ListQuery>,
) -> ConsoleResult<Response> {
    let filters = Filters {
        q: query.q.trim().to_owned(),
        active: query.active,
        user: query.user.trim().to_owned(),
        tag: query.tag.trim().to_owned(),
    };
    let is_active = match filters.active.as_str() {
        "" => None,
        "true" => Some(true),
        "false" => Some(false),
        _ => return Err(ApiError::validation("active", "must be true or false").into()),
    };
    let asked_user = match filters.user.as_str() {
        "" => None,
        user => Some(
            user.parse::<i64>()
                .map_err(|_| ConsoleError(ApiError::validation("user", "must be a user id")))?,
        ),
    };
    let tag = match filters.tag.as_str() {
        "" => None,
        tag => {
            crate::validate::tag(tag).map_err(|p| ConsoleError(ApiError::validation("tag", p)))?;
            Some(tag.to_owned())
        }
    };
    let search_error = (!filters.q.is_empty() && filters.q.chars().count() < SEARCH_MIN_CHARS)
        .then(|| format!("Type at least {SEARCH_MIN_CHARS} characters to search."));
    let search = (!filters.q.is_empty() && search_error.is_none()).then(|| filters.q.clone());
    let edge = paging::edge(query.before, query.after);
    let mut links = match console.caller.visible(asked_user) {
        Visible::Nothing => Vec::new(),
        Visible::Users(user_id) => {
            let filter = ListFilter {
                user_id,
                is_active,
                search,
                tag,
            };
            link_list::page(&state.pool, &filter, edge, FETCH).await?
        }
    };
    let pager = paging::pager(&mut links, edge, &filters.base(), |link| link.id);
    let page = ListPage {
        layout: Layout::of(&console, "links"),
        filters,
        search_error,
        links: links.into_iter().map(Row::from).collect(),
        pager,
    };
    Ok(Page::ok(page).into_response())
}
