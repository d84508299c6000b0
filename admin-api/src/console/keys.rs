//! The API keys pages (admins): the live keys, a form that issues one (its
//! secret shown once, on the answer to the form, never in a URL or a list),
//! and revoking one after a confirmation. The rules are the JSON API's
//! ([`issue::issue`], [`issue::revoke`]).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::guard::{self, Console, ConsoleForm, NoFields};
use super::page::{Confirm, ConsoleResult, FieldErrors, Layout, Page, Stamp};
use crate::auth::issue::{self, KeyRequest};
use crate::db::api_keys::{self, KeyRow};
use crate::error::ApiError;
use crate::state::AppState;

/// Keys per page.
const PAGE_SIZE: i64 = 100;

/// A key as the pages show it (never its secret).
pub struct KeyView {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub user_id: Option<i64>,
    pub prefix: String,
    pub created: Stamp,
    pub last_used: Option<Stamp>,
}

impl From<KeyRow> for KeyView {
    fn from(row: KeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            role: row.role,
            user_id: row.user_id,
            prefix: row.prefix,
            created: row.created_at.into(),
            last_used: row.last_used_at.map(Stamp::from),
        }
    }
}

/// The new-key form, as typed.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_role")]
    pub role: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub rate_limit_per_minute: String,
}

fn default_role() -> String {
    "viewer".to_owned()
}

impl Default for KeyForm {
    fn default() -> Self {
        Self {
            name: String::new(),
            role: default_role(),
            user_id: String::new(),
            rate_limit_per_minute: String::new(),
        }
    }
}

impl KeyForm {
    /// The key the form asks for, or a 422 for a field that is no number.
    fn request(&self) -> Result<KeyRequest, ApiError> {
        Ok(KeyRequest {
            name: self.name.clone(),
            role: self.role.clone(),
            user_id: number(&self.user_id, "user_id", "must be a user id")?,
            rate_limit_per_minute: number(
                &self.rate_limit_per_minute,
                "rate_limit_per_minute",
                "must be a whole number",
            )?,
        })
    }
}

/// An optional whole number field: empty is none.
fn number(value: &str, field: &str, problem: &str) -> Result<Option<i64>, ApiError> {
    match value.trim() {
        "" => Ok(None),
        text => text
            .parse()
            .map(Some)
            .map_err(|_| ApiError::validation(field, problem)),
    }
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    layout: Layout,
    roles: [&'static str; 3],
    keys: Vec<KeyView>,
    first: bool,
    next: Option<String>,
    form: KeyForm,
    /// Each field's problem.
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "key_created.html")]
struct CreatedPage {
    layout: Layout,
    key: KeyView,
    secret: String,
}

/// The list's query: keys with ids above `after`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    after: String,
}

async fn keys_page(
    state: &AppState,
    console: &Console,
    after: i64,
    form: KeyForm,
    errors: FieldErrors,
) -> ConsoleResult<KeysPage> {
    let mut rows = api_keys::list(&state.pool, after, PAGE_SIZE + 1, 0).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let next = rows
        .last()
        .filter(|_| more)
        .map(|row| format!("/ui/keys?after={}", row.id));
    Ok(KeysPage {
        layout: Layout::of(console, "keys"),
        roles: ["admin", "editor", "viewer"],
        keys: rows.into_iter().map(KeyView::from).collect(),
        first: after == 0,
        next,
        form,
        errors,
    })
}

/// `GET /ui/keys`: the live keys by id and the form for a new one.
pub async fn list(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<ListQuery>,
) -> ConsoleResult<Response> {
    guard::admin(&console)?;
    let after = query.after.parse::<i64>().unwrap_or(0).max(0);
    let page = keys_page(
        &state,
        &console,
        after,
        KeyForm::default(),
        FieldErrors::default(),
    )
    .await?;
    Ok(Page::ok(page).into_response())
}

/// `POST /ui/keys`: issues the key and answers with its secret, shown this
/// once (the page is the answer itself: no redirect carries it); a field
/// error shows the form again with what was typed.
pub async fn create(
    State(state): State<AppState>,
    console: Console,
    ConsoleForm(form): ConsoleForm<KeyForm>,
) -> ConsoleResult<Response> {
    guard::admin(&console)?;
    let issued = match form.request() {
        Ok(request) => issue::issue(&state.pool, &request).await,
        Err(err) => Err(err),
    };
    match issued {
        Ok(issued) => {
            tracing::info!(key_id = issued.row.id, prefix = %issued.row.prefix,
                role = %issued.row.role, by = console.caller.actor().name(), "API key issued");
            let page = CreatedPage {
                layout: Layout::of(&console, "keys"),
                secret: issued.secret.reveal().to_owned(),
                key: issued.row.into(),
            };
            Ok(Page(StatusCode::CREATED, page).into_response())
        }
        Err(err) if err.is_client_error() => {
            let errors = field_errors(&err);
            let page = keys_page(&state, &console, 0, form, errors).await?;
            Ok(Page(err.status(), page).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

/// Each field's problem in `err`; an error without fields (an unknown
/// user) belongs to the user field.
fn field_errors(err: &ApiError) -> FieldErrors {
    FieldErrors::of(err).unwrap_or_else(|| FieldErrors::one("user_id", err.to_string()))
}

/// The live key a path names, or a 404 page.
async fn key_of(state: &AppState, id: &str) -> ConsoleResult<KeyRow> {
    let not_found = || ApiError::not_found("api key");
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    Ok(api_keys::get(&state.pool, id)
        .await?
        .ok_or_else(not_found)?)
}

/// `GET /ui/keys/{id}/revoke`: asks to confirm.
pub async fn confirm(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> ConsoleResult<Response> {
    guard::admin(&console)?;
    let key = key_of(&state, &id).await?;
    Ok(Confirm {
        layout: Layout::of(&console, "keys"),
        title: format!("Revoke {}", key.name),
        heading: format!("Revoke {}?", key.name),
        message: format!(
            "The key (role {}, prefix {}) stops working at once; sessions signed in with it \
             end. This cannot be undone.",
            key.role, key.prefix
        ),
        hint: None,
        action: format!("/ui/keys/{}/revoke", key.id),
        button: "Revoke",
        cancel: "/ui/keys".to_owned(),
    }
    .page())
}

/// `POST /ui/keys/{id}/revoke`: revokes the key (it stops working at once
/// here, within a second on other replicas), back to the list.
pub async fn revoke(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    ConsoleForm(NoFields {}): ConsoleForm<NoFields>,
) -> ConsoleResult<Response> {
    guard::admin(&console)?;
    let id = id
        .parse::<i64>()
        .map_err(|_| ApiError::not_found("api key"))?;
    let by = console.caller.actor().name();
    issue::revoke(&state.pool, &state.keys, id, by).await?;
    Ok(Redirect::to("/ui/keys").into_response())
}
