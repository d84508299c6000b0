//! The blocklist page (admins): the entries, a form that adds one (and
//! disables the links it catches, saying how many), and removing one after a
//! confirmation. The rules are [`crate::blocklist`]'s, as in the JSON API.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::guard::{self, Console, ConsoleForm, NoFields};
use super::page::{Confirm, ConsoleResult, FieldErrors, Layout, Page, Stamp};
use crate::blocklist;
use crate::db::blocklist::{self as db, Entry};
use crate::error::ApiError;
use crate::state::AppState;

/// Entries per page.
const PAGE_SIZE: i64 = 100;

/// An entry as the page shows it.
pub struct EntryView {
    pub id: i64,
    pub pattern: String,
    pub reason: String,
    pub created: Stamp,
}

impl From<Entry> for EntryView {
    fn from(entry: Entry) -> Self {
        Self {
            id: entry.id,
            pattern: entry.pattern,
            reason: entry.reason,
            created: entry.created_at.into(),
        }
    }
}

/// The new-entry form, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct EntryForm {
    #[serde(default)]
    pub pattern: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Template)]
#[template(path = "blocklist.html")]
struct BlocklistPage {
    layout: Layout,
    entries: Vec<EntryView>,
    first: bool,
    next: Option<String>,
    form: EntryForm,
    errors: FieldErrors,
    /// What the last addition did.
    notice: Option<String>,
}

/// The list's query: entries with ids above `after`, and how many links
/// the entry just added disabled.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    after: String,
    added: Option<String>,
    disabled: Option<usize>,
}

async fn blocklist_page(
    state: &AppState,
    console: &Console,
    after: i64,
    form: EntryForm,
    errors: FieldErrors,
    notice: Option<String>,
) -> ConsoleResult<BlocklistPage> {
    let mut rows = db::list(&state.pool, after, PAGE_SIZE + 1, 0).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let next = rows
        .last()
        .filter(|_| more)
        .map(|row| format!("/ui/blocklist?after={}", row.id));
    Ok(BlocklistPage {
        layout: Layout::of(console, "blocklist"),
        entries: rows.into_iter().map(EntryView::from).collect(),
        first: after == 0,
        next,
        form,
        errors,
        notice,
    })
}

/// `GET /ui/blocklist`.
pub async fn list(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<ListQuery>,
) -> ConsoleResult<Response> {
    guard::admin(&console)?;
    let after = query.after.parse::<i64>().unwrap_or(0).max(0);
    let notice = query.added.map(|pattern| {
        let links = match query.disabled.unwrap_or(0) {
            1 => "1 link".to_owned(),
            n => format!("{n} links"),
        };
        format!("Added {pattern}; {links} disabled.")
    });
    let page = blocklist_page(
        &state,
        &console,
        after,
        EntryForm::default(),
        FieldErrors::default(),
        notice,
    )
    .await?;
    Ok(Page::ok(page).into_response())
}

/// `POST /ui/blocklist`: adds the entry, back to the list saying how many
/// links it disabled; a field error shows the form again with what was typed.
pub async fn add(
    State(state): State<AppState>,
    console: Console,
    ConsoleForm(form): ConsoleForm<EntryForm>,
) -> ConsoleResult<Response> {
    guard::admin(&console)?;
    let actor = console.caller.actor().clone();
    match blocklist::add(&state, actor, &form.pattern, &form.reason).await {
        Ok(added) => {
            let to = format!(
                "/ui/blocklist?added={}&disabled={}",
                guard::urlencode(&added.entry.pattern),
                added.disabled
            );
            Ok(Redirect::to(&to).into_response())
        }
        Err(err) if err.is_client_error() => {
            let errors = FieldErrors::of(&err)
                .unwrap_or_else(|| FieldErrors::one("pattern", err.to_string()));
            let page = blocklist_page(&state, &console, 0, form, errors, None).await?;
            Ok(Page(err.status(), page).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

/// `GET /ui/blocklist/{id}/remove`: asks to confirm.
pub async fn confirm(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> ConsoleResult<Response> {
    guard::admin(&console)?;
    let not_found = || ApiError::not_found("blocklist entry");
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    let entry = db::get(&state.pool, id).await?.ok_or_else(not_found)?;
    Ok(Confirm {
        layout: Layout::of(&console, "blocklist"),
        title: format!("Remove {}", entry.pattern),
        heading: format!("Remove {}?", entry.pattern),
        message: "New links may point there again. Links it disabled stay disabled until \
                  someone enables each of them."
            .to_owned(),
        hint: None,
        action: format!("/ui/blocklist/{}/remove", entry.id),
        button: "Remove",
        cancel: "/ui/blocklist".to_owned(),
    }
    .page())
}

/// `POST /ui/blocklist/{id}/remove`: removes the entry, back to the list.
pub async fn remove(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    ConsoleForm(NoFields {}): ConsoleForm<NoFields>,
) -> ConsoleResult<Response> {
    guard::admin(&console)?;
    let id = id
        .parse::<i64>()
        .map_err(|_| ApiError::not_found("blocklist entry"))?;
    blocklist::remove(&state, id).await?;
    Ok(Redirect::to("/ui/blocklist").into_response())
}
