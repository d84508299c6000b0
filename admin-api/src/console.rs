//! The web console under `/ui/`: server-rendered pages (askama templates,
//! checked at compile time) over the same queries, validation and rules as
//! the JSON API, with one stylesheet and one small script of its own served
//! from the binary (it works offline; pages work without the script).
//! Sign-in turns an API key into a signed session cookie ([`session`]);
//! [`guard`] makes each page's [`Caller`](crate::auth::Caller) from it and
//! protects every form.

mod blocklist;
mod chart;
mod events;
mod export;
mod guard;
mod import;
mod keys;
mod link_actions;
mod link_forms;
mod link_page;
mod links;
mod login;
mod page;
mod paging;
pub mod session;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::import::CSV_BODY_LIMIT;
use crate::state::AppState;

pub use session::ConsoleSettings;

/// The console's routes: the sign-in page and static files open, every
/// other page behind [`guard::signed_in`].
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/ui/", get(links::list))
        .route("/ui/links/{id}", get(link_page::show))
        .route("/ui/import", get(import::form))
        .route("/ui/keys", get(keys::list).post(keys::create))
        .route("/ui/blocklist", get(blocklist::list).post(blocklist::add))
        .route(
            "/ui/blocklist/{id}/remove",
            get(blocklist::confirm).post(blocklist::remove),
        )
        .route(
            "/ui/keys/{id}/revoke",
            get(keys::confirm).post(keys::revoke),
        )
        .route("/ui/logout", post(login::sign_out))
        .route(
            "/ui/links/new",
            get(link_forms::new_form).post(link_forms::create),
        )
        .route(
            "/ui/links/{id}/edit",
            get(link_forms::edit_form).post(link_forms::save),
        )
        .route("/ui/links/{id}/deactivate", post(link_actions::deactivate))
        .route("/ui/links/{id}/activate", post(link_actions::activate))
        .route(
            "/ui/links/{id}/delete",
            get(link_actions::confirm_delete).post(link_actions::delete),
        )
        .route("/ui/users", get(users::list))
        .route("/ui/users/new", get(users::new_form).post(users::create))
        .route(
            "/ui/users/{id}/edit",
            get(users::edit_form).post(users::update),
        )
        .route(
            "/ui/users/{id}/delete",
            get(users::confirm_delete).post(users::delete),
        )
        .route("/ui/events", get(events::list))
        .route("/ui/export/urls", get(export::urls))
        .route("/ui/export/events", get(export::events))
        .route("/ui/{*rest}", get(page::not_found).post(page::not_found))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::signed_in,
        ));
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/login", get(login::form).post(login::sign_in))
        .route("/ui/static/console.css", get(stylesheet))
        .route("/ui/static/console.js", get(script))
        .merge(pages)
}

/// The import upload: behind the same guard, then admins only, then the
/// JSON API's bulk-import limits (one import at a time, 50 MiB, the whole
/// upload within `ADMIN_BODY_TIMEOUT`). Merged outside the console's
/// request timeout, as the JSON imports are.
pub(crate) fn upload_router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/ui/import", post(import::upload))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            import::upload_slot,
        ))
        .route_layer(DefaultBodyLimit::max(CSV_BODY_LIMIT))
        .route_layer(middleware::from_fn(guard::admins_only))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::signed_in,
        ))
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../static/console.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../static/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}
