//! The users pages (callers that see every user): the list with each
//! user's link count, the new and edit forms, and delete with a
//! confirmation. Writes go through the JSON API's own functions
//! ([`crate::http::users`]), so their checks and effects are the same.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::guard::{Console, ConsoleForm, NoFields};
use super::page::{Confirm, ConsoleError, ConsoleResult, FieldErrors, Layout, Page, Stamp};
use super::paging::{self, FETCH, Pager};
use crate::db::users::{self, ListedUser};
use crate::error::ApiError;
use crate::http::users as api;
use crate::state::AppState;

/// The list's paging parameters.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    before: Option<i64>,
    after: Option<i64>,
}

/// A row of the table.
pub struct Row {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub created: Stamp,
    pub links: i64,
}

impl From<ListedUser> for Row {
    fn from(user: ListedUser) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            created: user.created_at.into(),
            links: user.links,
        }
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct ListPage {
    layout: Layout,
    users: Vec<Row>,
    pager: Pager,
}

/// The users pages are for callers that see every user: 403 for the others.
fn unbound(console: &Console) -> ConsoleResult<()> {
    if console.caller.is_unbound() {
        Ok(())
    } else {
        Err(ApiError::forbidden("this key is bound to one user").into())
    }
}

/// The users pages that write are for writers: 403 for viewers.
fn writer(console: &Console) -> ConsoleResult<()> {
    unbound(console)?;
    if console.caller.may_write() {
        Ok(())
    } else {
        Err(ApiError::forbidden("this key is read-only").into())
    }
}

/// `GET /ui/users`: live users, newest first.
pub async fn list(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<ListQuery>,
) -> ConsoleResult<Response> {
    unbound(&console)?;
    let edge = paging::edge(query.before, query.after);
    let mut rows = users::page(&state.pool, edge, FETCH).await?;
    let pager = paging::pager(&mut rows, edge, "/ui/users", |u| u.id);
    let page = ListPage {
        layout: Layout::of(&console, "users"),
        users: rows.into_iter().map(Row::from).collect(),
        pager,
    };
    Ok(Page::ok(page).into_response())
}

/// The new and edit forms' fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
}

/// The form's fields and their labels, which start their messages.
const LABELS: [(&str, &str); 2] = [("username", "Username"), ("email", "Email")];

/// Both fields checked as the API checks them, every problem at once.
fn check(form: &UserForm) -> ConsoleResult<FieldErrors> {
    let mut errors = FieldErrors::default();
    let checked = [
        api::check_username(&form.username),
        api::check_email(&form.email),
    ];
    for err in checked.into_iter().filter_map(Result::err) {
        absorb(&mut errors, err)?;
    }
    Ok(errors)
}

/// Takes the field problems of `err` (the API's 422 or 409); any other
/// error is the page's.
fn absorb(errors: &mut FieldErrors, err: ApiError) -> ConsoleResult<StatusCode> {
    let Some(details) = err.details() else {
        return Err(err.into());
    };
    for (field, problem) in details {
        let Some((_, label)) = LABELS.iter().find(|(name, _)| name == field) else {
            return Err(err.into());
        };
        errors.insert(field, format!("{label} {problem}"));
    }
    Ok(err.status())
}

#[derive(Template)]
#[template(path = "user_form.html")]
struct FormPage {
    layout: Layout,
    /// The user edited, or `None` for a new one.
    id: Option<i64>,
    form: UserForm,
    errors: FieldErrors,
}

/// `GET /ui/users/new`.
pub async fn new_form(console: Console) -> ConsoleResult<Response> {
    writer(&console)?;
    let page = FormPage {
        layout: Layout::of(&console, "users"),
        id: None,
        form: UserForm::default(),
        errors: FieldErrors::default(),
    };
    Ok(Page::ok(page).into_response())
}

/// `POST /ui/users/new`: creates the user, back to the list.
pub async fn create(
    State(state): State<AppState>,
    console: Console,
    ConsoleForm(form): ConsoleForm<UserForm>,
) -> ConsoleResult<Response> {
    writer(&console)?;
    let errors = check(&form)?;
    let saved = if errors.any() {
        None
    } else {
        Some(api::create(&state, &form.username, &form.email).await)
    };
    answer(&console, None, form, errors, saved)
}

/// The answer to a posted form: back to the list once `saved`; else the
/// form again, each problem next to its field and what was typed kept.
fn answer<T>(
    console: &Console,
    id: Option<i64>,
    form: UserForm,
    mut errors: FieldErrors,
    saved: Option<Result<T, ApiError>>,
) -> ConsoleResult<Response> {
    let status = match saved {
        Some(Ok(_)) => return Ok(Redirect::to("/ui/users").into_response()),
        Some(Err(err)) => absorb(&mut errors, err)?,
        None => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let page = FormPage {
        layout: Layout::of(console, "users"),
        id,
        form,
        errors,
    };
    Ok(Page(status, page).into_response())
}

/// The user `/ui/users/{id}/…` names, or the 404 page.
async fn user_of(state: &AppState, id: &str) -> ConsoleResult<users::UserRow> {
    let missing = || ConsoleError(ApiError::not_found("user"));
    let id = id.parse::<i64>().map_err(|_| missing())?;
    users::get(&state.pool, id).await?.ok_or_else(missing)
}

/// `GET /ui/users/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> ConsoleResult<Response> {
    writer(&console)?;
    let user = user_of(&state, &id).await?;
    let page = FormPage {
        layout: Layout::of(&console, "users"),
        id: Some(user.id),
        form: UserForm {
            username: user.username,
            email: user.email,
        },
        errors: FieldErrors::default(),
    };
    Ok(Page::ok(page).into_response())
}

/// `POST /ui/users/{id}/edit`: saves both fields, back to the list.
pub async fn update(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    ConsoleForm(form): ConsoleForm<UserForm>,
) -> ConsoleResult<Response> {
    writer(&console)?;
    let user = user_of(&state, &id).await?;
    let errors = check(&form)?;
    let saved = if errors.any() {
        None
    } else {
        Some(api::update(&state, user.id, Some(&form.username), Some(&form.email)).await)
    };
    answer(&console, Some(user.id), form, errors, saved)
}

/// `GET /ui/users/{id}/delete`: asks first.
pub async fn confirm_delete(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> ConsoleResult<Response> {
    writer(&console)?;
    let user = user_of(&state, &id).await?;
    let name = user.username;
    Ok(Confirm {
        layout: Layout::of(&console, "users"),
        title: format!("Delete {name}"),
        heading: "Delete user".to_owned(),
        message: format!("Delete {name}? Their links are deleted too."),
        hint: Some(
            "Their links stop redirecting and their API keys are revoked; past events stay."
                .to_owned(),
        ),
        action: format!("/ui/users/{}/delete", user.id),
        button: "Delete",
        cancel: "/ui/users".to_owned(),
    }
    .page())
}

/// `POST /ui/users/{id}/delete`: deletes the user, their links and keys.
pub async fn delete(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    ConsoleForm(NoFields {}): ConsoleForm<NoFields>,
) -> ConsoleResult<Response> {
    writer(&console)?;
    let user = user_of(&state, &id).await?;
    api::delete(&state, console.caller.actor().clone(), user.id).await?;
    Ok(Redirect::to("/ui/users").into_response())
}
