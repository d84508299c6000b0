//! The actions on a link: deactivate and activate (posts from its page, as
//! `PUT /urls/{id}` with `is_active`), and delete (a confirmation page, then
//! the post, as `DELETE /urls/{id}`).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::guard::{Console, ConsoleForm, NoFields};
use super::link_forms::{to_link, visible_link, writers_only};
use super::page::{Confirm, ConsoleResult, Layout};
use crate::error::ApiError;
use crate::extract::parse_id;
use crate::http::urls::{UpdateUrl, delete_link, update_link};
use crate::state::AppState;

/// `POST /ui/links/{id}/deactivate`.
pub async fn deactivate(
    state: State<AppState>,
    console: Console,
    id: Path<String>,
    _form: ConsoleForm<NoFields>,
) -> ConsoleResult<Response> {
    set_active(state, console, id, false).await
}

/// `POST /ui/links/{id}/activate`.
pub async fn activate(
    state: State<AppState>,
    console: Console,
    id: Path<String>,
    _form: ConsoleForm<NoFields>,
) -> ConsoleResult<Response> {
    set_active(state, console, id, true).await
}

async fn set_active(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    is_active: bool,
) -> ConsoleResult<Response> {
    let id = parse_id(&id).ok_or_else(|| ApiError::not_found("url"))?;
    let body = UpdateUrl {
        title: None,
        is_active: Some(is_active),
        original_url: None,
        expires_at: None,
        redirect_type: None,
        tags: None,
        disabled: None,
        fallback_url: None,
        max_visits: None,
        routes: None,
    };
    let row = update_link(&state, &console.caller, id, body).await?;
    Ok(to_link(row.id))
}

/// `GET /ui/links/{id}/delete`: the confirmation.
pub async fn confirm_delete(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> ConsoleResult<Response> {
    writers_only(&console)?;
    let row = visible_link(&state, &console, &id).await?;
    let code = row.short_code;
    Ok(Confirm {
        layout: Layout::of(&console, "links"),
        title: format!("Delete {code}"),
        heading: format!("Delete {code}?"),
        message: format!(
            "The short URL stops redirecting to {} at once, and its code is never given out \
             again. Its visits and events stay. This cannot be undone; to stop it for a while, \
             deactivate it instead.",
            row.original_url
        ),
        hint: None,
        action: format!("/ui/links/{}/delete", row.id),
        button: "Delete",
        cancel: format!("/ui/links/{}", row.id),
    }
    .page())
}

/// `POST /ui/links/{id}/delete`: deletes as `DELETE /urls/{id}` does.
pub async fn delete(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    ConsoleForm(NoFields {}): ConsoleForm<NoFields>,
) -> ConsoleResult<Response> {
    let id = parse_id(&id).ok_or_else(|| ApiError::not_found("url"))?;
    delete_link(&state, &console.caller, id).await?;
    Ok(Redirect::to("/ui/").into_response())
}
