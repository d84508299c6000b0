//! What every console page shares: the [`Page`] responder (a rendered
//! template with the console's headers), the [`Layout`] of the frame around
//! it (who is signed in, what their role may open, the form token), and the
//! HTML error page ([`ConsoleError`]) that an [`ApiError`] becomes here.

use std::collections::BTreeMap;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};

use super::guard::Console;
use crate::error::ApiError;

/// Scripts, styles and images from the console itself only; forms post
/// only to it; no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A rendered template with the console's headers, in `status`.
pub struct Page<T>(pub StatusCode, pub T);

impl<T: Template> Page<T> {
    pub fn ok(template: T) -> Self {
        Self(StatusCode::OK, template)
    }
}

impl<T: Template> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        match self.1.render() {
            Ok(html) => {
                let mut response = (self.0, Html(html)).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                headers.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CSP),
                );
                headers.insert(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                );
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                response
            }
            Err(err) => ApiError::internal(&err).into_response(),
        }
    }
}

/// The frame of every page.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The actor the page acts as (the key's name, or `open`).
    pub actor: String,
    pub role: &'static str,
    /// Whether there is a sign-in to end (not in open mode).
    pub signed_in: bool,
    /// The token every form of the page carries.
    pub token: String,
    /// Whether the caller sees the users page (keys not bound to a user).
    pub users: bool,
    /// Whether the caller sees import and keys (admins).
    pub admin: bool,
    /// Whether the caller may write (not viewers).
    pub writer: bool,
    /// The navigation entry of the page.
    pub section: &'static str,
}

impl Layout {
    /// The frame for `console`'s caller on a page of `section`.
    pub fn of(console: &Console, section: &'static str) -> Self {
        let caller = &console.caller;
        Self {
            actor: caller.actor().name().to_owned(),
            role: caller.role().as_str(),
            signed_in: console.signed_in,
            token: console.token.clone(),
            users: caller.is_unbound(),
            admin: caller.is_admin(),
            writer: caller.may_write(),
            section,
        }
    }

    /// The frame of pages shown to nobody in particular (sign-in, errors).
    pub fn anonymous() -> Self {
        Self {
            actor: String::new(),
            role: "",
            signed_in: false,
            token: String::new(),
            users: false,
            admin: false,
            writer: false,
            section: "",
        }
    }
}

/// A moment as pages show it, `<time datetime="{{ datetime }}">{{ text
/// }}</time>`: RFC 3339 for the attribute and the UTC text shown until the
/// script puts it in the browser's locale.
pub struct Stamp {
    pub datetime: String,
    pub text: String,
}

impl From<DateTime<Utc>> for Stamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self {
            datetime: at.to_rfc3339_opts(SecondsFormat::Secs, true),
            text: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }
    }
}

/// Each refused field's message by the field's name (as the API's error
/// details name it), shown next to the field (`<p class="error"
/// id="FIELD-error">`) on the form shown again.
#[derive(Debug, Default)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    /// The message of `field`, if it was refused.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// Whether any field was refused.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }

    /// Sets the message of `field`.
    pub fn insert(&mut self, field: &str, message: String) {
        self.0.insert(field.to_owned(), message);
    }

    /// Only `field`'s message.
    pub fn one(field: &str, message: String) -> Self {
        let mut errors = Self::default();
        errors.insert(field, message);
        errors
    }

    /// The API's messages by field in `err` (its details), or `None` for
    /// an error of no field.
    pub fn of(err: &ApiError) -> Option<Self> {
        err.details().map(|details| Self(details.clone()))
    }
}

/// The page that asks before a post that cannot be undone (delete, revoke):
/// its question, a danger button posting to `action` (with the form
/// token), and **Cancel** back to `cancel`.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct Confirm {
    pub layout: Layout,
    pub title: String,
    pub heading: String,
    pub message: String,
    pub hint: Option<String>,
    pub action: String,
    pub button: &'static str,
    pub cancel: String,
}

impl Confirm {
    /// The page, in 200.
    pub fn page(self) -> Response {
        Page::ok(self).into_response()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    title: String,
    message: String,
}

/// An error shown as a page, with the status the JSON API would answer.
#[derive(Debug)]
pub struct ConsoleError(pub ApiError);

impl From<ApiError> for ConsoleError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl From<sqlx::Error> for ConsoleError {
    fn from(err: sqlx::Error) -> Self {
        Self(err.into())
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let page = ErrorPage {
            layout: Layout::anonymous(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.0.to_string(),
        };
        let mut response = Page(status, page).into_response();
        if let Some(seconds) = self.0.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Result of a console handler.
pub type ConsoleResult<T> = Result<T, ConsoleError>;

/// Any `/ui/` path that is no page.
pub async fn not_found() -> ConsoleError {
    ConsoleError(ApiError::not_found("page"))
}
