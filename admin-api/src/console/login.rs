//! Signing in to the console with an API key, and out. The key is checked
//! as the API checks it (same failure limit per client address); the
//! session cookie names the key's identity, never the key.

use askama::Template;
use axum::extract::{Form, FromRequest, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::guard::{Console, ConsoleForm, NoFields, same_origin};
use super::page::{ConsoleError, Layout, Page};
use super::session;
use crate::auth::identity;
use crate::error::ApiError;
use crate::limits::client_key;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct SignInPage {
    layout: Layout,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Next {
    #[serde(default)]
    next: String,
}

#[derive(Debug, Deserialize)]
pub struct SignIn {
    #[serde(default)]
    key: String,
    #[serde(default)]
    next: String,
}

/// Where to go after signing in: a console page, never another site.
fn destination(next: &str) -> &str {
    if next.starts_with("/ui/") && !next.starts_with("/ui//") && !next.contains('\\') {
        next
    } else {
        "/ui/"
    }
}

/// The sign-in page (in open mode there is nothing to sign in to).
pub async fn form(State(state): State<AppState>, Query(next): Query<Next>) -> Response {
    if state.settings.api_keys.is_open() {
        return Redirect::to("/ui/").into_response();
    }
    let page = SignInPage {
        layout: Layout::anonymous(),
        next: destination(&next.next).to_owned(),
        error: None,
    };
    Page::ok(page).into_response()
}

/// Checks the key; a session cookie and the page asked for, or the form
/// again with "Invalid API key" (401), or 429 after too many failures.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    if !same_origin(&headers) {
        return ConsoleError(ApiError::forbidden("a form from another site was refused"))
            .into_response();
    }
    let client = crate::auth::client_address(&request, &state.settings.trusted_proxies);
    let Ok(Form(form)) = Form::<SignIn>::from_request(request, &state).await else {
        return ConsoleError(ApiError::bad_request("the sign-in form could not be read"))
            .into_response();
    };
    let next = destination(&form.next).to_owned();
    let found = match identity::by_key(&state, form.key.trim()).await {
        Ok(found) => found,
        Err(err) => return ConsoleError(err).into_response(),
    };
    let Some((_, identity)) = found else {
        if let Err(wait) = state.limits.auth_failures.check(&client_key(client)) {
            let refused = ApiError::rate_limited("too many failed sign-ins; slow down", wait);
            return ConsoleError(refused).into_response();
        }
        let page = SignInPage {
            layout: Layout::anonymous(),
            next,
            error: Some("Invalid API key".to_owned()),
        };
        return Page(StatusCode::UNAUTHORIZED, page).into_response();
    };
    let settings = &state.settings.console;
    let ttl = i64::try_from(settings.ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let expires = chrono::Utc::now().timestamp().saturating_add(ttl);
    let (value, _) = settings.key.issue(identity, expires);
    let cookie = session::set_cookie(&value, ttl, settings.secure_cookie);
    let mut response = Redirect::to(&next).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Ends the session in the browser and goes back to the sign-in page.
pub async fn sign_out(
    State(state): State<AppState>,
    console: Console,
    ConsoleForm(NoFields {}): ConsoleForm<NoFields>,
) -> Response {
    let target = if console.signed_in {
        "/ui/login"
    } else {
        "/ui/"
    };
    let mut response = Redirect::to(target).into_response();
    let clear = session::clear_cookie(state.settings.console.secure_cookie);
    if let Ok(clear) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::destination;

    #[test]
    fn only_console_pages_are_destinations() {
        assert_eq!(destination("/ui/links/3"), "/ui/links/3");
        for elsewhere in [
            "",
            "https://evil.example/",
            "//evil.example",
            "/ui//evil.example",
            "/users",
            "/ui\\x",
        ] {
            assert_eq!(destination(elsewhere), "/ui/", "{elsewhere:?}");
        }
    }
}
